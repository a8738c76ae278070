"""References of an import type to itself (a parent code) on the direct path, resolved as the
rows go into their table, a chunk at a time.

A parent in the same chunk comes from the chunk; one written earlier in the file from the keys
the load has written (`Written`: on disk, so nothing of the file is kept in memory, where a
million keys would take more than 100 MB); one written by another batch, or by hand, from the
database; one later in the file, once the whole file is written, in SQL, from a temporary
table of the rows still waiting. The rows from which a cycle could start wait there too.

None of this needs the connection the rows are written on (the database is asked on the
connection ids are drawn on), so on PostgreSQL one COPY takes every row of the file, and the
server inserts rows while this process prepares the next ones.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from batchport.checks.cycles import ancestry, on_cycles
from batchport.checks.proof import NotLoadable, stored_ids
from batchport.declarations import ImportType
from batchport.dialects import Dialect


class OwnReferences:
    """Resolves one import type's references to itself as a batch's chunks are written."""

    def __init__(
        self, conn: sa.Connection, dialect: Dialect, import_type: ImportType, batch_id: str
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.import_type = import_type
        self.batch_id = batch_id
        table = import_type.table
        #: Rows whose parent was not yet written (`key` set), and rows whose parent comes
        #: later in their chunk (`key` empty). Ids grow in file order, so only through such
        #: rows can parents form a cycle: the check after the load starts from them.
        self.pending = sa.Table(
            "bp_pending_parents",
            sa.MetaData(),
            sa.Column("row_id", table.c.id.type, nullable=False),
            sa.Column("column_name", sa.String(), nullable=False),
            sa.Column("key", import_type.key_column.type),
            prefixes=["TEMPORARY"],
        )
        self.starts: Counter[str] = Counter()
        self.waiting: set[str] = set()
        self.written = Written()
        #: The rows waiting for the load's end (for `pending`), pickled a chunk at a time.
        self._waiting_rows = tempfile.TemporaryFile(prefix="batchport-parents-")  # noqa: SIM115 - closed by close()

    def ids(
        self, keys: Iterable[object], chunk: dict[object, int], lookups: sa.Connection
    ) -> dict[object, int]:
        """The id of each key of the chunk or written before (`chunk`: the chunk's keys), by
        this load (as `written` tells) or by anyone (as the database tells on `lookups`)."""
        missing = set(keys) - chunk.keys()
        missing.discard(None)
        if not missing:
            return chunk
        found = self.written.ids(missing)
        if rest := missing - found.keys():
            found.update(stored_ids(lookups, self.import_type, rest))
        return {**found, **chunk}

    def resolve(
        self,
        column: str,
        values: list[Any],
        ids: Sequence[int],
        chunk: dict[object, int],
        lookups: sa.Connection,
    ) -> list[Any]:
        """The ids `values` (parent keys) stand for where already known; None elsewhere."""
        found = list(map(self.ids(values, chunk, lookups).get, values))
        later = [
            i
            for i, (value, parent, row_id) in enumerate(zip(values, found, ids, strict=True))
            if value is not None and (parent is None or parent >= row_id)
        ]
        if not later:
            return found
        per_row = self.dialect.checks_references_per_row
        waiting: list[tuple[int, str, object]] = []
        for i in later:
            if found[i] is None or found[i] == ids[i] or per_row:
                # Later in the file, in the database, or the row itself: settled after the load
                # (so also a parent later in this chunk, where each row is checked as written).
                waiting.append((ids[i], column, values[i]))
                found[i] = None
                self.waiting.add(column)
            else:
                waiting.append((ids[i], column, None))
        pickle.dump(waiting, self._waiting_rows, protocol=pickle.HIGHEST_PROTOCOL)
        self.starts[column] += len(waiting)
        return found

    def finish(self, created: int) -> None:
        """Sets the parents that came later in the file; raises `NotLoadable` if one is
        nowhere or the parents form a cycle (`created`: rows the batch wrote). Runs once
        every row is written (and the bulk statement that wrote them has ended)."""
        if not self.starts:
            return
        self.pending.create(self.conn)
        columns = ["row_id", "column_name", "key"]
        self.dialect.copy_rows(self.conn, self.pending, columns, self._waited())
        for column in sorted(self.waiting):
            self._settle(column)
        for column, count in sorted(self.starts.items()):
            chains = self._chains(column, count, created)
            with on_cycles(self.conn, chains, self.import_type.table.c.id.type) as looped:
                if self.conn.execute(sa.select(looped.exists())).scalar_one():
                    raise NotLoadable("references form a cycle")
        self.pending.drop(self.conn)

    def _waited(self) -> Iterator[tuple[int, str, object]]:
        """The rows `resolve` set aside to wait, in order."""
        self._waiting_rows.seek(0)
        while True:
            try:
                yield from pickle.load(self._waiting_rows)  # noqa: S301 - written above
            except EOFError:
                return

    def close(self) -> None:
        self.written.close()
        self._waiting_rows.close()

    def _settle(self, column: str) -> None:
        """Points the waiting rows at their parents; raises `NotLoadable` if one is missing."""
        table = self.import_type.table
        pending = self.pending
        key = self.import_type.key_column
        parent = table.alias("parent")
        found = (
            sa.select(parent.c.id)
            .where(parent.c[key.name] == pending.c.key, parent.c.id != pending.c.row_id)
            .scalar_subquery()
        )
        waiting = sa.and_(pending.c.column_name == column, pending.c.key.is_not(None))
        self.conn.execute(
            table.update().where(table.c.id == pending.c.row_id, waiting).values({column: found})
        )
        unresolved = self.conn.execute(
            sa.select(sa.func.count())
            .select_from(pending.join(table, table.c.id == pending.c.row_id))
            .where(waiting, table.c[column].is_(None))
        ).scalar_one()
        if unresolved:
            raise NotLoadable(f"{column}: unknown references")

    def _chains(self, column: str, starts: int, created: int) -> sa.Select[Any]:
        """The (id, parent id) pairs of the batch's rows that chains from the waiting rows
        pass: when most rows start a chain, simply every row of the batch that has a parent
        (one scan instead of a recursive query that would reach nearly all of them anyway)."""
        table = self.import_type.table
        if starts * 2 >= created:
            return sa.select(table.c.id, table.c[column]).where(
                table.c.import_batch_id == self.batch_id, table.c[column].is_not(None)
            )
        return ancestry(
            table,
            column,
            sa.select(self.pending.c.row_id).where(self.pending.c.column_name == column),
            lambda rows: rows.c.import_batch_id == self.batch_id,
        )


class Written:
    """The keys a load has written, with their ids, in a private SQLite database on disk
    (deleted when closed): asking it costs no round trip to the server, and it holds no more
    memory than SQLite's page cache, however many rows the file has.

    Only text and whole numbers are kept, which SQLite compares as Python does; a key of any
    other kind is simply not found here (the database, or the end of the load, settles it).
    """

    #: Keys per query: well under SQLite's limit on bound parameters.
    BATCH = 500

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": private, deleted on close
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE written (key PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID"
        )

    def add(self, keys: Collection[object], ids: Iterable[int]) -> None:
        rows: Iterable[tuple[object, int]] = zip(keys, ids, strict=True)
        if not set(map(type, keys)) <= _KEPT:
            rows = [(key, id_) for key, id_ in rows if type(key) in _KEPT]
        # One transaction per chunk: SQLite would otherwise end one after every row.
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO written VALUES (?, ?)", rows)
        self._db.execute("COMMIT")

    def ids(self, keys: Iterable[object]) -> dict[object, int]:
        """The id of each of `keys` written so far."""
        wanted = [key for key in keys if type(key) in _KEPT]
        found: dict[object, int] = {}
        for start in range(0, len(wanted), self.BATCH):
            part = wanted[start : start + self.BATCH]
            marks = ", ".join("?" * len(part))
            query = f"SELECT key, id FROM written WHERE key IN ({marks})"
            found.update(self._db.execute(query, part))
        return found

    def close(self) -> None:
        self._db.close()


#: The kinds of key `Written` keeps.
_KEPT = frozenset({str, int})
