"""Rollbacks asked for through the API, as jobs: one open request per batch, run once, its
outcome kept for whoever follows it; what only the rollback finds fails the request and
changes nothing; a request whose worker died takes the outcome of its job's rollback."""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from batchport import commands, history
from batchport.errors import BatchNotRollbackable, RequestNotFound
from batchport.schema import import_history, rollback_requests
from batchport.vocabulary import Via
from tests.helpers import DEPARTMENTS, manual_sql


@pytest.fixture
def batch(db, csv_file) -> str:
    """A batch alice imported through the API."""
    done = commands.run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice", via=Via.api)
    return done.batch_id


def ask(db, batch_id: str, **options: object):
    return commands.request_rollback(db, batch_id, actor="alice", remote="10.0.0.9", **options)


def queue_jobs(db) -> list[tuple[str, str, str]]:
    """The queue's jobs of rollback requests: (task, lock, request id)."""
    with db.connect() as conn:
        return [
            tuple(row)
            for row in conn.exec_driver_sql(
                "SELECT task_name, lock, args->>'request_id' FROM procrastinate_jobs"
            )
        ]


def test_asking_twice_gives_one_job_which_runs_once(db, batch, rows):
    """Asking again while the request waits gives the same request; its worker runs it once
    and keeps the report; the history and the audit log say who asked, from where, why."""
    first, new = ask(db, batch, reason="wrong file")
    again, new_again = ask(db, batch)
    assert (new, new_again, again.id, first.status) == (True, False, first.id, "queued")
    if db.dialect.name == "postgresql":  # on the queue, behind alice's other jobs
        assert queue_jobs(db) == [
            ("batchport.rollback_batch", "batchport-account:alice:0", first.id)
        ]
    assert commands.run_rollback_request(db, first.id)
    assert not commands.run_rollback_request(db, first.id)

    done = commands.get_rollback_request(db, first.id)
    assert (done.status, done.reason, done.outcome["deleted"]["departments"]) == (
        "rolled_back",
        "wrong file",
        len(DEPARTMENTS) - 1,
    )
    assert rows("departments") == []
    [job] = commands.list_history(db)
    assert (job.status, job.rolled_back_by, job.rolled_back_via) == ("rolled_back", "alice", "api")
    assert job.rollback_reason == "wrong file"
    audited = {(e["action"], e["outcome"], e["remote"]) for e in commands.audit_log(db)}
    assert {("rollback_request", "ok", "10.0.0.9"), ("rollback", "ok", "10.0.0.9")} <= audited


def test_requests_at_once_open_one(db, batch):
    """Eight callers asking at the same moment: one request, seven told of it."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: ask(db, batch), range(8)))
    assert len({request.id for request, _ in answers}) == 1
    assert sum(new for _, new in answers) == 1
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rollback_requests)).scalar() == 1


def test_what_only_the_rollback_finds_fails_the_request_and_changes_nothing(db, batch, rows):
    """A row edited by hand: the request fails with the edit, row by row, nothing deleted,
    the batch still `completed`; asked again with `force_edited`, it goes."""
    manual_sql(db, "UPDATE {departments} SET name = 'Edited' WHERE code = 'HQ'")
    refused, _ = ask(db, batch)
    assert commands.run_rollback_request(db)
    failed = commands.get_rollback_request(db, refused.id)
    assert (failed.status, failed.outcome["code"]) == ("failed", "rows_edited")
    assert [e["key"] for e in failed.outcome["details"]["edited"]] == ["HQ"]
    assert len(rows("departments")) == len(DEPARTMENTS) - 1
    assert commands.list_history(db)[0].status == "completed"

    forced, new = ask(db, batch, force_edited=True)
    assert new and forced.id != refused.id
    assert commands.run_rollback_request(db)
    assert commands.get_rollback_request(db, forced.id).status == "rolled_back"
    assert rows("departments") == []


def test_a_batch_its_status_rules_out_is_refused_at_once(db, batch):
    """A batch rolled back already is refused when asked, and no request is made."""
    commands.rollback_batch(db, batch, actor="alice")
    with pytest.raises(BatchNotRollbackable, match="already rolled back"):
        ask(db, batch)
    with pytest.raises(RequestNotFound):
        commands.get_rollback_request(db, "nope")
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rollback_requests)).scalar() == 0


def dead_worker() -> str:
    """A worker of this host whose process has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}:0"


def left_by(db, request_id: str, worker: str) -> None:
    """The request as a worker left it that died while rolling it back."""
    with db.connect() as conn, conn.begin():
        conn.execute(
            rollback_requests.update()
            .where(rollback_requests.c.id == request_id)
            .values(status="rolling_back", worker=worker)
        )


def test_a_request_whose_worker_died_takes_its_jobs_outcome(db, csv_file, batch, rows):
    """A worker that died mid-rollback: its job is swept `rollback_failed: interrupted` and
    its request `failed` (nothing deleted; a new request then goes); one that died after its
    rollback committed leaves a request that becomes `rolled_back`."""
    worker = dead_worker()
    died, _ = ask(db, batch)
    left_by(db, died.id, worker)
    with db.connect() as conn, conn.begin():
        job = history.find_job(conn, batch)
        history.mark_rolling_back(conn, job, actor="alice", reason=None, worker=worker)
    commands.upkeep(db)
    failed = commands.get_rollback_request(db, died.id)
    assert (failed.status, failed.outcome["code"]) == ("failed", "interrupted")
    assert commands.list_history(db)[0].status == "rollback_failed"
    assert len(rows("departments")) == len(DEPARTMENTS) - 1

    retried, new = ask(db, batch)
    assert new
    left_by(db, retried.id, worker)
    commands.rollback_batch(db, batch, actor="alice")  # as if the dead worker's had committed
    commands.upkeep(db)
    assert commands.get_rollback_request(db, retried.id).status == "rolled_back"
    assert rows("departments") == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_queued_request_whose_job_is_lost_is_queued_again(db, batch):
    """The upkeep gives a job to a queued request that lacks one (its job deleted by hand)."""
    request, _ = ask(db, batch)
    with db.connect() as conn, conn.begin():
        conn.exec_driver_sql("DELETE FROM procrastinate_jobs")
    commands.upkeep(db)
    assert [job[2] for job in queue_jobs(db)] == [request.id]
    with db.connect() as conn:
        status = conn.execute(sa.select(import_history.c.status)).scalar_one()
    assert status == "completed"
