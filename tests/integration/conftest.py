"""Fixtures of the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchport import run_import
from tests.helpers import DEPARTMENTS, users_file


@pytest.fixture
def users_batch(db, csv_file):
    """Departments, then a users batch (ann, bob)."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    return run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Ann", "Lee", "HQ"], ["bob@x.org", "Bob", "Ray", "FIN"]),
        actor="a",
    )


@pytest.fixture
def big_users(db, csv_file, tmp_path) -> Path:
    """Departments, and a file of 60,000 users (an import that takes a while) to import."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="d.csv"), actor="a")
    path = tmp_path / "users.csv"
    with path.open("w") as stream:
        stream.write("email,first_name,last_name,department_codes\n")
        for i in range(60_000):
            stream.write(f"u{i}@example.org,U,{i},HQ;FIN\n")
    return path
