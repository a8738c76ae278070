"""The use cases that read: the history, a batch and its rows, the audit log."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchport import audit, history, rollback
from batchport.audit import AuditFilter
from batchport.commands.support import ready
from batchport.database import Database
from batchport.errors import ConfigurationError
from batchport.history import JobFilter
from batchport.reports import BatchReport, Job


def get_job(db: Database, batch_id: str) -> Job:
    """One job (by batch id or job id), without counting its rows."""
    ready(db)
    with db.connect() as conn:
        return history.find_job(conn, batch_id)


def get_batch(db: Database, batch_id: str) -> BatchReport:
    """One batch (by batch id or job id) with the rows each table holds of it."""
    ready(db)
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        created = rollback.census(conn, db.dialect, db.catalog, job.batch_id)[0]
        return BatchReport(job, created, rollback.changed_rows(conn, db.catalog, job.batch_id))


def batch_records(
    db: Database, batch_id: str, table: str, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """A page of the rows of `table` (an import type's table) that carry the batch, by id."""
    ready(db)
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
    db: Database, where: JobFilter | None = None, *, limit: int = 50, offset: int = 0
) -> list[Job]:
    """Import jobs, newest first, filtered and a page at a time."""
    ready(db)
    with db.connect() as conn:
        return history.list_jobs(conn, where or JobFilter(), limit=limit, offset=offset)


def audit_log(
    db: Database, where: AuditFilter | None = None, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """The audit log, newest first, filtered by who, what and from when."""
    ready(db)
    return audit.entries(db, where or AuditFilter(), limit=limit, offset=offset)
