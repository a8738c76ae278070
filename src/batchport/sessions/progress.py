"""A session's progress, written from a thread of its own while the worker validates or
imports its file, so that the work never waits for its own progress.

It would otherwise: on SQLite, a validation that checks its rows in a write transaction (rows
that may update existing ones, a workbook's sheets) holds the one write lock, and a progress
write from the same thread would wait for that lock until the busy timeout ran out.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from types import TracebackType

import sqlalchemy as sa

from batchport.database import Database
from batchport.sessions import storage


class ProgressWriter:
    """Writes the newest count of rows read to the session, at most once every `every`
    seconds, until it is closed (leaving it as a `with` block closes it): once it is, no
    write of it can land after the session's outcome. A count that cannot be written is left
    out; the next one may be."""

    def __init__(self, db: Database, session_id: str, *, every: float) -> None:
        self._db, self._session_id, self._every = db, session_id, every
        self._rows: int | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._write, name="progress", daemon=True)
        self._thread.start()

    def __call__(self, _phase: str, rows: int) -> None:
        with self._changed:
            self._rows = rows
            self._changed.notify()

    def close(self) -> None:
        """Stops writing, once a write under way has ended."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def __enter__(self) -> ProgressWriter:
        return self

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self) -> None:
        while True:
            with self._changed:
                while self._rows is None and not self._closed:
                    self._changed.wait()
                if self._closed:  # the outcome is written next, with the final count
                    return
                rows, self._rows = self._rows, None
            # Progress is a courtesy: if it cannot be written, the work goes on regardless.
            with suppress(sa.exc.SQLAlchemyError):
                storage.save(self._db, self._session_id, rows_read=rows)
            rested = time.monotonic() + self._every
            with self._changed:
                while not self._closed and (left := rested - time.monotonic()) > 0:
                    self._changed.wait(left)
