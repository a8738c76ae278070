"""The API over real HTTP: `batchport serve` (uvicorn) on loopback ports against PostgreSQL —
the whole flow across a restart, two servers sharing one database, a queued job that runs
when a server starts, and a server killed mid-import; and, on each database, a workbook
imported as the CLI imports it, told in the CLI's words."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import xlsxwriter

from tests.helpers import Server

#: Real servers in their own processes: the slowest tests, and few.
pytestmark = pytest.mark.slow

CSV = "code,name,parent_code\nHQ,Headquarters,\nFIN,Finance,HQ\n"


def test_flow_across_a_restart(pg):
    """Upload and validate on one server, stop it; commit and roll back on a new one."""
    url, token = pg
    first = Server(url, token)
    session = first.upload(CSV)
    first.wait(session["id"], "valid")
    first.stop()
    second = Server(url, token)
    try:
        assert second.client.post(f"/sessions/{session['id']}/commit").status_code == 202
        done = second.wait(session["id"], "committed", "failed")
        assert done["status"] == "committed", done["message"]
        job = second.client.get(f"/jobs/{done['job_id']}").json()
        assert (job["status"], job["imported_by"]) == ("completed", "alice")
        undone = second.roll_back(job["batch_id"])
        assert undone["report"]["deleted"]["departments"] == 2, undone["error"]
    finally:
        second.stop()


def test_two_servers_share_one_database(pg):
    """A session made on one server is seen and committed on the other; committing on both at
    once makes one job."""
    url, token = pg
    a, b = Server(url, token), Server(url, token)
    try:
        session = a.upload(CSV)
        b.wait(session["id"], "valid")
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(lambda s: s.client.post(f"/sessions/{session['id']}/commit"), [a, b])
            )
        assert {r.status_code for r in answers} == {202}
        assert len({r.json()["job_id"] for r in answers}) == 1
        done = a.wait(session["id"], "committed", "failed")
        assert done["status"] == "committed"
        assert len(b.client.get("/jobs").json()["jobs"]) == 1
    finally:
        a.stop()
        b.stop()


def test_a_queued_job_runs_when_a_server_starts(pg):
    """Committed on a server without a worker, the job waits; a server that starts later
    runs it."""
    url, token = pg
    checker = Server(url, token)
    session = checker.upload(CSV)
    checker.wait(session["id"], "valid")
    checker.stop()
    idle = Server(url, token, "--no-worker")
    assert idle.client.post(f"/sessions/{session['id']}/commit").status_code == 202
    time.sleep(1)
    assert idle.client.get(f"/sessions/{session['id']}").json()["status"] == "queued"
    idle.stop()
    worker = Server(url, token)
    try:
        assert worker.wait(session["id"], "committed", "failed")["status"] == "committed"
    finally:
        worker.stop()


def test_server_killed_mid_import_leaves_a_failed_job(pg):
    """SIGKILL while a large commit runs: after a restart the job is `failed: interrupted`,
    the session `failed`, and no row of it is left."""
    url, token = pg
    server = Server(url, token)
    text = "code,name\n" + "".join(f"B{i},Branch {i}\n" for i in range(150_000))
    session = server.upload(text)
    server.wait(session["id"], "valid")
    server.client.post(f"/sessions/{session['id']}/commit")
    server.wait(session["id"], "committing")
    time.sleep(0.3)
    server.stop(signal.SIGKILL)
    restarted = Server(url, token)
    try:
        found = restarted.wait(session["id"], "failed", "committed")
        job = restarted.client.get(f"/jobs/{found['job_id']}").json()
        if found["status"] == "committed":  # the import beat the kill
            assert job["status"] == "completed"
        else:
            assert (job["status"], job["error_summary"]) == ("failed", "interrupted")
            batch = restarted.client.get(f"/batches/{job['batch_id']}").json()
            assert batch["rows"] == {}
    finally:
        restarted.stop()


def test_a_workbook_over_http_as_the_cli_would_import_it(served):
    """On each database: a workbook uploaded as `workbook` is one job and one batch, rolled
    back with a bare POST; the job's times are UTC with their offset, the same text the CLI's
    `history --json` prints; a refusal has a snake_case code."""
    url, token = served
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data, {"in_memory": True})
    for name, rows in {
        "departments": [["code", "name"], ["HQ", "Head office"]],
        "users": [
            ["email", "first_name", "last_name", "department_codes"],
            ["a@x.org", "A", "B", "HQ"],
        ],
    }.items():
        sheet = book.add_worksheet(name)
        for index, row in enumerate(rows):
            sheet.write_row(index, 0, row)
    book.close()
    server = Server(url, token)
    try:
        answer = server.client.post(
            "/sessions",
            data={"import_type": "workbook"},
            files={"file": ("book.xlsx", data.getvalue(), "application/octet-stream")},
        )
        assert answer.status_code == 201, answer.text
        server.wait(answer.json()["id"], "valid")
        server.client.post(f"/sessions/{answer.json()['id']}/commit")
        done = server.wait(answer.json()["id"], "committed", "failed")
        assert done["status"] == "committed", done["message"]
        assert done["created"] == {"departments": 1, "users": 1, "user_departments": 1}
        undone = server.roll_back(done["batch_id"])
        assert undone["status"] == "rolled_back", undone["error"]
        again = server.client.post(f"/batches/{done['batch_id']}/rollback")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "batch_not_rollbackable")
        job = server.client.get(f"/jobs/{done['job_id']}").json()
    finally:
        server.stop()
    assert job["import_type"] == "workbook" and job["status"] == "rolled_back"
    offset = re.compile(r"\+00:00$")
    assert all(offset.search(job[k]) for k in ("started_at", "completed_at", "rolled_back_at"))
    cli = subprocess.run(
        [sys.executable, "-m", "batchport", "--database-url", url, "history", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    [printed] = json.loads(cli.stdout)
    assert {k: printed[k] for k in ("started_at", "completed_at", "rolled_back_at")} == {
        k: job[k] for k in ("started_at", "completed_at", "rolled_back_at")
    }
