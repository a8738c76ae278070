"""The web UI's sign-in, in process: the session cookie's flags, expiry and revocation, the
token against request forgery, the sign-in's throttle and audit, and the pages' policy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from batchport import commands, run_import
from batchport.schema import web_sessions
from batchport.service.app import create_app
from batchport.sources import Limits
from tests.helpers import DEPARTMENTS, manual_sql

BrowserFor = Callable[..., TestClient]


@pytest.fixture
def browser_for(db) -> Iterator[BrowserFor]:
    """A browser (a TestClient keeping cookies) signed in with a token, over http or https."""
    clients: list[TestClient] = []

    def make(token: str | None, scheme: str = "http") -> TestClient:
        client = TestClient(
            create_app(db, worker=False), base_url=f"{scheme}://testserver", follow_redirects=False
        )
        client.__enter__()
        clients.append(client)
        if token is not None:
            signed = client.post("/ui/signin", data={"token": token})
            assert signed.status_code == 303, signed.text
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def csrf_of(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_the_session_cookie_is_http_only_strict_and_secure_over_https(browser_for, tokens):
    for scheme, secure in (("http", False), ("https", True)):
        client = browser_for(None, scheme)
        answer = client.post("/ui/signin", data={"token": tokens["alice"]})
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert ("Secure" in cookie) is secure
        assert client.get("/ui/jobs").status_code == 200


def test_a_disabled_account_or_an_expired_session_must_sign_in_again(browser_for, tokens, db):
    alice = browser_for(tokens["alice"])
    bob = browser_for(tokens["bob"])
    assert alice.get("/ui/jobs").status_code == bob.get("/ui/jobs").status_code == 200
    root = browser_for(tokens["root"])
    root.post("/ui/signout", data={"csrf": csrf_of(root, "/ui/jobs")})
    with db.connect() as conn, conn.begin():
        conn.execute(sa.text("UPDATE accounts SET disabled_at = created_at WHERE name = 'alice'"))
        conn.execute(
            web_sessions.update()
            .where(web_sessions.c.account == "bob")
            .values(expires_at=web_sessions.c.created_at)
        )
    for client in (alice, bob, root):
        answer = client.get("/ui/jobs")
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/signin")


def test_a_post_without_the_sessions_token_is_refused(browser_for, tokens, db, csv_file):
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="root")
    root = browser_for(tokens["root"])
    url = f"/ui/batches/{report.batch_id}/rollback"
    for form in ({"reason": "x"}, {"reason": "x", "csrf": "someone else's"}):
        answer = root.post(url, data=form)
        assert answer.status_code == 403 and "request forgery" in answer.text
    assert "completed" in root.get(f"/ui/batches/{report.batch_id}").text
    signout = root.post("/ui/signout", data={})
    assert signout.status_code == 403


def test_sign_ins_are_audited_and_throttled(browser_for, db):
    """Ten failed sign-ins from one address are audited with method and path, then 429."""
    client = browser_for(None)
    codes = [client.post("/ui/signin", data={"token": f"bp_{i}_x"}).status_code for i in range(11)]
    assert codes == [401] * 10 + [429]
    refused = [e for e in commands.audit_log(db) if e["action"] == "sign in"]
    assert len(refused) == 10
    assert all(e["detail"].startswith("POST /ui/signin: ") for e in refused)


def test_pages_run_only_their_own_script(browser_for, tokens):
    client = browser_for(tokens["vic"])
    page = client.get("/ui/jobs")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text and 'src="/ui/static/app.js"' in page.text
    script = client.get("/ui/static/app.js")
    assert script.status_code == 200 and script.headers["Cache-Control"] == "public, max-age=3600"
    assert page.headers["Cache-Control"] == "no-store"


def test_an_upload_page_is_refused_to_viewers_and_to_forged_posts(browser_for, tokens, db):
    """A viewer is offered no upload (the link is not there, the page refuses); an upload
    posted without the session's token is refused before anything is stored."""
    vic = browser_for(tokens["vic"])
    assert 'href="/ui/upload"' not in vic.get("/ui/jobs").text
    assert vic.get("/ui/upload").status_code == 403
    alice = browser_for(tokens["alice"])
    assert 'href="/ui/upload"' in alice.get("/ui/jobs").text
    forged = alice.post(
        "/ui/upload",
        data={"import_type": "departments", "csrf": "not hers"},
        files={"file": ("d.csv", b"code,name\nA,a\n", "text/csv")},
    )
    assert forged.status_code == 403
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM import_sessions")).scalar_one() == 0
    done = alice.post(
        "/ui/upload",
        data={"import_type": "departments", "csrf": csrf_of(alice, "/ui/upload")},
        files={"file": ("d.csv", b"code,name\nA,a\n", "text/csv")},
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/ui/sessions/")


def test_admin_pages_are_for_admins(browser_for, tokens):
    alice = browser_for(tokens["alice"])
    assert "/ui/admin/" not in alice.get("/ui/jobs").text
    for path in ("/ui/admin/accounts", "/ui/admin/audit"):
        assert alice.get(path).status_code == 403
    forged = alice.post(
        "/ui/admin/accounts",
        data={"name": "x", "role": "admin", "csrf": csrf_of(alice, "/ui/jobs")},
    )
    assert forged.status_code == 403
    root = browser_for(tokens["root"])
    assert root.get("/ui/admin/accounts").status_code == 200
    assert root.get("/ui/admin/audit?actor=alice").status_code == 200


def test_a_review_counts_as_an_import_report_and_times_carry_their_offset(
    browser_for, tokens, db, csv_file
):
    """A validated session's page counts what the import would do as its report does (rows
    created per table, then updated, skipped, unchanged); its times are UTC with their
    offset, on SQLite as on PostgreSQL, so that the browser shows them in its own zone."""
    run_import(db, "departments", csv_file([["code", "name"], ["HQ", "Head"]]), actor="root")
    alice = browser_for(tokens["alice"])
    answer = alice.post(
        "/ui/upload",
        data={
            "import_type": "departments",
            "on_existing": "update",
            "csrf": csrf_of(alice, "/ui/upload"),
        },
        files={"file": ("d.csv", b"code,name\nHQ,Head\nFIN,Finance\n", "text/csv")},
    )
    assert answer.status_code == 303, answer.text
    assert commands.work_once(db, Limits())  # the worker's step: validates it
    review = alice.get(answer.headers["location"]).text
    counted = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td></tr>", review)
    assert counted == [
        ("departments created", "1"),
        ("updated", "0"),
        ("skipped", "0"),
        ("unchanged", "1"),
    ]
    times = re.findall(r'<time datetime="([^"]+)"', review)
    assert times and all(t.endswith("+00:00") for t in times)


def test_a_rollback_is_asked_for_then_followed_on_the_batch_page(browser_for, tokens, db, csv_file):
    """The rollback form asks a worker: the batch's page follows the rollback while it
    waits, then says why it failed (an edited row; nothing changed), and once forced, that
    the batch is rolled back. Another importer may not follow alice's rollback."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice", via="api")
    manual_sql(db, "UPDATE {departments} SET name = 'Edited' WHERE code = 'FIN'")
    alice = browser_for(tokens["alice"])
    page = f"/ui/batches/{report.batch_id}"
    form = {"reason": "wrong file", "csrf": csrf_of(alice, f"{page}/rollback")}
    asked = alice.post(f"{page}/rollback", data=form)
    assert (asked.status_code, asked.headers["location"]) == (303, page)
    waiting = alice.get(page).text
    follow = re.search(r'data-follow="(/ui/rollbacks/[^/]+/progress)"', waiting)
    assert follow is not None and "<span data-status>queued</span>" in waiting
    assert alice.get(follow[1]).json() == {"status": "queued", "working": True}
    assert browser_for(tokens["bob"]).get(follow[1]).status_code == 403

    assert commands.run_rollback_request(db)
    assert alice.get(follow[1]).json() == {"status": "failed", "working": False}
    failed = alice.get(page).text
    assert "failed, nothing changed" in failed and "edited after the import" in failed
    assert "data-follow" not in failed and "completed" in failed

    forced = alice.post(f"{page}/rollback", data={**form, "force_edited": "yes"})
    assert forced.status_code == 303
    assert commands.run_rollback_request(db)
    done = alice.get(page).text
    assert "rolled back" in done and "failed, nothing changed" not in done


@pytest.mark.parametrize("after", ["latest_rollback_request", "get_batch"])
def test_a_rollback_ending_while_the_batch_page_is_read_is_never_missed(
    browser_for, tokens, db, csv_file, monkeypatch, after
):
    """The worker ends the rollback right after one of the page's two reads (the request
    asked for, the batch): the page shows the batch rolled back, or follows the rollback
    (which then reloads it), never the batch as it was with nothing left to follow."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice", via="api")
    alice = browser_for(tokens["alice"])
    page = f"/ui/batches/{report.batch_id}"
    form = {"reason": "wrong file", "csrf": csrf_of(alice, f"{page}/rollback")}
    assert alice.post(f"{page}/rollback", data=form).status_code == 303
    read = getattr(commands, after)

    def then_the_worker(*args: object, **kwargs: object) -> object:
        found = read(*args, **kwargs)
        monkeypatch.setattr(commands, after, read)
        assert commands.run_rollback_request(db)
        return found

    monkeypatch.setattr(commands, after, then_the_worker)
    shown = alice.get(page).text
    assert commands.get_job(db, report.batch_id).status == "rolled_back"
    status = re.search(r'<span class="status [a-z_]+">([a-z ]+)</span>', shown)
    assert status is not None
    assert status[1] == "rolled back" or "data-follow" in shown
