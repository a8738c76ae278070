"""Rows of a batch changed outside batchport since the import, which a rollback would undo:
told by their row version (counted by triggers) and by link rows that do not carry the
batch's stamp, never by comparing clocks."""

from __future__ import annotations

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType
from batchport.reports import EditedRow
from batchport.schema import import_changes

#: Edited rows listed per table and kind; the rest are counted in the refusal.
LIMIT = 100


def edited_rows(
    conn: sa.Connection, catalog: Catalog, batch_id: str, *, created: bool = True
) -> list[EditedRow]:
    """Rows the batch created or updated that were changed outside batchport since (a value,
    or a link row added), and rows it updated that were deleted since. With `created`
    false, only the rows it updated are looked at."""
    found: dict[tuple[str, object], EditedRow] = {}
    for import_type in catalog.types:
        table = import_type.table
        key = import_type.key_column
        if created:
            mine = (
                sa.select(table.c.id, key, table.c.row_version)
                .where(
                    table.c.import_batch_id == batch_id,
                    sa.or_(table.c.row_version != 0, *_foreign_links(import_type, batch_id)),
                )
                .order_by(table.c.id)
                .limit(LIMIT)
            )
            for row_id, value, version in conn.execute(mine):
                found[table.name, row_id] = EditedRow(table.name, row_id, value, version, True)
        changes = changes_of(table, batch_id)
        replaced = [
            changes.c.prior_links.contains(f'"{link.table.name}":') & foreign
            for link, foreign in zip(
                import_type.links, _foreign_links(import_type, batch_id), strict=True
            )
        ]
        updated = (
            sa.select(changes.c.row_id, key, table.c.row_version, table.c.id)
            .join(table, changes.c.row_id == table.c.id, isouter=True)
            .where(
                sa.or_(
                    table.c.id.is_(None),
                    table.c.row_version != changes.c.version_after,
                    *replaced,
                )
            )
            .order_by(changes.c.row_id)
            .limit(LIMIT)
        )
        for row_id, value, version, still in conn.execute(updated):
            found[table.name, row_id] = EditedRow(
                table.name, row_id, value, version, created=False, gone=still is None
            )
    return list(found.values())


def _foreign_links(import_type: ImportType, batch_id: str) -> list[sa.ColumnElement[bool]]:
    """Per link of the type: whether the row has a link row another writer added (one that
    does not carry the batch's stamp)."""
    table = import_type.table
    return [
        sa.exists().where(
            link.table.c[link.owner_column] == table.c.id,
            link.table.c.import_batch_id.is_distinct_from(batch_id),
        )
        for link in import_type.links
    ]


def changes_of(table: sa.Table, batch_id: str) -> sa.Subquery:
    """The change-log entries of the batch for rows of `table`."""
    return (
        sa.select(import_changes)
        .where(import_changes.c.batch_id == batch_id, import_changes.c.table_name == table.name)
        .subquery("changes")
    )
