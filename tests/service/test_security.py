"""The service under attack, in process: revocable and expiring tokens, a throttle on failed
requests that also bounds the audit log, look-alike names, security headers, and answers that
name no server path, no CLI flag and (but to admins) no worker."""

from __future__ import annotations

import datetime as dt
import tempfile

import pytest

from batchport import ConfigurationError, Limits, accounts, commands
from batchport.schema import accounts as accounts_table
from batchport.service.throttle import Throttle
from tests.helpers import DEPARTMENTS_CSV, upload, wait_for


def audit(api, action: str) -> list[dict]:
    entries = api("root", "GET", "/audit", params={"limit": 1000}).json()["entries"]
    return [e for e in entries if e["action"] == action]


def test_a_disabled_account_is_refused_at_once_and_enabled_again(api):
    assert api("alice", "GET", "/jobs").status_code == 200
    assert api("root", "POST", "/accounts/alice/disable").status_code == 204
    assert api("alice", "GET", "/jobs").status_code == 401
    assert api("root", "POST", "/accounts/alice/enable").status_code == 204
    assert api("alice", "GET", "/jobs").status_code == 200
    listed = {a["name"]: a for a in api("root", "GET", "/accounts").json()}
    assert listed["alice"]["disabled_at"] is None
    assert [e["detail"] for e in audit(api, "disable account")] == ["alice"]
    assert api("bob", "POST", "/accounts/alice/disable").status_code == 403
    assert api("root", "POST", "/accounts/nobody/disable").status_code == 404


def test_rotation_gives_a_new_token_once_and_the_old_one_stops(api, tokens):
    answer = api("root", "POST", "/accounts/alice/rotate", json={"expires_in": "30d"})
    assert answer.status_code == 200, answer.text
    new = answer.json()["token"]
    assert new != tokens["alice"]
    assert api("alice", "GET", "/jobs").status_code == 401  # the old token
    fresh = api(None, "GET", "/jobs", headers={"Authorization": f"Bearer {new}"})
    assert fresh.status_code == 200
    expires = {a["name"]: a for a in api("root", "GET", "/accounts").json()}["alice"]
    assert expires["token_expires_at"] is not None


def test_an_expired_token_is_refused(api, db):
    assert api("alice", "GET", "/jobs").status_code == 200
    with db.connect() as conn, conn.begin():
        conn.execute(
            accounts_table.update()
            .where(accounts_table.c.name == "alice")
            .values(token_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    assert api("alice", "GET", "/jobs").status_code == 401


def test_an_unknown_token_id_costs_a_hash_check_too(db, tokens, monkeypatch):
    """Whether the id exists or not, one argon2 verification runs: the time tells nothing."""
    checked = []
    real = accounts._verify
    monkeypatch.setattr(accounts, "_verify", lambda h, s: checked.append(h) or real(h, s))
    token_id, _ = accounts.split_token(tokens["alice"])
    assert commands.authenticate(db, f"bp_{token_id}_wrong") is None
    assert commands.authenticate(db, "bp_0000000000000000_wrong") is None
    assert commands.authenticate(db, "not a token") is None
    assert len(checked) == 3 and checked[1] == checked[2] != checked[0]


def test_failed_logins_are_throttled_and_their_audit_bounded(api):
    """Ten failures from one address are audited with method and path; the tenth says the
    address is throttled; after that every attempt, a valid token's too, gets 429 with
    Retry-After and no audit row."""
    for attempt in range(10):
        bad = {"Authorization": f"Bearer bp_{attempt:016x}_guess"}
        assert api(None, "GET", "/jobs", headers=bad).status_code == 401
    for _ in range(5):
        answer = api(None, "GET", "/jobs", headers={"Authorization": "Bearer bp_1_x"})
        assert answer.status_code == 429
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert api("root", "GET", "/jobs").status_code == 429


def test_the_audit_of_failed_logins_stops_at_the_limit(api_with):
    api = api_with(throttle=Throttle(limit=3))
    for _ in range(6):
        api(None, "GET", "/jobs", headers={"Authorization": "Bearer bp_feed_x"})
    fresh = api_with()  # same database, a throttle of its own, to read the log
    rows = audit(fresh, "authenticate")
    assert len(rows) == 3
    assert all(r["detail"].startswith("GET /jobs: ") for r in rows)
    assert "further failures are refused for 60 s" in rows[0]["detail"]  # newest first


def test_throttle_windows_end():
    now = [0.0]
    throttle = Throttle(limit=2, window=10, clock=lambda: now[0])
    assert throttle.failed("address:a", "token:t") == 1
    assert throttle.retry_after("address:a") is None
    assert throttle.failed("address:a") == 2
    assert throttle.retry_after("address:a", "token:t") == 10
    assert throttle.retry_after("token:t") is None  # one failure only
    now[0] = 9.5
    assert throttle.retry_after("address:a") == 1
    now[0] = 10.0
    assert throttle.retry_after("address:a") is None
    assert throttle.failed("address:a") == 1


def test_refused_uploads_are_audited_with_method_and_path(api_with):
    api = api_with(max_upload_bytes=100)
    assert upload(api, "alice", "code,name\n" + "A,a\n" * 100).status_code == 413
    unknown = api(
        "alice",
        "POST",
        "/sessions",
        data={"import_type": "departments", "owner": "root"},
        files={"file": ("d.csv", b"code,name\nA,a\n", "text/csv")},
    )
    assert unknown.status_code == 422
    rows = audit(api_with(), "upload")
    assert [(r["actor"], r["outcome"]) for r in rows] == [("alice", "refused")] * 2
    assert rows[1]["detail"].startswith("POST /sessions: 413 ")
    assert rows[0]["detail"] == "POST /sessions: 422 unknown form fields"


def test_look_alike_account_names_are_refused(api, db):
    for name in ("ali\u200bce", "\u202eecila", "bob\u2060", "ro\u00adot"):
        answer = api("root", "POST", "/accounts", json={"name": name, "role": "viewer"})
        assert answer.status_code == 422, name
        with pytest.raises(ConfigurationError, match="invisible or direction characters"):
            commands.create_account(db, name, "viewer", actor="test")
    made = api("root", "POST", "/accounts", json={"name": "Zoë Ng", "role": "viewer"})
    assert made.status_code == 201


def test_every_answer_carries_the_security_headers(api):
    for who, path in [(None, "/health"), (None, "/jobs"), ("vic", "/jobs"), ("vic", "/nope")]:
        answer = api(who, "GET", path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["Cache-Control"] == "no-store", path
        assert answer.headers["Referrer-Policy"] == "no-referrer", path
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"], path


def test_answers_name_no_server_path_no_flag_and_no_worker_but_to_admins(api_with, tokens):
    api = api_with(limits=Limits(max_rows=2))
    too_many = upload(api, "alice", "code,name\nA,a\nB,b\nC,c\n")
    assert too_many.status_code == 413
    message = too_many.json()["error"]["message"]
    assert "data.csv" in message and tempfile.gettempdir() not in message
    assert "--" not in message
    session = upload(api, "alice", "\x00\x01binary").json()
    failed = wait_for(api, "alice", session["id"], "invalid", "failed")
    assert failed["message"].startswith("data.csv: "), failed["message"]
    done = upload(api, "alice", DEPARTMENTS_CSV).json()
    wait_for(api, "alice", done["id"], "valid")
    job_id = api("alice", "POST", f"/sessions/{done['id']}/commit").json()["job_id"]
    wait_for(api, "alice", done["id"], "committed")
    assert api("alice", "GET", f"/jobs/{job_id}").json()["worker"] is None
    assert api("vic", "GET", "/jobs").json()["jobs"][0]["worker"] is None
    assert api("root", "GET", f"/jobs/{job_id}").json()["worker"]
