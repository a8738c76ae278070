"""The shop example (`examples/shop`) as a new user follows it: its README's SQLite walkthrough
run command by command in a copy of the directory, each printing what the README shows (`…`
standing for ids and times) and exiting as it says; and the same example loaded into
PostgreSQL, refused, blocked and rolled back, checked row by row."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from tests.helpers import console_steps, create_pg_database, drop_pg_database, shown

EXAMPLE = Path(__file__).parents[2] / "examples" / "shop"

#: The shop after the first load (suppliers.csv, tags.csv, products.csv): each product's
#: supplier, price, stock, release date, status and tags.
FIRST_LOAD = {
    "NB-A5-DOT": ("NORDPAPER", "12.90", 140, "2024-03-01", "active", "bestseller;eco"),
    "NB-A5-LINE": ("NORDPAPER", "12.90", 95, "2024-03-01", "active", "eco"),
    "NB-A4-GRID": ("NORDPAPER", "16.50", 0, "2023-09-15", "discontinued", ""),
    "PEN-FT-BLK": ("KAWAKAMI", "48.00", 25, "2024-11-20", "active", "bestseller;gift"),
    "PEN-FT-CART": ("KAWAKAMI", "4.50", 1250, "2024-11-20", "active", "refill"),
    "INK-50-BLUE": ("INKWELL", "9.75", 60, "2025-02-10", "active", "eco;refill"),
    "INK-50-SEPIA": ("INKWELL", "9.75", 0, None, "draft", "refill"),
    "SET-GIFT-01": ("ATELIER", "64.00", 12, "2025-11-01", "active", "gift"),
}
#: What the workbook new-season.xlsx adds to it.
NEW_SEASON = {
    "PP-SKETCH-A4": ("PAPYRUS", "22.40", 30, "2026-02-01", "active", "eco;new"),
    "PP-ENV-C6": ("PAPYRUS", "5.90", 200, "2026-02-01", "active", ""),
    "PEN-FT-RED": ("KAWAKAMI", "48.00", 20, "2026-02-15", "draft", "gift;new"),
}

#: Each product as FIRST_LOAD gives it, read with the database's own functions.
PRODUCTS = {
    "sqlite": "SELECT p.sku, s.code, p.price, p.stock, p.released_on, p.status, "
    "(SELECT group_concat(code, ';') FROM (SELECT t.code FROM product_tags pt "
    "JOIN tags t ON t.id = pt.tag_id WHERE pt.product_id = p.id ORDER BY t.code)) "
    "FROM products p JOIN suppliers s ON s.id = p.supplier_id",
    "postgresql": "SELECT p.sku, s.code, p.price, p.stock, p.released_on, p.status, "
    "(SELECT string_agg(t.code, ';' ORDER BY t.code) FROM product_tags pt "
    "JOIN tags t ON t.id = pt.tag_id WHERE pt.product_id = p.id) "
    "FROM products p JOIN suppliers s ON s.id = p.supplier_id",
}


def products(conn: sa.Connection) -> dict[str, tuple[object, ...]]:
    """The shop's products by SKU, as FIRST_LOAD spells them (prices compared as decimals)."""
    found = conn.exec_driver_sql(PRODUCTS[conn.dialect.name]).all()
    return {
        sku: (code, Decimal(str(price)), stock, day and str(day), status, tags or "")
        for sku, code, price, stock, day, status, tags in found
    }


def expected(*loads: dict[str, tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    return {
        sku: (code, Decimal(price), *rest)
        for load in loads
        for sku, (code, price, *rest) in load.items()
    }


def batchport(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchport", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sqlite3_shell(cwd: Path, words: list[str]) -> str:
    """What `sqlite3 DB < FILE` or `sqlite3 DB "SQL"` prints, done with Python's sqlite3 (the
    shell need not be installed): rows as `a|b`, NULL as nothing."""
    conn = sqlite3.connect(cwd / words[1])
    try:
        if words[2:3] == ["<"]:
            conn.executescript((cwd / words[3]).read_text(encoding="utf-8"))
            return ""
        [statement] = words[2:]
        rows = conn.execute(statement).fetchall()
        conn.commit()
    finally:
        conn.close()
    return "\n".join("|".join("" if v is None else str(v) for v in row) for row in rows)


def test_the_sqlite_walkthrough_runs_in_order_and_prints_what_the_readme_shows(tmp_path):
    """Every command of the README's walkthrough, in a copy of the example: exit codes and
    output as shown; afterwards the shop holds exactly the first load, and the history says
    the workbook was rolled back, forced, with its reason."""
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True)
    steps = console_steps(
        (EXAMPLE / "README.md").read_text(encoding="utf-8"), "## Walkthrough (SQLite)"
    )
    assert len(steps) >= 18
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HOME": str(tmp_path)}
    newest = None
    for line, lines in steps:
        words = shlex.split(line, comments=True)
        code = int(found[1]) if (found := re.search(r"# exit code (\d+)$", line)) else 0
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            env[name] = value
            continue
        if words[0] == "sqlite3":
            printed = sqlite3_shell(tmp_path, words).splitlines()
        else:
            assert words[0] == "batchport", line
            args = [newest if word == "BATCH_ID" else word for word in words[1:]]
            result = batchport(tmp_path, env, *args)
            assert result.returncode == code, (line, result.stdout, result.stderr)
            printed = (result.stdout + result.stderr).splitlines()
            if found := re.search(r"undo with: batchport rollback (\S+)", result.stdout):
                newest = found[1]
        for wanted in lines:
            assert shown(wanted, printed), (line, wanted, printed)

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with engine.connect() as conn:
        assert products(conn) == expected(FIRST_LOAD)
        assert conn.exec_driver_sql("SELECT code FROM suppliers ORDER BY id").scalars().all() == [
            "NORDPAPER",
            "INKWELL",
            "KAWAKAMI",
            "ATELIER",
        ]
        assert conn.exec_driver_sql("SELECT count(*) FROM tags").scalar_one() == 4
        rolled_back = conn.exec_driver_sql(
            "SELECT status, rollback_reason FROM import_history WHERE batch_id = ?", (newest,)
        ).one()
    engine.dispose()
    assert tuple(rolled_back) == ("rolled_back", "wrong price list")


def test_the_example_loads_into_postgresql_and_rolls_back_exactly(tmp_path):
    """On PostgreSQL (schema.sql, db migrate, db track): the CSV files and the workbook load
    with exact prices, dates and tags; the bad file writes nothing; a hand edit blocks the
    workbook's rollback until it is forced; the first load stays as it was."""
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True)
    url = create_pg_database()
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    env = {
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "80",
        "HOME": str(tmp_path),
        "BATCHPORT_DATABASE_URL": url,
    }
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql((EXAMPLE / "schema.sql").read_text(encoding="utf-8"))
        for args in (
            ["db", "migrate"],
            ["db", "track", "suppliers", "tags", "products"],
            ["db", "track", "product_tags", "--owner", "product_id"],
            ["import", "suppliers", "suppliers.csv"],
            ["import", "tags", "tags.csv"],
            ["import", "products", "products.csv"],
        ):
            done = batchport(tmp_path, env, *args)
            assert done.returncode == 0, (args, done.stdout, done.stderr)

        refused = batchport(tmp_path, env, "import", "products", "products-bad.csv", "--json")
        assert refused.returncode == 1, refused.stderr
        problems = {(e["row"], e["column"]) for e in json.loads(refused.stdout)["errors"]}
        assert problems == {
            (2, "price"),
            (3, "supplier_code"),
            (4, "stock"),
            (4, "released_on"),
            (5, "status"),
            (5, "tags"),
        }
        with engine.connect() as conn:
            assert products(conn) == expected(FIRST_LOAD)

        season = batchport(tmp_path, env, "import", "workbook", "new-season.xlsx", "--json")
        assert season.returncode == 0, season.stderr
        [batch_id] = {sheet["batch_id"] for sheet in json.loads(season.stdout)}
        with engine.begin() as conn:
            assert products(conn) == expected(FIRST_LOAD, NEW_SEASON)
            assert (
                conn.exec_driver_sql(
                    "SELECT count(*) FROM suppliers WHERE import_batch_id = %s", (batch_id,)
                ).scalar_one()
                == 1
            )
            conn.exec_driver_sql("UPDATE products SET price = 19.90 WHERE sku = 'PP-SKETCH-A4'")

        blocked = batchport(tmp_path, env, "rollback", batch_id, "--yes")
        assert blocked.returncode == 1
        assert "('PP-SKETCH-A4', created by the batch) was edited since" in blocked.stderr
        forced = batchport(tmp_path, env, "rollback", batch_id, "--yes", "--force-edited")
        assert forced.returncode == 0, forced.stderr
        assert "deleted 4 product_tags, 3 products, 1 tag and 1 supplier" in forced.stdout
        with engine.connect() as conn:
            assert products(conn) == expected(FIRST_LOAD)
            assert conn.exec_driver_sql("SELECT count(*) FROM suppliers").scalar_one() == 4
            assert conn.exec_driver_sql("SELECT count(*) FROM tags").scalar_one() == 4
    finally:
        engine.dispose()
        drop_pg_database(url)
