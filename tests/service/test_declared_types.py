"""The API serves the import types of a types file (`batchport --config FILE serve`,
`$BATCHPORT_CONFIG`, `./batchport.toml`): a shop's suppliers and products, in tables made by
plain SQL and tracked with `db track`, are offered, uploaded as CSV and as a workbook,
validated, committed, listed, previewed and rolled back; a types file that does not load
stops `serve` with one line."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import xlsxwriter
from fastapi import FastAPI
from fastapi.testclient import TestClient

from batchport import Database, commands
from batchport.vocabulary import Via
from tests.helpers import WAIT, manual_sql, roll_back, wait_for

TYPES = """
[types.suppliers]
description = "Suppliers, by code."
table = "{schema}suppliers"
key = "code"

[[types.suppliers.fields]]
name = "code"
max_length = 20
required = true

[[types.suppliers.fields]]
name = "name"
max_length = 100
required = true

[types.products]
description = "Products, each from a supplier (by code)."
table = "{schema}products"
key = "sku"

[[types.products.fields]]
name = "sku"
max_length = 30
required = true

[[types.products.fields]]
name = "name"
max_length = 100
required = true

[[types.products.fields]]
name = "qty"
parser = "integer"

[[types.products.fields]]
name = "supplier_code"
max_length = 20
required = true
references = "suppliers"
column = "supplier_id"
"""

SUPPLIERS_CSV = "code,name\nACME,Acme Ltd\nGLOBEX,Globex\n"
PRODUCTS_CSV = "sku,name,qty,supplier_code\nP1,Widget,5,ACME\nP2,Gadget,7,GLOBEX\n"


def shop_schema(db: Database) -> str:
    """The schema the shop's tables are in: `shop.` on PostgreSQL, none on SQLite."""
    return "shop." if db.dialect.name == "postgresql" else ""


@pytest.fixture
def shop(db: Database, tmp_path: Path) -> Path:
    """The shop's tables, made by plain SQL and tracked as `db track` tracks them; returns its
    types file."""
    schema = shop_schema(db)
    serial = "SERIAL" if db.dialect.name == "postgresql" else "INTEGER"
    if schema:
        manual_sql(db, "CREATE SCHEMA shop")
    manual_sql(
        db,
        f"CREATE TABLE {schema}suppliers (id {serial} PRIMARY KEY, "
        "code VARCHAR(20) NOT NULL UNIQUE, name VARCHAR(100) NOT NULL)",
    )
    manual_sql(
        db,
        f"CREATE TABLE {schema}products (id {serial} PRIMARY KEY, "
        "sku VARCHAR(30) NOT NULL UNIQUE, name VARCHAR(100) NOT NULL, qty INTEGER, "
        f"supplier_id INTEGER NOT NULL REFERENCES {schema}suppliers (id))",
    )
    commands.track_tables(db, [f"{schema}suppliers", f"{schema}products"], actor="dba", via=Via.cli)
    path = tmp_path / "shop.toml"
    path.write_text(TYPES.format(schema=schema), encoding="utf-8")
    return path


@pytest.fixture
def served(cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FastAPI]]:
    """Runs `batchport ARGS... serve` with uvicorn stood in for; returns the app it would
    have served (it must start: exit code 0). Its database is closed after the test, as
    `serve` closes it once uvicorn returns."""
    apps: list[FastAPI] = []

    def serve(*args: str) -> FastAPI:
        started: list[FastAPI] = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **_: started.append(app))
        result = cli(*args, "serve")
        assert result.exit_code == 0, result.output
        assert len(started) == 1
        apps.extend(started)
        return started[0]

    yield serve
    for app in apps:
        app.state.settings.db.dispose()


@pytest.fixture
def shop_api(served, shop: Path, tokens) -> Iterator[Callable[..., Any]]:
    """Calls the app `batchport --config shop.toml serve` serves, as an account."""
    with TestClient(served("--config", str(shop)), raise_server_exceptions=False) as client:

        def call(who: str, method: str, url: str, **kwargs: Any) -> Any:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            return client.request(method, url, headers=headers, **kwargs)

        yield call


def send(api, who: str, import_type: str, name: str, content: bytes | str) -> Any:
    """Uploads `content` as the file `name` for `import_type`; the response."""
    data = content.encode() if isinstance(content, str) else content
    return api(
        who,
        "POST",
        "/sessions",
        data={"import_type": import_type},
        files={"file": (name, data, "application/octet-stream")},
    )


def committed(api, who: str, import_type: str, name: str, content: bytes | str) -> dict:
    """Uploads, waits for a valid session, commits it, waits for its import; the session."""
    created = send(api, who, import_type, name, content)
    assert created.status_code == 201, created.text
    valid = wait_for(api, who, created.json()["id"], "valid", "invalid", "failed")
    assert valid["status"] == "valid", valid
    assert api(who, "POST", f"/sessions/{valid['id']}/commit").status_code == 202
    done = wait_for(api, who, valid["id"], "committed", "failed")
    assert done["status"] == "committed", done["message"]
    return done


def shop_rows(db: Database) -> list[tuple[str, str, int | None, str]]:
    """The products with their supplier's code, by sku."""
    schema = shop_schema(db)
    return [
        tuple(row)
        for row in manual_sql(
            db,
            f"SELECT p.sku, p.name, p.qty, s.code FROM {schema}products p "
            f"JOIN {schema}suppliers s ON s.id = p.supplier_id ORDER BY p.sku",
        )
    ]


def count(db: Database, table: str) -> int:
    return manual_sql(db, f"SELECT count(*) FROM {shop_schema(db)}{table}").scalar_one()


def workbook(sheets: dict[str, list[list[object]]]) -> bytes:
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data, {"in_memory": True})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for index, row in enumerate(rows):
            sheet.write_row(index, 0, row)
    book.close()
    return data.getvalue()


def upload_types(app: FastAPI) -> list[str]:
    """The import types the OpenAPI document offers for an upload."""
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    body = document["paths"]["/sessions"]["post"]["requestBody"]["content"]
    return body["multipart/form-data"]["schema"]["properties"]["import_type"]["enum"]


class TestOffered:
    """What `serve` offers with a types file."""

    @pytest.mark.parametrize("given", ["--config", "BATCHPORT_CONFIG", "./batchport.toml"])
    def test_the_types_file_in_use_is_what_the_upload_offers(
        self, served, shop, given, monkeypatch, tmp_path
    ):
        """Whichever way the types file is given, OpenAPI's enum of import types is its
        types (parents first) and the workbook, and no shipped type."""
        if given == "--config":
            app = served("--config", str(shop))
        elif given == "BATCHPORT_CONFIG":
            monkeypatch.setenv("BATCHPORT_CONFIG", str(shop))
            app = served()
        else:
            monkeypatch.chdir(tmp_path)
            (tmp_path / "batchport.toml").write_text(shop.read_text())
            app = served()
        assert upload_types(app) == ["suppliers", "products", "workbook"]

    def test_a_shipped_type_is_not_offered(self, shop_api, db):
        """An upload for `departments`, which the types file does not declare, is a 422 that
        names the types offered; nothing is kept."""
        refused = send(shop_api, "alice", "departments", "d.csv", "code,name\nHQ,Head\n")
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == (
            "import_type: Input should be one of: suppliers, products, workbook"
        )
        assert shop_api("alice", "GET", "/jobs").json()["jobs"] == []

    def test_the_types_and_their_columns_are_listed(self, shop_api, db):
        """`GET /types` tells a client what each file's columns must hold, as `types show`."""
        listed = shop_api("alice", "GET", "/types")
        assert listed.status_code == 200, listed.text
        assert [t["import_type"] for t in listed.json()] == ["suppliers", "products"]
        products = shop_api("alice", "GET", "/types/products").json()
        columns = {c["name"]: c for c in products["columns"]}
        assert products["key"] == "sku" and products["table"].endswith("products")
        assert columns["supplier_code"]["target"] == "supplier_id (a suppliers key)"
        assert (columns["qty"]["parser"], columns["qty"]["required"]) == ("integer", False)
        assert columns["name"]["rules"] == "at most 100 characters"
        missing = shop_api("alice", "GET", "/types/departments")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"


class TestCsv:
    """A declared type's CSV through the API."""

    def test_upload_validate_commit_list_preview_and_roll_back(self, shop_api, db):
        """Suppliers then products (referencing them by code) are validated, committed as
        alice, listed in the history, shown by batch, previewed and rolled back: the
        products go, the suppliers stay."""
        suppliers = committed(shop_api, "alice", "suppliers", "s.csv", SUPPLIERS_CSV)
        assert suppliers["created"] == {"suppliers": 2}
        session = send(shop_api, "alice", "products", "p.csv", PRODUCTS_CSV).json()
        valid = wait_for(shop_api, "alice", session["id"], "valid", "invalid", "failed")
        assert (valid["status"], valid["created"]) == ("valid", {"products": 2})
        assert count(db, "products") == 0  # validation writes nothing
        assert shop_api("alice", "POST", f"/sessions/{session['id']}/commit").status_code == 202
        products = wait_for(shop_api, "alice", session["id"], "committed", "failed")
        assert products["status"] == "committed", products["message"]
        assert shop_rows(db) == [("P1", "Widget", 5, "ACME"), ("P2", "Gadget", 7, "GLOBEX")]

        jobs = shop_api("vic", "GET", "/jobs").json()["jobs"]
        assert [(j["import_type"], j["status"], j["rows_imported"]) for j in jobs] == [
            ("products", "completed", 2),
            ("suppliers", "completed", 2),
        ]
        assert {j["imported_by"] for j in jobs} == {"alice"}
        only = shop_api("vic", "GET", "/jobs", params={"import_type": "products"}).json()
        assert [j["batch_id"] for j in only["jobs"]] == [products["batch_id"]]

        batch_id = products["batch_id"]
        batch = shop_api("vic", "GET", f"/batches/{batch_id}", params={"table": "products"})
        assert batch.status_code == 200, batch.text
        assert batch.json()["rows"] == {"products": 2}
        assert [r["sku"] for r in batch.json()["records"]] == ["P1", "P2"]

        preview = shop_api("alice", "GET", f"/batches/{batch_id}/rollback").json()
        assert preview["possible"] and preview["would_delete"] == {"products": 2}
        undone = roll_back(shop_api, "alice", batch_id, json={"reason": "t"})
        assert undone["report"]["deleted"] == {"suppliers": 0, "products": 2}
        assert (count(db, "products"), count(db, "suppliers")) == (0, 2)
        job = shop_api("vic", "GET", f"/jobs/{products['job_id']}").json()
        assert (job["status"], job["rolled_back_by"]) == ("rolled_back", "alice")

    def test_bad_rows_are_reported_by_row_column_and_value(self, shop_api, db):
        """A products file with a number that is not one, an unknown supplier and a missing
        name is invalid: each error names its row, column and value; it cannot be
        committed and nothing is written."""
        committed(shop_api, "alice", "suppliers", "s.csv", SUPPLIERS_CSV)
        text = "sku,name,qty,supplier_code\nP1,Widget,many,ACME\nP2,,3,NOPE\n"
        session = send(shop_api, "alice", "products", "p.csv", text).json()
        invalid = wait_for(shop_api, "alice", session["id"], "valid", "invalid", "failed")
        assert (invalid["status"], invalid["error_count"]) == ("invalid", 3)
        errors = shop_api("alice", "GET", f"/sessions/{session['id']}/errors").json()["errors"]
        assert [(e["row"], e["column"], e["value"]) for e in errors] == [
            (2, "qty", "many"),
            (3, "name", ""),
            (3, "supplier_code", "NOPE"),
        ]
        assert all(e["message"] for e in errors)
        refused = shop_api("alice", "POST", f"/sessions/{session['id']}/commit")
        assert refused.status_code == 409
        assert count(db, "products") == 0

    def test_a_hand_edit_blocks_the_rollback_until_forced(self, shop_api, db):
        """A product edited by hand since the import: the preview says so, the rollback's
        job fails with the edit and deletes nothing; forced past the edit, it goes."""
        committed(shop_api, "alice", "suppliers", "s.csv", SUPPLIERS_CSV)
        batch_id = committed(shop_api, "alice", "products", "p.csv", PRODUCTS_CSV)["batch_id"]
        manual_sql(db, f"UPDATE {shop_schema(db)}products SET name = 'Hand' WHERE sku = 'P1'")

        preview = shop_api("alice", "GET", f"/batches/{batch_id}/rollback").json()
        assert not preview["possible"]
        assert [(e["table"], e["key"]) for e in preview["edited"]] == [("products", "P1")]
        blocked = roll_back(shop_api, "alice", batch_id)
        assert (blocked["status"], blocked["report"]) == ("failed", None)
        assert blocked["error"]["code"] == "rows_edited"
        assert "edited after the import" in blocked["error"]["message"]
        assert [e["key"] for e in blocked["error"]["details"]["edited"]] == ["P1"]
        assert count(db, "products") == 2

        forced = roll_back(shop_api, "alice", batch_id, json={"force_edited": True})
        assert forced["status"] == "rolled_back", forced["error"]
        assert (count(db, "products"), count(db, "suppliers")) == (0, 2)

    def test_products_of_a_later_batch_block_their_suppliers_rollback(self, shop_api, db):
        """Rolling back the suppliers while another batch's products reference them fails
        with each referencing row; nothing is deleted."""
        suppliers = committed(shop_api, "alice", "suppliers", "s.csv", SUPPLIERS_CSV)
        committed(shop_api, "alice", "products", "p.csv", PRODUCTS_CSV)
        batch_id = suppliers["batch_id"]
        preview = shop_api("alice", "GET", f"/batches/{batch_id}/rollback").json()
        assert not preview["possible"]
        assert sorted((b["table"], b["referenced_key"]) for b in preview["blockers"]) == [
            ("products", "ACME"),
            ("products", "GLOBEX"),
        ]
        blocked = roll_back(shop_api, "alice", batch_id)
        assert (blocked["status"], blocked["error"]["code"]) == ("failed", "rollback_blocked")
        references = blocked["error"]["details"]["references"]
        assert sorted(r["referenced_key"] for r in references) == ["ACME", "GLOBEX"]
        assert (count(db, "products"), count(db, "suppliers")) == (2, 2)
        job = shop_api("vic", "GET", f"/jobs/{suppliers['job_id']}").json()
        assert job["status"] == "completed"


class TestWorkbook:
    """A workbook of declared types through the API."""

    def test_its_sheets_load_in_dependency_order_as_one_batch(self, shop_api, db):
        """Products come first in the workbook, suppliers second: they import as one batch,
        suppliers first, and one rollback takes both back."""
        book = workbook(
            {
                "products": [["sku", "name", "qty", "supplier_code"], ["P1", "Widget", 5, "ACME"]],
                "suppliers": [["code", "name"], ["ACME", "Acme Ltd"]],
                "notes": [["anything"], ["not a type"]],
            }
        )
        done = committed(shop_api, "alice", "workbook", "shop.xlsx", book)
        assert done["created"] == {"suppliers": 1, "products": 1}
        assert shop_rows(db) == [("P1", "Widget", 5, "ACME")]
        job = shop_api("vic", "GET", f"/jobs/{done['job_id']}").json()
        assert (job["import_type"], job["rows_imported"]) == ("workbook", 2)

        undone = roll_back(shop_api, "alice", done["batch_id"])
        assert undone["report"]["deleted"] == {"suppliers": 1, "products": 1}
        assert (count(db, "products"), count(db, "suppliers")) == (0, 0)

    def test_its_errors_name_the_sheet_row_column_and_value(self, shop_api, db):
        """A bad cell in a sheet is reported with its sheet, row, column and value."""
        book = workbook(
            {
                "suppliers": [["code", "name"], ["ACME", "Acme Ltd"]],
                "products": [["sku", "name", "qty", "supplier_code"], ["P1", "W", "x", "ACME"]],
            }
        )
        session = send(shop_api, "alice", "workbook", "shop.xlsx", book).json()
        invalid = wait_for(shop_api, "alice", session["id"], "valid", "invalid", "failed")
        assert invalid["status"] == "invalid", invalid
        errors = shop_api("alice", "GET", f"/sessions/{session['id']}/errors").json()["errors"]
        assert [(e["sheet"], e["row"], e["column"], e["value"]) for e in errors] == [
            ("products", 2, "qty", "x")
        ]
        assert count(db, "suppliers") == 0

    def test_one_sheet_of_a_workbook_for_one_type(self, shop_api, db):
        """An XLSX uploaded for one declared type reads its first sheet."""
        book = workbook({"suppliers": [["code", "name"], ["ACME", "Acme Ltd"]]})
        done = committed(shop_api, "alice", "suppliers", "s.xlsx", book)
        assert done["created"] == {"suppliers": 1}
        assert count(db, "suppliers") == 1


#: Types files that do not load, made from the shop's (given its table prefix), and what the
#: line says.
BROKEN = {
    "an unknown table": (
        lambda text, schema: text.replace(f"{schema}products", "nowhere"),
        "no table 'nowhere' in the database",
    ),
    "an untracked table": (
        lambda text, schema: text.replace(f"{schema}products", "plain"),
        "table plain is not tracked: run `batchport db track plain`",
    ),
    "an unknown column": (
        lambda text, _: text.replace('name = "qty"', 'name = "quantity"'),
        "type products, field quantity: table",
    ),
    "not TOML": (lambda text, _: text.replace("[types.products]", "[types.products"), "TOML"),
    "no file": (None, "cannot read the types file"),
}


class TestRefused:
    """A types file that does not load: `serve` does not start."""

    @pytest.mark.parametrize("problem", list(BROKEN))
    @pytest.mark.parametrize("given", ["--config", "BATCHPORT_CONFIG"])
    def test_serve_stops_with_one_line(self, cli, db, shop, monkeypatch, problem, given):
        """`serve` with a types file that names an unknown or untracked table or column, is
        not TOML, or is not there, exits 1 with one line naming the file and the mistake, no
        traceback, and never starts a server."""
        schema = shop_schema(db)
        manual_sql(
            db,
            "CREATE TABLE plain (id INTEGER PRIMARY KEY, sku VARCHAR(30) NOT NULL UNIQUE, "
            "name VARCHAR(100) NOT NULL, qty INTEGER, "
            f"supplier_id INTEGER NOT NULL REFERENCES {schema}suppliers (id))",
        )
        broken, said = BROKEN[problem]
        path = shop.with_name("broken.toml")
        if broken is not None:
            path.write_text(broken(shop.read_text(), schema), encoding="utf-8")
        started: list[object] = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **_: started.append(app))
        if given == "--config":
            result = cli("--config", str(path), "serve")
        else:
            monkeypatch.setenv("BATCHPORT_CONFIG", str(path))
            result = cli("serve")
        assert started == []
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith(f"error: {path}: ") and said in lines[0], lines[0]


class TestWebUi:
    """The web UI of `batchport --config shop.toml serve`, in process."""

    @pytest.fixture
    def browser(self, served, shop: Path, tokens) -> Iterator[TestClient]:
        """alice's browser, signed in (a TestClient keeping cookies)."""
        app = served("--config", str(shop))
        with TestClient(app, follow_redirects=False) as client:
            signed = client.post("/ui/signin", data={"token": tokens["alice"]})
            assert signed.status_code == 303, signed.text
            yield client

    def test_upload_commit_find_and_preview_a_declared_type(self, browser, db):
        """The upload form offers the declared types (and no shipped one); a products file
        uploaded there validates, commits, shows in the history and its batch's records,
        and its rollback page says what would go."""
        manual_sql(db, f"INSERT INTO {shop_schema(db)}suppliers (code, name) VALUES ('ACME', 'A')")
        form = browser.get("/ui/upload")
        assert form.status_code == 200
        offered = re.findall(r'<option value="([^"]+)">', form.text.split('id="import_type"')[1])
        assert offered[:3] == ["suppliers", "products", "workbook"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        sent = browser.post(
            "/ui/upload",
            data={"csrf": csrf, "import_type": "products", "on_existing": "error"},
            files={"file": ("p.csv", b"sku,name,qty,supplier_code\nP9,Bolt,3,ACME\n", "text/csv")},
        )
        assert sent.status_code == 303, sent.text
        session_page = sent.headers["location"]
        wait_for_page(browser, session_page, "valid")
        committed_ = browser.post(f"{session_page}/commit", data={"csrf": csrf})
        assert committed_.status_code == 303, committed_.text
        done = wait_for_page(browser, session_page, "committed")
        assert "products created" in done
        assert shop_rows(db) == [("P9", "Bolt", 3, "ACME")]

        history = browser.get("/ui/jobs").text
        assert "products" in history and "p.csv" in history
        batch_url = re.search(r'href="(/ui/batches/[^"]+)"', done).group(1)
        batch = browser.get(batch_url)
        assert batch.status_code == 200 and "P9" in batch.text and "Bolt" in batch.text
        preview = browser.get(f"{batch_url}/rollback")
        assert preview.status_code == 200 and "products" in preview.text


def wait_for_page(browser: TestClient, path: str, status: str) -> str:
    """The session's page once its status is `status`."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        text = browser.get(path).text
        shown = re.search(r"data-status>([a-z_]+)<", text)
        if shown and shown.group(1) == status:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{path} never became {status}")
