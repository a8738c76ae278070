"""The keys of the rows a direct load has written, with their ids, and the rows still waiting
for a parent: what finding parents in the file needs, kept compact.

A Python dict of a million text keys takes about 140 MB (an object per key and per id); a
private in-memory SQLite database holds the same pairs in about 25 MB, and looks up a chunk's
keys at C speed. Keys of a type SQLite does not store (dates, decimals...) are kept pickled:
an equal key pickled otherwise is merely not found here, and is then looked for in SQL.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

#: Types of keys SQLite stores as they are (and compares as Python does).
_STORED = {str, int, float}
#: Keys looked up per query (under the oldest SQLite's bound of 999 parameters).
LOOKUP_BATCH = 500


class KeyMap:
    """Keys with their row ids, and rows waiting for the end of the file."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.execute("create table written (key primary key, id integer not null) without rowid")
        self.db.execute("create table waiting (row_id integer, column_name text, key)")
        self._lookups: dict[int, str] = {}

    def close(self) -> None:
        self.db.close()

    def add(self, keys: Sequence[object], ids: Iterable[int]) -> None:
        """Notes the rows written; a key met again is left to the unique constraint."""
        pairs: Iterable[tuple[object, int]] = zip(keys, ids, strict=True)
        if not set(map(type, keys)) <= _STORED:  # pickled; an empty key (refused later) left out
            pairs = [(_token(key), row_id) for key, row_id in pairs if key is not None]
        self.db.executemany("insert or replace into written values (?, ?)", pairs)

    def ids(self, keys: Iterable[object]) -> dict[object, int]:
        """The id of each of `keys` written so far."""
        wanted = {_token(key): key for key in keys if key is not None}
        tokens = list(wanted)
        found: dict[object, int] = {}
        for start in range(0, len(tokens), LOOKUP_BATCH):
            batch = tokens[start : start + LOOKUP_BATCH]
            for token, row_id in self.db.execute(self._lookup(len(batch)), batch):
                found[wanted[token]] = row_id
        return found

    def _lookup(self, count: int) -> str:
        if (query := self._lookups.get(count)) is None:
            marks = ", ".join("?" * count)
            query = f"select key, id from written where key in ({marks})"
            self._lookups[count] = query
        return query

    def hold(self, rows: Sequence[tuple[int, str, object]]) -> None:
        """Keeps rows (id, column, parent key or None) until the file is written."""
        self.db.executemany(
            "insert into waiting values (?, ?, ?)",
            ((row_id, column, _token(key)) for row_id, column, key in rows),
        )

    def held(self) -> Iterator[tuple[int, str, object]]:
        """The rows `hold` kept, with their keys as they were given."""
        for row_id, column, token in self.db.execute("select * from waiting"):
            yield row_id, column, _key(token)


def _token(key: object) -> object:
    if key is None or type(key) in _STORED:
        return key
    return pickle.dumps(key)


def _key(token: object) -> object:
    if type(token) is bytes:
        return pickle.loads(token)  # noqa: S301 - pickled by `_token` in this process
    return token
