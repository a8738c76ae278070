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
import decimal
import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType
from batchport.schema import import_writes


@contextmanager
def writing(conn: sa.Connection, job_id: str) -> Iterator[None]:
    """Marks the enclosing transaction as batchport's, for the row-version triggers.

    The mark is removed before the transaction commits; a transaction that fails takes it
    away with everything else.
    """
    conn.execute(import_writes.insert().values(job_id=job_id))
    yield
    conn.execute(import_writes.delete().where(import_writes.c.job_id == job_id))


def encode(values: dict[str, Any]) -> str:
    """Column values as JSON: timestamps and dates as ISO 8601 text, decimals and UUIDs as
    their exact text (a JSON column's document as it is)."""
    return json.dumps(values, default=_iso, sort_keys=True)


def decode(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """JSON values back as the column types want them: what `encode` wrote as text, read as
    its column's type reads it."""
    return {name: _decoded(table.c[name].type, value) for name, value in values.items()}


def _decoded(kind: sa.types.TypeEngine[Any], value: Any) -> Any:
    read = _reader(kind) if isinstance(value, str) else None
    return read(value) if read else value


#: How a column type reads back the text `encode` wrote for one of its values.
_READERS: tuple[tuple[type[sa.types.TypeEngine[Any]], Callable[[str], Any]], ...] = (
    (sa.DateTime, dt.datetime.fromisoformat),
    (sa.Date, dt.date.fromisoformat),
    (sa.Time, dt.time.fromisoformat),
    (sa.Numeric, decimal.Decimal),
)


@functools.lru_cache(maxsize=256)  # a restore decodes its table's few column types many times
def _reader(kind: sa.types.TypeEngine[Any]) -> Callable[[str], Any] | None:
    """What reads a logged text back as `kind` wants it; None to keep the text (a text or a
    JSON column's string, a float, a UUID kept as text)."""
    if isinstance(kind, sa.Float):
        return None
    if isinstance(kind, sa.Uuid):
        return uuid.UUID if kind.as_uuid else None
    return next((read for types, read in _READERS if isinstance(kind, types)), None)


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


def identity_columns(import_type: ImportType) -> list[sa.Column[Any]]:
    """What proves a row of the type is the row it was: its natural key, and where its table
    has a creation time, that time and the batch that created the row (a row renamed by hand
    keeps both; another row given the same id by hand has its own)."""
    table = import_type.table
    if "created_at" not in table.c:
        return [import_type.key_column]
    return [import_type.key_column, table.c.created_at, table.c.import_batch_id]


def identity(key: Any, created_at: Any = None, batch_id: str | None = None) -> str:
    """A row's identity, as the change log keeps it."""
    return encode({"key": key, "created_at": created_at, "batch_id": batch_id})


def same_row(
    logged: str | dict[str, Any] | None,
    key: Any,
    created_at: Any = None,
    batch_id: str | None = None,
) -> bool:
    """Whether a row with these values is the row a logged identity names (a log without
    one, from before identities were kept, takes the id's word for it)."""
    if logged is None:
        return True
    known = json.loads(logged) if isinstance(logged, str) else logged
    if known.get("created_at") is not None and created_at is not None:
        return bool(known["created_at"] == _iso(created_at) and known.get("batch_id") == batch_id)
    return str(known.get("key")) == str(_logged(key))


def identities(
    conn: sa.Connection, catalog: Catalog, values: Iterable[tuple[sa.Column[Any], Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """The identities (see `identity_columns`) of the rows these (column, value) pairs point
    at, per table and id, for the import types' tables: what tells a restore that an id still
    names the same row."""
    types = {t.table.name: t for t in catalog.types}
    wanted: dict[sa.Column[Any], set[Any]] = {}
    for column, value in values:
        if column.table.name in types and column.name == "id":
            wanted.setdefault(column, set()).add(value)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for column, ids in wanted.items():
        proof = identity_columns(types[column.table.name])
        rows = conn.execute(sa.select(column, *proof).where(column.in_(sorted(ids))))
        found[column.table.name] = {
            str(row_id): json.loads(identity(*values)) for row_id, *values in rows
        }
    return found


def _logged(value: object) -> object:
    """`value` as the change log keeps it (a UUID, a date as text)."""
    return json.loads(json.dumps(value, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in the change log")
