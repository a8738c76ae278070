"""Rows outside a batch that point at rows a rollback of it deletes, through every foreign key
of the database (see `batchport.references`).

A row is outside the batch unless it carries the batch's stamp in a table the rollback
deletes from. A link row added to a row of the batch is the one exception: it is an edit of
that row (see `edits`), which `--force-edited` may override; then it is deleted with its row,
and rows pointing at it block like any other. An outside reference is never overridden.
"""

from __future__ import annotations

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.references import Condition, referencing
from batchport.reports import ReferencingRow
from batchport.schema import import_changes


def outside_references(
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    batch_id: str,
    *,
    force: bool,
    restored: bool = False,
) -> list[ReferencingRow]:
    """Rows outside the batch whose foreign keys point at rows a rollback of it deletes.

    With `restored`, rows the batch updated are left out too, as their restore (not yet
    run) would point them back where they pointed before the batch."""
    owners = {id(link.table): (t, link) for t in catalog.types for link in t.links}
    types = {id(t.table): t for t in catalog.types}
    tables = [t.table for t in catalog.types] + [link.table for _, link in owners.values()]
    found: list[ReferencingRow] = []
    for foreign_key in dialect.foreign_keys_to(conn, tables):
        declared = foreign_key.declared
        owned = owners.get(id(declared)) if declared is not None else None
        if owned is not None and foreign_key.columns == (owned[1].owner_column,):
            continue  # a link row of a row of the batch: its own, or an edit of that row
        referred = foreign_key.referred
        if id(referred) in types:
            doomed = _stamped(batch_id)
            key: str | None = types[id(referred)].key_column.name
        else:
            doomed = _links_deleted(dialect, *owners[id(referred)], batch_id, force=force)
            key = None
        exempt = None
        if declared is not None and owned is not None:
            exempt = _links_of_rows(dialect, *owned, batch_id)
        elif declared is not None:
            exempt = _own(batch_id, declared if restored else None)
        found += referencing(conn, foreign_key, referenced=doomed, exempt=exempt, key=key)
    return found


def _stamped(batch_id: str) -> Condition:
    return lambda row: row.c.import_batch_id == batch_id


def _own(batch_id: str, updated_in: sa.Table | None = None) -> Condition:
    """Rows of the batch (and with `updated_in`, the rows of that table it updated), as a
    condition that is false (never unknown) for other rows: it is negated to leave them out."""

    def condition(row: sa.FromClause) -> sa.ColumnElement[bool]:
        own = row.c.import_batch_id.is_not_distinct_from(batch_id)
        if updated_in is None:
            return own
        updated = sa.select(import_changes.c.row_id).where(
            import_changes.c.batch_id == batch_id,
            import_changes.c.table_name == updated_in.name,
        )
        return own | row.c.id.in_(updated)

    return condition


def _links_deleted(
    dialect: Dialect, owner: ImportType, link: Link, batch_id: str, *, force: bool
) -> Condition:
    """The link rows a rollback deletes with the batch's rows: its own, and with `force`
    every link row of those rows."""

    def condition(row: sa.FromClause) -> sa.ColumnElement[bool]:
        owned = _owned(dialect, owner, link, row, batch_id)
        return owned if force else owned & (row.c.import_batch_id == batch_id)

    return condition


def _links_of_rows(dialect: Dialect, owner: ImportType, link: Link, batch_id: str) -> Condition:
    """Link rows that leave with the batch's rows: its own, and any other (an edit of the
    row, listed as one, and deleted only if the rollback is forced). A link row with the
    batch's stamp on a row outside the batch (moved there by hand) stays, so it counts."""
    return lambda row: _owned(dialect, owner, link, row, batch_id)


def _owned(
    dialect: Dialect, owner: ImportType, link: Link, row: sa.FromClause, batch_id: str
) -> sa.ColumnElement[bool]:
    rows = sa.select(owner.table.c.id).where(owner.table.c.import_batch_id == batch_id)
    return dialect.among(row.c[link.owner_column], rows)
