"""Moves checked staging rows into the target tables, each row stamped with the batch id."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType
from batchport.loading.staging import ROW_NUMBER, Stage


def load_stage(
    conn: sa.Connection, stage: Stage, catalog: Catalog, batch_id: str
) -> dict[str, int]:
    """Inserts the staged rows and their links; returns the rows created per table name."""
    import_type = stage.import_type
    created = {import_type.table.name: _insert_rows(conn, stage, catalog, batch_id)}
    _patch_self_references(conn, stage, batch_id)
    for link, table in stage.links:
        owner, target = import_type, catalog[link.to]
        flag: list[sa.ColumnElement[Any]] = (
            [(table.c.position == 0).label(link.primary_flag)] if link.primary_flag else []
        )
        owner_row = owner.table.alias("owner")
        target_row = target.table.alias("target")
        select = (
            sa.select(owner_row.c.id, target_row.c.id, *flag)
            .select_from(table)
            .join(
                owner_row,
                (owner_row.c[owner.key_column.name] == table.c.owner_key)
                & (owner_row.c.import_batch_id == batch_id),
            )
            .join(target_row, target_row.c[target.key_column.name] == table.c.target_key)
        )
        columns = [link.owner_column, link.target_column]
        columns += [link.primary_flag] if link.primary_flag else []
        result = conn.execute(link.table.insert().from_select(columns, select))
        created[link.table.name] = created.get(link.table.name, 0) + result.rowcount
    return created


def _insert_rows(conn: sa.Connection, stage: Stage, catalog: Catalog, batch_id: str) -> int:
    import_type = stage.import_type
    table = import_type.table
    rows = stage.rows
    columns: list[str] = []
    values: list[sa.ColumnElement[object]] = []
    for field in import_type.fields:
        if field.column is None:
            continue
        columns.append(field.column)
        values.append(_or_default(rows.c[field.name], table.c[field.column]))
    for reference in import_type.references:
        target = catalog[reference.to]
        columns.append(reference.column)
        values.append(
            sa.select(target.table.c.id)
            .where(target.key_column == rows.c[reference.field])
            .scalar_subquery()
        )
    columns.append("import_batch_id")
    values.append(sa.literal(batch_id, table.c.import_batch_id.type))
    select = sa.select(*values).order_by(rows.c[ROW_NUMBER])
    return conn.execute(table.insert().from_select(columns, select)).rowcount


def server_default(column: sa.Column[Any]) -> sa.ColumnElement[Any] | None:
    """The SQL expression the database fills `column` with when a row gives no value."""
    default = column.server_default
    if not isinstance(default, sa.DefaultClause):
        return None
    arg = default.arg
    return sa.literal(arg, column.type) if isinstance(arg, str) else arg  # type: ignore[return-value]


def _or_default(value: sa.ColumnElement[Any], column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """The staged value, or the column's server default where the cell was empty."""
    default = server_default(column)
    return value if default is None else sa.func.coalesce(value, default, type_=column.type)


def _patch_self_references(conn: sa.Connection, stage: Stage, batch_id: str) -> None:
    """Points references at parents created by this same batch (unseen by the INSERT's snapshot)."""
    import_type: ImportType = stage.import_type
    table = import_type.table
    key = import_type.key_column
    rows = stage.rows
    for reference in import_type.references:
        if reference.to != import_type.name:
            continue
        parent = table.alias("parent")
        parent_key = (
            sa.select(rows.c[reference.field])
            .where(rows.c[import_type.key] == key)
            .correlate(table)
            .scalar_subquery()
        )
        new_parent = (
            sa.select(parent.c.id).where(parent.c[key.name] == parent_key).scalar_subquery()
        )
        conn.execute(
            table.update()
            .where(
                table.c.import_batch_id == batch_id,
                table.c[reference.column].is_(None),
                key.in_(
                    sa.select(rows.c[import_type.key]).where(rows.c[reference.field].is_not(None))
                ),
            )
            .values({reference.column: new_parent})
        )
