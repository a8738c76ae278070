"""Rows a batch created that were changed outside batchport since the import, which a
rollback would destroy: told by their row version (counted by triggers) and by link rows that
do not carry the batch's stamp, never by comparing clocks. (Rows it updated are looked at
row by row, with their change-log entries: see `restore.review`.)"""

from __future__ import annotations

import sqlalchemy as sa

from batchport.declarations import Catalog
from batchport.reports import EditedRow
from batchport.schema import import_changes

#: Edited rows listed per table and kind; the rest are counted in the refusal.
LIMIT = 100


def edited_rows(conn: sa.Connection, catalog: Catalog, batch_id: str) -> list[EditedRow]:
    """Rows the batch created that were changed outside batchport since: a value, or a link
    row another writer added."""
    found: list[EditedRow] = []
    for import_type in catalog.types:
        table = import_type.table
        foreign_links = [
            sa.exists().where(
                link.table.c[link.owner_column] == table.c.id,
                link.table.c.import_batch_id.is_distinct_from(batch_id),
            )
            for link in import_type.links
        ]
        mine = (
            sa.select(table.c.id, import_type.key_column, table.c.row_version)
            .where(
                table.c.import_batch_id == batch_id,
                sa.or_(table.c.row_version != 0, *foreign_links),
            )
            .order_by(table.c.id)
            .limit(LIMIT)
        )
        found += [
            EditedRow(table.name, row_id, key, version, created=True)
            for row_id, key, version in conn.execute(mine)
        ]
    return found


def changes_of(table: sa.Table, batch_id: str) -> sa.Subquery:
    """The change-log entries of the batch for rows of `table`."""
    return (
        sa.select(import_changes)
        .where(import_changes.c.batch_id == batch_id, import_changes.c.table_name == table.name)
        .subquery("changes")
    )
