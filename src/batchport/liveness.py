"""Which jobs still have a live process behind them, and sweeping up after those that do not.

A job is `running` (importing) or `rolling_back` only while some process works on it. Each job
records its worker (`host:pid`); on PostgreSQL the worker also holds an advisory lock on the
job for as long as it runs, and names every session it opens after itself. A job whose claim
is free and whose worker has no session left (on SQLite: whose process is gone) is swept:
`running` becomes `failed` and `rolling_back` becomes `rollback_failed`, both with the reason
`interrupted`. The data is all or nothing by construction (the worker's transaction died with
it); the sweep only puts the history right.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from batchport import audit, history
from batchport.database import Database
from batchport.errors import DatabaseError, first_line
from batchport.process import host_and_pid, this_worker
from batchport.reports import Job

#: The statuses that need a live worker, and what they become without one.
SWEPT = {"running": "failed", "rolling_back": "rollback_failed"}
INTERRUPTED = "interrupted"

#: The jobs this process is working on now, with how many of its threads are at each (two
#: rollbacks of one batch may start at once; one is refused while the other goes on): of its
#: own jobs, the sweep needs no database to tell which still have a worker.
_working: Counter[str] = Counter()
_working_lock = threading.Lock()


@contextmanager
def working_on(db: Database, job_id: str) -> Iterator[None]:
    """Holds the job's liveness lock (where the database has one) while the block runs.

    Letting go never fails the block: a claim whose session was lost is gone already.
    """
    with _working_lock:
        _working[job_id] += 1
    try:
        with db.connect() as conn:
            try:
                db.dialect.claim_job(conn, job_id)
            except sa.exc.DBAPIError as exc:
                conn.invalidate()
                raise DatabaseError(
                    f"cannot claim job {job_id}: {first_line(exc.orig or exc)}"
                ) from exc
            try:
                yield
            finally:
                try:
                    db.dialect.release_job(conn, job_id)
                except sa.exc.SQLAlchemyError:
                    conn.invalidate()
    finally:
        with _working_lock:
            _working[job_id] -= 1
            if not _working[job_id]:
                del _working[job_id]


def sweep(db: Database) -> list[Job]:
    """Marks every job whose worker is gone as interrupted; returns those jobs as they were."""
    swept: list[Job] = []
    with db.connect() as conn:
        candidates = history.list_jobs_in(conn, tuple(SWEPT))
        conn.rollback()
        for candidate in candidates:
            # Checked first without the write lock, so that a sweep never waits for live work.
            alive = _alive(db, conn, candidate)
            conn.rollback()
            if alive:
                continue
            with db.dialect.begin_write(conn):
                job = history.find_job(conn, candidate.job_id, dialect=db.dialect)
                if job.status not in SWEPT or _alive(db, conn, job):
                    continue
                history.mark_interrupted(conn, job, SWEPT[job.status], INTERRUPTED)
                importing = job.status == "running"
                audit.write(
                    conn,
                    actor=job.imported_by if importing else job.rolled_back_by,
                    via=job.imported_via if importing else job.rolled_back_via,
                    action="import" if importing else "rollback",
                    outcome=INTERRUPTED,
                    batch_id=job.batch_id,
                    file_sha256=job.file_sha256 if importing else None,
                    detail=f"its worker {job.worker} is gone; swept by {this_worker()}",
                )
                swept.append(job)
    return swept


def _alive(db: Database, conn: sa.Connection, job: Job) -> bool:
    """Whether the job's worker may still be working on it.

    The claim's session can end while its process lives (the server ended it, the network
    dropped it): a free claim proves nothing while the worker still has a session open, and
    a worker that has none has no transaction left that could commit.
    """
    if job.worker is None:
        return True  # not run by batchport (older or other software): not ours to judge
    if job.worker == this_worker():
        with _working_lock:
            return job.job_id in _working
    if db.dialect.job_claimed(conn, job.job_id):
        return True
    connected = db.dialect.worker_connected(conn, job.worker)
    if connected is not None:
        return connected
    return process_alive(job.worker)


def process_alive(worker: str | None) -> bool:
    """Whether the worker process runs.

    A worker on another host cannot be checked from here and is presumed alive: the sweep
    never touches a job it cannot prove dead.
    """
    host, pid = host_and_pid(worker or "")
    if host != socket.gethostname() or pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
