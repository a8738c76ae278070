"""Which existing rows an update changes, found by the database in a few set-based statements:
rows whose values differ from the file's (IS DISTINCT FROM) and rows whose link rows differ
from the file's as sets. They are kept in temporary tables, so that only the changed rows are
read, logged and written; an unchanged row costs a comparison.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.checks.stage import TEMPORARY, Stage
from batchport.declarations import Catalog, Link
from batchport.dialects import Dialect
from batchport.loading.values import file_values


@dataclass(frozen=True)
class WantedLinks:
    """One link's rows as the file wants them for the rows already there (`wanted`: owner,
    target, and the primary flag if the link has one), and the owners whose link rows differ
    from those (`owners`)."""

    link: Link
    wanted: sa.Table
    owners: sa.Table

    def owner_of(self, rows: sa.FromClause) -> sa.ColumnElement[Any]:
        return rows.c[self.link.owner_column]

    def target_of(self, rows: sa.FromClause) -> sa.ColumnElement[Any]:
        return rows.c[self.link.target_column]

    def wanted_here(self, rows: sa.FromClause) -> sa.Exists:
        """Whether the file wants the link row of `rows` (the link table, or an alias)."""
        return sa.exists().where(
            self.wanted.c.owner == self.owner_of(rows),
            self.wanted.c.target == self.target_of(rows),
        )


@dataclass(frozen=True)
class Differences:
    """The rows an update changes (`changed`: id, row version, and the file's value of each
    updated column), and each link's wanted rows."""

    #: The updated columns, in the order of the `changed` table's value columns.
    columns: tuple[str, ...]
    changed: sa.Table
    links: tuple[WantedLinks, ...]

    def new_value(self, number: int) -> sa.Column[Any]:
        return self.changed.c[f"v{number}"]

    def drop(self, conn: sa.Connection) -> None:
        for table in (*(t for w in self.links for t in (w.wanted, w.owners)), self.changed):
            table.drop(conn, checkfirst=False)


def find_differences(
    conn: sa.Connection, dialect: Dialect, stage: Stage, catalog: Catalog, held: sa.Table
) -> Differences:
    """Fills temporary tables with the rows matched by the staged rows (`held`: their ids,
    keys and versions) that the file changes, locking each changed row."""
    metadata = sa.MetaData()
    matched = _Matched(stage, held)
    links = tuple(
        _wanted_links(conn, dialect, matched, catalog, metadata, number, link, staged)
        for number, (link, staged) in enumerate(stage.links)
        if link.field in stage.present
    )
    values = file_values(stage, catalog, updating=True)
    table = stage.import_type.table
    changed = _temporary(
        f"{stage.rows.name}_changed",
        metadata,
        sa.Column("row_id", table.c.id.type, primary_key=True),
        sa.Column("version", table.c.row_version.type),
        # The version the row had when its key was matched (`held`), before it was locked.
        sa.Column("noted", table.c.row_version.type),
        *(sa.Column(f"v{n}", table.c[name].type) for n, (name, _) in enumerate(values)),
    )
    changed.create(conn)
    differs = sa.or_(
        sa.false(),
        *(distinct(dialect, table.c[name], value) for name, value in values),
        *(table.c.id.in_(sa.select(found.owners.c.owner)) for found in links),
    )
    # Each changed row locked as it is found; one another writer changed meanwhile is
    # compared again as it now is, and one deleted is not found.
    select = (
        sa.select(table.c.id, table.c.row_version, held.c.version, *(value for _, value in values))
        .select_from(matched.join(stage.rows))
        .where(differs)
        .with_for_update(of=table, key_share=True)
    )
    conn.execute(changed.insert().from_select([c.name for c in changed.c], select))
    dialect.analyze(conn, changed)
    return Differences(tuple(name for name, _ in values), changed, links)


def _wanted_links(  # noqa: PLR0917 - one link of one stage, and where its tables go
    conn: sa.Connection,
    dialect: Dialect,
    matched: _Matched,
    catalog: Catalog,
    metadata: sa.MetaData,
    number: int,
    link: Link,
    staged: sa.Table,
) -> WantedLinks:
    """The link rows the file wants for the rows already there, and the owners whose link rows
    are not those: a row missing, one too many, or a primary flag that differs."""
    rows = matched.stage.rows
    current = link.table
    owner_type = current.c[link.owner_column].type
    flag = link.primary_flag
    wanted = _temporary(
        f"{rows.name}_wanted{number}",
        metadata,
        sa.Column("owner", owner_type, nullable=False),
        sa.Column("target", current.c[link.target_column].type, nullable=False),
        *([sa.Column("flag", current.c[flag].type)] if flag else []),
    )
    owners = _temporary(
        f"{rows.name}_relinked{number}",
        metadata,
        sa.Column("owner", owner_type, primary_key=True),
    )
    wanted.create(conn)
    owners.create(conn)
    target = catalog[link.to]
    held = matched.held
    conn.execute(
        wanted.insert().from_select(
            [c.name for c in wanted.c],
            sa.select(
                held.c.id,
                target.table.c.id,
                *([staged.c.position == 0] if flag else []),
            ).select_from(
                staged.join(held, held.c.key == staged.c.owner_key).join(
                    target.table, target.key_column == staged.c.target_key
                )
            ),
        )
    )
    # Indexed once filled: one sorted build instead of an index insert per row.
    sa.Index(f"{wanted.name}_pair", wanted.c.owner, wanted.c.target, unique=True).create(conn)
    dialect.analyze(conn, wanted)
    found = WantedLinks(link, wanted, owners)
    present = (
        sa.select(*(current.c[name] for name in (link.owner_column, link.target_column)))
        .add_columns(*([current.c[flag]] if flag else []))
        .join(held, held.c.id == found.owner_of(current))
        .subquery("present")
    )
    relinked = _relinked(dialect, found, present)
    conn.execute(owners.insert().from_select(["owner"], relinked))
    dialect.analyze(conn, owners)
    return found


def _relinked(
    dialect: Dialect, found: WantedLinks, present: sa.Subquery
) -> sa.Select[tuple[Any]] | sa.CompoundSelect[Any]:
    """The owners whose link rows (`present`: those of the matched rows) are not the wanted
    ones: a row missing, one too many, or a primary flag that differs."""
    wanted = found.wanted
    flag = found.link.primary_flag
    owner = found.owner_of(present)
    pair = (owner == wanted.c.owner) & (found.target_of(present) == wanted.c.target)
    changed = present.c[flag].is_distinct_from(wanted.c.flag) if flag else sa.false()
    if dialect.full_joins:
        # One full join: one pass over each side, where a pair on one side only is a link
        # row missing or one too many.
        return (
            sa.select(sa.func.coalesce(wanted.c.owner, owner))
            .select_from(wanted.outerjoin(present, pair, full=True))
            .where(owner.is_(None) | wanted.c.owner.is_(None) | changed)
            .distinct()
        )
    added = (
        sa.select(wanted.c.owner)
        .select_from(wanted.outerjoin(present, pair))
        .where(owner.is_(None) | changed)
    )
    removed = sa.select(owner).where(~found.wanted_here(present))
    return sa.union(added, removed)


@dataclass(frozen=True)
class _Matched:
    """The rows already in the database that staged rows name by key (`held`: their ids,
    keys and versions, as noted when they were matched)."""

    stage: Stage
    held: sa.Table

    @property
    def table(self) -> sa.Table:
        return self.stage.import_type.table

    def join(self, staged: sa.Table, key: sa.ColumnElement[Any] | None = None) -> sa.Join:
        """`staged` (the staged rows, or a table of their keys as `key`) joined to the rows
        they match."""
        named = staged.c[self.stage.import_type.key] if key is None else key
        return staged.join(self.held, self.held.c.key == named).join(
            self.table, self.table.c.id == self.held.c.id
        )


def changed_pages(
    conn: sa.Connection, dialect: Dialect, found: Differences, stage: Stage, size: int
) -> Iterator[Sequence[sa.RowMapping]]:
    """The changed rows as they are before the update, a page at a time: `row_id`, `version`,
    the proof of identity (`is0`, `is1`...), each updated column's value (`old0`...) and
    whether the file changes it (`differs0`...), `updated_at` if the table has it, and whether
    the file changes the row's links of each link (`relinked0`...)."""
    import_type = stage.import_type
    table = import_type.table
    changed = found.changed
    query = (
        sa.select(
            changed.c.row_id,
            changed.c.version,
            *(c.label(f"is{n}") for n, c in enumerate(changes.identity_columns(import_type))),
            *(table.c[name].label(f"old{n}") for n, name in enumerate(found.columns)),
            *(
                distinct(dialect, table.c[name], found.new_value(n)).label(f"differs{n}")
                for n, name in enumerate(found.columns)
            ),
            *([table.c.updated_at] if "updated_at" in table.c else []),
            *(
                changed.c.row_id.in_(sa.select(wanted.owners.c.owner)).label(f"relinked{n}")
                for n, wanted in enumerate(found.links)
            ),
        )
        .join(table, table.c.id == changed.c.row_id)
        .order_by(changed.c.row_id)
        .limit(size)
    )
    last: object = None
    while True:
        page = (
            conn.execute(query if last is None else query.where(changed.c.row_id > last))
            .mappings()
            .all()
        )
        if not page:
            return
        last = page[-1]["row_id"]
        yield page


def distinct(
    dialect: Dialect, old: sa.ColumnElement[Any], new: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """Whether the file's value `new` differs from the stored `old`, as the database compares."""
    return dialect.comparable(old).is_distinct_from(dialect.comparable(new))


def _temporary(name: str, metadata: sa.MetaData, *columns: sa.Column[Any]) -> sa.Table:
    return sa.Table(name, metadata, *columns, prefixes=TEMPORARY)
