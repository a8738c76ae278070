"""Fixtures of the integration tests."""

from __future__ import annotations

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
