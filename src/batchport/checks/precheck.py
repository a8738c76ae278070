"""The dry run's fast path: proves a file valid without writing, with set operations per chunk.

Keys are checked against the rest of the file (a set of the keys seen) and against the
database (one query per chunk); references against the keys of their target type. Anything
this cannot prove valid raises `NotLoadable`, and the staged path reports every error exactly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from itertools import chain
from typing import Any

import sqlalchemy as sa

from batchport.checks.cycles import has_loop
from batchport.checks.proof import NotLoadable, key_ids
from batchport.columns.rows import Chunk
from batchport.declarations import Catalog, ImportType
from batchport.dialects import Dialect

#: Keys looked up in the database per query.
LOOKUP_BATCH = 10_000
#: A table holding at most this many keys has them all read once, into a set, instead of
#: being asked about each chunk's keys (the common case: a first load into an empty table).
READ_ALL_KEYS = 100_000


#: What the checks need of a chunk, as plain values (quick to hand between processes): its
#: number of rows, its keys, per reference of the type the values its rows name, and per link
#: the keys its rows name and how many links they make.
Brief = tuple[int, list[Any], list[list[Any]], list[tuple[set[Any], int]]]


def brief(import_type: ImportType, chunk: Chunk) -> Brief:
    """What the checks need of `chunk`: see `Brief`."""
    index = {f.name: i for i, f in enumerate(import_type.fields)}
    keys = chunk.columns[index[import_type.key]]
    references = [chunk.columns[index[r.field]] for r in import_type.references]
    links = []
    for link in import_type.links:
        cells = (c for c in chunk.columns[index[link.field]] if isinstance(c, tuple))
        linked = list(chain.from_iterable(cells))
        links.append((set(linked), len(linked)))
    return len(chunk), keys, references, links


class Precheck:
    """Checks chunks of parsed rows of one import type; counts the rows an import would create.

    With `written`, the batch whose rows of the file the transaction has written: their keys
    count as seen in the file, and only the other rows' keys as stored in the database. Those
    keys are read back from the database, unless `written_keys` gives them (a list a chunk).
    """

    def __init__(
        self,
        conn: sa.Connection,
        dialect: Dialect,
        catalog: Catalog,
        import_type: ImportType,
        *,
        written: str | None = None,
        written_keys: Iterable[list[Any]] | None = None,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.import_type = import_type
        own = import_type.name
        others = {r.to for r in import_type.references} | {link.to for link in import_type.links}
        self.targets = {name: set(key_ids(conn, catalog[name])) for name in others - {own}}
        keys = sa.select(import_type.key_column)
        self.seen: set[Any] = set()
        if written is not None:
            batch = import_type.table.c.import_batch_id
            if written_keys is None:
                self.seen.update(conn.execute(keys.where(batch == written)).scalars())
            for chunk_keys in written_keys or ():
                self.seen.update(chunk_keys)
            keys = keys.where(sa.or_(batch != written, batch.is_(None)))
        stored = conn.execute(keys.limit(READ_ALL_KEYS + 1)).scalars().all()
        #: Every key of this type in the database, when there are few enough to hold.
        self.stored: set[Any] | None = set(stored) if len(stored) <= READ_ALL_KEYS else None
        #: Keys of this same type that rows refer to: settled once the whole file is read.
        self.forward: set[Any] = set()
        #: Per reference of this type to itself, each row's key and its parent's key, to find
        #: cycles: one key to one key (a list per key would double what 1M rows hold).
        self.parents: dict[int, dict[Any, Any]] = {
            i: {} for i, r in enumerate(import_type.references) if r.to == own
        }
        self.counts = dict.fromkeys(
            [import_type.table.name, *(link.table.name for link in import_type.links)], 0
        )

    def check(self, chunk: Brief) -> None:
        """Raises `NotLoadable` if the chunk (what the checks need of it: `brief`) cannot be
        shown valid; counts its rows."""
        rows, keys, references, links = chunk
        before = len(self.seen)
        self.seen.update(keys)
        if None in self.seen or len(self.seen) - before != rows:
            raise NotLoadable("a key is missing or repeated")
        if self._in_database(keys):
            raise NotLoadable("a key is already in the database")
        for i, (reference, values) in enumerate(
            zip(self.import_type.references, references, strict=True)
        ):
            self._check_targets(reference.to, {k for k in values if k is not None})
            if i in self.parents:
                parents = zip(keys, values, strict=True)
                self.parents[i].update(kp for kp in parents if kp[1] is not None)
        self.counts[self.import_type.table.name] += rows
        for link, (linked, count) in zip(self.import_type.links, links, strict=True):
            self._check_targets(link.to, linked)
            self.counts[link.table.name] += count

    def finish(self) -> dict[str, int]:
        """Checks what needed the whole file; returns the rows an import would create."""
        missing = self.forward - self.seen
        if missing and len(self._in_database(missing)) != len(missing):
            raise NotLoadable("a key is neither in the file nor in the database")
        if any(map(has_loop, self.parents.values())):
            raise NotLoadable("references form a cycle")
        return self.counts

    def _in_database(self, keys: Collection[Any]) -> set[Any]:
        """Which of `keys` (none repeated) the database holds."""
        if self.stored is not None:
            return self.stored.intersection(keys)
        pending = list(keys)
        found: set[Any] = set()
        for start in range(0, len(pending), LOOKUP_BATCH):
            batch = pending[start : start + LOOKUP_BATCH]
            found |= self.dialect.existing(self.conn, self.import_type.key_column, batch)
        return found

    def _check_targets(self, target: str, keys: set[Any]) -> None:
        if target == self.import_type.name:
            self.forward |= keys
        elif not keys <= self.targets[target]:
            raise NotLoadable(f"unknown {target} key")
