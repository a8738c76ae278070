"""Jobs whose process died are swept to failed; jobs still at work are never touched."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from batchport import (
    AuditFilter,
    BatchNotRollbackable,
    JobFilter,
    audit,
    list_history,
    recover,
    rollback_batch,
    run_import,
)
from batchport.commands import rollbacks
from tests.helpers import DEPARTMENTS, like, table_name

pytestmark = pytest.mark.types("shipped", "declared")

TIMEOUT = 60
#: When, after the job appears in the history, the import process is killed: ten points
#: spread at random over the import's run (seeded, so a failure can be replayed), as
#: fractions of how long the import takes on each database here.
_RANDOM = random.Random(11)  # noqa: S311 - test timing, not a secret
KILL_POINTS = sorted(round(_RANDOM.uniform(0, 1.2), 2) for _ in range(10))
RUN_SECONDS = {"sqlite": 0.8, "postgresql": 2.5}


def dead_worker() -> str:
    """A host:pid of this host whose process has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def insert_job(db, status: str, worker: str | None, job_id: str) -> None:
    with db.connect() as conn, conn.begin():
        conn.exec_driver_sql(
            "insert into import_history (job_id, batch_id, import_type, status, worker) "
            f"values ('{job_id}', '{job_id}', 'users', '{status}', "
            + ("null" if worker is None else f"'{worker}'")
            + ")"
        )


def statuses(db) -> dict[str, tuple[str, str | None]]:
    return {j.job_id: (j.status, j.error_summary) for j in list_history(db)}


@pytest.mark.types("shipped", reason="jobs of no import type's rows")
def test_jobs_of_dead_workers_are_swept(db):
    """running becomes failed and rolling_back becomes rollback_failed, reason interrupted;
    the audit log says so for each, in the same transaction."""
    insert_job(db, "running", dead_worker(), "00000000-0000-4000-8000-000000000001")
    insert_job(db, "rolling_back", dead_worker(), "00000000-0000-4000-8000-000000000002")
    swept = recover(db)
    assert sorted(j.job_id for j in swept) == [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    ]
    assert statuses(db) == {
        "00000000-0000-4000-8000-000000000001": ("failed", "interrupted"),
        "00000000-0000-4000-8000-000000000002": ("rollback_failed", "interrupted"),
    }
    logged = {(e["action"], e["outcome"], e["batch_id"]) for e in audit.entries(db, AuditFilter())}
    assert logged == {
        ("import", "interrupted", "00000000-0000-4000-8000-000000000001"),
        ("rollback", "interrupted", "00000000-0000-4000-8000-000000000002"),
    }


@pytest.mark.types("shipped", reason="jobs of no import type's rows")
def test_jobs_that_cannot_be_proven_dead_are_left_alone(db):
    """A job no batchport worker claims is left; so is another host's, unless the server knows.

    On PostgreSQL the worker's advisory lock tells from any host whether it lives; SQLite can
    only check processes on this host.
    """
    insert_job(db, "running", None, "00000000-0000-4000-8000-000000000004")
    insert_job(db, "running", "another-host:1", "00000000-0000-4000-8000-000000000003")
    swept = [j.job_id for j in recover(db)]
    expected = ["00000000-0000-4000-8000-000000000003"] if db.dialect.name == "postgresql" else []
    assert swept == expected
    assert statuses(db)["00000000-0000-4000-8000-000000000004"] == ("running", None)


def test_every_command_sweeps_first(db, csv_file):
    """Listing history (or any use case) sweeps dead jobs before it answers."""
    insert_job(db, "running", dead_worker(), "00000000-0000-4000-8000-000000000005")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    assert statuses(db)["00000000-0000-4000-8000-000000000005"] == ("failed", "interrupted")


def test_a_live_import_is_never_swept(db, csv_file, rows):
    """An import paused mid-way (same process, other thread) survives a sweep and completes."""
    reached, release = threading.Event(), threading.Event()

    def pause(phase: str, _rows: int) -> None:
        if phase == "loading":
            reached.set()
            assert release.wait(TIMEOUT)

    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            run_import(db, "departments", csv_file(DEPARTMENTS), actor="a", progress=pause)
        )
    )
    worker.start()
    assert reached.wait(TIMEOUT)
    sweeper = threading.Thread(target=lambda: results.append(recover(db)))
    sweeper.start()
    time.sleep(0.5)
    release.set()
    worker.join(TIMEOUT)
    sweeper.join(TIMEOUT)
    report = next(r for r in results if not isinstance(r, list))
    assert [] in results
    assert statuses(db)[report.job_id] == ("completed", None)
    assert len(rows("departments")) == 3


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_import_is_all_or_nothing(db, global_options, big_users, rows, tmp_path, point):
    """SIGKILL at some point of an import: either all of it and `completed`, or none and,
    after the sweep, `failed` (interrupted)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "batchport", *global_options, "import", "users", str(big_users)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not list_history(db, JobFilter(import_type="users")):
        time.sleep(0.02)
    delay = point * RUN_SECONDS[db.dialect.name]
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    recover(db)
    # The server frees a dead worker's lock once its connection closes, an instant later;
    # every command (listing history too) sweeps again.
    for _ in range(50):
        [job] = list_history(db, JobFilter(import_type="users"))
        if job.status != "running":
            break
        time.sleep(0.1)
    print(f"killed after {delay:.2f}s: {job.status}")
    if job.status == "completed":
        assert len(rows("users")) == 60_000 and len(rows("user_departments")) == 120_000
    else:
        assert (job.status, job.error_summary) == ("failed", "interrupted")
        assert rows("users") == [] and rows("user_departments") == []


def test_a_lost_claim_is_not_a_dead_worker(db, global_options, big_users, rows, tmp_path):
    """The server ends the session holding an import's claim (its advisory lock) while the
    import goes on loading over another session: the sweep leaves the job alone, and the
    import completes and says so, though it cannot let go of its claim."""
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's own claim: an advisory lock that a session holds")
    process = subprocess.Popen(
        [sys.executable, "-m", "batchport", *global_options, "import", "users", str(big_users)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The claim's session, once the import is loading over another one (a COPY runs).
    claims = sa.text(
        "SELECT l.pid FROM pg_locks AS l WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND EXISTS (SELECT FROM pg_stat_activity AS a WHERE a.datname = current_database() "
        "AND a.query ILIKE :copy AND a.state = 'active')"
    ).bindparams(copy=like(db, "copy%{users}%"))
    ended = False
    deadline = time.monotonic() + TIMEOUT
    with db.connect() as conn:
        while not ended and time.monotonic() < deadline and process.poll() is None:
            for pid in conn.execute(claims).scalars():
                ended |= conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()
            conn.commit()
    assert ended
    assert recover(db) == []
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr
    [job] = list_history(db, JobFilter(import_type="users"))
    assert job.status == "completed" and len(rows("users")) == 60_000


def test_a_refused_second_rollback_leaves_the_first_one_alive(db, csv_file, rows, monkeypatch):
    """Two rollbacks of one batch in one process: the first is held between its checks and its
    deletes; the second is refused (SQLite) or waits for the first's claim (PostgreSQL). A sweep
    meanwhile must not take the first for dead, and the first completes."""
    batch = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    reached, release = threading.Event(), threading.Event()
    take_back = rollbacks._take_back

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["audit_entry"]["actor"] == "first":
            reached.set()
            assert release.wait(TIMEOUT)
        return take_back(*args, **kwargs)

    monkeypatch.setattr(rollbacks, "_take_back", held)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(rollback_batch, db, batch.batch_id, actor="first")
        assert reached.wait(TIMEOUT)
        second = pool.submit(rollback_batch, db, batch.batch_id, actor="second")
        if db.dialect.name == "sqlite":
            with pytest.raises(BatchNotRollbackable, match="already being rolled back"):
                second.result(timeout=TIMEOUT)
        assert recover(db) == []
        release.set()
        assert first.result(timeout=TIMEOUT).deleted[table_name(db, "departments")] == 3
        if db.dialect.name == "postgresql":
            with pytest.raises(BatchNotRollbackable, match="already rolled back"):
                second.result(timeout=TIMEOUT)
    assert rows("departments") == []
