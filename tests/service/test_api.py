"""The REST API: upload, validate, commit, history, rollback; errors, limits, idempotency,
the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from batchport import commands, run_import
from batchport.schema import audit_log, import_sessions
from batchport.service.app import create_app
from batchport.sources import Limits
from batchport.vocabulary import Via
from tests.helpers import DEPARTMENTS, DEPARTMENTS_CSV, roll_back, upload, wait_for


def test_upload_validate_commit_and_roll_back(api, rows):
    """The whole flow: the session validates in the background, the commit imports as the
    owner, the batch shows its records, the rollback takes it back, all recorded."""
    created = upload(api, "alice", DEPARTMENTS_CSV)
    assert created.status_code == 201, created.text
    session = created.json()
    assert (session["status"], session["owner"]) == ("uploaded", "alice")
    valid = wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    assert valid["status"] == "valid" and valid["created"]["departments"] == 2
    assert valid["progress"] == 100
    assert rows("departments") == []  # validation writes nothing

    committed = api("alice", "POST", f"/sessions/{session['id']}/commit")
    assert committed.status_code == 202
    job_id = committed.json()["job_id"]
    done = wait_for(api, "alice", session["id"], "committed", "failed")
    assert done["status"] == "committed", done["message"]
    assert done["job_status"] == "completed" and done["created"] == {"departments": 2}
    job = api("vic", "GET", f"/jobs/{job_id}").json()
    assert done["batch_id"] == job["batch_id"]
    assert (job["status"], job["imported_by"], job["rows_imported"]) == ("completed", "alice", 2)
    assert job["imported_via"] == "api"
    batch = api("vic", "GET", f"/batches/{job['batch_id']}", params={"table": "departments"})
    assert batch.json()["rows"] == {"departments": 2}
    assert [r["code"] for r in batch.json()["records"]] == ["HQ", "FIN"]

    preview = api("alice", "GET", f"/batches/{job['batch_id']}/rollback").json()
    assert preview["possible"] and preview["would_delete"] == {"departments": 2}
    undone = roll_back(api, "alice", job["batch_id"], json={"reason": "test"})
    assert (undone["status"], undone["owner"], undone["error"]) == ("rolled_back", "alice", None)
    assert undone["report"]["deleted"]["departments"] == 2
    assert rows("departments") == []
    job = api("vic", "GET", f"/jobs/{job_id}").json()
    assert (job["status"], job["rolled_back_by"]) == ("rolled_back", "alice")
    actions = {(e["actor"], e["action"], e["outcome"]) for e in audit_entries(api)}
    assert {
        ("alice", "upload", "ok"),
        ("alice", "commit", "ok"),
        ("alice", "import", "ok"),
        ("alice", "rollback_request", "ok"),
        ("alice", "rollback", "ok"),
    } <= actions


def audit_entries(api) -> list[dict]:
    return api("root", "GET", "/audit", params={"limit": 1000}).json()["entries"]


def test_invalid_file_reports_paginated_errors_and_a_safe_csv(api):
    """An invalid upload becomes `invalid`; its errors come a page at a time and as a CSV
    with formula cells neutralised; it cannot be committed."""
    text = "code,name,parent_code\n" + "".join(f"C{i},,=cmd{i}\n" for i in range(7))
    session = upload(api, "alice", text).json()
    invalid = wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    assert invalid["status"] == "invalid" and invalid["error_count"] == 14
    page = api(
        "alice", "GET", f"/sessions/{session['id']}/errors", params={"offset": 10, "limit": 3}
    )
    assert page.json()["total"] == 14 and len(page.json()["errors"]) == 3
    assert page.json()["errors"][0]["row"] == 7
    exported = api("alice", "GET", f"/sessions/{session['id']}/errors.csv")
    assert exported.status_code == 200
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:4] == ["row", "column", "value", "problem"]
    assert all(not cell.startswith("=") for line in lines for cell in line)
    refused = api("alice", "POST", f"/sessions/{session['id']}/commit")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "session_conflict"


def test_committing_twice_at_once_gives_one_job(api):
    """Two concurrent commits of one session: one job, both told its id."""
    session = upload(api, "alice", DEPARTMENTS_CSV).json()
    wait_for(api, "alice", session["id"], "valid")
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: api("alice", "POST", f"/sessions/{session['id']}/commit"), range(4))
        )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["job_id"] for a in answers}) == 1
    done = wait_for(api, "alice", session["id"], "committed", "failed")
    jobs = api("alice", "GET", "/jobs").json()["jobs"]
    assert [j["job_id"] for j in jobs] == [done["job_id"]]


def test_missing_or_wrong_token_is_401_and_audited(api):
    """No token or a wrong one: 401 with the error shape, and an audit row."""
    for headers in ({}, {"Authorization": "Bearer bp_nothing_here"}, {"Authorization": "Basic x"}):
        answer = api(None, "GET", "/jobs", headers=headers)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json()["error"]["code"] == "unauthenticated"
    denied = [e for e in audit_entries(api) if e["action"] == "authenticate"]
    assert len(denied) == 3 and {e["outcome"] for e in denied} == {"denied"}


def test_upload_limits_answer_413(api_with):
    """A file over the byte limit, or over the row limit, is refused with 413."""
    big = upload(api_with(max_upload_bytes=100), "alice", "code,name\n" + "A,a\n" * 100)
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"


def test_too_many_rows_answer_413(db, tokens):
    """The row limit is checked at upload, reading the file as a stream."""
    with TestClient(create_app(db, worker=False, limits=Limits(max_rows=5))) as client:
        answer = client.post(
            "/sessions",
            headers={"Authorization": f"Bearer {tokens['alice']}"},
            data={"import_type": "departments"},
            files={"file": ("d.csv", b"code,name\n" + b"A,a\n" * 6, "text/csv")},
        )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_many_rows"


def test_server_owned_fields_cannot_be_set(api):
    """Form and body fields the API does not declare are refused; a CSV column named after a
    server-owned column is an unknown column."""
    sneaky = upload(api, "alice", DEPARTMENTS_CSV, status="committed", owner="root")
    assert sneaky.status_code == 422
    assert sneaky.json()["error"]["details"] == ["owner", "status"]
    refused = api("alice", "POST", "/batches/x/rollback", json={"status": "rolled_back"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_request"
    column = upload(api, "alice", "code,name,import_batch_id\nA,a,mine\n").json()
    invalid = wait_for(api, "alice", column["id"], "invalid", "valid", "failed")
    assert invalid["status"] == "invalid"
    errors = api("alice", "GET", f"/sessions/{column['id']}/errors").json()["errors"]
    assert errors[0]["column"] == "import_batch_id" and "unknown column" in errors[0]["message"]


def test_unknown_things_are_404(api):
    for url in ("/sessions/nope", "/jobs/nope", "/batches/nope", "/batches/nope/rollback"):
        answer = api("root", "GET", url)
        assert answer.status_code == 404, url
        assert set(answer.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"]
)
def test_audit_log_is_append_only(db, api, statement):
    """The database refuses to change or delete audit rows, whoever asks."""
    upload(api, "alice", DEPARTMENTS_CSV)
    with (
        pytest.raises(sa.exc.DatabaseError, match="append-only"),
        db.connect() as conn,
        conn.begin(),
    ):
        conn.exec_driver_sql(statement)
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one() >= 1


def test_expired_sessions_are_cleaned_up(db, api):
    """A session past its lifetime that was never committed is deleted by the worker."""
    session = upload(api, "alice", DEPARTMENTS_CSV).json()
    wait_for(api, "alice", session["id"], "valid")
    with db.connect() as conn, conn.begin():
        conn.execute(
            import_sessions.update()
            .where(import_sessions.c.id == session["id"])
            .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )
    deadline = time.monotonic() + 30
    while api("alice", "GET", f"/sessions/{session['id']}").status_code != 404:
        assert time.monotonic() < deadline, "the expired session is still there"
        time.sleep(0.05)


def test_no_code_path_changes_audit_rows_or_deletes_history():
    """The application has no statement that updates or deletes audit rows, or deletes
    history rows (history rows change state as a job moves on, as the seed's model has it)."""
    source = Path(__file__).parents[2] / "src" / "batchport"
    forbidden = re.compile(
        r"audit_log\s*\.\s*(update|delete)\(|import_history\s*\.\s*delete\(|"
        r"(UPDATE|DELETE FROM)\s+audit_log|DELETE FROM\s+import_history",
        re.IGNORECASE,
    )
    offenders = [
        f"{path.relative_to(source)}:{number}"
        for path in source.rglob("*.py")
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []


def test_nul_characters_are_refused_not_500(api):
    """A NUL in a query, a path or a body is a 400/422, never a server error."""
    assert api("root", "GET", "/jobs", params={"imported_by": "\x00"}).status_code == 400
    assert api("root", "GET", "/jobs/a%00b").status_code == 400
    body = api("root", "POST", "/accounts", json={"name": "x\x00y", "role": "viewer"})
    assert body.status_code == 422


@pytest.mark.parametrize("name", ["..", "../../etc/d.csv", "a\x00b.csv", ""])
def test_hostile_file_names_are_made_safe(api, name):
    """An upload's name never leads the worker out of its folder, nor into a 500."""
    answer = api(
        "alice",
        "POST",
        "/sessions",
        data={"import_type": "departments"},
        files={"file": (name, DEPARTMENTS_CSV.encode(), "text/csv")},
    )
    assert answer.status_code in {201, 422}, answer.text
    if answer.status_code == 201:
        session = answer.json()
        assert "/" not in session["file_name"] and session["file_name"] not in {".", ".."}
        assert (
            wait_for(api, "alice", session["id"], "valid", "invalid", "failed")["status"] == "valid"
        )


def test_a_long_non_ascii_file_name_is_shortened(api):
    """A name over the file system's 255 bytes is cut, keeping its suffix."""
    answer = api(
        "alice",
        "POST",
        "/sessions",
        data={"import_type": "departments"},
        files={"file": ("é" * 150 + ".csv", DEPARTMENTS_CSV.encode(), "text/csv")},
    )
    assert answer.status_code == 201
    name = answer.json()["file_name"]
    assert name.endswith(".csv") and len(name.encode()) <= 200
    assert wait_for(api, "alice", answer.json()["id"], "valid", "failed")["status"] == "valid"


def test_repeated_fields_and_declared_oversize_are_refused(api, api_with):
    """Two file parts are a 422; a body that says it is over the limit is a 413 unread."""
    twice = api(
        "alice",
        "POST",
        "/sessions",
        data={"import_type": "departments"},
        files=[
            ("file", ("a.csv", b"code,name\nA,a\n", "text/csv")),
            ("file", ("b.csv", b"x", "text/csv")),
        ],
    )
    assert twice.status_code == 422 and twice.json()["error"]["details"] == ["file"]
    big = upload(api_with(max_upload_bytes=10), "alice", "code,name\n" + "A,a\n" * 30_000)
    assert big.status_code == 413


def test_a_commit_of_many_rows_completes_on_either_database(api, monkeypatch):
    """The worker's progress never competes with its own import for SQLite's one writer."""
    monkeypatch.setattr("batchport.commands.steps.PROGRESS_EVERY", 0)
    text = "code,name\n" + "".join(f"C{i},Unit {i}\n" for i in range(25_000))
    session = upload(api, "alice", text).json()
    assert session["rows_total"] == 25_000
    wait_for(api, "alice", session["id"], "valid")
    api("alice", "POST", f"/sessions/{session['id']}/commit")
    done = wait_for(api, "alice", session["id"], "committed", "failed")
    assert done["status"] == "committed", done["message"]
    assert done["created"] == {"departments": 25_000}


def test_an_account_is_not_the_os_user_of_the_same_name(api, db, csv_file):
    """alice the API account cannot roll back what alice the operating-system user imported
    from the CLI; history tells the two apart; an admin may still roll it back."""
    from_cli = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice", via=Via.cli)
    job = api("vic", "GET", f"/jobs/{from_cli.job_id}").json()
    assert (job["imported_by"], job["imported_via"]) == ("alice", "cli")
    refused = api("alice", "POST", f"/batches/{from_cli.batch_id}/rollback", json={})
    assert refused.status_code == 403, refused.text
    assert "imported by another account" in refused.json()["error"]["message"]
    assert roll_back(api, "root", from_cli.batch_id, json={})["status"] == "rolled_back"
    job = api("vic", "GET", f"/jobs/{from_cli.job_id}").json()
    assert (job["rolled_back_by"], job["rolled_back_via"]) == ("root", "api")


def test_a_csv_read_as_told_and_a_whole_workbook(api, xlsx_file):
    """A CSV in Windows-1251 with semicolons, read with the encoding and delimiter the upload
    names; a workbook whose sheets are import types, validated and committed as one batch."""
    text = "code;name\nMSK;Москва\n".encode("cp1251")
    told = api(
        "alice",
        "POST",
        "/sessions",
        data={"import_type": "departments", "encoding": "cp1251", "delimiter": ";"},
        files={"file": ("cities.csv", text, "text/csv")},
    )
    assert told.status_code == 201, told.text
    assert (told.json()["encoding"], told.json()["delimiter"]) == ("cp1251", ";")
    valid = wait_for(api, "alice", told.json()["id"], "valid", "invalid", "failed")
    assert valid["status"] == "valid", valid["message"]
    book = xlsx_file(
        {
            "departments": [["code", "name"], ["HQ", "Head office"]],
            "users": [
                ["email", "first_name", "last_name", "department_codes"],
                ["a@x.org", "A", "B", "HQ"],
            ],
        }
    )
    session = api(
        "alice",
        "POST",
        "/sessions",
        data={"import_type": "workbook"},
        files={"file": ("book.xlsx", book.read_bytes(), "application/octet-stream")},
    ).json()
    checked = wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    assert checked["status"] == "valid", checked["message"]
    assert checked["created"]["departments"] == 1 and checked["created"]["users"] == 1
    api("alice", "POST", f"/sessions/{session['id']}/commit")
    done = wait_for(api, "alice", session["id"], "committed", "failed")
    assert done["status"] == "committed", done["message"]
    batch = api("alice", "GET", f"/batches/{done['batch_id']}").json()
    assert batch["import_type"] == "workbook"
    assert batch["rows"]["departments"] == 1 and batch["rows"]["users"] == 1


def test_a_sample_of_rows_as_they_will_be_stored(api, db):
    """The review's sample: each field parsed as the import parses it, as it will be stored."""
    text = (
        "email,first_name,last_name,department_codes,is_active\n"
        " Ann@X.org ,Ann,Lee,HQ;FIN,no\nbo@x.org,Bo,Ng,HQ,\n"
    )
    session = upload(api, "alice", text, import_type="users").json()
    wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    sample = commands.sample_rows(db, session["id"])
    assert [(r["email"], r["department_codes"], r["is_active"]) for r in sample] == [
        ("ann@x.org", ("HQ", "FIN"), False),  # trimmed and lower-cased, as stored
        ("bo@x.org", ("HQ",), None),
    ]
