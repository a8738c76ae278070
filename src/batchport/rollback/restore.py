"""Putting back what a batch updated: the values and link rows its rows had before, from the
change log, on the very rows they were taken from.

On PostgreSQL the database reads the change log into the plan itself, a statement per
temporary table (see `staged`), where it can read every logged column back. Elsewhere one
pass over the change log (`Plan.look`) checks and plans at once: each entry's logged
documents are parsed once, its row proven by its natural key (logged with the change), so a
restore never lands on another row that got the same id, its prior values decoded and staged
in temporary tables with the row as the look saw it (see `putback`). What the database can
tell set-based is then asked of it in a statement per table: link rows another writer added,
link rows a restore would delete that rows of other tables point at. The rows the change log
would point at again are proven the same way as the rows themselves, one query per column
and page. A row edited since (a value, or a link row another writer added) blocks unless the
rollback is forced.

The rollback looks in its first transaction, and writes in its second from the same plan
once it has found every row and every row pointed at as the look saw them (`Plan.again`);
what changed in between is looked at again, in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog, ImportType
from batchport.dialects import Dialect
from batchport.dialects.base import ForeignKey
from batchport.errors import RollbackRefused
from batchport.hierarchy import own_ancestors
from batchport.references import rows_pointing_at
from batchport.reports import EditedRow, ReferencingRow, RestoreConflict
from batchport.rollback import staged
from batchport.rollback.changelog import Entry, pages
from batchport.rollback.edits import LIMIT, changes_of
from batchport.rollback.putback import GONE, RESTORE, RESTORE_EDITED, PutBack
from batchport.schema import import_changes

#: Values looked up per query when the rows the change log points at are proven again.
_CHUNK = 5000


def changed_rows(conn: sa.Connection, catalog: Catalog, batch_id: str) -> dict[str, int]:
    """How many rows of each table the batch updated (and a rollback would restore)."""
    counts: dict[str, int] = {}
    for import_type in catalog.types:
        changes = changes_of(import_type.table, batch_id)
        number = conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar_one()
        if number:
            counts[import_type.table.name] = number
    return counts


@dataclass
class Review:
    """What stands in the way of restoring a batch's updated rows."""

    #: Rows edited since the batch updated them, or gone (forcing skips those).
    edited: list[EditedRow] = field(default_factory=list)
    #: Prior values pointing at rows that are gone or are other rows now.
    conflicts: list[RestoreConflict] = field(default_factory=list)
    #: Rows of other tables pointing at link rows the restore would delete.
    references: list[ReferencingRow] = field(default_factory=list)


#: A logged identity of a row pointed at, as a key (see `_expected`).
Expected = tuple[Any, ...] | None


@dataclass
class Plan:
    """The restore of a batch's updated rows, checked and staged (one `PutBack` a table) on
    the connection it was looked at on; `found` is what the look found in the way."""

    conn: sa.Connection
    dialect: Dialect
    catalog: Catalog
    batch_id: str
    found: Review = field(default_factory=Review)
    tables: list[PutBack] = field(default_factory=list)
    #: Every row the prior values point at: column -> value -> the identities logged for it.
    pointed: dict[sa.Column[Any], dict[Any, dict[Expected, dict[str, Any] | None]]] = field(
        default_factory=dict
    )
    referring: list[ForeignKey] = field(default_factory=list)

    @classmethod
    def look(cls, conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str) -> Plan:
        """Reads every row the batch updated, as a restore would, and plans its restore
        (in temporary tables); writes nothing else."""
        plan = cls(conn, dialect, catalog, batch_id)
        plan.referring = dialect.foreign_keys_to(
            conn, [link.table for t in catalog.types for link in t.links]
        )
        for import_type in catalog.types:
            staging = plan._staged(import_type) or plan._passed(import_type)
            if staging is None:
                continue
            putting, edited = staging
            putting.analyze()
            plan.tables.append(putting)
            found = plan._link_checks(putting)
            edited += [(entry, row) for entry, row in zip(found.entries, found.edited, strict=True)]
            plan.found.references += found.references
            # Pages go by row id; edited rows are listed in the order the batch logged them.
            plan.found.edited += [row for _, row in sorted(edited, key=lambda pair: pair[0])]
        plan.found.edited = plan.found.edited[:LIMIT]
        return plan

    def _staged(
        self, import_type: ImportType
    ) -> tuple[PutBack, list[tuple[int, EditedRow]]] | None:
        """The type's restore staged by the database (see `rollback.staged`), with the rows
        edited since, if it can stage it; None if the pass must."""
        json_ = self.dialect.log_json()
        if json_ is None or not staged.logged_any(self.conn, import_type, self.batch_id):
            return None
        putting = PutBack(self.conn, self.dialect, import_type)
        edited = staged.stage(putting, self.catalog, json_, self.batch_id)
        if edited is None:
            putting.drop()
            return None
        return putting, edited

    def _passed(
        self, import_type: ImportType
    ) -> tuple[PutBack, list[tuple[int, EditedRow]]] | None:
        """The type's restore staged by one pass over its change-log entries, with the rows
        edited since; None if the batch updated none of its rows."""
        putting: PutBack | None = None
        edited: list[tuple[int, EditedRow]] = []
        for entries in pages(self.conn, self.dialect, import_type, self.batch_id):
            putting = putting or PutBack(self.conn, self.dialect, import_type)
            edited += _stage(import_type, entries, putting)
            putting.flush()
            self.found.conflicts += self._missing_targets(import_type, entries)
        return None if putting is None else (putting, edited)

    def again(self) -> tuple[Plan, Review]:
        """The plan in a later transaction on its connection, and what stands in its way
        now: the same plan if every row and every row pointed at is as the look saw it (the
        link rows, which change no row version, looked at again), else a new look."""
        if (
            any(putting.changed() for putting in self.tables)
            or self._targets_changed()
            or self._astray()
        ):
            plan = Plan.look(self.conn, self.dialect, self.catalog, self.batch_id)
            return plan, plan.found
        self.referring = self.dialect.foreign_keys_to(
            self.conn, [link.table for t in self.catalog.types for link in t.links]
        )
        found = Review()
        for putting in self.tables:
            checked = self._link_checks(putting)
            found.edited += checked.edited
            found.references += checked.references
        found.edited = found.edited[:LIMIT]
        return self, found

    def apply(self) -> dict[str, int]:
        """Puts back the planned values and link rows, rows edited since included (a
        rollback that is not forced stops before, on `found`); returns how many rows per
        table. A row edited or deleted since the plan saw it stops it."""
        restored: dict[str, int] = {}
        for putting in self.tables:
            if putting.apply() != putting.count:
                raise changed_meanwhile(putting.table.name, putting.missed(), self.batch_id)
            if putting.count:
                restored[putting.table.name] = putting.count
        return restored

    def drop(self) -> None:
        """Drops the plan's temporary tables."""
        for putting in self.tables:
            putting.drop()

    def _link_checks(self, putting: PutBack) -> _Checked:
        """The rows with a link row another writer added (marked, to be restored as
        edited if forced), and the rows pointing at link rows the restore deletes."""
        found = _Checked()
        name = putting.table.name
        added = putting.foreign_links(self.batch_id)
        if added:
            putting.mark_edited([row_id for _, row_id, _, _ in added])
        for entry, row_id, key, version in added:
            found.entries.append(entry)
            found.edited.append(EditedRow(name, row_id, key, version, created=False))
        referred = {id(foreign_key.referred) for foreign_key in self.referring}
        for link in putting.import_type.links:
            # Link rows a restore deletes matter only where a foreign key points at them.
            if id(link.table) in referred:
                found.references += rows_pointing_at(
                    self.conn, self.dialect, link.table, putting.doomed(link), self.referring
                )
        return found

    def _missing_targets(
        self, import_type: ImportType, entries: list[Entry]
    ) -> list[RestoreConflict]:
        """Entries whose prior values (or prior link rows) point at rows that no longer
        exist, or whose id now names another row; each row pointed at kept for `again`.
        Each logged identity is proven once a page (entries logged alike share theirs)."""
        uses: dict[sa.Column[Any], dict[Any, list[tuple[Entry, str, Any]]]] = {}
        for entry in entries:
            targets = entry.targets
            for column, value, what in changes.pointers(import_type, entry.prior, entry.links):
                expected = targets.get(column.table.name, {}).get(str(value)) if targets else None
                uses.setdefault(column, {}).setdefault(value, []).append((entry, what, expected))
        conflicts = []
        for column, values in uses.items():
            present = self._present(column, values)
            pointed = self.pointed.setdefault(column, {})
            for value, places in values.items():
                now = present.get(value)
                known = pointed.setdefault(value, {})
                problems: dict[int, str | None] = {}
                for entry, what, expected in places:
                    if id(expected) not in problems:
                        known.setdefault(_expected(expected), expected)
                        problems[id(expected)] = _problem(expected, now)
                    problem = problems[id(expected)]
                    if problem is None:
                        continue
                    conflicts.append(
                        RestoreConflict(
                            import_type.table.name,
                            entry.row_id,
                            entry.key,
                            f"its prior {what} points at {column.table.name} {column.name} "
                            f"{value!r}, {problem}",
                        )
                    )
        return conflicts

    def _astray(self) -> bool:
        """Whether a row the prior values point at is gone or another row now, for the
        tables whose plan the database staged (the pass keeps what it saw in `pointed`)."""
        json_ = self.dialect.log_json()
        return json_ is not None and any(
            staged.astray(putting, self.catalog, json_, self.batch_id)
            for putting in self.tables
            if putting.in_database
        )

    def _targets_changed(self) -> bool:
        """Whether a row the prior values point at is gone or another row now, where the
        look found it the row the change log names."""
        for column, values in self.pointed.items():
            wanted = list(values)
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                present = self._present(column, chunk)
                for value in chunk:
                    now = present.get(value)
                    if any(_problem(expected, now) for expected in values[value].values()):
                        return True
        return False

    def _present(self, column: sa.Column[Any], values: Iterable[Any]) -> dict[Any, list[Any]]:
        """The rows `column` finds for `values`, by value: their identity columns' values
        where `column` is an import type's id (else the value itself)."""
        types = {t.table.name: t for t in self.catalog.types}
        owner = types.get(column.table.name)
        proof = changes.identity_columns(owner) if owner and column.name == "id" else [column]
        return {
            value: rest
            for value, *rest in self.conn.execute(
                sa.select(column, *proof).where(column.in_(list(values)))
            )
        }


@dataclass
class _Checked:
    """What the set-based checks of one table found: rows edited (with their entries'
    ids) and rows pointing at link rows the restore deletes."""

    entries: list[int] = field(default_factory=list)
    edited: list[EditedRow] = field(default_factory=list)
    references: list[ReferencingRow] = field(default_factory=list)


def _stage(
    import_type: ImportType, entries: list[Entry], putting: PutBack
) -> list[tuple[int, EditedRow]]:
    """Stages a page of entries: each row's prior values and link rows and what the restore
    does with it; returns the rows found edited or gone since the batch (with their
    entries' ids)."""
    name = import_type.table.name
    links = [(link, link.table.name) for link in import_type.links]
    edited: list[tuple[int, EditedRow]] = []
    for entry in entries:
        relinked = [table in entry.links for _, table in links]
        row = entry.row
        if row is None:
            edited.append((entry.id, EditedRow(name, entry.row_id, entry.key, None, False, True)))
            putting.row(
                entry.row_id, entry.id, GONE, None, entry.version_after, entry.raw, relinked, {}
            )
            continue
        if row.row_version == entry.version_after:
            state, version = RESTORE, entry.version_before
        else:
            edited.append(
                (entry.id, EditedRow(name, entry.row_id, row.proof[0], row.row_version, False))
            )
            state, version = RESTORE_EDITED, max(row.row_version, entry.version_after) + 1
        putting.row(
            entry.row_id,
            entry.id,
            state,
            version,
            entry.version_after,
            entry.raw,
            relinked,
            entry.prior,
        )
        for link, table in links:
            logged = entry.links.get(table)
            if logged is not None:
                putting.links_back(link, entry.row_id, row.batch_id, logged)
    return edited


def _problem(expected: dict[str, Any] | None, now: list[Any] | None) -> str | None:
    """What is wrong with a row pointed at (`now`: its identity columns' values, None if no
    row has the value), if it is not the row the change log names (`expected`)."""
    if now is None:
        return "which no longer exists"
    if not changes.same_row(expected, *now):
        return f"which is another row now ({now[0]!r})"
    return None


def _expected(expected: dict[str, Any] | None) -> Expected:
    """A logged identity as a key."""
    if expected is None:
        return None
    return tuple(sorted((name, repr(value)) for name, value in expected.items()))


def looping(conn: sa.Connection, catalog: Catalog, batch_id: str) -> list[RestoreConflict]:
    """Restored rows that are now their own ancestors (run after the restore, before its
    transaction ends)."""
    conflicts = []
    for import_type in catalog.types:
        restored = sa.select(import_changes.c.row_id).where(
            import_changes.c.batch_id == batch_id,
            import_changes.c.table_name == import_type.table.name,
        )
        for reference, row_id, key in own_ancestors(conn, import_type, restored):
            conflicts.append(
                RestoreConflict(
                    import_type.table.name,
                    row_id,
                    key,
                    f"putting back its {reference.column} would make it its own ancestor",
                )
            )
    return conflicts


def changed_meanwhile(table: str, row_id: object, batch_id: str) -> RollbackRefused:
    """The refusal of a rollback that found a row edited or deleted after its checks."""
    row = f"{table} row {row_id}" if row_id is not None else f"a {table} row"
    return RollbackRefused(
        f"{row} was edited or deleted while the rollback ran; nothing was changed — try again",
        batch_id=batch_id,
    )
