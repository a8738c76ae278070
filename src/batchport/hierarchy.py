"""Parent chains: rows of an import type that reference rows of the same type (a department's
parent), walked in SQL through every row of the table, whoever wrote it."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from batchport.declarations import ImportType, Reference

#: Rows listed per reference when several are their own ancestors.
LIMIT = 100


def own_ancestors(
    conn: sa.Connection, import_type: ImportType, ids: Collection[object] | sa.Select[Any]
) -> list[tuple[Reference, object, object]]:
    """The rows among `ids` (a list, or a query of ids) whose chain of a self-reference leads
    back to themselves, as (reference, id, key)."""
    table = import_type.table
    found: list[tuple[Reference, object, object]] = []
    for reference in import_type.references:
        if reference.to != import_type.name:
            continue
        column = table.c[reference.column]
        longest = sa.select(sa.func.count()).select_from(table).scalar_subquery()
        walk = (
            sa.select(
                table.c.id.label("origin"), column.label("current"), sa.literal(1).label("depth")
            )
            .where(table.c.id.in_(ids if isinstance(ids, sa.Select) else list(ids)))
            .where(column.is_not(None))
            .cte("walk", recursive=True)
        )
        step = table.alias("step")
        walk = walk.union_all(
            sa.select(walk.c.origin, step.c[reference.column], walk.c.depth + 1)
            .join(step, step.c.id == walk.c.current)
            .where(
                walk.c.current != walk.c.origin,
                step.c[reference.column].is_not(None),
                walk.c.depth < longest,
            )
        )
        looped = conn.execute(
            sa.select(table.c.id, import_type.key_column)
            .join(walk, walk.c.origin == table.c.id)
            .where(walk.c.current == walk.c.origin)
            .order_by(table.c.id)
            .limit(LIMIT)
        )
        found += [(reference, row_id, key) for row_id, key in looped]
    return found
