"""The session's state machine. Every move is a conditional UPDATE from the state it expects,
so that any number of server processes can share the work and a session is never processed
twice. A worker that dies mid-step leaves its claim behind: `validating` goes back to
`uploaded` when its process is gone, and `committing` follows its import job, which the sweep
marks `failed: interrupted` (or goes back to `queued`, if its job never began).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from batchport import history, queueing
from batchport.database import Database
from batchport.errors import SessionConflict
from batchport.liveness import sweep, worker_alive
from batchport.process import this_worker
from batchport.schema import import_sessions
from batchport.sessions import storage
from batchport.sessions.record import Session
from batchport.vocabulary import JobStatus, SessionStatus

#: The worker's steps, in the order it looks for them: (waiting, working).
STEPS = (
    (SessionStatus.uploaded, SessionStatus.validating),
    (SessionStatus.queued, SessionStatus.committing),
)


def _move(conn: sa.Connection, session_id: str, expected: SessionStatus, **values: object) -> bool:
    """Moves the session from `expected` (only from it); whether it moved."""
    moved = conn.execute(
        import_sessions.update()
        .where(import_sessions.c.id == session_id, import_sessions.c.status == expected)
        .values(**values, updated_at=history.now())
    )
    return bool(moved.rowcount)


def queue(conn: sa.Connection, session_id: str) -> Session:
    """Queues a `valid` session's import, in the caller's transaction; returns the session
    with its job id. Queuing again (also concurrently) gives the same job: only one UPDATE
    moves it from `valid`, and that one defers the import to the job queue. Its progress
    starts again: no row of the import is read yet."""
    moved = _move(
        conn,
        session_id,
        SessionStatus.valid,
        status=SessionStatus.queued,
        job_id=str(uuid.uuid4()),
        rows_read=0,
    )
    found = storage.read(conn, session_id)
    if moved:
        queueing.enqueue(conn, session_id, found.owner)
    if found.job_id is None:
        raise SessionConflict(
            f"import session {session_id} is {found.status}; only a valid session can be committed"
        )
    return found


def claim(db: Database, waiting: SessionStatus, working: SessionStatus) -> str | None:
    """Claims the oldest session `waiting` for this process (moving it to `working`); its
    id, or None when none waits."""
    with db.connect() as conn:
        candidates = (
            conn.execute(
                sa.select(import_sessions.c.id)
                .where(import_sessions.c.status == waiting)
                .order_by(import_sessions.c.created_at)
                .limit(5)
            )
            .scalars()
            .all()
        )
        conn.rollback()
        for session_id in candidates:
            with conn.begin():
                if _move(conn, session_id, waiting, status=working, worker=this_worker()):
                    return str(session_id)
    return None


def claim_session(
    db: Database, session_id: str, waiting: SessionStatus, working: SessionStatus
) -> bool:
    """Claims the session for this process if it is `waiting` (moving it to `working`)."""
    with db.connect() as conn, conn.begin():
        return _move(conn, session_id, waiting, status=working, worker=this_worker())


def worker_of(conn: sa.Connection, session_id: str) -> tuple[SessionStatus, str | None] | None:
    """The session's status and the worker that claimed it last (None if there is none)."""
    row = conn.execute(
        sa.select(import_sessions.c.status, import_sessions.c.worker).where(
            import_sessions.c.id == session_id
        )
    ).first()
    return None if row is None else (SessionStatus(row[0]), row[1])


def recover(db: Database) -> None:
    """Puts right what dead workers left: a validation goes back in the queue; a commit takes
    the outcome of its job (which the sweep has marked failed if its worker died)."""
    with db.connect() as conn:
        stuck = conn.execute(
            sa.select(
                import_sessions.c.id,
                import_sessions.c.status,
                import_sessions.c.worker,
                import_sessions.c.owner,
            ).where(
                import_sessions.c.status.in_((SessionStatus.validating, SessionStatus.committing))
            )
        ).all()
        conn.rollback()
        dead = [row for row in stuck if not worker_alive(db, conn, row.worker)]
        conn.rollback()
        if any(row.status == SessionStatus.committing for row in dead):
            sweep(db)  # the dead worker's import job: `failed: interrupted`
        for session_id, status, _, owner in dead:
            with conn.begin():
                if status != SessionStatus.validating:
                    _settle(conn, session_id, owner)
                elif _move(conn, session_id, status, status=SessionStatus.uploaded, worker=None):
                    queueing.enqueue(conn, session_id, owner)  # validated again


def _settle(conn: sa.Connection, session_id: str, owner: str) -> None:
    """A `committing` session whose worker died takes its job's outcome, once it has one; one
    whose import never began is queued again, for another worker (should the dead worker
    come back to it after all, the job's id lets only one of the two begin)."""
    job = storage.job_of(conn, session_id)
    if job is None:
        moved = _move(conn, session_id, SessionStatus.committing, status=SessionStatus.queued)
        if moved:
            queueing.enqueue(conn, session_id, owner)
        return
    if job.status == JobStatus.running:
        return  # the sweep decides first
    done = job.status == JobStatus.completed
    _move(
        conn,
        session_id,
        SessionStatus.committing,
        status=SessionStatus.committed if done else SessionStatus.failed,
        message=f"batch {job.batch_id}" if done else "interrupted",
    )
