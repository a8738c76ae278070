"""The use cases: every verb batchport offers, as plain functions. The CLI, the API and the
web UI call these and nothing below them; these own every transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from batchport import accounts, audit, changes, history, migrations, rollback
from batchport.database import Database
from batchport.error_report import write_error_report
from batchport.errors import (
    BatchNotFound,
    BatchNotRollbackable,
    BatchportError,
    ConfigurationError,
    EmptyBatch,
    FileRejected,
    ImportFailed,
    RollbackRefused,
    RowError,
    SourceError,
    first_line,
)
from batchport.importing import Finish, Progress, ReadOptions, import_file, import_workbook
from batchport.liveness import INTERRUPTED, sweep, working_on
from batchport.process import this_worker
from batchport.reports import (
    BatchReport,
    ImportReport,
    Job,
    RollbackPreview,
    RollbackReport,
)
from batchport.sources import Limits, file_sha256
from batchport.verify import Check, verify_schema
from batchport.vocabulary import OnExisting

#: The import type recorded for a job that imports a whole workbook.
WORKBOOK = "workbook"

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: How many times a transaction the database aborted to break a deadlock is run again, and
#: the pause before the first retry (it grows with each).
RETRIES = 3
RETRY_PAUSE = 0.05

#: The statuses a batch can be rolled back from: a completed import, or a failed rollback.
ROLLBACK_FROM = frozenset({"completed", "rollback_failed"})


@dataclass(frozen=True)
class MigrationStatus:
    """Where the database's schema stands."""

    current: str | None
    head: str
    pending: list[str]


def run_import(
    db: Database,
    import_type: str,
    path: Path | str,
    *,
    actor: str,
    encoding: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    limits: Limits | None = None,
    dry_run: bool = False,
    on_existing: str = "error",
    progress: Progress | None = None,
    job_id: str | None = None,
    remote: str | None = None,
) -> ImportReport:
    """Imports one file as one batch, all or nothing.

    Raises `FileRejected` (carrying every row error) if any row is invalid; nothing is written
    then. The CSV encoding and delimiter are detected unless given; `limits` bound the file's
    size, rows and cells. A row whose key is already in the database is an error, or with
    `on_existing` `skip` left alone, or with `update` updated (its prior values logged, so
    that a rollback restores them). With `dry_run`, validates and reports what would be done
    without writing anything, history included. `job_id` names the job to create (a service
    that promised its client a job id before running it).
    """
    declared = db.catalog[import_type]
    options = ReadOptions(
        encoding,
        sheet,
        progress,
        check_on_existing(on_existing),
        delimiter=delimiter,
        limits=limits or Limits(),
    )
    path = _existing_file(path)
    _ready(db)
    if dry_run:
        return import_file(db, declared, path, None, options)
    return _as_job(
        db,
        declared.name,
        path,
        lambda job, finish: import_file(db, declared, path, job, options, finish=finish),
        actor=actor,
        options=options,
        job_id=job_id,
        remote=remote,
    )


def run_workbook_import(
    db: Database,
    path: Path | str,
    *,
    actor: str,
    limits: Limits | None = None,
    dry_run: bool = False,
    on_existing: str = "error",
    progress: Progress | None = None,
) -> list[ImportReport]:
    """Imports every sheet of a workbook named after an import type (`departments`, `users`,
    ...) in dependency order, as one job with one batch id, all or nothing."""
    options = ReadOptions(
        progress=progress, on_existing=check_on_existing(on_existing), limits=limits or Limits()
    )
    path = _existing_file(path)
    _ready(db)
    if dry_run:
        return import_workbook(db, path, None, options)
    return _as_job(
        db,
        WORKBOOK,
        path,
        lambda job, finish: import_workbook(db, path, job, options, finish=finish),
        actor=actor,
        options=options,
    )


def export_errors(
    errors: list[RowError],
    path: Path | str,
    out: Path | str,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    limits: Limits | None = None,
) -> int:
    """Writes a rejected file's errors, each with its row's original cells, to the CSV `out`
    (cells a spreadsheet would run as formulas neutralised); returns the lines written."""
    options = ReadOptions(encoding, sheet, delimiter=delimiter, limits=limits or Limits())
    return write_error_report(Path(out), errors, lambda name: options.open(Path(path), name))


def _as_job(
    db: Database,
    import_type: str,
    path: Path,
    run: Callable[[Job, Finish], T],
    *,
    actor: str,
    options: ReadOptions,
    job_id: str | None = None,
    remote: str | None = None,
) -> T:
    """Runs `run` as a new job: recorded `running` first, then completed with its data or
    failed with the reason; either way the audit log gets a row, in the transaction that
    records the outcome. Once the data has committed, nothing can turn success into failure."""
    file_sha = file_sha256(path)
    job_id = job_id or str(uuid.uuid4())
    # The claim comes first, so that no sweep ever sees this job running without a worker.
    with working_on(db, job_id):
        with db.connect() as conn, conn.begin():
            job = history.start_job(
                conn,
                job_id=job_id,
                import_type=import_type,
                file_name=path.name,
                file_sha256=file_sha,
                actor=actor,
                worker=this_worker(),
                on_existing=options.on_existing,
            )

        def finish(conn: sa.Connection) -> None:
            _audit_import(conn, job, "ok", remote, f"job {job.job_id}, {import_type}")

        try:
            return _retrying(db, lambda: run(job, finish))
        except FileRejected as exc:
            summary = _rejection_summary(exc.errors)
            _record_failure(
                db,
                job,
                summary,
                remote=remote,
                outcome="rejected",
                rows_total=exc.report.rows_total,
                errors=exc.errors,
            )
            raise
        except BatchportError as exc:
            _record_failure(db, job, str(exc), remote=remote, outcome="failed")
            raise
        except sa.exc.SQLAlchemyError as exc:
            reason = _database_failure(exc)
            _record_failure(db, job, reason, remote=remote, outcome="failed")
            raise ImportFailed(reason, job_id=job.job_id, batch_id=job.batch_id) from exc
        except BaseException:
            _record_failure(db, job, INTERRUPTED, remote=remote, outcome="failed")
            raise


def _audit_import(
    conn: sa.Connection, job: Job, outcome: str, remote: str | None, detail: str
) -> None:
    audit.write(
        conn,
        actor=job.imported_by,
        action="import",
        outcome=outcome,
        remote=remote,
        batch_id=job.batch_id,
        file_sha256=job.file_sha256,
        detail=detail,
    )


def check_on_existing(value: str) -> str:
    """The value, if it is one of `OnExisting`; else a `ConfigurationError`."""
    if value not in {str(o) for o in OnExisting}:
        raise ConfigurationError(
            f"on_existing must be one of {', '.join(OnExisting)}, not {value!r}"
        )
    return str(value)


def _existing_file(path: Path | str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SourceError(str(path), "no such file")
    return path


def rollback_batch(
    db: Database,
    batch_id: str,
    *,
    actor: str,
    reason: str | None = None,
    force_edited: bool = False,
    remote: str | None = None,
) -> RollbackReport:
    """Takes the batch back in one transaction: restores the rows it updated to their prior
    values, then deletes every row it created, children first.

    `batch_id` may also be the job id. Refuses, changing nothing, if the batch is not
    `completed` (or `rollback_failed`, to retry), if it has no rows, if rows outside the batch
    (in any table of the database) still reference its rows, if a row it updated cannot get
    its prior values back, or if rows of the batch were edited since the import (unless
    `force_edited`, which history records). The job is `rolling_back` while this runs,
    `rolled_back` once done, and `rollback_failed` (data unchanged) if it fails. The audit log
    gets a row either way, in the transaction that records the outcome.
    """
    audit_entry = {"actor": actor, "action": "rollback", "remote": remote}
    _ready(db)
    try:
        with db.connect() as conn:
            job = history.find_job(conn, batch_id)
    except BatchNotFound as exc:
        audit.record(db, **audit_entry, outcome="refused", batch_id=batch_id, detail=str(exc))
        raise
    with working_on(db, job.job_id), db.connect() as conn:
        try:
            with db.dialect.begin_write(conn):
                job = history.find_job(conn, job.job_id, dialect=db.dialect)
                assessed = _assess(conn, db, job, force=force_edited, refuse=True)
                history.mark_rolling_back(
                    conn, job, actor=actor, reason=reason, worker=this_worker()
                )
        except BatchportError as exc:
            audit.record(
                db, **audit_entry, outcome="refused", batch_id=job.batch_id, detail=str(exc)
            )
            raise
        return _take_back(
            conn, db, job, assessed, reason=reason, force=force_edited, audit_entry=audit_entry
        )


def _take_back(
    conn: sa.Connection,
    db: Database,
    job: Job,
    assessed: rollback.Assessment,
    *,
    reason: str | None,
    force: bool,
    audit_entry: dict[str, Any],
) -> RollbackReport:
    """The rollback's one deleting transaction (run again if the database aborts it for a
    deadlock or a conflicting write), then the report; on failure the job is marked
    `rollback_failed` with the reason, and audited, in one transaction."""
    actor = audit_entry["actor"]

    def attempt() -> tuple[dict[str, int], dict[str, int]]:
        with db.dialect.begin_write(conn, snapshot=True), changes.writing(conn, job.job_id):
            done = rollback.take_back(
                conn, db.dialect, db.catalog, job.batch_id, assessed, force=force
            )
            history.mark_rolled_back(conn, job, actor=actor, reason=reason, forced=force)
            audit.write(conn, **audit_entry, outcome="ok", batch_id=job.batch_id, detail=reason)
            return done

    try:
        restored, deleted = _retrying(db, attempt)
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
                _database_failure(recording),
            )
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
        f"({_database_failure(exc, 'deleting')}); nothing was changed",
        batch_id=job.batch_id,
    )


def _retrying(db: Database, work: Callable[[], T]) -> T:
    """Runs `work`, again (up to `RETRIES` more times) if the database aborted it to break a
    deadlock; `work` must be one whole transaction."""
    for attempt in itertools.count():
        try:
            return work()
        except sa.exc.DBAPIError as exc:
            if attempt >= RETRIES or not db.dialect.retryable(exc):
                raise
            time.sleep(RETRY_PAUSE * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def preview_rollback(db: Database, batch_id: str, *, force_edited: bool = False) -> RollbackPreview:
    """What a rollback of the batch would delete and restore, and what would stop it;
    changes nothing."""
    _ready(db)
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        conn.rollback()
        found = _assess(conn, db, job, force=force_edited)
    return RollbackPreview(
        job=job,
        rows=found.rows,
        references=found.references,
        refusal=_refusal(job, found.rows, found.restores),
        restores=found.restores,
        edited=found.edited,
        force_edited=force_edited,
        conflicts=found.conflicts,
    )


def get_batch(db: Database, batch_id: str) -> BatchReport:
    """One batch (by batch id or job id) with the rows each table holds of it."""
    _ready(db)
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        return BatchReport(job, rollback.census(conn, db.dialect, db.catalog, job.batch_id)[0])


def batch_records(
    db: Database, batch_id: str, table: str, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """A page of the rows of `table` (an import type's table) that carry the batch, by id."""
    _ready(db)
    types = {t.table.name: t for t in db.catalog.types}
    if table not in types:
        raise ConfigurationError(f"no import type has table {table!r}; tables: {', '.join(types)}")
    target = types[table].table
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        rows = conn.execute(
            sa.select(target)
            .where(target.c.import_batch_id == job.batch_id)
            .order_by(target.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [dict(row) for row in rows]


def list_history(
    db: Database,
    *,
    import_type: str | None = None,
    status: str | None = None,
    batch_id: str | None = None,
    imported_by: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Job]:
    """Import jobs, newest first, filtered and a page at a time."""
    _ready(db)
    with db.connect() as conn:
        return history.list_jobs(
            conn,
            import_type=import_type,
            status=status,
            batch_id=batch_id,
            imported_by=imported_by,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )


def create_account(
    db: Database, name: str, role: str, *, actor: str, remote: str | None = None
) -> str:
    """Creates an account of the service with `role`; returns its API token, shown this once
    (only its hash is kept). The creation and its audit row commit together."""
    _ready(db)
    with db.connect() as conn, conn.begin():
        token = accounts.create_account(conn, name, role, created_by=actor)
        audit.write(
            conn,
            actor=actor,
            action="create account",
            outcome="ok",
            remote=remote,
            detail=f"{name.strip()} ({role})",
        )
    return token


def list_accounts(db: Database) -> list[dict[str, Any]]:
    """The service's accounts: name, role, when and by whom made (never a token)."""
    _ready(db)
    with db.connect() as conn:
        return accounts.list_accounts(conn)


def authenticate(db: Database, token: str) -> accounts.Account | None:
    """The account an API token belongs to, or None if it is no valid token."""
    return accounts.authenticate(db, token)


def audit_log(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The audit log, newest first, filtered by who, what and from when."""
    _ready(db)
    return audit.entries(db, actor=actor, action=action, since=since, limit=limit, offset=offset)


def migrate(db: Database, target: str = "head") -> MigrationStatus:
    """Upgrades the schema to `target` (default: the newest revision)."""
    with db.connect() as conn:
        migrations.upgrade(conn, target)
        conn.commit()
    return migration_status(db)


def rollback_migration(db: Database, target: str | None = None) -> MigrationStatus:
    """Undoes the last revision, or every revision after `target`."""
    with db.connect() as conn:
        migrations.downgrade(conn, target or "-1")
        conn.commit()
    return migration_status(db)


def migration_status(db: Database) -> MigrationStatus:
    """The current revision, the head and the revisions still to apply."""
    with db.connect() as conn:
        return MigrationStatus(
            current=migrations.current_revision(conn),
            head=migrations.head_revision(),
            pending=migrations.pending_revisions(conn),
        )


def verify_migrations(db: Database) -> list[Check]:
    """The seed's post-migration checks against the live schema and data."""
    with db.connect() as conn:
        return verify_schema(conn, db.dialect.schema("inventory"))


def recover(db: Database) -> list[Job]:
    """Marks jobs whose process died as interrupted (`failed` / `rollback_failed`).

    Runs at the start of every use case too; a job whose worker still lives is never touched.
    """
    db.ensure_ready()
    return sweep(db)


def _ready(db: Database) -> None:
    """Makes sure the schema is current and no dead job is left looking alive."""
    db.ensure_ready()
    sweep(db)


def _assess(
    conn: sa.Connection, db: Database, job: Job, *, force: bool, refuse: bool = False
) -> rollback.Assessment:
    """What decides the job's rollback, read in one transaction (a write transaction when
    the batch updated rows: their restore is tried and undone); with `refuse`, raises what
    stops it. Otherwise the transaction ends undone."""
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
    found = rollback.assess(conn, db.dialect, db.catalog, job.batch_id, force=force)
    _refusal(job, found.rows, found.restores, raise_it=True)
    blocker = found.blocker(job.batch_id, force=force)
    if blocker is not None:
        raise blocker
    return found


def _refusal(
    job: Job, rows: dict[str, int], restores: dict[str, int], *, raise_it: bool = False
) -> str | None:
    """Why the job's status or empty batch rules a rollback out, or None if they do not."""
    error: RollbackRefused | None = None
    if job.status not in ROLLBACK_FROM:
        error = BatchNotRollbackable(job.batch_id, job.status)
    elif not rows and not restores:
        error = EmptyBatch(job.batch_id)
    if error is not None and raise_it:
        raise error
    return None if error is None else str(error)


def _record_failure(
    db: Database,
    job: Job,
    reason: str,
    *,
    remote: str | None,
    outcome: str,
    rows_total: int = 0,
    errors: list[RowError] | None = None,
) -> None:
    """Marks the job failed and audits it, in one transaction; if the audit cannot be
    written, marks it failed alone. If even that fails (the database is gone), the job is
    left `running` for the sweep: the caller's own error, which says what happened to the
    data, is what the user must see."""
    rows_failed = len({e.row for e in errors or []})
    for audited in (True, False):
        try:
            with db.connect() as conn, conn.begin():
                history.fail_job(conn, job, reason, rows_total=rows_total, rows_failed=rows_failed)
                if audited:
                    _audit_import(conn, job, outcome, remote, reason)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning(
                "could not record the failure of job %s: %s", job.job_id, _database_failure(exc)
            )
        else:
            return


def _rejection_summary(errors: list[RowError]) -> str:
    shown = "; ".join(str(e) for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"rejected: {len(errors)} error(s): {shown}{more}"


def _database_failure(exc: sa.exc.SQLAlchemyError, doing: str = "loading") -> str:
    original = getattr(exc, "orig", None) or exc
    text = first_line(original)
    if isinstance(exc, sa.exc.IntegrityError):
        return f"a row conflicts with data written meanwhile: {text}"
    return f"the database failed while {doing}: {text}"
