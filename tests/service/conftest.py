"""The API in-process (FastAPI's TestClient, with the background worker running), and one
account of each kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from batchport.service import accounts
from batchport.service.app import create_app

#: How long a test waits for the worker.
WAIT = 30


@pytest.fixture
def tokens(db) -> dict[str, str]:
    """API tokens: an admin, two importers (alice, bob) and a viewer."""
    return {
        name: accounts.create_account(db, name, role, created_by="test")
        for name, role in [
            ("root", "admin"),
            ("alice", "importer"),
            ("bob", "importer"),
            ("vic", "viewer"),
        ]
    }


@pytest.fixture
def api(db, tokens) -> Iterator[Callable[..., object]]:
    """Calls the API as an account: api("alice", "GET", "/jobs", ...) -> response."""
    with TestClient(create_app(db), raise_server_exceptions=False) as client:

        def call(who: str | None, method: str, url: str, **kwargs: object) -> object:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            headers.update(kwargs.pop("headers", {}))  # type: ignore[call-overload]
            return client.request(method, url, headers=headers, **kwargs)

        yield call


def upload(api, who: str, text: str, import_type: str = "departments", **form: str):
    """Uploads CSV text as a file; returns the response."""
    return api(
        who,
        "POST",
        "/sessions",
        data={"import_type": import_type, **form},
        files={"file": ("data.csv", text.encode(), "text/csv")},
    )


def wait_for(api, who: str, session_id: str, *statuses: str) -> dict:
    """Polls the session until it reaches one of `statuses`; returns it."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = api(who, "GET", f"/sessions/{session_id}").json()
        if found["status"] in statuses:
            return found
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} stayed {found['status']}")


DEPARTMENTS_CSV = "code,name,parent_code\nHQ,Headquarters,\nFIN,Finance,HQ\n"
