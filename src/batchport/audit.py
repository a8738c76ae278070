"""The audit log: who did what, when (UTC), from where, how it ended. Rows are only ever
added; the database refuses to change or delete them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batchport.database import Database
from batchport.history import now
from batchport.schema import audit_log


def record(db: Database, **entry: Any) -> None:
    """Adds one row (the keywords of `write`) in a transaction of its own: for an action that
    changed nothing else."""
    with db.connect() as conn, conn.begin():
        write(conn, **entry)


def write(
    conn: sa.Connection,
    *,
    actor: str | None,
    action: str,
    outcome: str,
    via: str | None = None,
    remote: str | None = None,
    batch_id: str | None = None,
    file_sha256: str | None = None,
    detail: str | None = None,
) -> None:
    """Adds one row in the caller's transaction, so that it stands or falls with the action
    it records. Text that would not fit its column is cut, never refused."""
    conn.execute(
        audit_log.insert().values(
            at=now(),
            actor=_cut(actor, audit_log.c.actor),
            via=via,
            action=action,
            outcome=outcome,
            remote=_cut(remote, audit_log.c.remote),
            batch_id=batch_id,
            file_sha256=file_sha256,
            detail=(detail or "")[:2000] or None,
        )
    )


def _cut(text: str | None, column: sa.Column[str]) -> str | None:
    length = getattr(column.type, "length", None)
    return text[:length] if text is not None and length else text


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to list: by who, what and from when; None does not filter."""

    actor: str | None = None
    action: str | None = None
    since: dt.datetime | None = None


def entries(
    db: Database, where: AuditFilter, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Rows newest first, filtered, a page at a time."""
    statement = sa.select(audit_log).order_by(audit_log.c.id.desc())
    if where.actor:
        statement = statement.where(audit_log.c.actor == where.actor)
    if where.action:
        statement = statement.where(audit_log.c.action == where.action)
    if where.since is not None:
        statement = statement.where(audit_log.c.at >= where.since)
    with db.connect() as conn:
        rows = conn.execute(statement.limit(limit).offset(offset)).mappings()
        return [dict(row) for row in rows]
