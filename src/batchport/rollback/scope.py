"""Which rows a rollback deletes: the rows of each import type's table that carry the batch
id, and the link rows of those rows that carry it too, children first, one statement per
table.

A row belongs to the batch of its stamp, never to the batch of a row it points at: a link a
person or another program added to a row of the batch (no stamp, or another batch's) is an
edit of that row, which stops the rollback unless it is forced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from batchport.declarations import Catalog
from batchport.dialects import Dialect


@dataclass(frozen=True)
class Part:
    """One table's share of a batch: of the `rows` a rollback looks at, the batch's `own`;
    `edits` are the signs of an edit made since the import. A rollback that is not forced
    deletes only rows that also pass `guard`, so that an edit made after its checks shows as
    a shortfall in the count (or a foreign-key error), never as lost work."""

    table: sa.Table
    rows: sa.ColumnElement[bool]
    own: sa.ColumnElement[bool]
    edits: sa.ColumnElement[bool]
    guard: sa.ColumnElement[bool]


def parts(dialect: Dialect, catalog: Catalog, batch_id: str, *, force: bool) -> Iterator[Part]:
    """Each table's share of the batch, in deletion order; with `force`, a row of the batch
    edited since (a link added to it, too) goes with it."""
    for import_type in catalog.children_first():
        table = import_type.table
        stamped = table.c.import_batch_id == batch_id
        for link in import_type.links:
            stamp = link.table.c.import_batch_id
            owners = sa.select(table.c.id).where(stamped)
            yield Part(
                link.table,
                rows=dialect.among(link.table.c[link.owner_column], owners),
                own=sa.true() if force else stamp == batch_id,
                edits=stamp.is_distinct_from(batch_id),
                guard=sa.true(),
            )
        unedited = table.c.row_version == 0
        yield Part(table, rows=stamped, own=sa.true(), edits=~unedited, guard=unedited)


def census(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str, *, force: bool = False
) -> tuple[dict[str, int], int]:
    """How many rows of each table the batch holds and a rollback would delete (tables with
    none left out), and in the same pass how many show an edit since the import, so that
    listing edits costs a query only when there are some."""
    counts: dict[str, int] = {}
    edited = 0
    for part in parts(dialect, catalog, batch_id, force=force):
        number, signs = conn.execute(
            sa.select(sa.func.count().filter(part.own), sa.func.count().filter(part.edits))
            .select_from(part.table)
            .where(part.rows)
        ).one()
        edited += signs or 0
        if number:
            counts[part.table.name] = counts.get(part.table.name, 0) + number
    return counts, edited


def delete(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str, *, force: bool
) -> dict[str, int]:
    """Deletes the batch's rows, children before parents; returns the rows deleted per table."""
    deleted: dict[str, int] = {}
    for part in parts(dialect, catalog, batch_id, force=force):
        condition = part.rows & part.own if force else part.rows & part.own & part.guard
        result = conn.execute(part.table.delete().where(condition))
        deleted[part.table.name] = deleted.get(part.table.name, 0) + result.rowcount
    return deleted
