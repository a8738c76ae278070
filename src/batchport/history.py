"""The `import_history` table: one row per import job, written as the job moves through its states.

History rows are never deleted; these functions only insert and update them, inside
transactions their callers own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batchport.dialects import Dialect
from batchport.errors import BatchNotFound, JobMoved
from batchport.reports import Job
from batchport.schema import import_history

#: Longest error summary stored; the full error list goes to the user, not the table.
SUMMARY_LIMIT = 4000


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def start_job(
    conn: sa.Connection,
    *,
    import_type: str,
    file_name: str,
    file_sha256: str,
    actor: str,
    worker: str,
    job_id: str | None = None,
    on_existing: str = "error",
    via: str | None = None,
) -> Job:
    """Records a new job as `running` with a fresh batch id (and job id unless given)."""
    batch_id = str(uuid.uuid4())
    values = {
        "job_id": job_id or str(uuid.uuid4()),
        "batch_id": batch_id,
        "import_type": import_type,
        "status": "running",
        "file_name": file_name,
        "file_sha256": file_sha256,
        "imported_by": actor,
        "imported_via": via,
        "worker": worker,
        "on_existing": on_existing,
        "started_at": clock(conn),
    }
    conn.execute(import_history.insert().values(values))
    return find_job(conn, batch_id)


def complete_job(
    conn: sa.Connection,
    job: Job,
    *,
    rows_total: int,
    rows_imported: int,
    rows_updated: int = 0,
    rows_skipped: int = 0,
    rows_unchanged: int = 0,
) -> None:
    """Marks the job `completed`; commits with the data it loaded, as the transaction's last
    statement, so `completed_at` is (within a statement) when the data became visible.

    Raises `ImportFailed` if the job is no longer `running` (a sweep took it for dead): the
    data must then not be kept.
    """
    _update(
        conn,
        job,
        status="completed",
        rows_total=rows_total,
        rows_imported=rows_imported,
        rows_updated=rows_updated,
        rows_skipped=rows_skipped,
        rows_unchanged=rows_unchanged,
        completed_at=clock(conn),
        expected="running",
    )


def clock(conn: sa.Connection) -> dt.datetime | sa.ColumnElement[dt.datetime]:
    """The database's time now: on PostgreSQL `clock_timestamp()` (not `now()`, which is when
    the transaction began); SQLite has no clock of its own but this machine's."""
    return sa.func.clock_timestamp() if conn.dialect.name == "postgresql" else now()


def fail_job(
    conn: sa.Connection, job: Job, reason: str, *, rows_total: int = 0, rows_failed: int = 0
) -> None:
    """Marks the job `failed` with the reason."""
    _update(
        conn,
        job,
        status="failed",
        error_summary=_summary(reason),
        rows_total=rows_total,
        rows_failed=rows_failed,
        completed_at=clock(conn),
    )


def mark_rolling_back(
    conn: sa.Connection,
    job: Job,
    *,
    actor: str,
    reason: str | None,
    worker: str,
    via: str | None = None,
) -> None:
    """Marks the job `rolling_back` by `actor` (acting `via`): `worker` is deleting its rows."""
    _update(
        conn,
        job,
        status="rolling_back",
        rolled_back_by=actor,
        rolled_back_via=via,
        rollback_reason=reason,
        worker=worker,
    )


def mark_rolled_back(
    conn: sa.Connection, job: Job, *, reason: str | None, forced: bool = False
) -> None:
    """Marks the job `rolled_back` (by whoever marked it `rolling_back`), clearing the reason
    of any failed attempt before; `forced` if edited rows went with it."""
    _update(
        conn,
        job,
        status="rolled_back",
        rolled_back_at=clock(conn),
        rollback_reason=reason,
        rollback_forced=forced,
        error_summary=None,
        expected="rolling_back",
    )


def mark_rollback_failed(conn: sa.Connection, job: Job, reason: str) -> None:
    """Marks the job `rollback_failed`: its rows are unchanged; a new rollback may be tried."""
    _update(conn, job, status="rollback_failed", error_summary=_summary(reason))


def mark_interrupted(conn: sa.Connection, job: Job, status: str, reason: str) -> None:
    """Marks a job whose worker died: `failed` (an import) or `rollback_failed`."""
    _update(conn, job, status=status, error_summary=reason)


def list_jobs_in(conn: sa.Connection, statuses: tuple[str, ...]) -> list[Job]:
    """Every job in one of `statuses`, oldest first."""
    statement = (
        sa.select(import_history)
        .where(import_history.c.status.in_(statuses))
        .order_by(import_history.c.id)
    )
    return [_job(row) for row in conn.execute(statement).mappings()]


def find_job(conn: sa.Connection, batch_or_job_id: str, *, dialect: Dialect | None = None) -> Job:
    """The job with this batch id or job id; with a dialect, its row stays locked."""
    wanted = batch_or_job_id.strip()
    match = import_history.c.batch_id == wanted
    if _is_uuid(wanted):
        match = match | (import_history.c.job_id == str(uuid.UUID(wanted)))
    statement = sa.select(import_history).where(match).order_by(import_history.c.id).limit(1)
    if dialect is not None:
        statement = dialect.lock_row(statement)
    row = conn.execute(statement).mappings().first()
    if row is None:
        raise BatchNotFound(batch_or_job_id)
    return _job(row)


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to list: by type, status, batch id, who ran them and when they started
    (`since` inclusive, `until` exclusive); a field left None does not filter."""

    import_type: str | None = None
    status: str | None = None
    batch_id: str | None = None
    imported_by: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(self, statement: sa.Select[Any]) -> sa.Select[Any]:
        """`statement` (over `import_history`) narrowed to the jobs this filter keeps."""
        equal = {
            import_history.c.import_type: self.import_type,
            import_history.c.status: self.status,
            import_history.c.batch_id: self.batch_id,
            import_history.c.imported_by: self.imported_by,
        }
        for column, wanted in equal.items():
            if wanted:
                statement = statement.where(column == wanted)
        if self.since is not None:
            statement = statement.where(import_history.c.started_at >= self.since)
        if self.until is not None:
            statement = statement.where(import_history.c.started_at < self.until)
        return statement


def list_jobs(
    conn: sa.Connection, where: JobFilter, *, limit: int = 50, offset: int = 0
) -> list[Job]:
    """Jobs newest first, filtered, a page at a time."""
    return [_job(row) for row in conn.execute(page_of_jobs(where, limit, offset)).mappings()]


def page_of_jobs(where: JobFilter, limit: int, offset: int) -> sa.Select[Any]:
    """The query of a page of jobs, newest first: read in the order of
    `import_history_started_at_index`, so a long history pages as fast as a short one."""
    statement = sa.select(import_history).order_by(
        import_history.c.started_at.desc(), import_history.c.id.desc()
    )
    return where.apply(statement).limit(limit).offset(offset)


def _update(
    conn: sa.Connection, job: Job, *, expected: str | None = None, **values: object
) -> None:
    """Writes `values` to the job's row; with `expected`, only if the job is in that status
    (else `JobMoved`)."""
    statement = import_history.update().where(import_history.c.job_id == job.job_id)
    if expected is not None:
        statement = statement.where(import_history.c.status == expected)
    if conn.execute(statement.values(**values)).rowcount == 0 and expected is not None:
        status = conn.execute(
            sa.select(import_history.c.status).where(import_history.c.job_id == job.job_id)
        ).scalar()
        raise JobMoved(job, expected, status)


def _summary(reason: str) -> str:
    return reason if len(reason) <= SUMMARY_LIMIT else reason[: SUMMARY_LIMIT - 1] + "…"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands timestamps back without a zone; batchport writes them all in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _job(row: sa.RowMapping) -> Job:
    return Job(
        job_id=str(row["job_id"]),
        batch_id=row["batch_id"],
        import_type=row["import_type"],
        status=row["status"],
        file_name=row["file_name"],
        file_sha256=row["file_sha256"],
        rows_total=row["rows_total"],
        rows_imported=row["rows_imported"],
        rows_failed=row["rows_failed"],
        rows_updated=row["rows_updated"],
        rows_skipped=row["rows_skipped"],
        rows_unchanged=row["rows_unchanged"],
        on_existing=row["on_existing"],
        error_summary=row["error_summary"],
        imported_by=row["imported_by"],
        worker=row["worker"],
        started_at=_utc(row["started_at"]),
        completed_at=_utc(row["completed_at"]),
        rolled_back_at=_utc(row["rolled_back_at"]),
        rolled_back_by=row["rolled_back_by"],
        imported_via=row["imported_via"],
        rolled_back_via=row["rolled_back_via"],
        rollback_reason=row["rollback_reason"],
        rollback_forced=bool(row["rollback_forced"]),
    )
