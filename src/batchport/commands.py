"""The use cases: every verb batchport offers, as plain functions. The CLI, the API and the
web UI call these and nothing below them; these own every transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from batchport import history, migrations
from batchport.database import Database
from batchport.errors import (
    BatchNotRollbackable,
    BatchportError,
    EmptyBatch,
    FileRejected,
    ImportFailed,
    RollbackBlocked,
    RollbackRefused,
    RowError,
    SourceError,
)
from batchport.importing import Progress, ReadOptions, import_file
from batchport.liveness import INTERRUPTED, sweep, this_worker, working_on
from batchport.reports import BatchReport, ImportReport, Job, RollbackPreview, RollbackReport
from batchport.rollback import batch_rows, delete_batch, outside_references
from batchport.sources import file_sha256
from batchport.verify import Check, verify_schema

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
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Imports one file as one batch, all or nothing.

    Raises `FileRejected` (carrying every row error) if any row is invalid; nothing is written
    then. With `dry_run`, validates and reports what would be created without writing anything,
    history included.
    """
    declared = db.catalog[import_type]
    options = ReadOptions(encoding, sheet, progress)
    path = Path(path)
    if not path.is_file():
        raise SourceError(str(path), "no such file")
    _ready(db)
    file_sha = file_sha256(path)
    if dry_run:
        return import_file(db, declared, path, None, options)
    job_id = str(uuid.uuid4())
    # The claim comes first, so that no sweep ever sees this job running without a worker.
    with working_on(db, job_id):
        with db.connect() as conn, conn.begin():
            job = history.start_job(
                conn,
                job_id=job_id,
                import_type=declared.name,
                file_name=path.name,
                file_sha256=file_sha,
                actor=actor,
                worker=this_worker(),
            )
        try:
            report = import_file(db, declared, path, job, options)
        except FileRejected as exc:
            _record_failure(
                db, job, _rejection_summary(exc.errors), exc.report.rows_total, exc.errors
            )
            raise
        except BatchportError as exc:
            _record_failure(db, job, str(exc))
            raise
        except sa.exc.SQLAlchemyError as exc:
            reason = _database_failure(exc)
            _record_failure(db, job, reason)
            raise ImportFailed(reason, job_id=job.job_id, batch_id=job.batch_id) from exc
        except BaseException:
            _record_failure(db, job, INTERRUPTED)
            raise
    return report


def rollback_batch(
    db: Database, batch_id: str, *, actor: str, reason: str | None = None
) -> RollbackReport:
    """Deletes every row the batch created, children first, in one transaction.

    `batch_id` may also be the job id. Refuses, changing nothing, if the batch is not
    `completed` (or `rollback_failed`, to retry), if it matches no rows, or if rows outside the
    batch still reference its rows. The job is `rolling_back` while the rows are deleted,
    `rolled_back` once they are, and `rollback_failed` (data unchanged) if that fails.
    """
    _ready(db)
    with db.connect() as conn:
        job_id = history.find_job(conn, batch_id).job_id
    with working_on(db, job_id), db.connect() as conn:
        with db.dialect.begin_write(conn):
            job = history.find_job(conn, job_id, dialect=db.dialect)
            _refusal(job, batch_rows(conn, db.dialect, db.catalog, job.batch_id), raise_it=True)
            _ensure_unreferenced(conn, db, job)
            history.mark_rolling_back(conn, job, actor=actor, reason=reason, worker=this_worker())
        try:
            with db.dialect.begin_write(conn):
                # Rows written since the check above may reference the batch: check again,
                # this time in the transaction that deletes.
                _ensure_unreferenced(conn, db, job)
                deleted = delete_batch(conn, db.dialect, db.catalog, job.batch_id)
                history.mark_rolled_back(conn, job, actor=actor, reason=reason)
        except BaseException as exc:
            failure = exc
            if isinstance(exc, sa.exc.SQLAlchemyError):
                failure = RollbackRefused(
                    f"batch {job.batch_id} could not be rolled back "
                    f"({_database_failure(exc, 'deleting')}); nothing was deleted",
                    batch_id=job.batch_id,
                )
            with conn.begin():
                history.mark_rollback_failed(conn, job, str(failure) or INTERRUPTED)
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
    )


def preview_rollback(db: Database, batch_id: str) -> RollbackPreview:
    """What a rollback of the batch would delete and what would stop it; changes nothing."""
    _ready(db)
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        rows = batch_rows(conn, db.dialect, db.catalog, job.batch_id)
        return RollbackPreview(
            job=job,
            rows=rows,
            references=outside_references(conn, db.catalog, job.batch_id),
            refusal=_refusal(job, rows),
        )


def get_batch(db: Database, batch_id: str) -> BatchReport:
    """One batch (by batch id or job id) with the rows each table holds of it."""
    _ready(db)
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        return BatchReport(job, batch_rows(conn, db.dialect, db.catalog, job.batch_id))


def list_history(
    db: Database,
    *,
    import_type: str | None = None,
    status: str | None = None,
    batch_id: str | None = None,
    limit: int = 50,
) -> list[Job]:
    """Import jobs, newest first."""
    _ready(db)
    with db.connect() as conn:
        return history.list_jobs(
            conn, import_type=import_type, status=status, batch_id=batch_id, limit=limit
        )


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


def _ensure_unreferenced(conn: sa.Connection, db: Database, job: Job) -> None:
    references = outside_references(conn, db.catalog, job.batch_id)
    if references:
        raise RollbackBlocked(job.batch_id, references)


def _refusal(job: Job, rows: dict[str, int], *, raise_it: bool = False) -> str | None:
    """Why the job's status or empty batch rules a rollback out, or None if they do not."""
    error: RollbackRefused | None = None
    if job.status not in ROLLBACK_FROM:
        error = BatchNotRollbackable(job.batch_id, job.status)
    elif not rows:
        error = EmptyBatch(job.batch_id)
    if error is not None and raise_it:
        raise error
    return None if error is None else str(error)


def _record_failure(
    db: Database,
    job: Job,
    reason: str,
    rows_total: int = 0,
    errors: list[RowError] | None = None,
) -> None:
    with db.connect() as conn, conn.begin():
        history.fail_job(
            conn,
            job,
            reason,
            rows_total=rows_total,
            rows_failed=len({e.row for e in errors or []}),
        )


def _rejection_summary(errors: list[RowError]) -> str:
    shown = "; ".join(str(e) for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"rejected: {len(errors)} error(s): {shown}{more}"


def _database_failure(exc: sa.exc.SQLAlchemyError, doing: str = "loading") -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else repr(original)
    if isinstance(exc, sa.exc.IntegrityError):
        return f"a row conflicts with data written meanwhile: {text}"
    return f"the database failed while {doing}: {text}"
