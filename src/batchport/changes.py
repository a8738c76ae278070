"""Row versions and the change log: batchport's own changes told apart, and updates logged.

Every imported table has a `row_version`: 0 when a row is created, and one more for every
change made outside batchport (triggers count them, changes to a row's link rows included).
Link rows carry the stamp of the batch that wrote them, so a link another writer added is
told by its stamp (none, or another batch's). While batchport writes, its transaction holds a
row in `import_writes`, which the triggers see and no other transaction does; so its own
writes count nothing, except an import's update of an existing row, which adds one itself and
logs the row's prior values in `import_changes` (see `batchport.rollback` for their use).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from batchport.schema import import_changes, import_writes


@contextmanager
def writing(conn: sa.Connection, job_id: str) -> Iterator[None]:
    """Marks the enclosing transaction as batchport's, for the row-version triggers.

    The mark is removed before the transaction commits; a transaction that fails takes it
    away with everything else.
    """
    conn.execute(import_writes.insert().values(job_id=job_id))
    yield
    conn.execute(import_writes.delete().where(import_writes.c.job_id == job_id))


def log_changes(conn: sa.Connection, entries: list[dict[str, Any]]) -> None:
    """Stores the prior values of rows an import updated (one entry per row)."""
    if entries:
        conn.execute(import_changes.insert(), entries)


def encode(values: dict[str, Any]) -> str:
    """Column values as JSON, timestamps as ISO 8601 text."""
    return json.dumps(values, default=_iso, sort_keys=True)


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the change log")
