"""Turning the link rows of the rows an update changes into those the file wants, set-based:
the rows it no longer names deleted (unless a row of another table points at one: then
nothing is imported), new ones inserted with the batch's stamp, changed primary flags set in
place; link rows that stay keep their row, stamp and creation time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchport.dialects import ForeignKey
from batchport.errors import LinksReferenced
from batchport.loading.differences import WantedLinks
from batchport.loading.values import stamp
from batchport.references import referencing


def relink(
    conn: sa.Connection, found: WantedLinks, batch_id: str, referring: list[ForeignKey]
) -> int:
    """Applies the difference between one link's rows and the wanted ones; returns how many
    link rows it inserted.

    Where a table points at link rows, the rows to delete are locked first: a row another
    writer adds that points at one of them must wait for this transaction (and then finds it
    gone), and one added before is seen by the check.
    """
    link = found.link
    table = link.table

    def doomed(rows: sa.FromClause) -> sa.ColumnElement[bool]:
        return found.owner_of(rows).in_(sa.select(found.owners.c.owner)) & ~found.wanted_here(rows)

    pointers = [foreign_key for foreign_key in referring if foreign_key.referred is table]
    locked = (
        sa.select(found.owner_of(table), found.target_of(table))
        .where(doomed(table))
        .with_for_update()
        .subquery()
    )
    # Where no table points at link rows, nothing can: the delete alone locks what it deletes.
    if pointers and conn.execute(sa.select(sa.func.count()).select_from(locked)).scalar_one():
        pointing = [
            row
            for foreign_key in pointers
            for row in referencing(conn, foreign_key, referenced=doomed)
        ]
        if pointing:
            raise LinksReferenced(pointing)
    conn.execute(table.delete().where(doomed(table)))
    wanted = found.wanted
    flag = link.primary_flag
    columns = [link.owner_column, link.target_column, *([flag] if flag else [])]
    new = sa.select(*wanted.c, stamp(table, batch_id)).where(
        wanted.c.owner.in_(sa.select(found.owners.c.owner)),
        ~sa.exists().where(
            found.owner_of(table) == wanted.c.owner, found.target_of(table) == wanted.c.target
        ),
    )
    inserted = conn.execute(table.insert().from_select([*columns, "import_batch_id"], new)).rowcount
    if flag:
        _reflag(conn, found, flag)
    return int(inserted)


def _reflag(conn: sa.Connection, found: WantedLinks, flag: str) -> None:
    """Sets the primary flag of the link rows that stay where the file changes it."""
    table = found.link.table
    wanted = found.wanted
    current: sa.ColumnElement[Any] = table.c[flag]
    conn.execute(
        table.update()
        .where(
            wanted.c.owner.in_(sa.select(found.owners.c.owner)),
            found.owner_of(table) == wanted.c.owner,
            found.target_of(table) == wanted.c.target,
            current.is_distinct_from(wanted.c.flag),
        )
        .values({flag: wanted.c.flag})
    )
