"""What the fast paths share (the direct load, the dry run's precheck): proving a file valid as
it streams, and handing over to the staged path when they cannot."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from batchport.declarations import ImportType
from batchport.errors import NotLoadable

__all__ = ["NotLoadable", "key_ids", "stored_ids"]

#: Keys looked up in the database per query. Few enough that PostgreSQL looks them up in the
#: key's index even when the table's statistics are stale, as they are while an import fills
#: it: with a thousand keys it would scan the whole table instead, for every chunk.
LOOKUP_BATCH = 500


def key_ids(conn: sa.Connection, import_type: ImportType) -> dict[object, int]:
    """Every natural key of `import_type` in the database, with its row id."""
    table = import_type.table
    rows = conn.execute(sa.select(import_type.key_column, table.c.id)).all()
    return dict(rows)


def stored_ids(
    conn: sa.Connection, import_type: ImportType, keys: Collection[object]
) -> dict[object, int]:
    """The row id of each of `keys` that the database holds (as this transaction sees it)."""
    column = import_type.key_column
    # Text and whole numbers go into the statement as literals: several times faster than
    # as many bind parameters, for the driver and the server alike.
    literal = isinstance(column.type, (sa.String, sa.Integer))
    wanted: sa.BindParameter[Any] = sa.bindparam("keys", expanding=True, literal_execute=literal)
    query = sa.select(column, import_type.table.c.id).where(column.in_(wanted))
    pending = list(keys)
    found: dict[object, int] = {}
    for start in range(0, len(pending), LOOKUP_BATCH):
        found.update(conn.execute(query, {"keys": pending[start : start + LOOKUP_BATCH]}).all())
    return found
