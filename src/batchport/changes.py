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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType
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


def decode(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """JSON values back as the column types want them (timestamps from ISO text)."""
    return {
        name: dt.datetime.fromisoformat(value)
        if isinstance(value, str) and isinstance(table.c[name].type, sa.DateTime)
        else value
        for name, value in values.items()
    }


def pointers(
    import_type: ImportType, prior: dict[str, Any], prior_links: dict[str, list[dict[str, Any]]]
) -> Iterator[tuple[sa.Column[Any], Any, str]]:
    """The rows a change-log entry's prior values point at: (the referenced column, the
    value, which column of the entry holds it), for every foreign key of the row's table and
    of its logged link rows, the link's own row aside."""
    for foreign_key in import_type.table.foreign_keys:
        value = prior.get(foreign_key.parent.name)
        if value is not None:
            yield foreign_key.column, value, foreign_key.parent.name
    for link in import_type.links:
        for row in prior_links.get(link.table.name, []):
            for foreign_key in link.table.foreign_keys:
                value = row.get(foreign_key.parent.name)
                if foreign_key.parent.name != link.owner_column and value is not None:
                    yield foreign_key.column, value, f"link in {link.table.name}"


def identities(
    conn: sa.Connection, catalog: Catalog, values: Iterable[tuple[sa.Column[Any], Any]]
) -> dict[str, dict[str, Any]]:
    """The natural keys of the rows these (column, value) pairs point at, per table and id,
    for the import types' tables: what tells a restore that an id still names the same row."""
    keys = {t.table.name: t.key_column for t in catalog.types}
    wanted: dict[sa.Column[Any], set[Any]] = {}
    for column, value in values:
        if column.table.name in keys and column.name == "id":
            wanted.setdefault(column, set()).add(value)
    found: dict[str, dict[str, Any]] = {}
    for column, ids in wanted.items():
        key = keys[column.table.name]
        rows = conn.execute(sa.select(column, key).where(column.in_(sorted(ids))))
        found[column.table.name] = {str(row_id): value for row_id, value in rows}
    return found


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the change log")
