"""Every endpoint, every role, own or another account's session and batch: the status the
rules call for, and a 403 is audited."""

from __future__ import annotations

import itertools

from tests.helpers import DEPARTMENTS_CSV, upload, wait_for

OK = {200}
CALLERS = ("root", "alice", "bob", "vic", None)  # admin, owner, other importer, viewer, nobody


def matrix(session: str, job: str, batch: str) -> list[tuple[str, str, dict, dict]]:
    """(method, url, request kwargs, expected status per caller) — the objects are alice's."""
    counter = itertools.count()
    owner_only = {"root": OK, "alice": OK, "bob": {403}, "vic": {403}, None: {401}}
    readers = {"root": OK, "alice": OK, "bob": OK, "vic": OK, None: {401}}
    admin_only = {"root": OK, "alice": {403}, "bob": {403}, "vic": {403}, None: {401}}
    importers = {"root": {201}, "alice": {201}, "bob": {201}, "vic": {403}, None: {401}}
    return [
        ("GET", "/health", {}, dict.fromkeys(CALLERS, OK)),
        ("GET", f"/sessions/{session}", {}, owner_only),
        ("GET", f"/sessions/{session}/errors", {}, owner_only),
        ("GET", f"/sessions/{session}/errors.csv", {}, owner_only),
        (
            "POST",
            f"/sessions/{session}/commit",
            {},
            {"root": {202}, "alice": {202}, "bob": {403}, "vic": {403}, None: {401}},
        ),
        (
            "POST",
            "/sessions",
            {
                "data": {"import_type": "departments"},
                "files": {"file": ("d.csv", DEPARTMENTS_CSV.encode(), "text/csv")},
            },
            importers,
        ),
        ("GET", "/jobs", {}, readers),
        ("GET", f"/jobs/{job}", {}, readers),
        ("GET", f"/batches/{batch}", {"params": {"table": "departments"}}, readers),
        ("GET", f"/batches/{batch}/rollback", {}, readers),
        ("GET", "/accounts", {}, admin_only),
        (
            "POST",
            "/accounts",
            {"json_factory": lambda: {"name": f"n{next(counter)}", "role": "viewer"}},
            {"root": {201}, "alice": {403}, "bob": {403}, "vic": {403}, None: {401}},
        ),
        ("GET", "/audit", {}, admin_only),
        # Last: the first allowed caller rolls the batch back, the next is told it is done.
        (
            "POST",
            f"/batches/{batch}/rollback",
            {"json": {"reason": "matrix"}},
            {"root": {200, 409}, "alice": {200, 409}, "bob": {403}, "vic": {403}, None: {401}},
        ),
    ]


def test_every_endpoint_role_and_owner(api):
    session = upload(api, "alice", DEPARTMENTS_CSV).json()["id"]
    wait_for(api, "alice", session, "valid")
    job = api("alice", "POST", f"/sessions/{session}/commit").json()["job_id"]
    wait_for(api, "alice", session, "committed")
    batch = api("alice", "GET", f"/jobs/{job}").json()["batch_id"]
    checked = 0
    wrong = []
    for method, url, kwargs, expected in matrix(session, job, batch):
        for caller in ("bob", "vic", None, "root", "alice"):
            request = dict(kwargs)
            if "json_factory" in request:
                request["json"] = request.pop("json_factory")()
            answer = api(caller, method, url, **request)
            checked += 1
            if answer.status_code not in expected[caller]:
                wrong.append((method, url, caller, answer.status_code, answer.text[:120]))
            if answer.status_code >= 400:
                assert set(answer.json()["error"]) == {"code", "message", "details"}
    assert wrong == []
    assert checked == 14 * 5
    denials = [
        e
        for e in api("root", "GET", "/audit", params={"limit": 1000}).json()["entries"]
        if e["outcome"] == "denied" and e["action"] != "authenticate"
    ]
    assert len(denials) >= 20 and {e["actor"] for e in denials} == {"alice", "bob", "vic"}
