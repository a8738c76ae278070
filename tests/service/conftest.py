"""The API in-process (FastAPI's TestClient, with the background worker running), and one
account of each kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

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
def api_with(db, tokens) -> Iterator[Callable[..., Callable[..., object]]]:
    """Makes an app with options (`create_app`'s keywords) and returns its caller, as `api`."""
    with ExitStack() as stack:

        def make(**options: object) -> Callable[..., object]:
            app = create_app(db, **options)  # type: ignore[arg-type]
            client = stack.enter_context(TestClient(app, raise_server_exceptions=False))

            def call(who: str | None, method: str, url: str, **kwargs: object) -> object:
                headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
                headers.update(kwargs.pop("headers", {}))  # type: ignore[call-overload]
                return client.request(method, url, headers=headers, **kwargs)

            return call

        yield make


@pytest.fixture
def api(api_with) -> Callable[..., object]:
    """Calls the API as an account: api("alice", "GET", "/jobs", ...) -> response."""
    return api_with()
