"""The web UI in a real browser: Playwright driving Debian's Chromium against `batchport
serve` on loopback (PostgreSQL)."""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import xlsxwriter
from playwright.sync_api import Page, Route, expect

from batchport import BUILTIN_TYPES, Database, commands, run_import
from tests.helpers import Server, manual_sql

pytestmark = pytest.mark.slow

CSV = "code,name,parent_code\nHQ,Headquarters,\nFIN,Finance,HQ\n"


@pytest.fixture
def site(pg) -> Iterator[tuple[Server, dict[str, str]]]:
    """A real server, alice's committed departments batch, and tokens for root and vic."""
    url, token = pg
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    tokens = {
        "alice": token,
        "root": commands.create_account(db, "root", "admin", actor="test"),
        "vic": commands.create_account(db, "vic", "viewer", actor="test"),
    }
    db.dispose()
    server = Server(url, token)
    session = server.upload(CSV)
    server.wait(session["id"], "valid")
    server.client.post(f"/sessions/{session['id']}/commit")
    server.wait(session["id"], "committed")
    yield server, tokens
    server.stop()


def sign_in(page: Page, server: Server, token: str) -> None:
    page.goto(f"http://127.0.0.1:{server.port}/ui/")
    expect(page).to_have_url(f"http://127.0.0.1:{server.port}/ui/signin")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()


def test_sign_in_roll_back_with_a_reason_and_sign_out(browser, site, pg):
    """alice signs in (a bad token first), finds her batch in the history, previews its
    rollback, is asked for a reason, rolls it back: the rows are gone and the batch says who
    and why; she signs out and the pages want a sign-in again."""
    server, tokens = site
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/ui/signin")
    page.get_by_label("API token").fill("bp_nothing_here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not a valid API token.")
    sign_in(page, server, tokens["alice"])
    row = page.get_by_role("row").filter(has_text="departments")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("alice (api)")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Headquarters")
    page.get_by_role("link", name="Roll back…").click()
    expect(page.get_by_role("row", name="departments")).to_contain_text("2")
    page.get_by_label("Why roll it back?").fill("wrong file")
    page.get_by_role("button", name="Roll back").click()
    # A worker rolls it back; the batch's page follows, then shows it done.
    expect(page.locator(".status")).to_have_text("rolled back", timeout=30_000)
    expect(page.locator("q.reason")).to_have_text("wrong file")
    expect(page.get_by_text("by alice (api)")).to_be_visible()
    engine = sa.create_engine(pg[0])
    try:
        with engine.connect() as conn:
            left = conn.exec_driver_sql("select count(*) from inventory.departments").scalar()
    finally:
        engine.dispose()
    assert left == 0
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"http://127.0.0.1:{server.port}/ui/jobs")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_viewer_is_offered_no_rollback_and_a_forged_post_is_refused(browser, site):
    """vic (viewer) sees the batch but no rollback control; a rollback posted anyway, with
    his own session's token, is refused (403) and the batch stays; a post without the token
    is refused too."""
    server, tokens = site
    page = browser.new_page()
    sign_in(page, server, tokens["vic"])
    page.get_by_role("row").filter(has_text="departments").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Roll back…")).to_have_count(0)
    batch_url = page.url
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"{batch_url}/rollback", form={"reason": "mine now", "csrf": csrf or ""}
    )
    assert forged.status == 403 and "may not rollback" in forged.text()
    tokenless = page.request.post(f"{batch_url}/rollback", form={"reason": "x"})
    assert tokenless.status == 403
    page.reload()
    expect(page.locator(".status")).to_have_text("completed")


def test_upload_review_commit_and_find_it_in_the_history(browser, site):
    """alice uploads a CSV with the file picker, watches it validated, reviews what would be
    created, commits it, follows the import and opens its batch from the history."""
    server, tokens = site
    page = browser.new_page()
    sign_in(page, server, tokens["alice"])
    page.get_by_role("link", name="Upload").click()
    page.get_by_label("What it holds").select_option("departments")
    page.get_by_label("File").set_input_files(
        files=[{"name": "units.csv", "mimeType": "text/csv", "buffer": b"code,name\nOPS,Ops\n"}]
    )
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("units.csv")
    expect(page.locator("[data-status]")).to_have_text("valid", timeout=30_000)
    expect(page.get_by_role("row", name="departments")).to_contain_text("1")
    sample = page.get_by_role("table", name="The first rows, as they will be stored")
    expect(sample.get_by_role("row", name="OPS")).to_contain_text("Ops")
    page.get_by_role("button", name="Commit: import it").click()
    expect(page.locator("[data-status]")).to_have_text("committed", timeout=30_000)
    page.get_by_role("link", name="Open batch").click()
    expect(page.locator(".status")).to_have_text("completed")
    page.get_by_role("link", name="History").click()
    mine = page.get_by_role("row").filter(has_text="units.csv")
    expect(mine).to_contain_text("alice (api)")
    mine.get_by_role("link").click()
    page.get_by_role("link", name="Roll back…").click()
    page.get_by_label("Why roll it back?").fill("a test run")
    page.get_by_role("button", name="Roll back").click()
    expect(page.locator("q.reason")).to_have_text("a test run")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("row").filter(has_text="units.csv")).to_contain_text("rolled back")


def test_an_invalid_workbook_lists_every_error_and_gives_its_csv(browser, site, tmp_path):
    """An XLSX with bad rows: the page lists each error with its row and column, counts the
    kinds of problem, filters by column, and offers the error CSV to download."""
    server, tokens = site
    book = tmp_path / "bad.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    sheet = workbook.add_worksheet("departments")
    for index, row in enumerate([["code", "name"], ["A1", ""], ["A2", ""], ["", "Nameless"]]):
        sheet.write_row(index, 0, row)
    workbook.close()
    page = browser.new_page()
    sign_in(page, server, tokens["alice"])
    page.goto(f"http://127.0.0.1:{server.port}/ui/upload")
    page.get_by_label("File").set_input_files(str(book))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("[data-status]")).to_have_text("invalid", timeout=30_000)
    expect(page.get_by_role("heading", name="3 errors: nothing will be imported")).to_be_visible()
    errors = page.get_by_role("table").last
    expect(errors.get_by_role("row")).to_have_count(4)
    expect(errors).to_contain_text("is required")
    expect(page.get_by_role("table", name="The most frequent problems")).to_contain_text("2")
    page.get_by_label("Column").fill("code")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table").last.get_by_role("row")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the error CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:4] == ["row", "column", "value", "problem"]
    assert sorted((line[0], line[1]) for line in lines[1:]) == [
        ("2", "name"),
        ("3", "name"),
        ("4", "code"),
    ]


def test_an_admin_manages_accounts_and_reads_the_audit_log(browser, site):
    """root creates an account (its token shown once, and it works), gives it a new token (the
    old one stops), disables it, and finds all of it in the audit log, filtered."""
    server, tokens = site
    page = browser.new_page()
    sign_in(page, server, tokens["root"])
    page.get_by_role("link", name="Accounts").click()
    page.get_by_label("Name").fill("carol")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create").click()
    first = page.locator("code.token").inner_text()
    assert server.client.get("/jobs", headers={"Authorization": f"Bearer {first}"}).is_success
    page.get_by_role("button", name="New token for carol").click()
    second = page.locator("code.token").inner_text()
    assert second != first
    assert (
        server.client.get("/jobs", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    )
    page.get_by_role("button", name="Disable carol").click()
    expect(page.get_by_role("row", name="carol")).to_contain_text("disabled")
    assert (
        server.client.get("/jobs", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    )
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Who").fill("root")
    page.get_by_role("button", name="Filter").click()
    actions = page.get_by_role("table").locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert actions[:3] == ["disable account", "rotate token", "create account"]


AXE = Path(__file__).parents[1] / "vendor" / "axe-core" / "axe.min.js"
#: Where the screenshots go when asked for (`BATCHPORT_SCREENSHOTS=docs/screenshots`).
SHOTS = os.environ.get("BATCHPORT_SCREENSHOTS")


def test_every_page_is_accessible_at_desk_and_phone_width(browser, site, tmp_path):
    """axe-core finds no serious or critical violation on any page, at 1024 px and at a
    phone's 390 px, and no page scrolls sideways on the phone (wide tables scroll in their
    own box). The screenshots are the README's, when asked for."""
    server, tokens = site
    base = f"http://127.0.0.1:{server.port}"
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nA,\n")
    found: dict[str, list[str]] = {}
    for width, height in ((1024, 768), (390, 844)):
        context = browser.new_context(
            bypass_csp=True,  # axe is injected as a script; the pages' own policy forbids that
            viewport={"width": width, "height": height},
            color_scheme="light",
        )
        page = context.new_page()
        page.goto(f"{base}/ui/signin")
        _check(page, f"signin-{width}", found)
        sign_in(page, server, tokens["root"])
        _check(page, f"history-{width}", found)
        page.get_by_role("row").filter(has_text="departments").get_by_role("link").click()
        _check(page, f"batch-{width}", found)
        page.get_by_role("link", name="Roll back…").click()
        _check(page, f"rollback-{width}", found)
        page.goto(f"{base}/ui/upload")
        _check(page, f"upload-{width}", found)
        page.get_by_label("File").set_input_files(str(bad))
        page.get_by_role("button", name="Upload and check").click()
        expect(page.locator("[data-status]")).to_have_text("invalid", timeout=30_000)
        # The page reloads itself once the work is done: check the reloaded page.
        expect(
            page.get_by_role("heading", name="1 error: nothing will be imported")
        ).to_be_visible()
        expect(page.locator("[data-follow]")).to_have_count(0)
        page.wait_for_load_state("load")
        _check(page, f"review-{width}", found)
        page.goto(f"{base}/ui/admin/accounts")
        _check(page, f"accounts-{width}", found)
        page.goto(f"{base}/ui/admin/audit")
        _check(page, f"audit-{width}", found)
        context.close()
    assert found == {}, found


def _check(page: Page, name: str, found: dict[str, list[str]]) -> None:
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document)")
    serious = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
        serious.append("the page scrolls sideways")
    if serious:
        found[name] = serious
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_the_api_docs_work_with_no_internet(browser, site):
    """/docs renders Swagger UI from the package: every request the page makes goes to the
    server itself, and the operations are listed."""
    server, _ = site
    page = browser.new_page()
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(f"http://127.0.0.1:{server.port}/")
            else elsewhere.append(request.url)
        ),
    )
    page.goto(f"http://127.0.0.1:{server.port}/docs")
    expect(page.get_by_text("/sessions/{session_id}/commit").first).to_be_visible(timeout=15_000)
    assert elsewhere == []


def test_a_whole_workbook_is_one_upload(browser, site, tmp_path):
    """A workbook with a departments and a users sheet, uploaded as a whole: reviewed and
    committed as one batch holding both."""
    server, tokens = site
    book = tmp_path / "setup.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    workbook.add_worksheet("departments").write_row(0, 0, ["code", "name"])
    workbook.get_worksheet_by_name("departments").write_row(1, 0, ["LAB", "Lab"])
    users = workbook.add_worksheet("users")
    users.write_row(0, 0, ["email", "first_name", "last_name", "department_codes"])
    users.write_row(1, 0, ["ada@x.org", "Ada", "L", "LAB"])
    workbook.close()
    page = browser.new_page()
    sign_in(page, server, tokens["alice"])
    page.goto(f"http://127.0.0.1:{server.port}/ui/upload")
    page.get_by_label("What it holds").select_option("workbook")
    page.get_by_label("File").set_input_files(str(book))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("[data-status]")).to_have_text("valid", timeout=30_000)
    expect(page.get_by_role("row", name="users")).to_contain_text("1")
    page.get_by_role("button", name="Commit: import it").click()
    expect(page.locator("[data-status]")).to_have_text("committed", timeout=30_000)
    page.get_by_role("link", name="Open batch").click()
    expect(page.get_by_role("listitem").filter(has_text="users")).to_contain_text("1")


def test_a_blocked_rollback_shows_its_blockers_and_offers_no_button(browser, site, pg):
    """A user typed in by hand belongs to a department of the batch: the preview names that
    row and what to do, and offers no rollback."""
    server, tokens = site
    db = Database.from_url(pg[0], catalog=BUILTIN_TYPES)
    try:
        manual_sql(
            db,
            "INSERT INTO users (email, first_name, last_name) VALUES ('hand@x.org', 'H', 'M')",
        )
        manual_sql(
            db,
            "INSERT INTO user_departments (user_id, department_id, is_primary) SELECT u.id, "
            "d.id, true FROM users u, inventory.departments d "
            "WHERE u.email = 'hand@x.org' AND d.code = 'FIN'",
        )
    finally:
        db.dispose()
    page = browser.new_page()
    sign_in(page, server, tokens["alice"])
    page.get_by_role("row").filter(has_text="departments").get_by_role("link").click()
    page.get_by_role("link", name="Roll back…").click()
    blocked = "Blocked: rows outside the batch point at its rows"
    expect(page.get_by_role("heading", name=blocked)).to_be_visible()
    expect(page.locator(".blockers")).to_contain_text("user_departments")
    expect(page.locator(".blockers")).to_contain_text("'FIN'")
    expect(page.get_by_text("Delete or change these rows first")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back")).to_have_count(0)


def test_the_batch_page_follows_a_rollback_through_a_server_that_fails(browser, pg, tmp_path):
    """The page follows the rollback asked for while the server fails to answer (no answer,
    then a 503, as while it restarts); once a worker (the test, the server has none) has
    rolled the batch back, the page shows it without a reload by hand."""
    url, token = pg
    source = tmp_path / "d.csv"
    source.write_text(CSV)
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    server = Server(url, token, "--no-worker")
    try:
        report = run_import(db, "departments", source, actor="alice", via="api")
        failures = ["abort", "503"]

        def failing(route: Route) -> None:
            if not failures:
                route.continue_()
            elif failures.pop(0) == "abort":
                route.abort()
            else:
                route.fulfill(status=503, body="restarting")

        page = browser.new_page()
        page.route("**/ui/rollbacks/*/progress", failing)
        sign_in(page, server, token)
        page.goto(f"http://127.0.0.1:{server.port}/ui/batches/{report.batch_id}/rollback")
        page.get_by_label("Why roll it back?").fill("wrong file")
        page.get_by_role("button", name="Roll back").click()
        expect(page.locator("[data-status]")).to_have_text("queued")
        deadline = time.monotonic() + 30
        while failures and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert not failures
        assert commands.run_rollback_request(db)
        expect(page.locator(".status")).to_have_text("rolled back", timeout=30_000)
    finally:
        server.stop()
        db.dispose()
