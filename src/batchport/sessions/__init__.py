"""Import sessions: an uploaded file, kept in the database with its options and owner, that a
worker validates and, once committed by its owner, imports as a job.

    record.py   Session: the typed record the use cases return
    storage.py  the table: create, read, save, expire, the file and its errors
    states.py   the state machine: every move a conditional UPDATE from the state it expects
    progress.py ProgressWriter: the worker's count of rows read, written from a thread of its own

    uploaded -> validating -> valid | invalid | failed
    valid -> queued -> committing -> committed | failed
    (uncommitted, past its lifetime) -> deleted

The worker that moves sessions along is a use case (`commands.steps`), run by
the service's background thread (`service/worker.py`).
"""

from __future__ import annotations

from batchport.sessions.record import FINAL, Session

__all__ = ["FINAL", "Session"]
