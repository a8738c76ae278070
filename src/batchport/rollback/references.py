"""Rows outside a batch that point at rows of the batch, found through every foreign key the
database's own catalog holds, from any table in any schema, whatever its `ON DELETE` action.

A row is outside the batch unless it carries the batch's stamp in a table the rollback
deletes from. A link row added to a row of the batch is the one exception: it is an edit of
that row (see `edits`), which `--force-edited` may override; an outside reference never is.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchport.declarations import Catalog
from batchport.dialects import Dialect, ForeignKey
from batchport.reports import ReferencingRow

#: How many referencing rows are listed per foreign key.
LIMIT = 100


def outside_references(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str
) -> list[ReferencingRow]:
    """Rows outside the batch whose foreign keys point at rows of the batch."""
    links = [link for t in catalog.types for link in t.links]
    tables = [t.table for t in catalog.types] + [link.table for link in links]
    owned = {(id(link.table), (link.owner_column,)) for link in links}
    keys = {id(t.table): t.key_column.name for t in catalog.types}
    found: list[ReferencingRow] = []
    for foreign_key in dialect.foreign_keys_to(conn, tables):
        if foreign_key.declared is not None and (
            (id(foreign_key.declared), foreign_key.columns) in owned
        ):
            continue  # a link row of a row of the batch: an edit of that row, if not its own
        found += _referencing(conn, foreign_key, keys.get(id(foreign_key.referred)), batch_id)
    return found


def _referencing(
    conn: sa.Connection, foreign_key: ForeignKey, key: str | None, batch_id: str
) -> list[ReferencingRow]:
    """The rows of `foreign_key`'s table outside the batch that point at a row of it."""
    child = _child_table(foreign_key)
    parent = foreign_key.referred.alias("batch_row")
    shown = [*foreign_key.primary_key, *foreign_key.columns]
    shown += ["import_batch_id"] if foreign_key.stamped else []
    parent_key = [c.name for c in foreign_key.referred.primary_key.columns]
    query = (
        sa.select(
            *(child.c[name].label(f"c_{n}") for n, name in enumerate(dict.fromkeys(shown))),
            *(parent.c[name].label(f"p_{name}") for name in parent_key),
            *([parent.c[key].label("p_key")] if key else []),
        )
        .select_from(child)
        .join(
            parent,
            sa.and_(
                *(
                    child.c[column] == parent.c[referred]
                    for column, referred in zip(
                        foreign_key.columns, foreign_key.referred_columns, strict=True
                    )
                )
            ),
        )
        .where(parent.c.import_batch_id == batch_id)
        .limit(LIMIT)
    )
    if foreign_key.declared is not None:
        query = query.where(child.c.import_batch_id.is_distinct_from(batch_id))
    names = list(dict.fromkeys(shown))
    found = []
    for row in conn.execute(query).mappings():
        values = {name: row[f"c_{n}"] for n, name in enumerate(names)}
        found.append(
            ReferencingRow(
                table=foreign_key.table_name,
                row_id=_identity(values, foreign_key.primary_key),
                column=", ".join(foreign_key.columns),
                referenced_table=foreign_key.referred.name,
                referenced_id=_identity({n: row[f"p_{n}"] for n in parent_key}, parent_key),
                referenced_key=row["p_key"] if key else None,
                batch_id=values.get("import_batch_id"),
                on_delete=foreign_key.on_delete,
            )
        )
    return found


def _child_table(foreign_key: ForeignKey) -> sa.TableClause | sa.Table:
    if foreign_key.declared is not None:
        return foreign_key.declared
    names = dict.fromkeys(
        [*foreign_key.primary_key, *foreign_key.columns]
        + (["import_batch_id"] if foreign_key.stamped else [])
    )
    table: sa.TableClause = sa.table(
        foreign_key.table, *(sa.column(name) for name in names), schema=foreign_key.schema
    )
    return table


def _identity(values: dict[str, Any], key: tuple[str, ...] | list[str]) -> object:
    """A row's primary key as one value (`a=1, b=2` for several columns; None for none)."""
    if not key:
        return None
    if len(key) == 1:
        return values[key[0]]
    return ", ".join(f"{name}={values[name]}" for name in key)
