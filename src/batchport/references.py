"""Rows that point at rows: every foreign key the database's own catalog holds, from any
table in any schema, whatever its `ON DELETE` action, and the rows behind them.

Before batchport deletes a row (a rollback, an import replacing a link), it asks here who
points at it: a row it did not write and is not deleting must not be cascaded away, blanked
or left to make the delete fail without saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from batchport.dialects import Dialect, ForeignKey
from batchport.reports import ReferencingRow

#: How many referencing rows are listed per foreign key.
LIMIT = 100

#: Builds a condition on an aliased table (the referenced rows, or the referencing ones).
Condition = Callable[[sa.FromClause], sa.ColumnElement[bool]]


def referencing(
    conn: sa.Connection,
    foreign_key: ForeignKey,
    *,
    referenced: Condition,
    exempt: Condition | None = None,
    key: str | None = None,
) -> list[ReferencingRow]:
    """The rows of `foreign_key`'s table that point at rows of its referred table for which
    `referenced` holds, leaving out those for which `exempt` holds; `key` names the referred
    table's natural key column, shown beside its id."""
    child = _child_table(foreign_key)
    parent = foreign_key.referred.alias("referenced_row")
    names = _shown(foreign_key)
    parent_key = [c.name for c in foreign_key.referred.primary_key.columns]
    joined = sa.and_(
        *(
            child.c[column] == parent.c[referred]
            for column, referred in zip(
                foreign_key.columns, foreign_key.referred_columns, strict=True
            )
        )
    )
    query = (
        sa.select(
            *(child.c[name].label(f"c_{n}") for n, name in enumerate(names)),
            *(parent.c[name].label(f"p_{name}") for name in parent_key),
            *([parent.c[key].label("p_key")] if key else []),
        )
        .select_from(child)
        .join(parent, joined)
        .where(referenced(parent))
        .limit(LIMIT)
    )
    if exempt is not None:
        query = query.where(~exempt(child))
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


def rows_pointing_at(
    conn: sa.Connection,
    dialect: Dialect,
    table: sa.Table,
    keys: Sequence[tuple[Any, ...]],
    foreign_keys: list[ForeignKey] | None = None,
) -> list[ReferencingRow]:
    """The rows of any table that point at the rows of `table` whose primary key is among
    `keys` (rows about to be deleted)."""
    if not keys:
        return []
    if foreign_keys is None:
        foreign_keys = dialect.foreign_keys_to(conn, [table])
    found: list[ReferencingRow] = []
    for foreign_key in foreign_keys:
        if foreign_key.referred is not table:
            continue

        def doomed(parent: sa.FromClause) -> sa.ColumnElement[bool]:
            primary = [parent.c[c.name] for c in table.primary_key.columns]
            return sa.tuple_(*primary).in_(list(keys))

        found += referencing(conn, foreign_key, referenced=doomed)
    return found


def _child_table(foreign_key: ForeignKey) -> sa.FromClause:
    if foreign_key.declared is not None:
        return foreign_key.declared.alias("referencing_row")
    table: sa.TableClause = sa.table(
        foreign_key.table,
        *(sa.column(name) for name in _shown(foreign_key)),
        schema=foreign_key.schema,
    )
    return table.alias("referencing_row")


def _shown(foreign_key: ForeignKey) -> list[str]:
    """The referencing row's columns a listing shows: its key, the foreign key's columns,
    and its batch if it has one."""
    names = [*foreign_key.primary_key, *foreign_key.columns]
    names += ["import_batch_id"] if foreign_key.stamped else []
    return list(dict.fromkeys(names))


def _identity(values: dict[str, Any], key: Sequence[str]) -> object:
    """A row's primary key as one value (`a=1, b=2` for several columns; None for none)."""
    if not key:
        return None
    if len(key) == 1:
        return values[key[0]]
    return ", ".join(f"{name}={values[name]}" for name in key)
