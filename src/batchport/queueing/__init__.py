"""The work queue: where a session's next step (its validation, its import) waits for a
worker (the workers themselves are `batchport.workers`).

    enqueue(conn, ...)  in the transaction that makes a session wait: the step and the wait
                        commit together, or neither does
    enqueue_rollback    likewise, for a rollback asked for through the API
    postgresql.py       procrastinate's queue: API servers defer, workers on any host take

On PostgreSQL the queue is procrastinate's (`FOR UPDATE SKIP LOCKED`, LISTEN/NOTIFY, worker
heartbeats): `batchport worker` processes on any number of hosts take the steps, and
`batchport serve` runs one in its own process unless told `--no-worker`. On SQLite, one
machine's database, the sessions table is the queue itself, read oldest first by the
server's in-process worker (`service/worker.py`), and so is `rollback_requests` for
rollbacks; `enqueue` has nothing to add there.
"""

from __future__ import annotations

import sqlalchemy as sa


def uses_job_queue(dialect_name: str) -> bool:
    """Whether steps wait in the job queue (PostgreSQL), rather than in the sessions table
    for an in-process worker (SQLite)."""
    return dialect_name == "postgresql"


def enqueue(conn: sa.Connection, session_id: str, owner: str) -> None:
    """The session's next step waits for a worker, in the caller's transaction."""
    if uses_job_queue(conn.dialect.name):
        from batchport.queueing import postgresql  # noqa: PLC0415 - procrastinate, when used

        postgresql.defer(conn, session_id, owner)


def enqueue_rollback(conn: sa.Connection, request_id: str, owner: str) -> None:
    """The rollback request waits for a worker, in the caller's transaction (on SQLite, in
    the `rollback_requests` table itself)."""
    if uses_job_queue(conn.dialect.name):
        from batchport.queueing import postgresql  # noqa: PLC0415 - procrastinate, when used

        postgresql.defer_rollback(conn, request_id, owner)
