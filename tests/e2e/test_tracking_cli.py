"""`batchport db track`, `db status`, `db verify` and `db untrack` as a user runs them
(`python -m batchport`), on SQLite and PostgreSQL: what they print, their JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from batchport import BUILTIN_TYPES, Database
from tests.helpers import manual_sql


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `python -m batchport --database-url URL ARGS` as the user `tester`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}
    return subprocess.run(
        [sys.executable, "-m", "batchport", "--database-url", database_url, *args],
        env=environment | {"BATCHPORT_ACTOR": "tester"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def shop(database_url) -> tuple[str, str]:
    """Suppliers and their products (in schema `shop` on PostgreSQL), not tracked: their
    listed names."""
    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    if db.dialect.name == "postgresql":
        manual_sql(db, "CREATE SCHEMA shop")
        manual_sql(db, "CREATE TABLE shop.suppliers (id serial primary key, code text unique)")
        manual_sql(
            db,
            "CREATE TABLE shop.products (product_id int references shop.suppliers (id), "
            "n int, primary key (product_id, n))",
        )
        names = ("shop.suppliers", "shop.products")
    else:
        manual_sql(db, "CREATE TABLE suppliers (id integer primary key, code text unique)")
        manual_sql(
            db,
            "CREATE TABLE products (product_id int references suppliers (id), n int, "
            "primary key (product_id, n))",
        )
        names = ("suppliers", "products")
    db.dispose()
    return names


def test_track_status_verify_untrack(database_url, shop):
    """Tracking prints what it did (JSON too); `db status` lists the tables, who tracked them
    and the link's owner; a trigger dropped by hand fails `db verify` (exit 1); untracking
    both, the link goes first, and status lists none again."""
    suppliers, products = shop
    tracked = run(database_url, "db", "track", suppliers)
    assert tracked.returncode == 0, tracked.stderr
    assert tracked.stdout.startswith(f"Tracked {suppliers}: added column")
    if "sqlite" in database_url:
        assert f"note: {suppliers} is not AUTOINCREMENT" in tracked.stderr
    link = run(database_url, "db", "track", products, "--owner", "product_id", "--json")
    [entry] = json.loads(link.stdout)["tables"]
    assert (entry["owner_table"], entry["owner_column"], entry["changed"]) == (
        suppliers,
        "product_id",
        True,
    )
    listed = json.loads(run(database_url, "db", "status", "--json").stdout)["tracked"]
    assert [(t["table"], t["owner_table"], t["tracked_by"]) for t in listed] == sorted(
        [(suppliers, None, "tester"), (products, suppliers, "tester")]
    )

    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    on = f" ON {suppliers}" if db.dialect.name == "postgresql" else ""
    manual_sql(db, f"DROP TRIGGER suppliers_row_version{on}")
    db.dispose()
    failing = run(database_url, "db", "verify")
    assert failing.returncode == 1
    [failed] = [line for line in failing.stdout.splitlines() if line.startswith("FAIL")]
    assert failed.startswith(f"FAIL {suppliers} has its edit trigger")

    gone = run(database_url, "db", "untrack", suppliers, products, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.splitlines()[0].startswith(f"Untracked {products} (link of {suppliers}")
    assert gone.stdout.splitlines()[1].startswith(f"Untracked {suppliers}: dropped")


def test_errors_are_one_line_and_usage_errors_exit_2(database_url, shop):
    """A table that cannot be tracked is one line on stderr with exit code 1, never a
    traceback; --owner with two tables is a usage error (exit code 2)."""
    suppliers, products = shop
    refused = run(database_url, "db", "track", products)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: cannot track {products}: its primary key is composite (product_id, n); "
        "batchport needs a single integer column named id (a link table is tracked with "
        "--owner COLUMN, its owner column)"
    ]
    twice = run(database_url, "db", "track", suppliers, products, "--owner", "product_id")
    assert twice.returncode == 2 and "Traceback" not in twice.stderr
