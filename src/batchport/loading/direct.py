"""The fast path: parsed rows go straight into the target tables, in bulk, as they stream in.

Ids are reserved from the database up front, so links and references are written in the same
pass; other types' keys come from one lookup each, the type's own (a parent) as `parents`
tells. Anything this path cannot prove valid on its own — a bad cell, an unknown key, a unique
or foreign-key violation, a cycle — raises `NotLoadable`; the caller rolls the transaction back
and lets the staged path (which finds and reports every error exactly) take over. A valid file
is thus written once, at bulk speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from itertools import chain, repeat
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from batchport.checks.proof import NotLoadable, key_ids
from batchport.columns.rows import Chunk
from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.loading.parents import OwnReferences
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
        self.own = (
            OwnReferences(conn, dialect, import_type, batch_id)
            if import_type.name in others
            else None
        )
        self.created = dict.fromkeys([table.name, *(ln.table.name for ln in import_type.links)], 0)
        self._open = ExitStack()
        self._ids = conn
        self._write: Callable[[Iterable[Sequence[object]]], None] | None = None
        self._links: list[Callable[[Iterable[Sequence[object]]], None]] = []

    def __enter__(self) -> DirectLoader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A failure cancels an open bulk statement rather than finishing it.
        try:
            self._open.__exit__(exc_type, exc, tb)
        finally:
            if self.own is not None:
                self.own.close()

    def _writer(self) -> Callable[[Iterable[Sequence[object]]], None]:
        """Writes rows of the type's table. Without links to write in between, one bulk
        statement stays open for the whole file (ids, and parents written before this load,
        then come over a second connection)."""
        if self._write is None:
            table = self.import_type.table
            if self.links:
                self._write = lambda rows: self.dialect.copy_rows(
                    self.conn, table, self.columns, rows
                )
                self._links = [
                    self._open.enter_context(
                        self.dialect.checked_rows(self.conn, link.table, _link_columns(link))
                    )
                    for _, link in self.links
                ]
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
        own: dict[object, int] = {}
        if self.own is not None:
            keys = chunk.columns[self.key_index]
            own = dict(zip(keys, ids, strict=True))
        for (position, target), reference in zip(
            self.references, self.import_type.references, strict=True
        ):
            values = chunk.columns[position]
            if target == self.import_type.name:
                assert self.own is not None
                columns.append(self.own.resolve(reference.column, values, ids, own, self._ids))
            else:
                columns.append(self._resolve(target, values))
        columns.append(repeat(self.batch_id, len(chunk)))
        write(zip(*columns, strict=True))
        if self.own is not None:
            self.own.written.add(own.keys(), own.values())
        self.created[table.name] += len(chunk)
        for (position, link), write_links in zip(self.links, self._links, strict=True):
            rows = self._link_rows(link, ids, chunk.columns[position], own)
            write_links(rows)
            self.created[link.table.name] += len(rows)

    def _link_rows(
        self, link: Link, ids: Sequence[int], cells: list[object], own: dict[object, int]
    ) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        if link.to == self.import_type.name:
            assert self.own is not None
            named = chain.from_iterable(c for c in cells if type(c) is tuple)
            targets = self.own.ids(named, own, self._ids)
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
        """Resolves references to rows written later; returns rows created per table."""
        self._open.close()
        if self.own is not None:
            self.own.finish(self.created[self.import_type.table.name])
        return self.created

    def _resolve(self, target: str, values: list[Any]) -> list[Any]:
        """The ids `values` (keys of another type) stand for; None where a cell is empty."""
        known = self.keys[target]
        found: list[Any] = [None if value is None else known.get(value) for value in values]
        if found.count(None) != values.count(None):
            raise NotLoadable(f"unknown {target} key")
        return found


def _link_columns(link: Link) -> list[str]:
    """The columns of a link row the direct path writes, in `_link_rows`' order."""
    flag = [link.primary_flag] if link.primary_flag else []
    return [link.owner_column, link.target_column, *flag, "import_batch_id"]


def _default(conn: sa.Connection, column: sa.Column[Any]) -> object:
    """The value the database would give `column` when a cell is empty (None if it has none)."""
    default = server_default(column)
    return None if default is None else conn.execute(sa.select(default)).scalar()
