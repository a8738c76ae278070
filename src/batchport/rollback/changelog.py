"""The change log as a restore reads it: a batch's entries for one table, a page at a time,
each with the row it names as that row is now, in one query; every logged document parsed
once, where the entry is read.

A row is seen twice over: its values as the table's types read them (to tell whether it is
still the row the batch updated, see `changes.same_row`), and its `row_version`, stamp and
identity columns as the database holds them (`Raw`), which a later transaction compares with
the row then, in SQL, to know the row untouched since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import ImportType
from batchport.dialects import Dialect
from batchport.schema import import_changes

#: Change-log entries read per round trip (and rows of the table read with them).
PAGE = 5000


class Raw(sa.types.TypeDecorator[Any]):
    """A column's type as the database spells it, its values passed as the driver has them
    (no conversion either way): what a row held, to compare with what it holds later."""

    impl = sa.types.NullType
    cache_ok = True

    def __init__(self, kind: sa.types.TypeEngine[Any]) -> None:
        super().__init__()
        self.kind = kind

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        return dialect.type_descriptor(self.kind)

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> None:
        return None


class Entry(NamedTuple):
    """One change-log entry, parsed, with its row as it is now."""

    #: The entry's own id: the order in which the batch logged it.
    id: int
    row_id: Any
    #: The logged identity of the row (see `changes.identity`), None in older entries.
    identity: dict[str, Any] | None
    #: The changed columns' prior values, as logged (not decoded).
    prior: dict[str, Any]
    #: The whole prior link rows per link table, as logged (not decoded); {} if links did not
    #: change.
    links: dict[str, list[dict[str, Any]]]
    #: The identities of the rows the prior values point at, per table and id, as logged.
    targets: dict[str, dict[str, Any]]
    version_before: int
    version_after: int
    #: The row now (None if no row has that id): its row version, its stamp, its identity
    #: columns' values (see `changes.identity_columns`: its natural key first).
    now: Current | None
    #: The row's `seen` columns (see `seen_columns`) as the database holds them.
    raw: tuple[Any, ...]

    @property
    def key(self) -> object:
        """The natural key the change log has for the row (None in older entries)."""
        logged = self.identity
        return logged.get("key") if isinstance(logged, dict) else logged

    @property
    def row(self) -> Current | None:
        """The entry's row, if it is still there and still the same row (see
        `changes.same_row`: a row renamed by hand is; another one given its id is not)."""
        now = self.now
        if now is None or not changes.same_row(self.identity, *now.proof):
            return None
        return now


class Current(NamedTuple):
    """A row of the table as it is now."""

    row_version: int
    batch_id: str | None
    #: Its identity columns' values (see `changes.identity_columns`): its natural key first.
    proof: tuple[Any, ...]


def seen_columns(import_type: ImportType) -> list[sa.Column[Any]]:
    """What tells a row untouched between two looks: its row version (every edit counts one),
    its stamp and its identity columns (a row deleted and made again under its id, its
    version set by hand, is another row)."""
    table = import_type.table
    columns = [table.c.row_version, table.c.import_batch_id]
    return columns + [c for c in changes.identity_columns(import_type) if c not in columns]


def pages(
    conn: sa.Connection, dialect: Dialect, import_type: ImportType, batch_id: str
) -> Iterator[list[Entry]]:
    """The batch's change-log entries for the type's table, with their rows as they are now,
    a page at a time in the order of the rows' ids: the order of the log's unique index, so
    each page is a range of it, and the page's rows are found through it, by their primary
    key, whatever the size of the table."""
    table = import_type.table
    proof = changes.identity_columns(import_type)
    seen = seen_columns(import_type)
    c = import_changes.c
    logged = (c.batch_id == batch_id) & (c.table_name == table.name)
    query = (
        sa.select(
            c.id,
            c.row_id,
            c.row_key,
            c.prior,
            c.prior_links,
            c.targets,
            c.version_before,
            c.version_after,
        )
        .where(logged)
        .order_by(c.row_id)
        .limit(PAGE)
    )
    now = sa.select(
        table.c.id,
        table.c.row_version,
        table.c.import_batch_id,
        *proof,
        *(sa.type_coerce(column, Raw(column.type)) for column in seen),
    )
    loads = _document
    width = len(proof)
    absent = (None,) * len(seen)
    last: Any = None
    while True:
        found = conn.execute(query if last is None else query.where(c.row_id > last)).all()
        if not found:
            return
        ids = sa.select(c.row_id).where(logged, c.row_id.between(found[0][1], found[-1][1]))
        rows = {
            row[0]: row for row in conn.execute(now.where(dialect.among(table.c.id, ids))).all()
        }
        entries = []
        # Entries pointing at the same rows log the same targets: parsed once a page.
        targets_of: dict[str, dict[str, dict[str, Any]]] = {}
        for entry_id, row_id, key, prior, links, targets, before, after in found:
            if targets and targets not in targets_of:
                targets_of[targets] = loads(targets)
            row = rows.get(row_id)
            entries.append(
                Entry(
                    entry_id,
                    row_id,
                    loads(key) if key else None,
                    loads(prior),
                    loads(links) if links else {},
                    targets_of[targets] if targets else {},
                    before,
                    after,
                    None if row is None else Current(row[1], row[2], tuple(row[3 : 3 + width])),
                    absent if row is None else tuple(row[3 + width :]),
                )
            )
        last = entries[-1].row_id
        yield entries


_DECODER = json.JSONDecoder()


def _document(text: str) -> Any:
    """A logged JSON document, parsed: as `json.loads` does, without its wrapping (which
    costs as much again for the small documents of the change log)."""
    try:
        return _DECODER.raw_decode(text)[0]
    except ValueError:  # leading spaces: a document written by another hand
        return json.loads(text)
