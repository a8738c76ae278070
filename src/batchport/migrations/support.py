"""What the revisions share: the dialect they run on and PostgreSQL's lock settings."""

from __future__ import annotations

from alembic import op

#: How long a DDL statement may wait for a lock before it gives up (and can be retried)
#: instead of queueing every query on the table behind it.
LOCK_TIMEOUT = "5s"
#: How long one quick DDL statement may run; the long, non-blocking steps lift it.
STATEMENT_TIMEOUT = "60s"
#: Rows the backfill updates per transaction, so no long transaction holds row locks.
BACKFILL_CHUNK = 5000


def on_postgresql() -> bool:
    """Whether the revision runs against PostgreSQL (online or emitting SQL)."""
    return op.get_context().dialect.name == "postgresql"


def inventory_schema() -> str | None:
    """`inventory` on PostgreSQL; SQLite keeps those tables in its main database."""
    return "inventory" if on_postgresql() else None


def set_timeouts() -> None:
    """Bounds how long the following DDL waits for its table locks and runs."""
    op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")


def lift_statement_timeout() -> None:
    """Lets the following statements run as long as they need: they block no reader or writer."""
    op.execute("SET statement_timeout = 0")
