"""The change log as a restore reads it: a batch's entries for one table, a page at a time,
with the rows they name as those rows are now (and their link rows); logged values are
decoded only where they are written back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import ImportType, Link
from batchport.dialects import Dialect
from batchport.schema import import_changes

#: Change-log entries read per round trip (and rows of the table read with them).
PAGE = 5000


@dataclass
class Entry:
    """One change-log entry: what a row of the batch's table had before the batch updated it."""

    #: The entry's own id: the order in which the batch logged it.
    id: int
    batch_id: str
    row_id: Any
    #: The logged identity of the row (see `changes.identity`), None in older entries.
    row_key: str | None
    #: The changed columns' prior values, as logged (JSON text).
    prior: str
    #: The whole prior link rows per link table, as logged (JSON text), if links changed.
    logged_links: str | None
    #: The natural keys of the rows the prior values point at, as logged (JSON text).
    targets: str | None
    version_before: int
    version_after: int

    @cached_property
    def links(self) -> dict[str, list[dict[str, Any]]]:
        """The logged link rows per link table, as logged (not decoded)."""
        logged: dict[str, list[dict[str, Any]]] = json.loads(self.logged_links or "{}")
        return logged

    @property
    def key(self) -> object:
        """The natural key the change log has for the row (None in older entries)."""
        logged = json.loads(self.row_key) if self.row_key else None
        return logged.get("key") if isinstance(logged, dict) else logged


#: The columns of an `Entry`, in its fields' order.
_COLUMNS = (
    import_changes.c.id,
    import_changes.c.batch_id,
    import_changes.c.row_id,
    import_changes.c.row_key,
    import_changes.c.prior,
    import_changes.c.prior_links,
    import_changes.c.targets,
    import_changes.c.version_before,
    import_changes.c.version_after,
)


def pages(
    conn: sa.Connection, dialect: Dialect, import_type: ImportType, batch_id: str
) -> Iterator[Page]:
    """The batch's change-log entries for the type's table, with their rows as they are now,
    a page at a time in the order of the rows' ids: the order of the log's unique index, so
    each page is a range of it, and the page's rows and link rows are found through it, by
    their indexes, whatever the size of the tables."""
    table = import_type.table
    logged = sa.and_(
        import_changes.c.batch_id == batch_id,
        import_changes.c.table_name == table.name,
    )
    query = sa.select(*_COLUMNS).where(logged).order_by(import_changes.c.row_id).limit(PAGE)
    proof = changes.identity_columns(import_type)
    now = sa.select(table.c.id, table.c.row_version, table.c.import_batch_id, *proof)
    last: Any = None
    while True:
        after = query if last is None else query.where(import_changes.c.row_id > last)
        entries = [Entry(*row) for row in conn.execute(after).all()]
        if not entries:
            return
        last = entries[-1].row_id
        ids = sa.select(import_changes.c.row_id).where(
            logged, import_changes.c.row_id.between(entries[0].row_id, last)
        )
        rows = conn.execute(now.where(dialect.among(table.c.id, ids))).all()
        yield Page(
            import_type,
            entries,
            {row[0]: Current(row[0], row[1], row[2], tuple(row[3:])) for row in rows},
            {
                link.table.name: _links(conn, dialect, link, ids, entries)
                for link in import_type.links
            },
        )


def _links(
    conn: sa.Connection, dialect: Dialect, link: Link, ids: sa.Select[Any], entries: list[Entry]
) -> dict[object, list[dict[str, Any]]]:
    """The link rows each row of a page (`ids`) has now."""
    owner = link.table.c[link.owner_column]
    found: dict[object, list[dict[str, Any]]] = {entry.row_id: [] for entry in entries}
    result = conn.execute(sa.select(link.table).where(dialect.among(owner, ids)))
    names = list(result.keys())
    for row in result.all():
        now = dict(zip(names, row, strict=True))
        found[now[link.owner_column]].append(now)
    return found


class Current(NamedTuple):
    """A row of the table as it is now."""

    id: Any
    row_version: int
    batch_id: str | None
    #: Its identity columns' values (see `changes.identity_columns`): its natural key first.
    proof: tuple[Any, ...]


@dataclass
class Page:
    """A page of change-log entries, the rows they name as they are now, and their link
    rows now."""

    import_type: ImportType
    entries: list[Entry]
    rows: dict[object, Current]
    links: dict[str, dict[object, list[dict[str, Any]]]]

    def row(self, entry: Entry) -> Current | None:
        """The entry's row, if it is still there and still the same row (see
        `changes.same_row`: a row renamed by hand is; another one given its id is not)."""
        row = self.rows.get(entry.row_id)
        if row is None or not changes.same_row(entry.row_key, *row.proof):
            return None
        return row

    def prior_links(self, entry: Entry, row: Current, link: Link) -> list[dict[str, Any]]:
        """The entry's logged rows of `link`'s table, decoded; rows logged before links
        carried stamps get their row's batch, as the migration stamped the rest."""
        return [
            {"import_batch_id": row.batch_id} | changes.decode(link.table, logged)
            for logged in entry.links[link.table.name]
        ]

    def relinked(self, entry: Entry) -> list[Link]:
        """The links of the entry's row that the batch changed (and a restore puts back)."""
        return [link for link in self.import_type.links if link.table.name in entry.links]

    def edited(self, entry: Entry, row: Current) -> bool:
        """Whether the entry's row was changed outside batchport since the batch: a value, or
        a link row another writer added where the batch changed the row's links (not the
        batch's by stamp, and not there before it either)."""
        if row.row_version != entry.version_after:
            return True
        for link in self.relinked(entry):
            before = {
                (_target(link, logged), logged.get("import_batch_id", row.batch_id))
                for logged in entry.links[link.table.name]
            }
            if any(
                (now[link.target_column], now["import_batch_id"]) not in before
                and now["import_batch_id"] != entry.batch_id
                for now in self.links[link.table.name][entry.row_id]
            ):
                return True
        return False

    def doomed(self, entry: Entry, link: Link) -> list[dict[str, Any]]:
        """The link rows of `link`'s table the entry's row has now and had not before the
        batch: those a restore deletes."""
        before = {_target(link, logged) for logged in entry.links[link.table.name]}
        return [
            now
            for now in self.links[link.table.name][entry.row_id]
            if now[link.target_column] not in before
        ]


def _target(link: Link, logged: dict[str, Any]) -> object:
    """The target of a logged link row, as its column reads it."""
    column = link.target_column
    value = logged[column]
    if not isinstance(value, str):  # only text is read back as another type
        return value
    return changes.decode(link.table, {column: value})[column]
