"""The restore's plan of one table staged by the database itself, where it can read the
change log's documents back (PostgreSQL: see `LogJson`): one statement per temporary table,
where the pass of `restore` parses every entry in Python (most of a large rollback's time).

It stages exactly what that pass stages (see `putback`): each row proven by its logged
identity, its state and the version it goes back to, its prior values read as its columns'
types read the logged text (as COPY reads it in the pass), the prior link rows of the rows it
restores, their stamps made whole. It stages nothing, and the pass plans, where a column it
reads is of a type the database would not read back as the pass does, and where a row the
prior values point at is gone or another row now (the rollback is refused then, in the pass's
words).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog, ImportType
from batchport.dialects.base import LogJson
from batchport.reports import EditedRow
from batchport.rollback.edits import LIMIT
from batchport.rollback.putback import GONE, RESTORE, RESTORE_EDITED, PutBack
from batchport.schema import import_changes

#: Column types whose logged text a cast reads back as COPY reads the value `json.loads`
#: gives; other types, and these decorated, are planned by the pass. Floats too: the log
#: may hold NaN or Infinity, which `json.loads` reads and jsonb refuses.
_READABLE = (sa.Integer, sa.String, sa.Boolean, sa.Uuid, sa.DateTime, sa.Date, sa.Time, sa.Numeric)
_UNREADABLE = (sa.TypeDecorator, sa.Enum, sa.JSON, sa.ARRAY, sa.Float)
#: The column of a link row that a row logged without it takes from its owner's row.
_STAMP = "import_batch_id"


class _Unreadable(Exception):
    """A column the database cannot read back as the pass does."""


def logged_any(conn: sa.Connection, import_type: ImportType, batch_id: str) -> bool:
    """Whether the batch logged a change of one of the type's rows."""
    c = import_changes.c
    logged = (c.batch_id == batch_id) & (c.table_name == import_type.table.name)
    return conn.execute(sa.select(sa.exists().where(logged))).scalar_one()


def stage(
    putting: PutBack, catalog: Catalog, json_: LogJson, batch_id: str
) -> list[tuple[int, EditedRow]] | None:
    """Stages the table's restore in `putting`'s temporary tables; returns the rows edited or
    gone since the batch with their entries' ids (the batch's first `LIMIT`), or None, having
    staged nothing, where the pass must plan it."""
    reading = _Reading(putting, catalog, json_, batch_id)
    try:
        reading.check()
        if reading.astray():
            return None
        values = reading.values()
    except _Unreadable:
        return None
    conn = putting.conn
    conn.execute(putting.values.insert().from_select(_names(putting.values), values))
    for n, link, planned in putting.links.values():
        conn.execute(planned.insert().from_select(_names(planned), reading.links(n)))
        putting.partial[link.table.name] = reading.partial(n)
    _count(putting)
    putting.in_database = True
    return reading.edited()


def astray(putting: PutBack, catalog: Catalog, json_: LogJson, batch_id: str) -> bool:
    """Whether a row the table's prior values point at is gone, or another row now."""
    return _Reading(putting, catalog, json_, batch_id).astray()


class _Reading:
    """The statements that read one table's change-log entries."""

    def __init__(self, putting: PutBack, catalog: Catalog, json_: LogJson, batch_id: str) -> None:
        self.putting = putting
        self.import_type = putting.import_type
        self.types = {t.table.name: t for t in catalog.types}
        self.json = json_
        c = import_changes.c
        self.logged = (c.batch_id == batch_id) & (c.table_name == putting.table.name)

    def check(self) -> None:
        """Raises `_Unreadable` unless every column read is of a readable type."""
        putting = self.putting
        columns = [
            *putting.columns,
            *(c for _, link, _ in putting.links.values() for c in link.table.c),
        ]
        for column in columns + [foreign_key.column for foreign_key, _ in self._pointers()]:
            kind = column.type
            if not isinstance(kind, _READABLE) or isinstance(kind, _UNREADABLE):
                raise _Unreadable(column)

    # --- the staged rows -------------------------------------------------------------------

    def values(self) -> sa.Select[Any]:
        """Each entry's row of the values table (see `PutBack.row`)."""
        putting, json_, c = self.putting, self.json, import_changes.c
        table = putting.table
        proof = changes.identity_columns(self.import_type)
        # Each entry's documents parsed once, with its row as it is now: a subquery kept
        # whole (OFFSET 0), so that each expression is computed once per row and read by
        # every column that uses it, and nothing is written aside (a materialized CTE wrote
        # 1.6 kB a row to disk, twice).
        documents = (
            sa.select(
                c.row_id,
                c.id,
                c.version_before,
                c.version_after,
                json_.parsed(c.prior).label("prior"),
                json_.parsed(c.prior_links).label("prior_links"),
                json_.parsed(c.row_key).label("row_key"),
                table.c.id.label("now_id"),
                table.c.row_version.label("now"),
                *(table.c[column.name].label(f"w{n}") for n, column in enumerate(putting.seen)),
                *(table.c[column.name].label(f"p{n}") for n, column in enumerate(proof)),
            )
            .select_from(import_changes.outerjoin(table, table.c.id == c.row_id))
            .where(self.logged)
            .offset(0)
            .subquery("documents")
        )
        d = documents.c
        same = d.now_id.is_not(None) & self._same_row(
            d.row_key, self.import_type, [d[f"p{n}"] for n in range(len(proof))]
        )
        state = sa.case(
            (~sa.func.coalesce(same, False), GONE),
            (d.now == d.version_after, RESTORE),
            else_=RESTORE_EDITED,
        )
        entries = sa.select(documents, state.label("state")).offset(0).subquery("entries")
        e = entries.c
        prior = e.prior
        restored = e.state != GONE
        version = sa.case(
            (e.state == RESTORE, e.version_before),
            (e.state == RESTORE_EDITED, sa.func.greatest(e.now, e.version_after) + 1),
        )
        relinked = [
            sa.func.coalesce(json_.has(e.prior_links, [link.table.name]), False)
            for _, link, _ in putting.links.values()
        ]
        values = [
            sa.case((restored, sa.cast(json_.member_text(prior, column.key), column.type)))
            for column in putting.columns
        ]
        flags = [restored & json_.has(prior, [column.key]) for column in putting.columns]
        return sa.select(
            e.row_id,
            e.id,
            e.state,
            version,
            e.version_after,
            *(e[f"w{n}"] for n in range(len(putting.seen))),
            *relinked,
            *values,
            *flags,
        )

    def links(self, n: int) -> sa.Select[Any]:
        """The prior link rows of link `n` (see `PutBack.links_back`): their owner, whether
        the log lacks some of their columns, their values, a missing stamp their row's."""
        link_table = self.import_type.links[n].table
        element, rows = self._link_rows(n)
        stamp = sa.case(
            (self.json.has(element, [_STAMP]), self.json.member_text(element, _STAMP)),
            else_=self._owner_stamp(),
        )
        values = [
            sa.cast(
                stamp if column.key == _STAMP else self.json.member_text(element, column.key),
                column.type,
            )
            for column in link_table.c
        ]
        return rows.add_columns(~self._whole(element, n), *values)

    def partial(self, n: int) -> list[tuple[object, dict[str, Any]]]:
        """The prior link rows of link `n` logged without some of their columns (before those
        came), decoded, for `PutBack.apply` to put back one by one."""
        link_table = self.import_type.links[n].table
        _, _, planned = self.putting.links[link_table.name]
        if not self.putting.conn.execute(
            sa.select(sa.exists().where(planned.c.bp_partial))
        ).scalar():
            return []  # nearly always: only logs older than a link column lack it
        element, rows = self._link_rows(n)
        query = rows.add_columns(sa.cast(element, sa.Text), self._owner_stamp())
        return [
            (owner, changes.decode(link_table, {_STAMP: batch} | json.loads(text)))
            for owner, text, batch in self.putting.conn.execute(
                query.where(~self._whole(element, n)).order_by(self.putting.values.c.bp_id)
            )
        ]

    def _whole(self, element: sa.ColumnElement[Any], n: int) -> sa.ColumnElement[bool]:
        """Whether a logged link row has every column of its table (its stamp aside)."""
        keys = [c.key for c in self.import_type.links[n].table.c if c.key != _STAMP]
        return self.json.has(element, keys)

    def _owner_stamp(self) -> sa.ScalarSelect[Any]:
        """The stamp of the row a logged link row belongs to (looked up only for a link row
        logged without its own)."""
        table, values = self.putting.table, self.putting.values
        return (
            sa.select(table.c.import_batch_id).where(table.c.id == values.c.bp_id).scalar_subquery()
        )

    def _link_rows(self, n: int) -> tuple[sa.ColumnElement[Any], sa.Select[Any]]:
        """Each logged link row of link `n` (a JSON object) of the rows the plan restores,
        and a query of their owners' ids over them."""
        values, c, json_ = self.putting.values, import_changes.c, self.json
        name = self.import_type.links[n].table.name
        logged = json_.elements(json_.member(json_.parsed(c.prior_links), name), f"logged{n}")
        query = (
            sa.select(values.c.bp_id)
            .select_from(
                values.join(import_changes, c.id == values.c.bp_entry).join(logged, sa.true())
            )
            .where(values.c.bp_state != GONE, values.c[f"r{n}"])
        )
        return logged.c.value, query

    def edited(self) -> list[tuple[int, EditedRow]]:
        """The rows edited or gone since the batch, with their entries' ids (the batch's
        first `LIMIT`)."""
        values, table, c = self.putting.values, self.putting.table, import_changes.c
        query = (
            sa.select(
                values.c.bp_entry,
                values.c.bp_id,
                values.c.bp_state,
                c.row_key,
                self.import_type.key_column,
                table.c.row_version,
            )
            .select_from(
                values.join(import_changes, c.id == values.c.bp_entry).outerjoin(
                    table, table.c.id == values.c.bp_id
                )
            )
            .where(values.c.bp_state != RESTORE)
            .order_by(values.c.bp_entry)
            .limit(LIMIT)
        )
        found = []
        for entry, row_id, state, logged, key, version in self.putting.conn.execute(query):
            if state == GONE:
                identity = json.loads(logged) if logged else None
                known = identity.get("key") if isinstance(identity, dict) else identity
                found.append((entry, EditedRow(table.name, row_id, known, None, False, True)))
            else:
                found.append((entry, EditedRow(table.name, row_id, key, version, False)))
        return found

    # --- the rows pointed at ---------------------------------------------------------------

    def astray(self) -> bool:
        """Whether a row some entry's prior values point at is gone, or another row now (see
        `restore.Plan._missing_targets`). The rows pointed at, each with each identity
        logged for it, are read from the log once, at the look, and kept in temporary tables
        (`PutBack.pointed`) for the deleting transaction to check again."""
        putting = self.putting
        if not putting.pointed:
            putting.pointed = [self._kept(n, pairs) for n, pairs in enumerate(self._pairs())]
        return any(putting.conn.execute(query).first() is not None for query in self._astray())

    def _kept(self, number: int, pairs: sa.Select[Any]) -> sa.Table:
        """The rows pointed at through the `number`th pointer, in a new temporary table."""
        kept = sa.Table(
            f"{self.putting.values.name}_p{number}",
            sa.MetaData(),
            sa.Column("value", sa.Text()),
            sa.Column("expected", sa.Text()),
            prefixes=["TEMPORARY"],
        )
        kept.create(self.putting.conn)
        self.putting.conn.execute(kept.insert().from_select(["value", "expected"], pairs))
        return kept

    def _pairs(self) -> list[sa.Select[Any]]:
        """Per pointer (see `_pointers`), each row pointed at with each identity logged for
        it, once: (value, expected identity as text)."""
        json_, c = self.json, import_changes.c
        queries = []
        for foreign_key, link_name in self._pointers():
            referred = foreign_key.column
            source: sa.FromClause = import_changes
            if link_name is None:
                pointing = json_.parsed(c.prior)
            else:
                rows = json_.elements(json_.member(json_.parsed(c.prior_links), link_name), "rows")
                source, pointing = source.join(rows, sa.true()), rows.c.value
            value = json_.member_text(pointing, foreign_key.parent.name)
            expected = (
                json_.member(json_.member(json_.parsed(c.targets), referred.table.name), value)
                if self._proving(referred)
                else json_.null()
            )
            queries.append(
                sa.select(value.label("value"), json_.text(expected).label("expected"))
                .select_from(source)
                .where(self.logged, value.is_not(None))
                .distinct()
            )
        return queries

    def _astray(self) -> list[sa.Select[Any]]:
        """Per pointer, a query of a row pointed at that is gone or another row now."""
        queries = []
        for (foreign_key, _), pointed in zip(self._pointers(), self.putting.pointed, strict=True):
            referred = foreign_key.column
            target = referred.table.alias("target")
            found = target.c[referred.name]
            wrong: sa.ColumnElement[bool] = found.is_(None)
            if owner := self._proving(referred):
                proof = [target.c[column.name] for column in changes.identity_columns(owner)]
                matches = self._same_row(self.json.parsed(pointed.c.expected), owner, proof)
                wrong = wrong | ~sa.func.coalesce(matches, False)
            queries.append(
                sa.select(pointed.c.value)
                .select_from(
                    pointed.outerjoin(target, found == sa.cast(pointed.c.value, referred.type))
                )
                .where(wrong)
                .limit(1)
            )
        return queries

    def _proving(self, referred: sa.Column[Any]) -> ImportType | None:
        """The type whose logged identities prove the rows `referred` points at: the type of
        its table, where `referred` is that table's id; None where the log proves nothing."""
        owner = self.types.get(referred.table.name)
        return owner if owner is not None and referred.name == "id" else None

    def _pointers(self) -> list[tuple[sa.ForeignKey, str | None]]:
        """The foreign keys of the type's table, and of its link tables (the link's own row
        aside) with their tables' names: what a logged prior value may point at (see
        `changes.pointers`)."""
        found: list[tuple[sa.ForeignKey, str | None]] = [
            (foreign_key, None) for foreign_key in self.import_type.table.foreign_keys
        ]
        for link in self.import_type.links:
            found += [
                (foreign_key, link.table.name)
                for foreign_key in link.table.foreign_keys
                if foreign_key.parent.name != link.owner_column
            ]
        return found

    def _same_row(
        self,
        logged: sa.ColumnElement[Any],
        import_type: ImportType,
        proof: Sequence[sa.ColumnElement[Any]],
    ) -> sa.ColumnElement[bool]:
        """Whether the row whose identity columns (see `changes.identity_columns`) are
        `proof` is the row a logged identity names (see `changes.same_row`: a log without one
        takes the id's word for it)."""
        written = [self.json.value(column) for column in proof]
        if any(value is None for value in written):
            raise _Unreadable(proof)
        null = self.json.null()

        def same(name: str, value: sa.ColumnElement[Any] | None) -> sa.ColumnElement[bool]:
            member = sa.func.coalesce(self.json.member(logged, name), null)
            return member == sa.func.coalesce(value, null)

        matches = same("key", written[0])
        if len(proof) == 3:
            timed = self.json.member_text(logged, "created_at").is_not(None) & proof[1].is_not(None)
            both = same("created_at", written[1]) & same("batch_id", written[2])
            matches = sa.case((timed, both), else_=matches)
        return logged.is_(None) | matches


def _names(table: sa.Table) -> list[str]:
    return [column.name for column in table.c]


def _count(putting: PutBack) -> None:
    """The rows the plan restores, and how many entries have a value for each column."""
    values = putting.values
    restored = values.c.bp_state != GONE
    counts = putting.conn.execute(
        sa.select(
            sa.func.count().filter(restored),
            *(sa.func.count().filter(values.c[f"s{n}"]) for n in range(len(putting.columns))),
        )
    ).one()
    putting.count = counts[0]
    putting.used = {n: used for n, used in enumerate(counts[1:]) if used}
