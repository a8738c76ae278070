"""The API can do what the CLI does: a whole workbook as one batch, a file read with the
CLI's `--sheet`, `--encoding` and `--delimiter`, a rollback with no body; and it says things
as the CLI's `--json` does: one style of error code, every time in UTC with its offset, a
session's counts named as an import report's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchport import ImportReport, commands, errors, reports, run_import
from batchport.reports import Job
from batchport.schema import import_sessions
from batchport.service import problems
from batchport.sessions import Session
from tests.helpers import DEPARTMENTS_CSV, roll_back, upload, wait_for

#: The counts an import report and a session share, with the same names.
COUNTS = ("rows_total", "rows_imported", "created", "updated", "skipped", "unchanged")
#: What every error code looks like.
SNAKE = re.compile(r"^[a-z]+(_[a-z]+)*$")
#: A time as the API and the CLI's `--json` write it: ISO 8601, UTC, with its offset.
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


def send_file(api, who, name, content, **form):
    """Uploads `content` as the file `name` with the form's other fields; the response."""
    return api(who, "POST", "/sessions", data=form, files={"file": (name, content, "text/csv")})


def committed(api, who, session_id):
    """Waits for the session's validation, commits it and waits for its import."""
    valid = wait_for(api, who, session_id, "valid", "invalid", "failed")
    assert valid["status"] == "valid", valid
    assert api(who, "POST", f"/sessions/{session_id}/commit").status_code == 202
    done = wait_for(api, who, session_id, "committed", "failed")
    assert done["status"] == "committed", done["message"]
    return done


BOOK = {
    "departments": [["code", "name", "parent_code"], ["HQ", "Head office", ""], ["FIN", "F", "HQ"]],
    "users": [
        ["email", "first_name", "last_name", "department_codes"],
        ["ann@x.org", "Ann", "Lee", "FIN;HQ"],
    ],
    "notes": [["anything"], ["ignored: no import type is called notes"]],
}


def test_a_workbook_imports_every_type_sheet_as_one_batch_as_the_cli_does(api, db, xlsx_file):
    """`import_type=workbook`: the sheets named after import types validate and commit as one
    job with one batch (other sheets ignored), counted as the CLI's dry run counts them; the
    batch rolls back whole."""
    book = xlsx_file(BOOK, name="book.xlsx")
    cli = commands.run_workbook_import(db, book, actor="t", dry_run=True)
    session = send_file(api, "alice", "book.xlsx", book.read_bytes(), import_type="workbook")
    assert session.status_code == 201, session.text
    valid = wait_for(api, "alice", session.json()["id"], "valid", "invalid", "failed")
    assert valid["created"] == {"departments": 2, "users": 1, "user_departments": 2}
    assert valid["created"] == {k: v for r in cli for k, v in r.created.items()}
    assert valid["rows_total"] == sum(r.rows_total for r in cli) == 3
    done = committed(api, "alice", valid["id"])
    assert (done["rows_imported"], done["created"]["users"]) == (3, 1)
    batch = api("alice", "GET", f"/batches/{done['batch_id']}").json()
    assert batch["import_type"] == "workbook" and batch["job_id"] == done["job_id"]
    assert batch["rows"] == {"departments": 2, "users": 1, "user_departments": 2}
    jobs = api("alice", "GET", "/jobs").json()["jobs"]
    assert [j["batch_id"] for j in jobs] == [done["batch_id"]]  # one job for three sheets
    assert (jobs[0]["imported_by"], jobs[0]["imported_via"]) == ("alice", "api")
    undone = roll_back(api, "alice", done["batch_id"])["report"]
    assert undone["deleted"] == {"departments": 2, "users": 1, "user_departments": 2}


def test_a_workbooks_errors_name_their_sheet(api, xlsx_file):
    """An invalid workbook: every error names its sheet, in the errors' pages and in the error
    CSV; nothing can be committed."""
    bad = {
        "departments": [["code", "name"], ["HQ", ""]],
        "users": [
            ["email", "first_name", "last_name", "department_codes"],
            ["nope", "A", "B", "X"],
        ],
    }
    book = xlsx_file(bad, name="bad.xlsx")
    session = send_file(api, "alice", "bad.xlsx", book.read_bytes(), import_type="workbook").json()
    invalid = wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    assert invalid["status"] == "invalid", invalid["message"]
    found = api("alice", "GET", f"/sessions/{session['id']}/errors").json()["errors"]
    assert {e["sheet"] for e in found} == {"departments", "users"}
    assert {(e["sheet"], e["row"], e["column"]) for e in found} >= {
        ("departments", 2, "name"),
        ("users", 2, "email"),
    }
    exported = api("alice", "GET", f"/sessions/{session['id']}/errors.csv")
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][0] == "sheet"
    assert {line[0] for line in lines[1:]} == {"departments", "users"}
    refused = api("alice", "POST", f"/sessions/{session['id']}/commit")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "session_conflict")


def test_a_workbook_upload_that_is_no_workbook_fails_saying_so(api):
    """A CSV uploaded as `workbook` fails its validation with the reason, naming the upload."""
    session = upload(api, "alice", DEPARTMENTS_CSV, import_type="workbook").json()
    failed = wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    assert failed["status"] == "failed"
    assert "a workbook import reads an .xlsx" in failed["message"]
    assert failed["message"].startswith("data.csv")


def test_a_workbook_for_one_type_is_read_at_its_sheet(api, xlsx_file):
    """`sheet` picks the sheet of a workbook uploaded for one import type, as `--sheet` does;
    a sheet the workbook lacks fails the validation naming the sheets it has."""
    book = xlsx_file(
        {"cover": [["nothing", "here"]], "units": [["code", "name"], ["OPS", "Operations"]]}
    ).read_bytes()
    told = send_file(api, "alice", "b.xlsx", book, import_type="departments", sheet="units")
    assert told.status_code == 201, told.text
    assert told.json()["sheet"] == "units" and told.json()["rows_total"] == 1
    done = committed(api, "alice", told.json()["id"])
    records = api(
        "alice", "GET", f"/batches/{done['batch_id']}", params={"table": "departments"}
    ).json()["records"]
    assert [(r["code"], r["name"]) for r in records] == [("OPS", "Operations")]

    first = send_file(api, "alice", "b.xlsx", book, import_type="departments").json()
    assert first["sheet"] is None
    checked = wait_for(api, "alice", first["id"], "valid", "invalid", "failed")
    assert checked["status"] == "invalid"  # the first sheet, `cover`, has no code or name

    missing = send_file(api, "alice", "b.xlsx", book, import_type="departments", sheet="x")
    failed = wait_for(api, "alice", missing.json()["id"], "valid", "invalid", "failed")
    assert failed["status"] == "failed"
    assert "no sheet 'x'; its sheets: cover, units" in failed["message"]
    assert failed["message"].startswith("b.xlsx")


@pytest.mark.parametrize(
    ("encoding", "delimiter", "stored"),
    [
        ("latin-1", "|", "iso8859-1"),  # any spelling Python knows
        ("UTF8", "tab", "utf-8"),  # a delimiter named in words, as the CLI takes it
        ("cp1252", "semicolon", "cp1252"),
    ],
)
def test_a_csv_is_read_with_any_encoding_and_delimiter_the_cli_takes(
    api, rows, encoding, delimiter, stored
):
    """`encoding` and `delimiter` are taken as the CLI's options take them and passed to the
    reader; the session shows the encoding's canonical name."""
    separator = {"|": "|", "tab": "\t", "semicolon": ";"}[delimiter]
    text = f"code{separator}name\nZRH{separator}Zürich\n"
    content = text.encode("utf-8" if stored == "utf-8" else "latin-1")
    form = {"import_type": "departments", "encoding": encoding, "delimiter": delimiter}
    told = send_file(api, "alice", "c.csv", content, **form)
    assert told.status_code == 201, told.text
    assert (told.json()["encoding"], told.json()["delimiter"]) == (stored, delimiter)
    committed(api, "alice", told.json()["id"])
    assert [(d["code"], d["name"]) for d in rows("departments")] == [("ZRH", "Zürich")]


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("encoding", "klingon", "unknown encoding 'klingon'"),
        ("encoding", "rot13", "unknown encoding 'rot13'"),  # a codec, but not of text
        ("encoding", "base64", "unknown encoding 'base64'"),
        ("delimiter", "::", "'::' cannot separate cells"),
        ("delimiter", '"', "'\"' cannot separate cells"),
        ("delimiter", "\n", "'\\n' cannot separate cells"),
        ("sheet", "s" * 256, "a sheet's name is text of 1 to 255 characters"),
    ],
)
def test_an_unknown_encoding_or_a_bad_delimiter_is_a_422_that_says_why(api, db, field, value, said):
    """An encoding Python does not know as text, a delimiter that cannot separate cells: 422
    `invalid_request`, its message naming the field and what is wrong (no CLI flag), nothing
    kept."""
    answer = upload(api, "alice", DEPARTMENTS_CSV, **{field: value})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"{field}: ") and said in error["message"]
    assert error["details"] == [{"loc": ["body", field], "msg": error["message"][len(field) + 2 :]}]
    assert "--" not in error["message"]
    refusal = commands.audit_log(db)[0]
    assert (refusal["action"], refusal["outcome"]) == ("upload", "refused")


def test_a_rollback_needs_no_body(api):
    """POST /batches/{id}/rollback with no body at all rolls back; `reason` and
    `force_edited` still work when given, and a token rotates with no body too."""
    sessions = [upload(api, "alice", f"code,name\nB{i},Branch\n").json() for i in range(3)]
    batches = [committed(api, "alice", s["id"])["batch_id"] for s in sessions]
    bare = roll_back(api, "alice", batches[0])["report"]
    assert (bare["status"], bare["reason"], bare["forced"]) == ("rolled_back", None, False)
    typed = roll_back(
        api, "alice", batches[1], content=b"", headers={"Content-Type": "application/json"}
    )
    assert typed["status"] == "rolled_back"
    told = roll_back(api, "alice", batches[2], json={"reason": "wrong file", "force_edited": True})
    assert (told["reason"], told["force_edited"]) == ("wrong file", True)
    assert (told["report"]["reason"], told["report"]["forced"]) == ("wrong file", True)
    job = api("alice", "GET", f"/jobs/{batches[2]}").json()
    assert (job["rollback_reason"], job["rollback_forced"]) == ("wrong file", True)
    assert api("alice", "POST", f"/batches/{batches[0]}/rollback", json={"x": 1}).status_code == 422
    rotated = api("root", "POST", "/accounts/bob/rotate")
    assert rotated.status_code == 200 and rotated.json()["token"].startswith("bp_")


def every_batchport_error() -> list[type[errors.BatchportError]]:
    found, todo = [], [errors.BatchportError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return found


@pytest.mark.parametrize("kind", every_batchport_error(), ids=lambda k: k.__name__)
def test_every_error_code_is_snake_case(kind):
    """A BatchportError's code is its class name in snake_case, for the API and the CLI."""
    error = kind.__new__(kind)  # the code depends on the class alone
    code = errors.code_of(error)
    assert SNAKE.match(code), code
    assert code.replace("_", "") == kind.__name__.lower()


def test_the_service_codes_are_snake_case_and_so_is_anything_else():
    """The service's own codes, those of HTTP errors no route raised, and an exception that
    is not batchport's (`internal_error`) are snake_case too."""
    assert all(SNAKE.match(code) for code in problems.CODES)
    assert all(SNAKE.match(problems.http_code(status)) for status in range(400, 512))
    assert problems.http_code(415) == "unsupported_media_type"
    assert errors.code_of(RuntimeError("boom")) == "internal_error"


def test_every_code_the_service_writes_is_listed():
    """Every code a `Problem` (or a bare error answer) of the service's source names is one of
    `problems.CODES`, the list the README documents."""
    source = Path(problems.__file__).parent
    written = {
        code
        for path in source.rglob("*.py")
        for code in re.findall(r'(?:Problem|error)\(\s*\d{3},\s*"([^"]+)"', path.read_text())
    }
    assert written and written <= problems.CODES


def test_the_codes_the_api_answers_are_snake_case(api, monkeypatch):
    """Each kind of refusal, as a client meets it: every code snake_case, and each as
    documented."""
    session = upload(api, "alice", DEPARTMENTS_CSV).json()
    done = committed(api, "alice", session["id"])
    roll_back(api, "alice", done["batch_id"])
    answers = {
        "unauthenticated": api(None, "GET", "/jobs"),
        "forbidden": api("vic", "POST", f"/sessions/{session['id']}/commit"),
        "not_found": api("root", "GET", "/nowhere"),
        "method_not_allowed": api("root", "DELETE", "/jobs"),
        "invalid_request": api("root", "GET", "/jobs", params={"limit": "many"}),
        "session_not_found": api("root", "GET", "/sessions/nope"),
        "batch_not_found": api("root", "GET", "/batches/nope"),
        "batch_not_rollbackable": api("root", "POST", f"/batches/{done['batch_id']}/rollback"),
        "account_exists": api("root", "POST", "/accounts", json={"name": "bob", "role": "viewer"}),
        "account_not_found": api("root", "POST", "/accounts/nobody/disable"),
        "configuration_error": api(
            "root", "GET", f"/batches/{done['batch_id']}", params={"table": "nope"}
        ),
    }
    monkeypatch.setattr(commands, "list_history", _broken)
    answers["internal_error"] = api("root", "GET", "/jobs")
    codes = {expected: answer.json()["error"]["code"] for expected, answer in answers.items()}
    assert codes == {expected: expected for expected in answers}
    assert answers["internal_error"].status_code == 500
    assert answers["internal_error"].json()["error"]["message"] == "internal error"
    assert answers["internal_error"].headers["X-Content-Type-Options"] == "nosniff"


def _broken(*_args, **_kwargs):
    raise RuntimeError("a bug, with /secret/paths in its text")


def times_in(value, path=""):
    """Every (path, value) of a JSON value whose key says it is a time."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (key.endswith("_at") or key == "at") and item is not None:
                yield f"{path}.{key}", item
            else:
                yield from times_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from times_in(item, f"{path}[{index}]")


def test_every_time_the_api_answers_is_utc_with_its_offset(api_with, db):
    """Jobs, a batch, a rollback's job, sessions, accounts (with a token's expiry) and the
    audit log: every time is ISO 8601 in UTC with `+00:00`, on SQLite as on PostgreSQL, even
    where PostgreSQL's own time zone is another."""
    if db.dialect.name == "postgresql":  # its answers would come in +05:30
        database = db.engine.url.database
        with db.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"ALTER DATABASE {database} SET TIME ZONE 'Asia/Kolkata'")
        db.engine.dispose()  # before the app starts: every connection from now on is in +05:30
        with db.connect() as conn:
            assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "Asia/Kolkata"
    api = api_with()
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    session = upload(api, "alice", DEPARTMENTS_CSV).json()
    done = committed(api, "alice", session["id"])
    rollback = roll_back(api, "alice", done["batch_id"])
    api("root", "POST", "/accounts", json={"name": "eve", "role": "viewer", "expires_in": "30d"})
    answers = {
        "jobs": api("vic", "GET", "/jobs"),
        "job": api("vic", "GET", f"/jobs/{done['job_id']}"),
        "batch": api("vic", "GET", f"/batches/{done['batch_id']}"),
        "session": api("alice", "GET", f"/sessions/{session['id']}"),
        "upload": upload(api, "alice", DEPARTMENTS_CSV),
        "accounts": api("root", "GET", "/accounts"),
        "audit": api("root", "GET", "/audit"),
        "rollback": api("alice", "GET", f"/rollbacks/{rollback['id']}"),
    }
    found = {
        f"{name}{path}": value
        for name, answer in answers.items()
        for path, value in times_in(answer.json())
    }
    expected = {
        "jobs.jobs[0].started_at",
        "job.completed_at",
        "job.rolled_back_at",
        "batch.started_at",
        "session.created_at",
        "session.updated_at",
        "session.expires_at",
        "upload.created_at",
        "audit.entries[0].at",
        "rollback.created_at",
        "rollback.updated_at",
    }
    assert expected <= set(found), sorted(found)
    wrong = {path: value for path, value in found.items() if not UTC_TIME.match(value)}
    assert wrong == {}
    now = dt.datetime.now(dt.UTC)
    for path in (
        "job.started_at",
        "job.rolled_back_at",
        "session.created_at",
        "audit.entries[0].at",
        "rollback.updated_at",
    ):
        assert before <= dt.datetime.fromisoformat(found[path]) <= now, path  # not 5½ h off
    eve = next(a for a in answers["accounts"].json() if a["name"] == "eve")
    assert UTC_TIME.match(eve["token_expires_at"]) and UTC_TIME.match(eve["created_at"])
    expiry = dt.datetime.fromisoformat(eve["token_expires_at"]) - now
    assert dt.timedelta(days=29) < expiry <= dt.timedelta(days=30)


def test_the_clis_json_writes_times_as_the_api_does():
    """`to_json` (the CLI's `--json`) writes a time without a zone (SQLite's) as UTC, and one
    in another zone converted to UTC: the same text the API answers."""
    naive = dt.datetime(2026, 12, 1, 21, 40, 0, 123456)
    kolkata = dt.timezone(dt.timedelta(hours=5, minutes=30))
    job = Job(**{f.name: None for f in fields(Job)})
    shown = replace(
        job, started_at=naive, completed_at=naive.replace(hour=3, minute=10, tzinfo=kolkata)
    ).to_json()
    assert shown["started_at"] == "2026-12-01T21:40:00.123456+00:00"
    assert shown["completed_at"] == "2026-11-30T21:40:00.123456+00:00"
    assert reports.json_values({"day": dt.date(2026, 12, 1)}) == {"day": "2026-12-01"}


def test_a_sessions_counts_are_an_import_reports(api, db, csv_file):
    """After validation a session's counts are those of the CLI's dry run of the same file,
    under the same names; after the commit, those of the import itself."""
    run_import(db, "departments", csv_file([["code", "name"], ["HQ", "Head"]]), actor="t")
    text = "code,name\nHQ,Head\nFIN,Finance\n"
    same = csv_file([row.split(",") for row in text.splitlines()], name="same.csv")
    dry = run_import(db, "departments", same, actor="t", dry_run=True, on_existing="update")
    assert set(COUNTS) <= set(dry.to_json())
    session = upload(api, "alice", text, on_existing="update").json()
    valid = wait_for(api, "alice", session["id"], "valid", "invalid", "failed")
    assert {k: valid[k] for k in COUNTS} == {k: dry.to_json()[k] for k in COUNTS}
    assert (valid["created"], valid["unchanged"]) == ({"departments": 1}, 1)
    done = committed(api, "alice", session["id"])
    job = api("alice", "GET", f"/jobs/{done['job_id']}").json()
    assert {k: done[k] for k in COUNTS} == {
        "rows_total": job["rows_total"],
        "rows_imported": job["rows_imported"],
        "created": {"departments": 1},
        "updated": job["rows_updated"],
        "skipped": job["rows_skipped"],
        "unchanged": job["rows_unchanged"],
    }
    assert (done["rows_imported"], done["unchanged"]) == (1, 1)


def test_a_session_has_a_reports_count_fields():
    """The session's model declares every count of an import report, with its name."""
    assert set(COUNTS) <= {f.name for f in fields(ImportReport)} & {f.name for f in fields(Session)}


def test_a_session_written_before_the_counts_had_their_names_still_reads(db, api):
    """A session a previous version validated (its counts mixed with its tables) reads as
    one with the report's counts."""
    session = upload(api, "alice", DEPARTMENTS_CSV).json()
    wait_for(api, "alice", session["id"], "valid")
    with db.connect() as conn, conn.begin():
        conn.execute(
            sa.update(import_sessions)
            .where(import_sessions.c.id == session["id"])
            .values(created='{"departments": 2, "updated": 0, "skipped": 3, "unchanged": 1}')
        )
    found = api("alice", "GET", f"/sessions/{session['id']}").json()
    assert (found["created"], found["skipped"], found["unchanged"], found["rows_imported"]) == (
        {"departments": 2},
        3,
        1,
        0,
    )


@pytest.mark.parametrize("import_type", ["departments", "workbook"])
def test_a_validation_in_a_write_transaction_is_not_stalled_by_its_progress(
    api, monkeypatch, xlsx_file, import_type
):
    """A validation that checks its rows inside a write transaction (rows that may update
    existing ones, a workbook's sheets) is not stalled by its own progress: on SQLite, whose
    one write lock it holds, the progress waits for it, not the validation for the progress."""
    monkeypatch.setattr("batchport.commands.steps.PROGRESS_EVERY", 0)  # every count written
    rows = [["code", "name"], *([f"C{i}", f"Unit {i}"] for i in range(3000))]
    if import_type == "workbook":
        book = xlsx_file({"departments": rows}, name="book.xlsx").read_bytes()
        sent = send_file(api, "alice", "book.xlsx", book, import_type="workbook")
    else:
        text = "".join(f"{code},{name}\n" for code, name in rows)
        sent = upload(api, "alice", text, on_existing="update")
    started = time.monotonic()
    valid = wait_for(api, "alice", sent.json()["id"], "valid", "invalid", "failed")
    assert valid["status"] == "valid", valid["message"]
    assert (valid["rows_read"], valid["created"]) == (3000, {"departments": 3000})
    assert time.monotonic() - started < 20  # SQLite's busy timeout is 60 s
