"""procrastinate's queue, as batchport uses it: two tasks, `batchport.advance_session`, that
takes a session one step on (validates it if uploaded, imports it if queued), and
`batchport.rollback_batch`, that runs a rollback asked for through the API.

A job is deferred in the transaction that makes its session wait (on that transaction's own
connection), so a session never waits without a job, nor a job for a session that never
committed. Every step is safe to run twice: the session moves only from the state it
expects (`sessions.states`), so a job delivered again, or retried after its worker stalled,
finds nothing to do.

Fairness: each job carries a lock of its account's (`lock`), and procrastinate runs the jobs
of one lock one at a time, in the order they were deferred. An account thus has at most
`jobs_per_account()` steps running at once (its jobs spread over that many locks, in turn),
first in, first out, however many another account queues.
"""

from __future__ import annotations

import os
from functools import cache

import procrastinate
import sqlalchemy as sa
from procrastinate.exceptions import AlreadyEnqueued

from batchport.schema import import_sessions

#: The queue batchport's steps wait in (an application's own jobs keep theirs).
QUEUE = "batchport"
#: The task that takes a session one step on.
ADVANCE = "batchport.advance_session"
#: The task that runs a rollback request.
ROLLBACK = "batchport.rollback_batch"
#: The queueing lock of a rollback request's job, less the request's id.
ROLLBACK_LOCK = "batchport-rollback:"


def jobs_per_account() -> int:
    """How many steps of one account may run at once: `$BATCHPORT_JOBS_PER_ACCOUNT`, else 1
    (which keeps each account's steps strictly in order)."""
    text = os.environ.get("BATCHPORT_JOBS_PER_ACCOUNT", "")
    return int(text) if text.isdigit() and int(text) > 0 else 1


@cache
def _deferring() -> procrastinate.App:
    """An app that only defers, on connections it is handed (it never opens its own)."""
    return procrastinate.App(connector=procrastinate.SyncPsycopgConnector())


def defer(conn: sa.Connection, session_id: str, owner: str) -> None:
    """Defers the session's next step in the caller's transaction; nothing if a job of the
    session waits already."""
    lanes = jobs_per_account()
    lane = 0
    if lanes > 1:  # the account's sessions take its locks in turn, in the order they came
        sessions = import_sessions.c
        came = sa.select(sessions.created_at).where(sessions.id == session_id).scalar_subquery()
        lane = (
            conn.execute(
                sa.select(sa.func.count()).where(
                    sessions.owner == owner, sessions.created_at <= came
                )
            ).scalar_one()
            % lanes
        )
    driver = conn.connection.driver_connection
    job = _deferring().configure_task(
        ADVANCE,
        queue=QUEUE,
        lock=_account_lock(owner, lane),
        queueing_lock=_queueing_lock(session_id),
        connection=driver,
    )
    try:
        with conn.begin_nested():
            job.defer(session_id=session_id)
    except AlreadyEnqueued:
        pass


def defer_rollback(conn: sa.Connection, request_id: str, owner: str) -> None:
    """Defers the rollback request in the caller's transaction, behind the account's steps
    (in its first lane)."""
    job = _deferring().configure_task(
        ROLLBACK,
        queue=QUEUE,
        lock=_account_lock(owner, 0),
        queueing_lock=f"{ROLLBACK_LOCK}{request_id}",
        connection=conn.connection.driver_connection,
    )
    with conn.begin_nested():
        job.defer(request_id=request_id)


def _account_lock(owner: str, lane: int) -> str:
    return f"batchport-account:{owner}:{lane}"


def _queueing_lock(session_id: str) -> str:
    return f"batchport-session:{session_id}"


_WITHOUT_JOB = """
SELECT s.id, s.owner FROM import_sessions AS s
WHERE s.status IN ('uploaded', 'queued') AND NOT EXISTS (
    SELECT FROM procrastinate_jobs AS j
    WHERE j.queueing_lock = %(prefix)s || s.id AND j.status IN ('todo', 'doing'))
ORDER BY s.created_at
"""


_REQUEST_WITHOUT_JOB = """
SELECT r.id, r.owner FROM rollback_requests AS r
WHERE r.status = 'queued' AND NOT EXISTS (
    SELECT FROM procrastinate_jobs AS j
    WHERE j.queueing_lock = %(prefix)s || r.id AND j.status IN ('todo', 'doing'))
ORDER BY r.created_at
"""


def requeue_orphans(conn: sa.Connection) -> int:
    """Defers a step for each waiting session, and a rollback for each queued request, that
    has no job (one that came before the queue did, or whose job someone deleted); how many.
    In the caller's transaction."""
    count = 0
    for query, prefix, again in (
        (_WITHOUT_JOB, _queueing_lock(""), defer),
        (_REQUEST_WITHOUT_JOB, ROLLBACK_LOCK, defer_rollback),
    ):
        orphans = conn.exec_driver_sql(query, {"prefix": prefix}).all()
        for waiting_id, owner in orphans:
            again(conn, waiting_id, owner)
            count += 1
    return count
