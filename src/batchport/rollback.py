"""Taking a batch back: count its rows, find what outside it still points at them, delete them.

A row belongs to a batch when its `import_batch_id` is the batch id; a link row belongs to
the batch of its owner row. Rows are deleted children first, each table in one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.reports import ReferencingRow
from batchport.schema import import_changes

#: How many referencing rows a refusal lists per foreign key.
REFERENCE_LIMIT = 100


def batch_rows(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str
) -> dict[str, int]:
    """How many rows of each table carry this batch (tables with none are left out)."""
    return census(conn, dialect, catalog, batch_id, completed_at=None)[0]


def census(
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    batch_id: str,
    *,
    completed_at: dt.datetime | None,
) -> tuple[dict[str, int], int]:
    """The batch's rows per table, and in the same pass how many of them show an edit made
    outside batchport since the import (a row version not 0; a link row added after
    `completed_at`), so that listing edits costs a query only when there are some."""
    counts: dict[str, int] = {}
    edited = 0
    for table, condition in _batch_tables(dialect, catalog, batch_id):
        sign = _edit_sign(table, completed_at)
        number, signs = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(sign) if sign is not None else sa.literal(0),
            )
            .select_from(table)
            .where(condition)
        ).one()
        edited += signs or 0
        if number:
            counts[table.name] = counts.get(table.name, 0) + number
    return counts, edited


def _edit_sign(table: sa.Table, completed_at: dt.datetime | None) -> sa.ColumnElement[bool] | None:
    if "row_version" in table.c:
        return table.c.row_version != 0
    if completed_at is not None and "created_at" in table.c:
        return table.c.created_at > completed_at
    return None


def delete_batch(
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    batch_id: str,
    *,
    force: bool,
    completed_at: dt.datetime | None,
) -> dict[str, int]:
    """Deletes the batch's rows, children before parents; returns the rows deleted per table.

    Without `force`, a row edited since the import (row version not 0) and a link row added
    after `completed_at` are left alone, so that an edit made after the edited-rows check
    shows as a shortfall in the counts (or a foreign-key error), never as lost work.
    """
    deleted: dict[str, int] = {}
    for table, condition in _batch_tables(
        dialect, catalog, batch_id, force=force, completed_at=completed_at
    ):
        result = conn.execute(table.delete().where(condition))
        deleted[table.name] = deleted.get(table.name, 0) + result.rowcount
    return deleted


def outside_references(
    conn: sa.Connection, catalog: Catalog, batch_id: str
) -> list[ReferencingRow]:
    """Rows outside the batch whose foreign keys point at rows of the batch."""
    owners = {id(link.table): (owner, link) for owner in catalog.types for link in owner.links}
    references: list[ReferencingRow] = []
    for import_type in catalog.types:
        parent = import_type.table
        for child in parent.metadata.tables.values():
            for foreign_key in child.foreign_keys:
                if foreign_key.column is not parent.c.id:
                    continue
                column = foreign_key.parent
                query = _referencing(import_type, child, column, owners.get(id(child)), batch_id)
                if query is not None:
                    references += _references(conn, query, child, column, parent)
    return references


def _batch_tables(
    dialect: Dialect,
    catalog: Catalog,
    batch_id: str,
    *,
    force: bool = True,
    completed_at: dt.datetime | None = None,
) -> Iterator[tuple[sa.Table, sa.ColumnElement[bool]]]:
    """Each table with the condition selecting the batch's rows, in deletion order."""
    for import_type in catalog.children_first():
        own = import_type.table.c.import_batch_id == batch_id
        if not force:
            own = own & (import_type.table.c.row_version == 0)
        for link in import_type.links:
            owned = sa.select(import_type.table.c.id).where(own)
            condition = dialect.among(link.table.c[link.owner_column], owned)
            if not force and completed_at is not None and "created_at" in link.table.c:
                condition = condition & (link.table.c.created_at <= completed_at)
            yield link.table, condition
        yield import_type.table, own


def _referencing(
    parent: ImportType,
    child: sa.Table,
    column: sa.Column[object],
    owner: tuple[ImportType, Link] | None,
    batch_id: str,
) -> sa.Select[tuple[object, ...]] | None:
    """Rows of `child` outside the batch whose `column` points at a row of the batch."""
    batch_row = parent.table.alias("batch_row")
    query = (
        sa.select(
            child,
            batch_row.c.id.label("referenced_id"),
            batch_row.c[parent.key_column.name].label("referenced_key"),
        )
        .join(batch_row, column == batch_row.c.id)
        .where(batch_row.c.import_batch_id == batch_id)
    )
    if "import_batch_id" in child.c:
        return query.where(
            child.c.import_batch_id.is_distinct_from(batch_id),
            ~_restored(child, child.c.id, batch_id),
        )
    if owner is not None:
        owner_type, link = owner
        if column.name == link.owner_column:
            return None  # the link belongs to its owner row, which is in the batch
        owner_row = owner_type.table.alias("owner_row")
        return query.join(owner_row, owner_row.c.id == child.c[link.owner_column]).where(
            owner_row.c.import_batch_id.is_distinct_from(batch_id),
            ~_restored(owner_type.table, owner_row.c.id, batch_id),
        )
    return query


def _restored(
    table: sa.Table, row_id: sa.ColumnElement[object], batch_id: str
) -> sa.ColumnElement[bool]:
    """True for a row the batch updated: the rollback puts back its prior values (and links),
    which pointed at nothing the batch created."""
    return sa.exists().where(
        import_changes.c.batch_id == batch_id,
        import_changes.c.table_name == table.name,
        import_changes.c.row_id == row_id,
    )


def _references(
    conn: sa.Connection,
    query: sa.Select[tuple[object, ...]],
    child: sa.Table,
    column: sa.Column[object],
    parent: sa.Table,
) -> list[ReferencingRow]:
    key = list(child.primary_key.columns)
    found = []
    for row in conn.execute(query.limit(REFERENCE_LIMIT)).mappings():
        row_id = (
            row[key[0].name] if len(key) == 1 else ", ".join(f"{c.name}={row[c.name]}" for c in key)
        )
        found.append(
            ReferencingRow(
                table=child.name,
                row_id=row_id,
                column=column.name,
                referenced_table=parent.name,
                referenced_id=row["referenced_id"],
                referenced_key=row["referenced_key"],
            )
        )
    return found
