"""The fast path: parsed rows go straight into the target tables, in bulk, as they stream in.

Ids are reserved from the database up front, so links and references are written in the same
pass; other types' keys come from one lookup each. Anything this path cannot prove valid on
its own — a bad cell, an unknown key, a unique or foreign-key violation, a cycle — raises
`NotLoadable`; the caller rolls the transaction back and lets the staged path (which finds and
reports every error exactly) take over. A valid file is thus written once, at bulk speed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from itertools import repeat
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from batchport.checks.cycles import ancestry, on_cycles
from batchport.checks.proof import NotLoadable, key_ids
from batchport.columns.rows import Chunk
from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.loading.values import server_default


class DirectLoader:
    """Writes chunks of parsed rows of one import type, stamped with `batch_id`."""

    def __init__(
        self,
        conn: sa.Connection,
        dialect: Dialect,
        catalog: Catalog,
        import_type: ImportType,
        batch_id: str,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.import_type = import_type
        self.batch_id = batch_id
        table = import_type.table
        fields = import_type.fields
        index = {f.name: i for i, f in enumerate(fields)}
        self.key_index = index[import_type.key]
        self.plain = [
            (index[f.name], _default(conn, table.c[f.column])) for f in fields if f.column
        ]
        self.references = [(index[r.field], r.to) for r in import_type.references]
        self.links = [(index[link.field], link) for link in import_type.links]
        self.columns = [
            "id",
            *(f.column for f in fields if f.column),
            *(r.column for r in import_type.references),
            "import_batch_id",
        ]
        others = {r.to for r in import_type.references} | {link.to for link in import_type.links}
        self.keys = {name: key_ids(conn, catalog[name]) for name in others - {import_type.name}}
        self.own: dict[object, int] | None = {} if import_type.name in others else None
        #: Rows whose parent (a key of this type) was not yet in the file: (column, id, key).
        self.deferred: list[tuple[str, int, object]] = []
        #: Rows whose parent comes later in the file. Ids grow in file order, so only through
        #: such rows can parents form a cycle: the check after the load starts from them.
        self.forward: list[tuple[str, int]] = []
        self.created = dict.fromkeys([table.name, *(ln.table.name for ln in import_type.links)], 0)
        self._open = ExitStack()
        self._ids = conn
        self._write: Callable[[Iterable[Sequence[object]]], None] | None = None

    def __enter__(self) -> DirectLoader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A failure cancels an open bulk statement rather than finishing it.
        self._open.__exit__(exc_type, exc, tb)

    def _writer(self) -> Callable[[Iterable[Sequence[object]]], None]:
        """Writes rows of the type's table. Without links to write in between, one bulk
        statement stays open for the whole file (ids then come over a second connection)."""
        if self._write is None:
            table = self.import_type.table
            if self.links:
                self._write = lambda rows: self.dialect.copy_rows(
                    self.conn, table, self.columns, rows
                )
            else:
                self._ids = self._open.enter_context(self.dialect.id_connection(self.conn))
                stream = self.dialect.row_stream(self.conn, table, self.columns)
                self._write = self._open.enter_context(stream)
        return self._write

    def write(self, chunk: Chunk) -> None:
        """Inserts the chunk's rows and their links."""
        table = self.import_type.table
        write = self._writer()
        ids = self.dialect.reserve_ids(self._ids, table, len(chunk))
        columns: list[Iterable[object]] = [ids]
        for position, default in self.plain:
            column = chunk.columns[position]
            if default is not None and None in column:
                column = [default if value is None else value for value in column]
            columns.append(column)
        if self.own is not None:
            self.own.update(zip(chunk.columns[self.key_index], ids, strict=True))
        for (position, target), reference in zip(
            self.references, self.import_type.references, strict=True
        ):
            columns.append(self._resolve(reference.column, target, chunk.columns[position], ids))
        columns.append(repeat(self.batch_id, len(chunk)))
        write(zip(*columns, strict=True))
        self.created[table.name] += len(chunk)
        for position, link in self.links:
            rows = self._link_rows(link, ids, chunk.columns[position])
            names = [link.owner_column, link.target_column]
            names += [link.primary_flag] if link.primary_flag else []
            self.dialect.copy_rows(self.conn, link.table, [*names, "import_batch_id"], rows)
            self.created[link.table.name] += len(rows)

    def _link_rows(
        self, link: Link, ids: Sequence[int], cells: list[object]
    ) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        if link.to == self.import_type.name:
            assert self.own is not None
            targets = self.own
        else:
            targets = self.keys[link.to]
        flagged = link.primary_flag is not None
        batch = self.batch_id
        try:
            for row_id, keys in zip(ids, cells, strict=True):
                if type(keys) is not tuple:
                    continue
                if flagged:
                    rows.append((row_id, targets[keys[0]], True, batch))
                    rows += [(row_id, targets[key], False, batch) for key in keys[1:]]
                else:
                    rows += [(row_id, targets[key], batch) for key in keys]
        except KeyError as exc:
            raise NotLoadable(f"unknown {link.to} key {exc.args[0]!r}") from None
        return rows

    def finish(self) -> dict[str, int]:
        """Resolves references to rows in the database; returns rows created per table."""
        self._open.close()
        if self.deferred:
            self._resolve_deferred()
        starts = self.forward + [(column, row_id) for column, row_id, _ in self.deferred]
        if starts and self._has_cycle(starts):
            raise NotLoadable("references form a cycle")
        return self.created

    def _resolve(
        self,
        column: str,
        target: str,
        values: list[Any],
        ids: Sequence[int],
    ) -> list[Any]:
        """The ids `values` (keys of `target`) stand for; None where a cell is empty."""
        if target != self.import_type.name:
            known = self.keys[target]
            found: list[Any] = [None if value is None else known.get(value) for value in values]
            if found.count(None) != values.count(None):
                raise NotLoadable(f"unknown {target} key")
            return found
        assert self.own is not None
        found = list(map(self.own.get, values))
        later = [
            i
            for i, (value, parent, row_id) in enumerate(zip(values, found, ids, strict=True))
            if value is not None and (parent is None or parent >= row_id)
        ]
        per_row = self.dialect.checks_references_per_row
        for i in later:
            if found[i] is None or found[i] == ids[i] or per_row:
                # Later in the file, in the database, or the row itself: settled after the load
                # (so also a parent later in this chunk, where each row is checked as written).
                self.deferred.append((column, ids[i], values[i]))
                found[i] = None
            else:
                self.forward.append((column, ids[i]))
        return found

    def _has_cycle(self, starts: list[tuple[str, int]]) -> bool:
        """Whether following a reference column from one of `starts` through rows of this
        batch leads round in a loop (rows outside the batch cannot lead back into it)."""
        table = self.import_type.table
        origins = sa.Table(
            "bp_cycle_starts",
            sa.MetaData(),
            sa.Column("row_id", table.c.id.type),
            sa.Column("column_name", sa.String()),
            prefixes=["TEMPORARY"],
        )
        origins.create(self.conn)
        self.dialect.copy_rows(
            self.conn, origins, ["row_id", "column_name"], [(i, c) for c, i in starts]
        )
        found = False
        for column, count in sorted(Counter(column for column, _ in starts).items()):
            chains = self._chains(column, count, origins)
            with on_cycles(self.conn, chains, table.c.id.type) as looped:
                found = bool(self.conn.execute(sa.select(looped.exists())).scalar_one())
            if found:
                break
        origins.drop(self.conn)
        return found

    def _chains(self, column: str, starts: int, origins: sa.Table) -> sa.Select[Any]:
        """The (id, parent id) pairs of the batch's rows that chains from `origins` pass:
        when most rows start a chain, simply every row of the batch that has a parent (one
        scan instead of a recursive query that would reach nearly all of them anyway)."""
        table = self.import_type.table
        if starts * 2 >= self.created[table.name]:
            return sa.select(table.c.id, table.c[column]).where(
                table.c.import_batch_id == self.batch_id, table.c[column].is_not(None)
            )
        return ancestry(
            table,
            column,
            sa.select(origins.c.row_id).where(origins.c.column_name == column),
            lambda rows: rows.c.import_batch_id == self.batch_id,
        )

    def _resolve_deferred(self) -> None:
        import_type = self.import_type
        table = import_type.table
        key = import_type.key_column
        pending = sa.Table(
            "bp_deferred",
            sa.MetaData(),
            sa.Column("row_id", table.c.id.type, primary_key=True),
            sa.Column("column_name", sa.String()),
            sa.Column("key", key.type),
            prefixes=["TEMPORARY"],
        )
        pending.create(self.conn)
        self.dialect.copy_rows(
            self.conn,
            pending,
            ["row_id", "column_name", "key"],
            [(row_id, column, k) for column, row_id, k in self.deferred],
        )
        parent = table.alias("parent")
        for column in {column for column, _, _ in self.deferred}:
            found = (
                sa.select(parent.c.id)
                .where(parent.c[key.name] == pending.c.key, parent.c.id != pending.c.row_id)
                .scalar_subquery()
            )
            self.conn.execute(
                table.update()
                .where(table.c.id == pending.c.row_id, pending.c.column_name == column)
                .values({column: found})
            )
            unresolved = self.conn.execute(
                sa.select(sa.func.count())
                .select_from(pending.join(table, table.c.id == pending.c.row_id))
                .where(pending.c.column_name == column, table.c[column].is_(None))
            ).scalar_one()
            if unresolved:
                raise NotLoadable(f"{column}: unknown references")
        pending.drop(self.conn)


def _default(conn: sa.Connection, column: sa.Column[Any]) -> object:
    """The value the database would give `column` when a cell is empty (None if it has none)."""
    default = server_default(column)
    return None if default is None else conn.execute(sa.select(default)).scalar()
