"""The web UI of a server started with a types file of one's own (`$BATCHPORT_CONFIG`), in a
real browser: Playwright driving Debian's Chromium against `batchport serve` (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import xlsxwriter
from playwright.sync_api import expect

from batchport import BUILTIN_TYPES, Database, commands
from batchport.vocabulary import Via
from tests.helpers import Server, manual_sql

pytestmark = pytest.mark.slow

SHOP = (
    "CREATE SCHEMA shop",
    "CREATE TABLE shop.suppliers (id SERIAL PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, "
    "name VARCHAR(100) NOT NULL)",
    "CREATE TABLE shop.products (id SERIAL PRIMARY KEY, sku VARCHAR(30) NOT NULL UNIQUE, "
    "name VARCHAR(100) NOT NULL, qty INTEGER, "
    "supplier_id INTEGER NOT NULL REFERENCES shop.suppliers (id))",
)
TYPES = """
[types.suppliers]
table = "shop.suppliers"
key = "code"
fields = [{ name = "code", required = true }, { name = "name", required = true }]

[types.products]
table = "shop.products"
key = "sku"
fields = [
  { name = "sku", required = true },
  { name = "name", required = true },
  { name = "qty", parser = "integer" },
  { name = "supplier_code", required = true, references = "suppliers", column = "supplier_id" },
]
"""


@pytest.fixture
def shop_server(pg, tmp_path: Path) -> Iterator[tuple[Server, Database]]:
    """A shop's tables made by plain SQL and tracked, and `batchport serve` with
    `BATCHPORT_CONFIG` naming their types file."""
    url, token = pg
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    for statement in SHOP:
        manual_sql(db, statement)
    commands.track_tables(db, ["shop.suppliers", "shop.products"], actor="dba", via=Via.cli)
    types = tmp_path / "shop.toml"
    types.write_text(TYPES, encoding="utf-8")
    server = Server(url, token, env={"BATCHPORT_CONFIG": str(types)})
    yield server, db
    server.stop()
    db.dispose()


def test_a_workbook_of_declared_types_is_uploaded_and_committed(browser, shop_server, pg, tmp_path):
    """alice's upload form offers the shop's types and no shipped one; a workbook of products
    and the suppliers they name is validated, committed as one batch (suppliers first), and
    its batch shows in the history and its rows in the shop's tables."""
    server, db = shop_server
    book = tmp_path / "shop.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    for name, rows in {
        "products": [["sku", "name", "qty", "supplier_code"], ["P1", "Widget", 5, "ACME"]],
        "suppliers": [["code", "name"], ["ACME", "Acme Ltd"]],
    }.items():
        sheet = workbook.add_worksheet(name)
        for index, row in enumerate(rows):
            sheet.write_row(index, 0, row)
    workbook.close()

    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/ui/signin")
    page.get_by_label("API token").fill(pg[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    page.get_by_role("link", name="Upload").click()
    choices = page.get_by_label("What it holds").locator("option")
    expect(choices).to_have_text(["suppliers", "products", "a whole workbook (a sheet per type)"])
    page.get_by_label("What it holds").select_option("workbook")
    page.get_by_label("File").set_input_files(str(book))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("shop.xlsx")
    expect(page.locator("[data-status]")).to_have_text("valid", timeout=30_000)
    expect(page.get_by_role("row", name="suppliers created")).to_contain_text("1")
    expect(page.get_by_role("row", name="products created")).to_contain_text("1")
    page.get_by_role("button", name="Commit: import it").click()
    expect(page.locator("[data-status]")).to_have_text("committed", timeout=30_000)

    page.get_by_role("link", name="History").click()
    mine = page.get_by_role("row").filter(has_text="shop.xlsx")
    expect(mine).to_contain_text("workbook")
    expect(mine).to_contain_text("completed")
    found = manual_sql(
        db,
        "SELECT p.sku, s.code FROM shop.products p JOIN shop.suppliers s ON s.id = p.supplier_id",
    ).all()
    assert [tuple(row) for row in found] == [("P1", "ACME")]
