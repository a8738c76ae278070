"""Writing a restore set-based: the prior values and link rows of every restored row of one
table gathered, page by page, into temporary tables (COPY on PostgreSQL), then put back with
one statement per table and kind of change.

A row's values go back only where its row version is still the one the restore saw, so a
row changed meanwhile is left alone and shows as a shortfall, never overwritten.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from batchport.declarations import ImportType, Link
from batchport.dialects import Dialect

#: What a link row of the link tables' temporary table is for.
_DELETE, _INSERT, _FLAG = 0, 1, 2
_ID, _SEEN, _VERSION, _KIND = "bp_id", "bp_seen", "bp_version", "bp_kind"
_TEMPORARY = ["TEMPORARY"]


class PutBack:
    """The writes of one table's restore, gathered and then made."""

    def __init__(self, conn: sa.Connection, dialect: Dialect, import_type: ImportType) -> None:
        self.conn = conn
        self.dialect = dialect
        table = import_type.table
        self.table = table
        metadata = sa.MetaData()
        name = f"bp_restore_{uuid.uuid4().hex[:12]}"
        #: The columns a logged prior value may be for, each with a flag column telling
        #: whether the row's entry has a value for it.
        self.columns = [c for c in table.c if c.key in _loggable(import_type)]
        self.positions = {column.key: n for n, column in enumerate(self.columns)}
        self.values = sa.Table(
            name,
            metadata,
            sa.Column(_ID, table.c.id.type, nullable=False),
            sa.Column(_SEEN, table.c.row_version.type, nullable=False),
            sa.Column(_VERSION, table.c.row_version.type, nullable=False),
            *(sa.Column(f"v{n}", column.type) for n, column in enumerate(self.columns)),
            *(sa.Column(f"s{n}", sa.Boolean()) for n in range(len(self.columns))),
            prefixes=_TEMPORARY,
        )
        self.links = {
            link.table.name: (link, _link_table(metadata, f"{name}_l{n}", link))
            for n, link in enumerate(import_type.links)
        }
        metadata.create_all(conn)
        self.rows: list[list[Any]] = []
        self.link_rows: dict[str, list[list[Any]]] = {name: [] for name in self.links}
        #: Link rows logged without some column of their table (it came later): put back
        #: one by one, so that the missing ones take their defaults.
        self.partial: dict[str, list[tuple[int, dict[str, Any]]]] = {n: [] for n in self.links}
        #: The columns some entry has a value for, and how many entries have each.
        self.used: dict[int, int] = {}
        self.count = 0

    def row(self, row_id: object, seen: int, version: int, prior: dict[str, Any]) -> None:
        """Plans giving row `row_id` (at row version `seen` now) its `prior` values (by
        column key) and row version `version`."""
        width = len(self.columns)
        planned: list[Any] = [row_id, seen, version, *([None] * width), *([False] * width)]
        for key, value in prior.items():
            n = self.positions[key]
            planned[3 + n] = value
            planned[3 + width + n] = True
            self.used[n] = self.used.get(n, 0) + 1
        self.rows.append(planned)
        self.count += 1

    def link_rows_back(
        self, link: Link, have: list[dict[str, Any]], rows: list[dict[str, Any]]
    ) -> None:
        """Plans putting `rows` (whole link rows, as logged) back in place of `have` (the
        owner's link rows now)."""
        name = link.table.name
        current = {row[link.target_column]: row for row in have}
        wanted = {row[link.target_column]: row for row in rows}
        for target, row in current.items():
            if target not in wanted:
                self._plan(name, _DELETE, row)
        for target, row in wanted.items():
            if target not in current:
                self._plan(name, _INSERT, row)
            elif any(current[target].get(key) != value for key, value in row.items()):
                self._plan(name, _FLAG, row)

    def _plan(self, name: str, kind: int, row: dict[str, Any]) -> None:
        columns = self.links[name][0].table.c
        if kind != _DELETE and any(c.key not in row for c in columns):
            self.partial[name].append((kind, row))
        else:
            self.link_rows[name].append([kind, *(row.get(c.key) for c in columns)])

    def flush(self) -> None:
        """Writes the planned rows to the temporary tables (once a page)."""
        names = [c.name for c in self.values.c]
        self.dialect.copy_rows(self.conn, self.values, names, self.rows)
        self.rows = []
        for name, (_, planned) in self.links.items():
            self.dialect.copy_rows(
                self.conn, planned, [c.name for c in planned.c], self.link_rows[name]
            )
            self.link_rows[name] = []

    def apply(self) -> int:
        """Puts every planned value and link row back; returns how many rows got their
        values back (fewer than planned if row versions changed since: see `missed`)."""
        self.flush()
        table, values = self.table, self.values
        updated: int = self.conn.execute(
            table.update()
            .where(table.c.id == values.c[_ID], table.c.row_version == values.c[_SEEN])
            .values(
                {self.columns[n].key: self._value(n, used) for n, used in self.used.items()}
                | {"row_version": values.c[_VERSION]}
            )
        ).rowcount
        for name, (link, planned) in self.links.items():
            _apply_links(self.conn, link, planned, self.partial[name])
        return updated

    def missed(self) -> object:
        """The id of a row whose values were planned and not put back (its row version
        changed), if one is found."""
        table, values = self.table, self.values
        return self.conn.execute(
            sa.select(values.c[_ID])
            .outerjoin(table, table.c.id == values.c[_ID])
            .where(table.c.row_version.is_distinct_from(values.c[_VERSION]))
            .order_by(values.c[_ID])
            .limit(1)
        ).scalar()

    def drop(self) -> None:
        """Drops the temporary tables."""
        for temporary in (self.values, *(planned for _, planned in self.links.values())):
            temporary.drop(self.conn, checkfirst=False)

    def _value(self, n: int, used: int) -> sa.ColumnElement[Any]:
        """Column `n`'s new value: the planned one, where the row's entry has one."""
        value = self.values.c[f"v{n}"]
        if used == self.count:
            return value
        return sa.case((self.values.c[f"s{n}"], value), else_=self.columns[n])


def _link_table(metadata: sa.MetaData, name: str, link: Link) -> sa.Table:
    """A temporary table of link rows to delete, insert or re-flag (`_KIND`), with the
    columns of `link`'s table (named as their keys)."""
    return sa.Table(
        name,
        metadata,
        sa.Column(_KIND, sa.SmallInteger(), nullable=False),
        *(sa.Column(column.key, column.type) for column in link.table.c),
        prefixes=_TEMPORARY,
    )


def _apply_links(
    conn: sa.Connection, link: Link, planned: sa.Table, partial: list[tuple[int, dict[str, Any]]]
) -> None:
    """Deletes, inserts and re-flags the planned link rows, a statement each (and the
    `partial` rows one by one)."""
    table = link.table
    primary = list(table.primary_key.columns)
    keys: Sequence[sa.ColumnElement[Any]] = [planned.c[c.key] for c in primary]
    kind = planned.c[_KIND]
    conn.execute(
        table.delete().where(sa.tuple_(*primary).in_(sa.select(*keys).where(kind == _DELETE)))
    )
    columns = [c.key for c in table.c]
    conn.execute(
        table.insert().from_select(
            columns, sa.select(*(planned.c[c] for c in columns)).where(kind == _INSERT)
        )
    )
    rest = [c for c in table.c if c not in primary]
    if rest:
        conn.execute(
            table.update()
            .where(*(c == planned.c[c.key] for c in primary), kind == _FLAG)
            .values({c.key: planned.c[c.key] for c in rest})
        )
    for kind_of, row in partial:
        if kind_of == _INSERT:
            conn.execute(table.insert().values(row))
        else:
            conn.execute(
                table.update()
                .where(*(c == row[c.key] for c in primary))
                .values({k: v for k, v in row.items() if k not in {c.key for c in primary}})
            )


def _loggable(import_type: ImportType) -> set[str]:
    """The columns an update may log prior values of: those the file fills, and its time of
    change (a column of a type this process cannot name, which the file never fills, stays out
    of the temporary tables)."""
    fields = {field.column for field in import_type.fields if field.column}
    return fields | {reference.column for reference in import_type.references} | {"updated_at"}
