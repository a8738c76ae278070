"""References of an import type to itself (a parent code) on the direct path, resolved as the
rows go into their table, a chunk at a time.

A parent in the same chunk comes from the chunk; one written before (earlier in the file, or
by another batch) from the database, which holds every chunk written so far (so nothing of
the file is kept in memory: a million keys would take more than 100 MB); one later in the
file, once the whole file is written, in SQL, from a temporary table of the rows still
waiting. The rows from which a cycle could start wait there too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
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

    def ids(self, keys: Iterable[object], chunk: dict[object, int]) -> dict[object, int]:
        """The id of each key of the chunk or written before (`chunk`: the chunk's keys)."""
        missing = set(keys) - chunk.keys()
        missing.discard(None)
        if not missing:
            return chunk
        return {**stored_ids(self.conn, self.import_type, missing), **chunk}

    def resolve(
        self, column: str, values: list[Any], ids: Sequence[int], chunk: dict[object, int]
    ) -> list[Any]:
        """The ids `values` (parent keys) stand for where already known; None elsewhere."""
        found = list(map(self.ids(values, chunk).get, values))
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
        if not self.starts:
            self.pending.create(self.conn)
        columns = ["row_id", "column_name", "key"]
        self.dialect.copy_rows(self.conn, self.pending, columns, waiting)
        self.starts[column] += len(waiting)
        return found

    def finish(self, created: int) -> None:
        """Sets the parents that came later in the file; raises `NotLoadable` if one is
        nowhere or the parents form a cycle (`created`: rows the batch wrote)."""
        if not self.starts:
            return
        for column in sorted(self.waiting):
            self._settle(column)
        for column, count in sorted(self.starts.items()):
            chains = self._chains(column, count, created)
            with on_cycles(self.conn, chains, self.import_type.table.c.id.type) as looped:
                if self.conn.execute(sa.select(looped.exists())).scalar_one():
                    raise NotLoadable("references form a cycle")
        self.pending.drop(self.conn)

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
