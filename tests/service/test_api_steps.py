"""Each validation and import of a real server (`batchport serve`) runs in a process of its
own, forked from a helper the server starts with: what a user sees of it — the job's worker
is not the server, progress reaches 100 % with the job and never before, a step whose process
is killed fails its session and its job (and the server goes on), a server whose helper is
gone still works — on both databases."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from batchport.process import host_and_pid
from tests.helpers import SERVER_WAIT, Server

#: Real servers in their own processes: among the slowest tests.
pytestmark = pytest.mark.slow

#: Departments enough to be read ahead (over 1 MiB) and to take a moment to import.
BIG = "code,name\n" + "".join(f"B{i},Branch {i}\n" for i in range(60_000))


@pytest.fixture
def server(db, tokens):
    """A real server over the test's database, called as the importer alice."""
    url = db.engine.url.render_as_string(hide_password=False)
    started = Server(url, tokens["alice"])
    yield started
    if started.process.poll() is None:
        started.stop()


def admin_get(server: Server, tokens: dict[str, str], path: str) -> dict:
    """A GET as the admin (who is shown each job's worker)."""
    answer = server.client.get(path, headers={"Authorization": f"Bearer {tokens['root']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def follow(server: Server, session_id: str, *statuses: str) -> list[dict]:
    """Every poll of the session until it reaches one of `statuses` (the last one)."""
    seen: list[dict] = []
    deadline = time.monotonic() + SERVER_WAIT
    while time.monotonic() < deadline:
        seen.append(server.client.get(f"/sessions/{session_id}").json())
        if seen[-1]["status"] in statuses:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"session {session_id} stayed {seen[-1]['status']}")


def test_an_import_runs_outside_the_server_and_reaches_100_with_its_job(server, tokens):
    """The job's worker is another process than the server's; the commit's progress starts
    from 0 (not the validation's 99), never shows 100 before the job is completed, and
    shows 100 once the session is committed."""
    session = server.upload(BIG)
    assert session["rows_total"] == 60_000
    follow(server, session["id"], "valid")
    queued = server.client.post(f"/sessions/{session['id']}/commit").json()
    assert (queued["status"], queued["progress"]) == ("queued", 0)
    polls = follow(server, session["id"], "committed", "failed")
    assert polls[-1]["status"] == "committed", polls[-1]["message"]
    assert polls[-1]["progress"] == 100 and polls[-1]["job_status"] == "completed"
    early = [p for p in polls[:-1] if p["progress"] == 100]
    assert early == []
    job = admin_get(server, tokens, f"/jobs/{polls[-1]['job_id']}")
    assert (job["status"], job["rows_imported"]) == ("completed", 60_000)
    _, pid = host_and_pid(job["worker"])
    assert pid not in {None, server.process.pid}


def test_a_step_whose_process_is_killed_fails_its_session_and_job(server, tokens):
    """SIGKILL to the process importing a session: the server lives on, the session is
    `failed` saying it was interrupted, the job `failed: interrupted` with no row left; the
    next upload is validated and imported as usual."""
    session = server.upload(BIG + "".join(f"X{i},Extra {i}\n" for i in range(90_000)))
    follow(server, session["id"], "valid")
    server.client.post(f"/sessions/{session['id']}/commit")
    job_id = follow(server, session["id"], "committing")[-1]["job_id"]
    pid = None
    deadline = time.monotonic() + SERVER_WAIT
    while pid is None and time.monotonic() < deadline:
        found = server.client.get(f"/jobs/{job_id}", headers=_as(tokens, "root"))
        if found.status_code == 200 and found.json()["status"] == "running":
            pid = host_and_pid(found.json()["worker"])[1]
        time.sleep(0.02)
    assert pid is not None and pid != server.process.pid
    os.kill(pid, signal.SIGKILL)
    failed = follow(server, session["id"], "failed", "committed")[-1]
    if failed["status"] == "committed":  # the import beat the kill
        pytest.skip("the import ended before it could be killed")
    assert failed["message"].startswith("interrupted"), failed["message"]
    job = admin_get(server, tokens, f"/jobs/{job_id}")
    assert (job["status"], job["error_summary"]) == ("failed", "interrupted")
    assert admin_get(server, tokens, f"/batches/{job['batch_id']}")["rows"] == {}
    assert server.process.poll() is None
    again = server.upload("code,name\nNEW,New one\n")
    follow(server, again["id"], "valid")
    server.client.post(f"/sessions/{again['id']}/commit")
    assert follow(server, again["id"], "committed", "failed")[-1]["status"] == "committed"


def test_a_server_whose_helper_is_gone_still_validates_and_imports(server):
    """The helper that forks the steps killed: the server validates and imports in its own
    process from then on."""
    helpers = _children(server.process.pid)
    assert helpers, "the server started no helper process"
    for pid in helpers:
        os.kill(pid, signal.SIGKILL)
    session = server.upload("code,name\nHQ,Headquarters\n")
    assert follow(server, session["id"], "valid", "failed")[-1]["status"] == "valid"
    server.client.post(f"/sessions/{session['id']}/commit")
    done = follow(server, session["id"], "committed", "failed")[-1]
    assert (done["status"], done["created"]) == ("committed", {"departments": 1})


def test_errors_from_the_step_process_are_told_as_before(server):
    """A rejected file's errors, and a file that cannot be read (named by its upload's name,
    never the server's copy), come back from the step's process as the session's."""
    rejected = server.upload("code,name\nA,\nB,Bee\n")
    invalid = follow(server, rejected["id"], "invalid", "failed")[-1]
    assert (invalid["status"], invalid["error_count"]) == ("invalid", 1)
    errors = server.client.get(f"/sessions/{rejected['id']}/errors").json()["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(2, "name")]
    answer = server.client.post(
        "/sessions",
        data={"import_type": "departments"},
        files={"file": ("odd name.csv", b'code,name\n"A,never closed\n', "text/csv")},
    )
    failed = follow(server, answer.json()["id"], "invalid", "failed")[-1]
    assert failed["status"] == "failed"
    assert "odd name.csv" in failed["message"] and "never closed" in failed["message"]
    assert "batchport-" not in failed["message"]


def _as(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]
