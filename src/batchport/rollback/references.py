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


def outside_references(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str, *, force: bool
) -> list[ReferencingRow]:
    """Rows outside the batch whose foreign keys point at rows a rollback of it deletes."""
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
        if declared is not None:
            exempt = _own(batch_id) if owned is None else _link_leaving(dialect, *owned, batch_id)
        found += referencing(conn, foreign_key, referenced=doomed, exempt=exempt, key=key)
    return found


def _stamped(batch_id: str) -> Condition:
    return lambda row: row.c.import_batch_id == batch_id


def _own(batch_id: str) -> Condition:
    """Rows of the batch, as a condition that is false (never unknown) for other rows: it is
    negated to leave them out."""
    return lambda row: row.c.import_batch_id.is_not_distinct_from(batch_id)


def _links_deleted(
    dialect: Dialect, owner: ImportType, link: Link, batch_id: str, *, force: bool
) -> Condition:
    """The link rows a rollback deletes with the batch's rows: its own, and with `force`
    every link row of those rows."""

    def condition(row: sa.FromClause) -> sa.ColumnElement[bool]:
        owned = _owned(dialect, owner, link, row, batch_id)
        return owned if force else owned & (row.c.import_batch_id == batch_id)

    return condition


def _link_leaving(dialect: Dialect, owner: ImportType, link: Link, batch_id: str) -> Condition:
    """Link rows that leave with the batch: its own, and those of its rows (an edit of the
    row, listed as one, deleted only if the rollback is forced)."""

    def condition(row: sa.FromClause) -> sa.ColumnElement[bool]:
        own = row.c.import_batch_id.is_not_distinct_from(batch_id)
        return own | _owned(dialect, owner, link, row, batch_id)

    return condition


def _owned(
    dialect: Dialect, owner: ImportType, link: Link, row: sa.FromClause, batch_id: str
) -> sa.ColumnElement[bool]:
    rows = sa.select(owner.table.c.id).where(owner.table.c.import_batch_id == batch_id)
    return dialect.among(row.c[link.owner_column], rows)
