"""Fixtures of the end-to-end tests: a fresh PostgreSQL database with an importer's token."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from batchport import BUILTIN_TYPES, Database, commands
from tests.helpers import create_pg_database, drop_pg_database

#: Debian's Chromium, which the browser tests drive (Playwright downloads none).
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def pg(postgresql_template) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database and an importer's token for it."""
    url = create_pg_database(postgresql_template)
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    token = commands.create_account(db, "alice", "importer", actor="test")
    db.dispose()
    yield url, token
    drop_pg_database(url)


@pytest.fixture(params=["postgresql", "sqlite"])
def served(request, tmp_path) -> Iterator[tuple[str, str]]:
    """A fresh database of each kind and an importer's token for it."""
    if request.param == "postgresql":
        yield request.getfixturevalue("pg")
        return
    path = tmp_path / "served.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    url = f"sqlite:///{path}"
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    token = commands.create_account(db, "alice", "importer", actor="test")
    db.dispose()
    yield url, token


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A real Chromium, one per test module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()
