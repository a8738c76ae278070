"""Which jobs still have a live process behind them, and sweeping up after those that do not.

A job is `running` (importing) or `rolling_back` only while some process works on it. Each job
records its worker (`host:pid`); on PostgreSQL the worker also holds an advisory lock on the
job for as long as it runs, which the server releases the moment the process or its connection
dies. A job whose worker is gone is swept: `running` becomes `failed` and `rolling_back`
becomes `rollback_failed`, both with the reason `interrupted`. The data is all or nothing by
construction (the worker's transaction died with it); the sweep only puts the history right.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from batchport import history
from batchport.database import Database
from batchport.reports import Job

#: The statuses that need a live worker, and what they become without one.
SWEPT = {"running": "failed", "rolling_back": "rollback_failed"}
INTERRUPTED = "interrupted"


def this_worker() -> str:
    """This process, as `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def working_on(db: Database, job_id: str) -> Iterator[None]:
    """Holds the job's liveness lock (where the database has one) while the block runs."""
    with db.connect() as conn:
        db.dialect.claim_job(conn, job_id)
        try:
            yield
        finally:
            db.dialect.release_job(conn, job_id)


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
                swept.append(job)
    return swept


def _alive(db: Database, conn: sa.Connection, job: Job) -> bool:
    if job.worker is None:
        return True  # not run by batchport (older or other software): not ours to judge
    held = db.dialect.job_claimed(conn, job.job_id)
    if held is not None:
        return held
    return process_alive(job.worker)


def process_alive(worker: str | None) -> bool:
    """Whether the worker process runs.

    A worker on another host cannot be checked from here and is presumed alive: the sweep
    never touches a job it cannot prove dead.
    """
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
