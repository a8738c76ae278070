"""Parent chains: rows of an import type that reference rows of the same type (a department's
parent), followed in SQL through every row of the table, whoever wrote it."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from batchport.checks.cycles import ancestry, on_cycles

if TYPE_CHECKING:
    from batchport.declarations import ImportType, Reference

#: Rows listed per reference when several are their own ancestors.
LIMIT = 100


def own_ancestors(
    conn: sa.Connection, import_type: ImportType, ids: Collection[object] | sa.Select[Any]
) -> list[tuple[Reference, object, object]]:
    """The rows among `ids` (a list, or a query of ids) whose chain of a self-reference leads
    back to themselves, as (reference, id, key): at most `LIMIT` per reference, by id.

    Only the chains that start at `ids` are read, each row once (see `checks.cycles`), so the
    cost grows with the rows on those chains, not with their number times their length.
    """
    table = import_type.table
    if not isinstance(ids, sa.Select):
        ids = sa.select(table.c.id).where(table.c.id.in_(list(ids)))
    found: list[tuple[Reference, object, object]] = []
    for reference in import_type.references:
        if reference.to != import_type.name:
            continue
        edges = ancestry(table, reference.column, ids)
        with on_cycles(conn, edges, table.c.id.type) as looped:
            rows = conn.execute(
                sa.select(table.c.id, import_type.key_column)
                .where(table.c.id.in_(looped), table.c.id.in_(ids))
                .order_by(table.c.id)
                .limit(LIMIT)
            ).all()
        found += [(reference, row_id, key) for row_id, key in rows]
    return found
