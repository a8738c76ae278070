"""Liveness by heartbeat: a job's worker that stopped beating for longer than its timeout is
swept on any host; one that is merely slow, or paused, is never swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from batchport import JobFilter, commands, list_history, recover
from batchport.dialects.postgresql import application_name
from batchport.errors import BatchportError, FileRejected, RowError
from batchport.reports import ImportReport
from batchport.schema import import_sessions, import_workers
from batchport.sources import Limits
from tests.helpers import tables

TIMEOUT = 60
#: The heartbeat timeout the imports started here state (seconds).
BEAT_TIMEOUT = 1.0


def add_job(db, worker: str, status: str = "running") -> str:
    job_id = str(uuid.uuid4())
    with db.connect() as conn, conn.begin():
        conn.exec_driver_sql(
            "insert into import_history (job_id, batch_id, import_type, status, worker) "
            f"values ('{job_id}', '{job_id}', 'departments', '{status}', '{worker}')"
        )
    return job_id


def add_beat(db, worker: str, *, age: float, timeout: float = 30.0) -> None:
    """A worker row whose last beat was `age` seconds ago by the database's clock."""
    if db.dialect.name == "postgresql":
        beat = sa.text(f"clock_timestamp() - interval '{age} seconds'")
    else:
        beat = sa.text(f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-{age} seconds')")
    with db.connect() as conn, conn.begin():
        conn.execute(
            import_workers.insert().values(
                name=worker, started_at=beat, beat_at=beat, timeout_seconds=timeout
            )
        )


def status_of(db, job_id: str) -> tuple[str, str | None]:
    [job] = [j for j in list_history(db) if j.job_id == job_id]
    return job.status, job.error_summary


def test_a_worker_on_another_host_that_stopped_beating_is_swept(db):
    """Before heartbeats, SQLite presumed another host's worker alive forever; now its beats
    decide, by the worker's own timeout and the database's clock."""
    silent = add_job(db, "far-host:4242:0badcafe")
    add_beat(db, "far-host:4242:0badcafe", age=31, timeout=30)
    beating = add_job(db, "near-host:4343:0goodbee", status="rolling_back")
    add_beat(db, "near-host:4343:0goodbee", age=5, timeout=30)
    swept = [job.job_id for job in recover(db)]
    assert swept == [silent]
    assert status_of(db, silent) == ("failed", "interrupted")
    assert status_of(db, beating) == ("rolling_back", None)


def test_a_vanished_host_with_its_sessions_open_is_swept(db, database_url, rows):
    """PostgreSQL: a host that vanished leaves its sessions open (with its claim and an
    uncommitted write) until TCP gives up, hours later. Once its beats are older than its
    timeout, the sweep ends those sessions, so the write can never commit, then sweeps."""
    if db.dialect.name != "postgresql":
        pytest.skip("sessions of a worker: PostgreSQL's")
    worker = "vanished-host:77:deadbeef"
    job_id = add_job(db, worker)
    raw = database_url.replace("postgresql+psycopg", "postgresql")
    lingering = psycopg.connect(raw, application_name=application_name(worker))
    lingering.execute(
        "select pg_advisory_lock(hashtextextended('batchport-job:' || %s, 0))", (job_id,)
    )
    lingering.commit()
    departments = tables(db)["departments"]
    lingering.execute(
        f"insert into {departments.schema or 'public'}.{departments.name} (code, name) "
        "values ('GHOST', 'Ghost')"
    )
    add_beat(db, worker, age=5, timeout=30)
    assert recover(db) == []  # still beating and holding its claim: alive
    with db.connect() as conn, conn.begin():
        conn.execute(import_workers.delete())
    add_beat(db, worker, age=45, timeout=30)
    assert [job.job_id for job in recover(db)] == [job_id]
    assert status_of(db, job_id) == ("failed", "interrupted")
    with pytest.raises(psycopg.OperationalError):
        lingering.commit()
    lingering.close()
    assert rows("departments", code="GHOST") == []


@pytest.fixture
def start_import(global_options, big_users: Path, tmp_path: Path):
    """Starts a CLI import in a session of its own (so its children can be stopped with it),
    stating a heartbeat timeout of `BEAT_TIMEOUT`; one a failed test left running (or
    stopped) is killed at the end, so that it outlives nothing."""
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "batchport", *global_options, "import", "users", str(big_users)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "BATCHPORT_HEARTBEAT_TIMEOUT": str(BEAT_TIMEOUT)},
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def running_job(db, process: subprocess.Popen[str]):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        jobs = list_history(db, JobFilter(import_type="users"))
        if jobs:
            return jobs[0]
        time.sleep(0.02)
    raise AssertionError("the import never started")


def beating(db, worker: str) -> None:
    """Waits for the worker's first beat."""
    deadline = time.monotonic() + TIMEOUT
    found = sa.select(import_workers.c.name).where(import_workers.c.name == worker)
    while time.monotonic() < deadline:
        with db.connect() as conn:
            if conn.execute(found).first() is not None:
                return
        time.sleep(0.02)
    raise AssertionError(f"{worker} never beat")


@pytest.mark.slow
@pytest.mark.parametrize("paused", [0.2 * BEAT_TIMEOUT, 3 * BEAT_TIMEOUT])
def test_a_paused_import_is_never_swept(db, start_import, rows, paused):
    """SIGSTOP mid-import, a sweep while it is stopped (before and after its timeout), then
    SIGCONT: the import completes, whole. Its beats come from a child that was not stopped,
    and on PostgreSQL it holds its claim."""
    process = start_import()
    job = running_job(db, process)
    process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(paused)
        assert recover(db) == []
        assert status_of(db, job.job_id) == ("running", None)
    finally:
        process.send_signal(signal.SIGCONT)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr
    assert status_of(db, job.job_id) == ("completed", None)
    assert len(rows("users")) == 60_000


@pytest.mark.slow
def test_a_stopped_host_is_swept_and_its_import_never_lands(db, start_import, rows):
    """PostgreSQL: the import and its beating child both stopped (as a host that froze, or
    vanished with its connections open): after its timeout the sweep ends its sessions and
    marks it interrupted; woken again, the import cannot commit anything."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite goes by the process of this host, which still exists")
    process = start_import()
    job = running_job(db, process)
    beating(db, job.worker)  # its child registers it as the import begins, not before
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        time.sleep(2 * BEAT_TIMEOUT)
        assert [swept.job_id for swept in recover(db)] == [job.job_id]
    finally:
        os.killpg(process.pid, signal.SIGCONT)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 1
    assert "traceback" not in stderr.lower()
    assert status_of(db, job.job_id) == ("failed", "interrupted")
    assert rows("users") == []


@pytest.mark.parametrize("outcome", ["failed", "rejected", "done"])
def test_a_worker_taken_for_dead_that_comes_back_changes_no_session(db, outcome):
    """A worker swept while its step ran (paused past its timeout), whose session another
    worker then took and finished: when it comes back, whatever its step ends in (an error,
    the file rejected, a report) leaves the other worker's outcome as it is."""
    session = commands.upload_session(
        db,
        owner="alice",
        import_type="departments",
        file_name="d.csv",
        content=b"code,name\nHQ,Head\n",
    )

    def paused_then_back(found, progress, dry_run):
        with db.connect() as conn, conn.begin():  # meanwhile: swept, taken, finished
            conn.execute(
                import_sessions.update()
                .where(import_sessions.c.id == found.id)
                .values(status="valid", worker="other-host:1:0", message="by the other")
            )
        if outcome == "failed":
            raise BatchportError("the comeback's error")
        if outcome == "rejected":
            errors = [RowError(2, "code", "x", "bad")]
            raise FileRejected(ImportReport("departments", "d.csv", "invalid", 9, 0, errors=errors))
        return ImportReport("departments", "d.csv", "valid", 9, 0, dry_run=True)

    assert commands.advance_session(db, session.id, Limits(), paused_then_back)
    after = commands.get_session(db, session.id)
    assert (after.status, after.message, after.error_count) == ("valid", "by the other", 0)
