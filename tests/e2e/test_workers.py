"""Scale-out on PostgreSQL: API servers that only accept work, `batchport worker`s that do it,
and jobs that survive the death (or the stall) of any worker."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
import sqlalchemy as sa

from batchport import commands, run_import
from batchport.schema import import_sessions
from tests.helpers import DEPARTMENTS, Server, follow_rollback
from tests.integration.test_reliability import Plan, invariant_violations

#: The heartbeat timeout the workers state (seconds): short, so that the test sees a dead
#: worker swept, and a paused one outlive it.
BEAT_TIMEOUT = 3.0
ACCOUNTS = ("ana", "ben", "cy")
UPLOADS = 30
ROWS = 3000
FINAL = {"committed", "failed", "invalid"}
WAIT = 240


class Worker:
    """`batchport worker` in its own process, named as if on a host of its own."""

    def __init__(self, url: str, name: str, folder: Path) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = self._start(url, name, log)

    @staticmethod
    def _start(url: str, name: str, log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "batchport",
                "worker",
                "--name",
                name,
                "--concurrency",
                "2",
                "--heartbeat-timeout",
                str(BEAT_TIMEOUT),
            ],
            env={**os.environ, "BATCHPORT_DATABASE_URL": url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def users_csv(number: int) -> str:
    lines = ["email,first_name,last_name,department_codes"]
    lines += [f"u{number}-{i}@example.org,U,{i},HQ;FIN" for i in range(ROWS)]
    return "\n".join(lines) + "\n"


#: A connection per request: between the uploads and the commits the clients wait longer than
#: the server keeps an idle connection (uvicorn: 5 s), and one it closes just as a request goes
#: out on it is "disconnected without sending a response".
FRESH_CONNECTIONS = httpx.Limits(max_keepalive_connections=0)


def wait_until(condition, what: str):
    """Polls `condition` until it gives something true; returns that."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def sessions_of(db) -> list:
    """Every session's id, status, worker, job and message."""
    sessions = import_sessions.c
    with db.connect() as conn:
        return conn.execute(
            sa.select(
                sessions.id, sessions.status, sessions.worker, sessions.job_id, sessions.message
            )
        ).all()


@pytest.mark.slow
def test_two_servers_and_three_workers_survive_a_killed_and_a_paused_worker(
    db, database_url, csv_file, tmp_path: Path
):
    """30 uploads and commits from three accounts through two `serve --no-worker` servers,
    done by three workers; one worker is killed (SIGKILL) mid-import and one paused past
    its heartbeat timeout. Every session ends final; every import ran once, whole, or is
    `failed: interrupted` with nothing written; a rollback asked of a server is run by a
    worker; the reliability suite's checker finds nothing wrong."""
    if db.dialect.name != "postgresql":
        pytest.skip("the job queue and its workers are PostgreSQL's")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="setup")
    tokens = {name: commands.create_account(db, name, "importer", actor="t") for name in ACCOUNTS}
    servers = [Server(database_url, tokens[ACCOUNTS[0]], "--no-worker") for _ in range(2)]
    workers = [Worker(database_url, f"host{n}", tmp_path) for n in range(3)]
    clients = {
        name: [
            httpx.Client(
                base_url=f"http://127.0.0.1:{server.port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
                limits=FRESH_CONNECTIONS,
            )
            for server in servers
        ]
        for name, token in tokens.items()
    }
    try:
        uploaded = []
        for number in range(UPLOADS):
            owner = ACCOUNTS[number % len(ACCOUNTS)]
            client = clients[owner][number % len(servers)]
            answer = client.post(
                "/sessions",
                data={"import_type": "users"},
                files={"file": (f"users-{number}.csv", users_csv(number).encode(), "text/csv")},
            )
            assert answer.status_code == 201, answer.text
            uploaded.append((owner, answer.json()["id"]))

        def validated() -> bool:
            found = statuses(db)
            return all(found[i] not in {"uploaded", "validating"} for _, i in uploaded)

        wait_until(validated, "every upload validated")
        for number, (owner, session_id) in enumerate(uploaded):
            answer = clients[owner][number % len(servers)].post(f"/sessions/{session_id}/commit")
            assert answer.status_code == 202, answer.text

        # The first worker seen importing is killed, the next other one seen is paused
        # (which worker gets which job is the queue's business).
        killed = wait_until(lambda: importing(db, workers), "a worker importing")
        killed.process.kill()
        others = [w for w in workers if w is not killed]
        paused = wait_until(lambda: importing(db, others), "another worker importing")
        paused.process.send_signal(signal.SIGSTOP)
        time.sleep(2.5 * BEAT_TIMEOUT)
        paused.process.send_signal(signal.SIGCONT)

        wait_until(lambda: all(s.status in FINAL for s in sessions_of(db)), "every session final")
        roll_back_one(db, uploaded, clients)
    finally:
        for worker in workers:
            worker.stop()
            print(f"--- {worker.name}:\n{worker.log.read_text()[-3000:]}")
        for server in servers:
            server.stop()
        for kept in clients.values():
            for client in kept:
                client.close()

    history = {job.job_id: job for job in commands.list_history(db)}
    interrupted = 0
    for session in sessions_of(db):
        assert session.status in {"committed", "failed"}, (session.id, session.message)
        job = history[session.job_id]
        if session.status == "committed":
            assert job.status in {"completed", "rolled_back"}, job
            assert job.rows_imported == ROWS, job
        else:
            assert (job.status, job.error_summary) == ("failed", "interrupted"), job
            assert job.rows_imported == 0
            interrupted += 1
    print(f"{interrupted} import(s) interrupted, {UPLOADS - interrupted} completed")
    assert len([j for j in history.values() if j.import_type == "users"]) == UPLOADS
    assert interrupted <= 2, "only the killed worker's imports may be interrupted"
    assert invariant_violations(db, Plan(seed=0, folder=tmp_path)) == []


def roll_back_one(db, uploaded: list[tuple[str, str]], clients) -> None:
    """A rollback asked of one server that only accepts work, followed on the other: a
    worker runs it."""
    owner, rolled = next((owner, s) for owner, s in uploaded if statuses(db)[s] == "committed")
    batch_id = clients[owner][0].get(f"/sessions/{rolled}").json()["batch_id"]
    asked = clients[owner][0].post(f"/batches/{batch_id}/rollback", json={"reason": "e2e"})
    assert asked.status_code == 202, asked.text
    undone = follow_rollback(clients[owner][1].get, asked.json()["id"], WAIT)
    assert undone["status"] == "rolled_back", undone["error"]
    assert undone["report"]["deleted"]["users"] == ROWS


def statuses(db) -> dict[str, str]:
    return {s.id: s.status for s in sessions_of(db)}


def importing(db, workers: list[Worker]) -> Worker | None:
    """One of `workers` that is importing a session, if any is."""
    names = {s.worker.split(":")[0] for s in sessions_of(db) if s.status == "committing"}
    return next((w for w in workers if w.name in names), None)


@pytest.mark.slow
def test_one_account_cannot_starve_another(db, database_url, csv_file, tmp_path: Path):
    """One worker that runs two steps at once; one account commits four imports, then
    another commits one. The first account's imports run one at a time, in the order they
    were committed; the second's does not wait for them all: it starts while the first
    account's are still under way."""
    if db.dialect.name != "postgresql":
        pytest.skip("the job queue and its workers are PostgreSQL's")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="setup")
    tokens = {name: commands.create_account(db, name, "importer", actor="t") for name in ("a", "b")}
    server = Server(database_url, tokens["a"], "--no-worker")
    worker = Worker(database_url, "solo", tmp_path)
    clients = {
        name: httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=FRESH_CONNECTIONS,
        )
        for name, token in tokens.items()
    }
    try:
        sessions = []
        for number, owner in enumerate(["a", "a", "a", "a", "b"]):
            answer = clients[owner].post(
                "/sessions",
                data={"import_type": "users"},
                files={"file": (f"u{number}.csv", users_csv(100 + number).encode(), "text/csv")},
            )
            assert answer.status_code == 201, answer.text
            sessions.append((owner, answer.json()["id"]))
        wait_until(
            lambda: all(s.status == "valid" for s in sessions_of(db)), "every upload validated"
        )
        for owner, session_id in sessions:
            assert clients[owner].post(f"/sessions/{session_id}/commit").status_code == 202
        wait_until(lambda: all(s.status in FINAL for s in sessions_of(db)), "every import done")
    finally:
        worker.stop()
        server.stop()
        for client in clients.values():
            client.close()
    jobs = {job.job_id: job for job in commands.list_history(db)}
    by_session = {s.id: jobs[s.job_id] for s in sessions_of(db)}
    first = [by_session[session_id] for owner, session_id in sessions if owner == "a"]
    second = by_session[sessions[-1][1]]
    assert all(job.status == "completed" for job in [*first, second])
    for earlier, later in itertools.pairwise(first):
        assert earlier.completed_at <= later.started_at, "one at a time, in order"
    assert second.started_at < first[-1].started_at, "the other account waited for them all"
