"""The API in-process (FastAPI's TestClient, with the background worker running), and one
account of each kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from batchport import commands
from batchport.service.app import create_app


@pytest.fixture
def tokens(db) -> dict[str, str]:
    """API tokens: an admin, two importers (alice, bob) and a viewer."""
    return {
        name: commands.create_account(db, name, role, actor="test")
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
