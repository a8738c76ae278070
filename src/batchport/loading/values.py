"""What a staged row writes into its table: each column's value or default, and the stamp."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchport.checks.stage import Stage
from batchport.declarations import Catalog


def stamp(table: sa.Table, batch_id: str) -> sa.ColumnElement[Any]:
    """The batch id as a value of `table`'s stamp column."""
    return sa.literal(batch_id, table.c.import_batch_id.type)


def file_values(
    stage: Stage, catalog: Catalog, *, updating: bool = False
) -> list[tuple[str, sa.ColumnElement[Any]]]:
    """Each target column the file sets, with the SQL expression of its value per staged row.

    A new row takes a column's default where its cell is empty. `updating` an existing row
    sets only the columns present in the file, and an empty cell leaves a column with a
    default as it is (a column without one, such as a parent reference, is cleared).
    """
    import_type = stage.import_type
    table = import_type.table
    rows = stage.rows
    values: list[tuple[str, sa.ColumnElement[Any]]] = [
        (f.column, or_default(rows.c[f.name], table.c[f.column], keep=updating))
        for f in import_type.fields
        if f.column is not None and (not updating or f.name in stage.present)
    ]
    for reference in import_type.references:
        if updating and reference.field not in stage.present:
            continue
        target = catalog[reference.to]
        # An alias, so that a reference to the type's own table never correlates with it.
        referenced = target.table.alias("referenced")
        found = (
            sa.select(referenced.c.id)
            .where(referenced.c[target.key_column.name] == rows.c[reference.field])
            .scalar_subquery()
        )
        values.append((reference.column, found))
    return values


def server_default(column: sa.Column[Any]) -> sa.ColumnElement[Any] | None:
    """The SQL expression the database fills `column` with when a row gives no value."""
    default = column.server_default
    if not isinstance(default, sa.DefaultClause):
        return None
    arg = default.arg
    return sa.literal(arg, column.type) if isinstance(arg, str) else arg  # type: ignore[return-value]


def or_default(
    value: sa.ColumnElement[Any], column: sa.Column[Any], *, keep: bool = False
) -> sa.ColumnElement[Any]:
    """The staged value, or where the cell was empty the column's server default (or with
    `keep`, the column's current value, if it has a default)."""
    default = server_default(column)
    if default is None:
        return value
    return sa.func.coalesce(value, column if keep else default, type_=column.type)
