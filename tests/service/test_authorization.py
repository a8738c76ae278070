"""Every endpoint, every role, own or another account's session and batch: the status the
rules call for, and a 403 is audited."""

from __future__ import annotations

import itertools
from collections import Counter

from batchport.service.throttle import Throttle
from tests.helpers import DEPARTMENTS_CSV, upload, wait_for

OK = {200}
CALLERS = ("root", "alice", "bob", "vic", None)  # admin, owner, other importer, viewer, nobody


def matrix(session: str, job: str, batch: str) -> list[tuple[str, str, dict, dict, str]]:
    """(method, url, request kwargs, expected status per caller, the action a 403 audits) —
    the objects are alice's."""
    counter = itertools.count()
    owner_only = {"root": OK, "alice": OK, "bob": {403}, "vic": {403}, None: {401}}
    readers = {"root": OK, "alice": OK, "bob": OK, "vic": OK, None: {401}}
    admin_only = {"root": OK, "alice": {403}, "bob": {403}, "vic": {403}, None: {401}}
    importers = {"root": {201}, "alice": {201}, "bob": {201}, "vic": {403}, None: {401}}
    admin_changes = {"root": {204}, "alice": {403}, "bob": {403}, "vic": {403}, None: {401}}
    return [
        ("GET", "/health", {}, dict.fromkeys(CALLERS, OK), ""),
        ("GET", f"/sessions/{session}", {}, owner_only, "read session"),
        ("GET", f"/sessions/{session}/errors", {}, owner_only, "read session"),
        ("GET", f"/sessions/{session}/errors.csv", {}, owner_only, "read session"),
        (
            "POST",
            f"/sessions/{session}/commit",
            {},
            {"root": {202}, "alice": {202}, "bob": {403}, "vic": {403}, None: {401}},
            "commit",
        ),
        (
            "POST",
            "/sessions",
            {
                "data": {"import_type": "departments"},
                "files": {"file": ("d.csv", DEPARTMENTS_CSV.encode(), "text/csv")},
            },
            importers,
            "upload",
        ),
        ("GET", "/jobs", {}, readers, ""),
        ("GET", f"/jobs/{job}", {}, readers, ""),
        ("GET", f"/batches/{batch}", {"params": {"table": "departments"}}, readers, ""),
        ("GET", f"/batches/{batch}/rollback", {}, readers, ""),
        ("GET", "/accounts", {}, admin_only, "list accounts"),
        (
            "POST",
            "/accounts",
            {"json_factory": lambda: {"name": f"n{next(counter)}", "role": "viewer"}},
            {"root": {201}, "alice": {403}, "bob": {403}, "vic": {403}, None: {401}},
            "create account",
        ),
        ("GET", "/audit", {}, admin_only, "read audit"),
        ("POST", "/accounts/target/rotate", {"json": {}}, admin_only, "rotate token"),
        ("POST", "/accounts/target/disable", {}, admin_changes, "disable account"),
        ("POST", "/accounts/target/enable", {}, admin_changes, "enable account"),
        # Last: root (asked before alice) asks for the batch's rollback; alice is given the
        # same rollback job while it waits or runs, or told the batch is rolled back.
        (
            "POST",
            f"/batches/{batch}/rollback",
            {"json": {"reason": "matrix"}},
            {"root": {202}, "alice": {202, 409}, "bob": {403}, "vic": {403}, None: {401}},
            "rollback",
        ),
    ]


def test_every_endpoint_role_and_owner(api_with):
    api = api_with(throttle=Throttle(limit=1000))  # 14 unauthenticated calls are no attack
    session = upload(api, "alice", DEPARTMENTS_CSV).json()["id"]
    wait_for(api, "alice", session, "valid")
    job = api("alice", "POST", f"/sessions/{session}/commit").json()["job_id"]
    wait_for(api, "alice", session, "committed")
    batch = api("alice", "GET", f"/jobs/{job}").json()["batch_id"]
    made = api("root", "POST", "/accounts", json={"name": "target", "role": "viewer"})
    assert made.status_code == 201
    checked = 0
    wrong = []
    denied = Counter()
    for method, url, kwargs, expected, action in matrix(session, job, batch):
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
            if answer.status_code == 403:
                denied[caller, action] += 1
    assert wrong == []
    assert checked == 17 * 5
    audited = Counter(
        (e["actor"], e["action"])
        for e in api("root", "GET", "/audit", params={"limit": 1000}).json()["entries"]
        if e["outcome"] == "denied" and e["action"] != "authenticate"
    )
    assert sum(denied.values()) == 29
    assert audited == denied  # every 403, and nothing else, audited as the action refused
