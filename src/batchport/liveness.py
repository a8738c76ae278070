"""Which jobs still have a live process behind them, and sweeping up after those that do not.

A job is `running` (importing) or `rolling_back` only while some process works on it. Each job
records its worker (`host:pid:nonce`), which beats in `import_workers` while it works
(`batchport.heartbeat`); on PostgreSQL the worker also holds an advisory lock on the job for
as long as it runs, and names every session it opens after itself. A worker is dead when:

- it stopped beating for longer than its timeout, on any host (on PostgreSQL its sessions,
  left open by a host that vanished, are ended first, so that nothing of it can commit);
- on PostgreSQL, its job's claim is free and it has no session left;
- on SQLite, its process is gone from this host.

Its job is then swept: `running` becomes `failed` and `rolling_back` becomes
`rollback_failed`, both with the reason `interrupted`. The data is all or nothing by
construction (the worker's transaction died with it); the sweep only puts the history right.
A worker that is slow, or paused, is never swept: it goes on beating, and holds its claim.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from batchport import audit, heartbeat, history
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
        with heartbeat.beating(db), db.connect() as conn:
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
    """Whether the job's worker may still be working on it."""
    if job.worker == this_worker():
        with _working_lock:
            return job.job_id in _working
    return worker_alive(db, conn, job.worker, job.job_id)


def worker_alive(
    db: Database, conn: sa.Connection, worker: str | None, job_id: str | None = None
) -> bool:
    """Whether the worker (at work on `job_id`, if given) may still be working.

    A process of this host that is gone is dead at once. Otherwise beats decide: stopped
    beats mean dead (on PostgreSQL once the sessions it left open are ended, so that none
    can commit); fresh ones mean alive, also between two of its transactions. Without beats
    (older software, or a worker that left cleanly), PostgreSQL still knows: a held claim is
    a live worker (losing the claim's session alone proves nothing while the worker has
    another), a worker with no session left has no transaction that could commit.
    """
    if worker is None or worker == this_worker():
        return True  # None: not run by batchport (older or other software), not ours to judge
    host, pid = host_and_pid(worker)
    here = host == socket.gethostname() and pid is not None
    if here and pid is not None and not _pid_runs(pid):
        return False
    beat = heartbeat.last_beat(conn, worker)
    if not db.dialect.knows_sessions:  # SQLite: its process (it runs), or its beats
        return here or beat is None or not beat.stopped
    if beat is not None and beat.stopped:
        return not db.dialect.end_sessions(conn, worker)
    if job_id is not None and db.dialect.job_claimed(conn, job_id):
        return True
    return beat is not None or bool(db.dialect.worker_connected(conn, worker))


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
