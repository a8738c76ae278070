"""The use cases that take a batch back: the preview, the rollback in its two transactions
(the checks and the `rolling_back` mark; then restore and delete on one snapshot), and a
rollback asked for through the API, which a worker runs (`request_rollback`, then
`run_rollback_request`). The rules they apply live in `batchport.rollback`."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from batchport import audit, changes, history, rollback
from batchport.commands.support import database_failure, ready, retrying
from batchport.database import Database
from batchport.errors import (
    BatchNotFound,
    BatchNotRollbackable,
    BatchportError,
    Interrupted,
    RequestNotFound,
    RollbackRefused,
    TypeNotDeclared,
)
from batchport.liveness import INTERRUPTED, working_on
from batchport.process import this_worker
from batchport.progress import Progress, no_progress
from batchport.reports import (
    Job,
    RollbackPreview,
    RollbackReport,
    error_body,
)
from batchport.rollback import requests
from batchport.vocabulary import WORKBOOK, RequestStatus, Via

logger = logging.getLogger(__name__)


def rollback_batch(
    db: Database,
    batch_id: str,
    *,
    actor: str,
    reason: str | None = None,
    force_edited: bool = False,
    remote: str | None = None,
    via: Via = Via.library,
    progress: Progress | None = None,
) -> RollbackReport:
    """Takes the batch back in one transaction: restores the rows it updated to their prior
    values, then deletes every row it created, children first.

    `batch_id` may also be the job id. Refuses, changing nothing, if the batch is not
    `completed` (or `rollback_failed`, to retry), if it has no rows, if rows outside the batch
    (in any table of the database) still reference its rows, if a row it updated cannot get
    its prior values back, or if rows of the batch were edited since the import (unless
    `force_edited`, which history records). The job is `rolling_back` while this runs,
    `rolled_back` once done, and `rollback_failed` (data unchanged) if it fails. The audit log
    gets a row either way, in the transaction that records the outcome. `via` says where
    `actor` acts from (`Via`), recorded with the name; `progress` hears each phase begin.
    """
    audit_entry = {"actor": actor, "via": via, "action": "rollback", "remote": remote}
    ready(db)
    try:
        with db.connect() as conn:
            job = history.find_job(conn, batch_id)
    except BatchNotFound as exc:
        audit.record(db, **audit_entry, outcome="refused", batch_id=batch_id, detail=str(exc))
        raise
    with working_on(db, job.job_id), db.connect() as conn:
        try:
            with db.dialect.begin_write(conn, bulk=True):
                job = history.find_job(conn, job.job_id, dialect=db.dialect)
                assessed = _assess(conn, db, job, force=force_edited, refuse=True)
                history.mark_rolling_back(
                    conn, job, actor=actor, via=via, reason=reason, worker=this_worker()
                )
        except BatchportError as exc:
            audit.record(
                db, **audit_entry, outcome="refused", batch_id=job.batch_id, detail=str(exc)
            )
            raise
        return _take_back(
            conn,
            db,
            job,
            assessed,
            reason=reason,
            force=force_edited,
            audit_entry=audit_entry,
            progress=progress or no_progress,
        )


def request_rollback(
    db: Database,
    batch_id: str,
    *,
    actor: str,
    reason: str | None = None,
    force_edited: bool = False,
    remote: str | None = None,
) -> tuple[requests.Request, bool]:
    """Asks a worker for the batch's rollback (`rollback_batch`, as `actor` through the API);
    the request to follow, and whether it is new: asking again while one is open gives that
    one. Refuses at once, changing nothing, what the batch's status or type rules out; what
    only the rollback's own look finds (references, edits) ends the request `failed`."""
    ready(db)
    audit_entry = {"actor": actor, "via": Via.api, "action": "rollback", "remote": remote}
    try:
        with db.connect() as conn, db.dialect.begin_write(conn):
            job = history.find_job(conn, batch_id)
            if job.import_type != WORKBOOK and job.import_type not in db.catalog:
                raise TypeNotDeclared(job.batch_id, job.import_type)
            if job.status not in rollback.ROLLBACK_FROM and requests.open_of(conn, job) is None:
                raise BatchNotRollbackable(job.batch_id, job.status)
            found, new = requests.open_request(
                conn, job, owner=actor, remote=remote, reason=reason, force_edited=force_edited
            )
            if new:
                audit.write(
                    conn,
                    actor=actor,
                    via=Via.api,
                    action="rollback_request",
                    outcome="ok",
                    remote=remote,
                    batch_id=job.batch_id,
                    detail=f"request {found.id}",
                )
    except BatchportError as exc:
        audit.record(db, **audit_entry, outcome="refused", batch_id=batch_id, detail=str(exc))
        raise
    return found, new


def get_rollback_request(db: Database, request_id: str) -> requests.Request:
    """The rollback request (RequestNotFound if there is none)."""
    ready(db)
    with db.connect() as conn:
        try:
            return requests.get(conn, request_id)
        except KeyError:
            raise RequestNotFound(request_id) from None


def latest_rollback_request(db: Database, batch_id: str) -> requests.Request | None:
    """The latest rollback of the job (by batch id or job id) asked for through the API (or
    the web UI), if any. A page showing it with the batch reads it first: a request still
    working is followed to its end, and one ended has ended before the batch is read."""
    with db.connect() as conn:
        return requests.latest(conn, history.find_job(conn, batch_id).job_id)


def run_rollback_request(db: Database, request_id: str | None = None) -> bool:
    """The worker's rollback: claims the request (by default the oldest queued), rolls its
    batch back as its owner asked, and records the outcome in the request; False if it was
    not queued (done already, taken by another worker)."""
    claimed = requests.claim(db, request_id)
    if claimed is None:
        return False
    try:
        report = rollback_batch(
            db,
            claimed.job_id,
            actor=claimed.owner,
            via=Via.api,
            reason=claimed.reason,
            force_edited=claimed.force_edited,
            remote=claimed.remote,
        )
    except Exception as exc:  # the request never stays claimed: say why it failed
        requests.finish(db, claimed.id, RequestStatus.failed, error_body(exc))
    else:
        requests.finish(db, claimed.id, RequestStatus.rolled_back, report.to_json())
    return True


def _take_back(
    conn: sa.Connection,
    db: Database,
    job: Job,
    assessed: rollback.Assessment,
    *,
    reason: str | None,
    force: bool,
    audit_entry: dict[str, Any],
    progress: Progress,
) -> RollbackReport:
    """The rollback's one deleting transaction (run again if the database aborts it for a
    deadlock or a conflicting write), then the report; on failure the job is marked
    `rollback_failed` with the reason, and audited, in one transaction."""
    actor = audit_entry["actor"]

    def attempt() -> tuple[dict[str, int], dict[str, int]]:
        with (
            db.dialect.begin_write(conn, snapshot=True, bulk=True),
            changes.writing(conn, job.job_id),
        ):
            done = rollback.take_back(
                conn, db.dialect, db.catalog, job.batch_id, assessed, force=force, progress=progress
            )
            history.mark_rolled_back(conn, job, reason=reason, forced=force)
            audit.write(conn, **audit_entry, outcome="ok", batch_id=job.batch_id, detail=reason)
            return done

    try:
        restored, deleted = retrying(db, attempt)
    except BaseException as exc:
        # A connection whose commit failed may be left in any state: the outcome is
        # recorded on a fresh one.
        conn.invalidate()
        failure = _rollback_failure(db, job, exc, force=force)
        try:
            with db.connect() as fresh, fresh.begin():
                history.mark_rollback_failed(fresh, job, str(failure) or INTERRUPTED)
                audit.write(
                    fresh,
                    **audit_entry,
                    outcome="failed",
                    batch_id=job.batch_id,
                    detail=str(failure),
                )
        except sa.exc.SQLAlchemyError as recording:  # the sweep will mark it interrupted
            logger.warning(
                "could not record the failed rollback of %s: %s",
                job.batch_id,
                database_failure(recording),
            )
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(
                f"interrupted; nothing was rolled back — batch {job.batch_id} is "
                f"rollback_failed: {INTERRUPTED} (roll it back again)"
            ) from exc
        if failure is exc:
            raise
        raise failure from exc
    return RollbackReport(
        batch_id=job.batch_id,
        job_id=job.job_id,
        status="rolled_back",
        deleted=deleted,
        rolled_back_by=actor,
        reason=reason,
        restored=restored,
        forced=force,
    )


def _rollback_failure(db: Database, job: Job, exc: BaseException, *, force: bool) -> BaseException:
    """What to tell of a failed deleting transaction: a database error becomes a refusal,
    listing what blocks the batch now if a look finds it (a row written meanwhile that the
    database's own foreign keys refused to lose)."""
    if not isinstance(exc, sa.exc.SQLAlchemyError):
        return exc
    try:
        with db.connect() as conn:
            found = _assess(conn, db, job, force=force)
    except sa.exc.SQLAlchemyError:
        found = None
    blocker = found.blocker(job.batch_id, force=force) if found else None
    return blocker or RollbackRefused(
        f"batch {job.batch_id} could not be rolled back "
        f"({database_failure(exc, 'deleting')}); nothing was changed",
        batch_id=job.batch_id,
    )


def preview_rollback(db: Database, batch_id: str, *, force_edited: bool = False) -> RollbackPreview:
    """What a rollback of the batch would delete and restore, and what would stop it;
    changes nothing."""
    ready(db)
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        conn.rollback()
        found = _assess(conn, db, job, force=force_edited)
    return RollbackPreview(
        job=job,
        rows=found.rows,
        references=found.references,
        refusal=None if (refused := found.refusal(job)) is None else str(refused),
        restores=found.restores,
        edited=found.edited,
        force_edited=force_edited,
        conflicts=found.conflicts,
    )


def _assess(
    conn: sa.Connection, db: Database, job: Job, *, force: bool, refuse: bool = False
) -> rollback.Assessment:
    """What decides the job's rollback, read in one transaction (for a preview, a write
    transaction when the batch updated rows: their restore is tried and undone); with
    `refuse` (the rollback's own look, in its transaction), raises what stops it. Otherwise
    the transaction ends undone."""
    if job.import_type != WORKBOOK and job.import_type not in db.catalog:
        raise TypeNotDeclared(job.batch_id, job.import_type)
    if not refuse:
        updates = rollback.changed_rows(conn, db.catalog, job.batch_id)
        conn.rollback()
        if updates:
            try:
                with db.dialect.begin_write(conn) as transaction:
                    found = rollback.assess(conn, db.dialect, db.catalog, job.batch_id, force=force)
                    transaction.rollback()
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                pass  # no right to write, not even to try and undo: look without trying
            else:
                return found
        with conn.begin() as transaction:
            found = rollback.assess(
                conn, db.dialect, db.catalog, job.batch_id, force=force, simulate=not updates
            )
            transaction.rollback()
        return found
    # The rollback itself restores for real, in its own transaction, and finds there what
    # only a restore shows (a cycle it would make): trying it here too would restore twice.
    found = rollback.assess(conn, db.dialect, db.catalog, job.batch_id, force=force, simulate=False)
    blocker = found.refusal(job) or found.blocker(job.batch_id, force=force)
    if blocker is not None:
        raise blocker
    return found
