"""A restore's plan for one table, staged in temporary tables as the change log is read
(by the database itself on PostgreSQL: see `staged`), then checked and written set-based:
a statement per table and kind of check or change, whatever the number of rows.

The values table holds, per restored row, its decoded prior values, the row version it is
restored to, and the row as the look saw it (`seen`); one link table per link, the prior
link rows of the rows whose links the batch changed, decoded, their stamps made whole. A
row's values go back only where its row version is still the one the plan saw, so a row
changed meanwhile is left alone and shows as a shortfall, never overwritten.

The tables live as long as the connection's session, so that the rollback's first
transaction plans and its deleting transaction, having found every row as the plan saw it
(`changed`), writes from the same plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import ImportType, Link
from batchport.dialects import Dialect
from batchport.rollback.changelog import Raw, seen_columns

#: What the plan does with a row: restore it (as it was at the batch's update, or edited
#: since and forced: one more edit on its version), or leave it (gone, or another row now).
RESTORE, RESTORE_EDITED, GONE = 0, 1, 2
_ID, _ENTRY, _STATE, _VERSION, _AFTER = "bp_id", "bp_entry", "bp_state", "bp_version", "bp_after"
_OWNER, _PARTIAL = "bp_owner", "bp_partial"
_TEMPORARY = ["TEMPORARY"]


class PutBack:
    """The staged restore of one table's rows."""

    def __init__(self, conn: sa.Connection, dialect: Dialect, import_type: ImportType) -> None:
        self.conn = conn
        self.dialect = dialect
        self.import_type = import_type
        table = import_type.table
        self.table = table
        metadata = sa.MetaData()
        name = f"bp_restore_{uuid.uuid4().hex[:12]}"
        #: The columns a logged prior value may be for, each with a flag column telling
        #: whether the row's entry has a value for it.
        self.columns = [c for c in table.c if c.key in _loggable(import_type)]
        self.positions = {column.key: n for n, column in enumerate(self.columns)}
        self.seen = seen_columns(import_type)
        self.values = sa.Table(
            name,
            metadata,
            sa.Column(_ID, table.c.id.type, nullable=False),
            sa.Column(_ENTRY, sa.BigInteger(), nullable=False),
            sa.Column(_STATE, sa.SmallInteger(), nullable=False),
            sa.Column(_VERSION, table.c.row_version.type, nullable=True),
            sa.Column(_AFTER, table.c.row_version.type, nullable=False),
            *(sa.Column(f"w{n}", Raw(c.type)) for n, c in enumerate(self.seen)),
            *(
                sa.Column(f"r{n}", sa.Boolean(), nullable=False)
                for n in range(len(import_type.links))
            ),
            *(sa.Column(f"v{n}", column.type) for n, column in enumerate(self.columns)),
            *(sa.Column(f"s{n}", sa.Boolean()) for n in range(len(self.columns))),
            prefixes=_TEMPORARY,
        )
        self.links = {
            link.table.name: (n, link, _link_table(metadata, f"{name}_l{n}", link))
            for n, link in enumerate(import_type.links)
        }
        self.link_keys = {
            link.table.name: [c.key for c in link.table.c] for link in import_type.links
        }
        self.link_key_sets = {name: set(keys) for name, keys in self.link_keys.items()}
        metadata.create_all(conn)
        #: Whether logged values are decoded here: not for PostgreSQL, whose COPY (text)
        #: reads each logged text as its column's type reads it, as decoding then writing
        #: the value would.
        self.decodes = dialect.name != "postgresql"
        self.rows: list[list[Any]] = []
        self.link_rows: dict[str, list[list[Any]]] = {name: [] for name in self.links}
        #: Link rows logged without some column of their table (it came later): put back
        #: one by one, so that the missing ones take their defaults.
        self.partial: dict[str, list[tuple[object, dict[str, Any]]]] = {n: [] for n in self.links}
        #: The columns some entry has a value for, and how many entries have each.
        self.used: dict[int, int] = {}
        #: Rows the plan restores (`RESTORE` or `RESTORE_EDITED`).
        self.count = 0
        #: Whether the database staged the plan (see `rollback.staged`), not `row` and
        #: `links_back`.
        self.in_database = False
        #: The rows the staged plan's prior values point at, per pointer (see
        #: `rollback.staged`): temporary tables, empty until the look reads them.
        self.pointed: list[sa.Table] = []

    # --- staging ---------------------------------------------------------------------------

    def row(  # noqa: PLR0917 - one staged row, as the pass has it
        self,
        row_id: object,
        entry: int,
        state: int,
        version: int | None,
        after: int,
        seen: Sequence[Any],
        relinked: Sequence[bool],
        prior: dict[str, Any],
    ) -> None:
        """Plans giving row `row_id` (seen with the values `seen` of `seen_columns`) its
        `prior` values (by column key, as logged) and row version `version` (unless
        `GONE`)."""
        width = len(self.columns)
        values: list[Any] = [None] * width
        flags = [False] * width
        if state != GONE:
            if self.decodes:
                prior = changes.decode(self.table, prior)
            positions, used = self.positions, self.used
            for key, value in prior.items():
                n = positions[key]
                values[n] = value
                flags[n] = True
                used[n] = used.get(n, 0) + 1
            self.count += 1
        self.rows.append([row_id, entry, state, version, after, *seen, *relinked, *values, *flags])

    def links_back(
        self, link: Link, owner: object, batch_id: str | None, rows: list[dict[str, Any]]
    ) -> None:
        """Plans `rows` (whole link rows, as logged) as the link rows of `owner` (of batch
        `batch_id`) to put back. Rows logged before link rows carried stamps get their
        row's batch, as the migration stamped the rest."""
        name = link.table.name
        keys = self.link_keys[name]
        every = self.link_key_sets[name]
        planned = self.link_rows[name]
        decodes = self.decodes
        for logged in rows:
            row = {"import_batch_id": batch_id} | logged
            if decodes:
                row = changes.decode(link.table, row)
            if every <= row.keys():
                planned.append([owner, False, *map(row.__getitem__, keys)])
                continue
            if not decodes:
                row = changes.decode(link.table, row)
            self.partial[name].append((owner, row))
            planned.append([owner, True, *map(row.get, keys)])

    def flush(self) -> None:
        """Writes the planned rows to the temporary tables (once a page)."""
        self.dialect.copy_rows(self.conn, self.values, [c.name for c in self.values.c], self.rows)
        self.rows = []
        for name, (_, _, planned) in self.links.items():
            self.dialect.copy_rows(
                self.conn, planned, [c.name for c in planned.c], self.link_rows[name]
            )
            self.link_rows[name] = []

    def analyze(self) -> None:
        """Gathers the planner's statistics of the filled temporary tables (once staged):
        without them it takes them for small tables, and checks each restored row's link rows
        against the whole plan (12 s a check for 100,000 rows, not 0.2 s)."""
        for temporary in self.temporaries():
            self.dialect.analyze(self.conn, temporary)

    # --- checks ----------------------------------------------------------------------------

    def changed(self) -> bool:
        """Whether some row is not as the plan saw it (edited, deleted, made again under its
        id; or there now where no row was)."""
        table, values = self.table, self.values
        compare = self.dialect.comparable
        differs = [
            compare(column).is_distinct_from(
                compare(sa.type_coerce(values.c[f"w{n}"], column.type))
            )
            for n, column in enumerate(self.seen)
        ]
        query = (
            sa.select(values.c[_ID])
            .select_from(values.outerjoin(table, table.c.id == values.c[_ID]))
            .where(sa.or_(*differs))
            .limit(1)
        )
        return self.conn.execute(query).first() is not None

    def foreign_links(self, batch_id: str) -> list[tuple[int, object, object, int]]:
        """Rows the plan restores as unedited that have a link row another writer added
        (not the batch's by stamp, and not there before it either), where the batch changed
        the row's links: (entry, id, natural key, row version), in the batch's order."""
        table, values = self.table, self.values
        found: dict[object, int] = {}
        for n, link, planned in self.links.values():
            live = link.table
            owner = live.c[link.owner_column]
            before = sa.exists().where(
                planned.c[_OWNER] == owner,
                planned.c[link.target_column] == live.c[link.target_column],
                planned.c.import_batch_id.is_not_distinct_from(live.c.import_batch_id),
            )
            # The candidates' link rows found through the owner's index (as a semi-join,
            # the planner hashed the whole link table: 1.7 s for 50,000 owners in 1M).
            candidates = sa.select(values.c[_ID]).where(
                values.c[f"r{n}"], values.c[_STATE] == RESTORE
            )
            added = sa.select(owner).where(
                self.dialect.among(owner, candidates),
                live.c.import_batch_id.is_distinct_from(batch_id),
                ~before,
            )
            query = sa.select(values.c[_ID], values.c[_ENTRY]).where(
                values.c[f"r{n}"], values.c[_STATE] == RESTORE, values.c[_ID].in_(added)
            )
            found.update((row_id, entry) for row_id, entry in self.conn.execute(query))
        if not found:
            return []
        rows = {
            row_id: (key, version)
            for row_id, key, version in self.conn.execute(
                sa.select(table.c.id, self.import_type.key_column, table.c.row_version).where(
                    table.c.id.in_(list(found))
                )
            )
        }
        return sorted(
            (entry, row_id, *rows[row_id]) for row_id, entry in found.items() if row_id in rows
        )

    def mark_edited(self, ids: list[object]) -> None:
        """Restores rows `ids` as edited since the batch: one more edit on their version."""
        values = self.values
        seen = values.c["w0"]  # the row version the plan saw
        after = values.c[_AFTER]
        for start in range(0, len(ids), 1000):
            self.conn.execute(
                values.update()
                .where(values.c[_ID].in_(ids[start : start + 1000]))
                .values(
                    {
                        _STATE: RESTORE_EDITED,
                        _VERSION: sa.case((seen > after, seen), else_=after) + 1,
                    }
                )
            )

    def doomed(self, link: Link) -> list[tuple[Any, ...]]:
        """The primary keys of the link rows of `link`'s table that the restore deletes: those
        the restored rows have now and had not before the batch."""
        n, _, planned = self.links[link.table.name]
        live = link.table
        primary = list(live.primary_key.columns)
        return [
            tuple(row)
            for row in self.conn.execute(
                sa.select(*primary).where(
                    self.dialect.among(live.c[link.owner_column], self._relinked(n)),
                    ~self._logged(link, planned),
                )
            )
        ]

    # --- writes ----------------------------------------------------------------------------

    def apply(self) -> int:
        """Puts every planned value and link row back; returns how many rows got their
        values back (fewer than planned if row versions changed since: see `missed`)."""
        table, values = self.table, self.values
        assignments = {
            self.columns[n].key: self._value(n, used) for n, used in self.used.items()
        } | {"row_version": values.c[_VERSION]}
        updated: int = self.conn.execute(
            table.update()
            .where(
                table.c.id == values.c[_ID],
                table.c.row_version == values.c["w0"],
                values.c[_STATE] != GONE,
            )
            .values(assignments)
        ).rowcount
        for name, (n, link, planned) in self.links.items():
            self._apply_links(n, link, planned, self.partial[name])
        return updated

    def missed(self) -> object:
        """The id of a row whose values were planned and not put back (its row version
        changed), if one is found."""
        table, values = self.table, self.values
        return self.conn.execute(
            sa.select(values.c[_ID])
            .outerjoin(table, table.c.id == values.c[_ID])
            .where(
                values.c[_STATE] != GONE,
                table.c.row_version.is_distinct_from(values.c[_VERSION]),
            )
            .order_by(values.c[_ID])
            .limit(1)
        ).scalar()

    def temporaries(self) -> list[sa.Table]:
        return [self.values, *(planned for _, _, planned in self.links.values())]

    def drop(self) -> None:
        """Drops the temporary tables."""
        for temporary in [*self.temporaries(), *self.pointed]:
            temporary.drop(self.conn, checkfirst=False)

    def _value(self, n: int, used: int) -> sa.ColumnElement[Any]:
        """Column `n`'s new value: the planned one, where the row's entry has one."""
        value = self.values.c[f"v{n}"]
        if used == self.count:
            return value
        return sa.case((self.values.c[f"s{n}"], value), else_=self.columns[n])

    def _relinked(self, n: int) -> sa.Select[Any]:
        """The rows restored whose links (of link `n`) the batch changed."""
        values = self.values
        return sa.select(values.c[_ID]).where(values.c[f"r{n}"], values.c[_STATE] != GONE)

    def _logged(self, link: Link, planned: sa.Table) -> sa.ColumnElement[bool]:
        """Whether a link row's owner had a link row to its target before the batch."""
        live = link.table
        return sa.exists().where(
            planned.c[_OWNER] == live.c[link.owner_column],
            planned.c[link.target_column] == live.c[link.target_column],
        )

    def _apply_links(
        self,
        n: int,
        link: Link,
        planned: sa.Table,
        partial: list[tuple[object, dict[str, Any]]],
    ) -> None:
        """Deletes the link rows the restored rows did not have before the batch, inserts
        those they had and have not, re-flags those that differ: a statement each (and the
        `partial` rows one by one)."""
        conn, table = self.conn, link.table
        owner, target = table.c[link.owner_column], table.c[link.target_column]
        conn.execute(
            table.delete().where(
                self.dialect.among(owner, self._relinked(n)), ~self._logged(link, planned)
            )
        )
        keys = [c.key for c in table.c]
        there = sa.exists().where(
            owner == planned.c[_OWNER], target == planned.c[link.target_column]
        )
        whole = ~planned.c[_PARTIAL]
        conn.execute(
            table.insert().from_select(
                keys, sa.select(*(planned.c[key] for key in keys)).where(whole, ~there)
            )
        )
        primary = list(table.primary_key.columns)
        rest = [c for c in table.c if c not in primary]
        if rest:
            compare = self.dialect.comparable
            owners = sa.select(planned.c[_OWNER]).where(whole)
            conn.execute(
                table.update()
                .where(
                    self.dialect.among(owner, owners),
                    owner == planned.c[_OWNER],
                    *(c == planned.c[c.key] for c in primary),
                    whole,
                    sa.or_(*(compare(c).is_distinct_from(compare(planned.c[c.key])) for c in rest)),
                )
                .values({c.key: planned.c[c.key] for c in rest})
            )
        for row_id, row in partial:
            current = (
                conn.execute(
                    sa.select(table).where(owner == row_id, target == row[link.target_column])
                )
                .mappings()
                .first()
            )
            if current is None:
                conn.execute(table.insert().values(row))
            elif any(current.get(key) != value for key, value in row.items()):
                conn.execute(
                    table.update()
                    .where(*(c == row[c.key] for c in primary))
                    .values({k: v for k, v in row.items() if k not in {c.key for c in primary}})
                )


def _link_table(metadata: sa.MetaData, name: str, link: Link) -> sa.Table:
    """A temporary table of the prior link rows of `link`'s table: their owner, whether the
    log lacks some of their columns, then the columns of `link`'s table (named as their
    keys)."""
    return sa.Table(
        name,
        metadata,
        sa.Column(_OWNER, link.table.c[link.owner_column].type, nullable=False),
        sa.Column(_PARTIAL, sa.Boolean(), nullable=False),
        *(sa.Column(column.key, column.type) for column in link.table.c),
        prefixes=_TEMPORARY,
    )


def _loggable(import_type: ImportType) -> set[str]:
    """The columns an update may log prior values of: those the file fills, and its time of
    change (a column of a type this process cannot name, which the file never fills, stays out
    of the temporary tables)."""
    fields = {field.column for field in import_type.fields if field.column}
    return fields | {reference.column for reference in import_type.references} | {"updated_at"}
