"""What the use cases share: making sure the database is ready, running a transaction again
when the database aborts it to break a deadlock, and saying what a database failure means."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from batchport.database import Database
from batchport.errors import first_line
from batchport.liveness import sweep

T = TypeVar("T")

#: How many times a transaction the database aborted to break a deadlock is run again, and
#: the pause before the first retry (it grows with each).
RETRIES = 3
RETRY_PAUSE = 0.05


def ready(db: Database) -> None:
    """Makes sure the schema is current and no dead job is left looking alive."""
    db.ensure_ready()
    sweep(db)


def retrying(db: Database, work: Callable[[], T]) -> T:
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


def database_failure(exc: sa.exc.SQLAlchemyError, doing: str = "loading") -> str:
    original = getattr(exc, "orig", None) or exc
    text = first_line(original)
    if isinstance(exc, sa.exc.IntegrityError):
        # batchport checked every rule it knows of the file before writing: what is left is
        # a rule of the table it does not check (a unique column, a trigger), or another
        # writer's row that came first.
        return (
            f"the database refused a row (a rule of the table, or data written meanwhile): {text}"
        )
    return f"the database failed while {doing}: {text}"
