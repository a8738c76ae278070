"""What the fast paths share (the direct load, the dry run's precheck): proving a file valid as
it streams, and handing over to the staged path when they cannot."""

from __future__ import annotations

import sqlalchemy as sa

from batchport.declarations import ImportType
from batchport.errors import NotLoadable

__all__ = ["NotLoadable", "key_ids"]


def key_ids(conn: sa.Connection, import_type: ImportType) -> dict[object, int]:
    """Every natural key of `import_type` in the database, with its row id."""
    table = import_type.table
    rows = conn.execute(sa.select(import_type.key_column, table.c.id)).all()
    return dict(rows)
