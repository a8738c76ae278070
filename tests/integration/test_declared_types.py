"""An import type of one's own, from a table of one's own: scaffolded from the database,
tracked with `db track`, imported and rolled back through the CLI, on SQLite and PostgreSQL —
and refused, with the command that fixes it, while its table is not tracked.

Then every parser's values, stored exactly in the column types that hold them (NUMERIC, JSON
and JSONB, UUID, DATE, TIMESTAMPTZ, BOOLEAN, an enum), from CSV and XLSX, through the direct
path and the staged path, keyed and referenced by integers and UUIDs; updated with
`--on-existing update` and put back exactly by a rollback."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from batchport import BUILTIN_TYPES, Database, commands, rollback_batch, run_import
from batchport.configuration.build import catalog_of
from batchport.configuration.spec import TypesFile
from batchport.importing import file as file_import

SHOP = (
    "CREATE TABLE suppliers (id {serial} PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, "
    "name VARCHAR(100) NOT NULL)",
    "CREATE TABLE products (id {serial} PRIMARY KEY, sku VARCHAR(30) NOT NULL UNIQUE, "
    "name VARCHAR(100) NOT NULL, qty INTEGER, released DATE, "
    "supplier_id INTEGER NOT NULL REFERENCES suppliers (id), "
    "parent_id INTEGER REFERENCES products (id))",
)


def make_shop(url: str) -> None:
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    serial = "SERIAL" if db.dialect.name == "postgresql" else "INTEGER"
    with db.engine.begin() as conn:
        for statement in SHOP:
            conn.exec_driver_sql(statement.format(serial=serial))
    db.dispose()


def test_a_table_of_ones_own_is_scaffolded_tracked_imported_and_rolled_back(
    cli, database_url, tmp_path, monkeypatch
):
    make_shop(database_url)
    monkeypatch.chdir(tmp_path)
    scaffolds = [cli("types", "scaffold", table) for table in ("suppliers", "products")]
    assert all(s.exit_code == 0 for s in scaffolds), [s.output for s in scaffolds]
    (tmp_path / "batchport.toml").write_text("\n".join(s.output for s in scaffolds))
    assert 'references = "products"' in scaffolds[1].output  # the hierarchy, by its own key

    refused = cli("types")
    assert refused.exit_code == 1
    assert (
        "2 tables are not tracked (suppliers, products): run "
        "`batchport db track suppliers products`" in refused.output
    )

    tracked = cli("db", "track", "suppliers", "products")
    assert tracked.exit_code == 0, tracked.output
    listed = cli("types")
    assert "products → products" in listed.output and "supplier_code" in listed.output

    (tmp_path / "s.csv").write_text("code,name\nACME,Acme Ltd\nGLOBEX,Globex\n")
    (tmp_path / "p.csv").write_text(
        "sku,name,qty,released,supplier_code,parent_sku\n"
        'KIT,Kit,"1,200",46004,ACME,\n'
        "P1,Widget,5,2025-01-02,GLOBEX,KIT\n"
    )
    assert cli("import", "suppliers", "s.csv").exit_code == 0
    imported = cli("import", "products", "p.csv", "--json")
    assert imported.exit_code == 0, imported.output
    batch_id = json.loads(imported.output)["batch_id"]

    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    with db.engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT p.sku, p.qty, p.released, s.code, parent.sku FROM products p "
                "JOIN suppliers s ON s.id = p.supplier_id "
                "LEFT JOIN products parent ON parent.id = p.parent_id ORDER BY p.sku"
            )
        ).all()
    assert [(sku, qty, str(day), code, parent) for sku, qty, day, code, parent in found] == [
        ("KIT", 1200, "2025-12-13", "ACME", None),
        ("P1", 5, "2025-01-02", "GLOBEX", "KIT"),
    ]

    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,qty,released,supplier_code\nX1,X,many,03/04/2025,NOPE\n")
    rejected = cli("import", "products", str(bad), "--json")
    assert rejected.exit_code == 1
    problems = {e["column"]: e["message"] for e in json.loads(rejected.output)["errors"]}
    assert set(problems) == {"qty", "released", "supplier_code"}

    with db.engine.begin() as conn:  # a hand edit since the import blocks the rollback
        conn.execute(sa.text("UPDATE products SET name = 'Hand' WHERE sku = 'P1'"))
    blocked = cli("rollback", batch_id, "--yes")
    assert blocked.exit_code == 1 and "edited after the import" in blocked.output
    assert cli("rollback", batch_id, "--yes", "--force-edited").exit_code == 0
    with db.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM products")).scalar_one()
        suppliers = conn.execute(sa.text("SELECT count(*) FROM suppliers")).scalar_one()
    db.dispose()
    assert (left, suppliers) == (0, 2)


# Every parser's values, stored exactly

#: makers, keyed by a UUID; parts, keyed by an integer, with a column of every parser's type
#: (and flags in a column of integers), a reference to makers, one to parts (a hierarchy by
#: integer keys) and links to makers.
TYPED_TABLES = {
    "postgresql": (
        "CREATE TYPE grade AS ENUM ('low', 'high')",
        "CREATE TABLE makers (id SERIAL PRIMARY KEY, ref UUID NOT NULL UNIQUE, "
        "name VARCHAR(50) NOT NULL)",
        "CREATE TABLE parts (id SERIAL PRIMARY KEY, num INTEGER NOT NULL UNIQUE, "
        "price NUMERIC(12, 2), spec JSONB, notes JSON, grade grade, made DATE, "
        "seen TIMESTAMPTZ, active BOOLEAN, spare SMALLINT, token UUID, "
        "status VARCHAR(10) NOT NULL DEFAULT 'new', maker_id INTEGER REFERENCES makers (id), "
        "parent_id INTEGER REFERENCES parts (id))",
        "CREATE TABLE part_makers (part_id INTEGER NOT NULL REFERENCES parts (id), "
        "maker_id INTEGER NOT NULL REFERENCES makers (id), PRIMARY KEY (part_id, maker_id))",
    ),
    "sqlite": (
        "CREATE TABLE makers (id INTEGER PRIMARY KEY AUTOINCREMENT, ref CHAR(36) NOT NULL "
        "UNIQUE, name VARCHAR(50) NOT NULL)",
        "CREATE TABLE parts (id INTEGER PRIMARY KEY AUTOINCREMENT, num INTEGER NOT NULL UNIQUE, "
        "price NUMERIC(12, 2), spec JSON, notes JSON, grade VARCHAR(4), made DATE, "
        "seen DATETIME, active BOOLEAN, spare SMALLINT, token CHAR(36), "
        "status VARCHAR(10) NOT NULL DEFAULT 'new', maker_id INTEGER REFERENCES makers (id), "
        "parent_id INTEGER REFERENCES parts (id))",
        "CREATE TABLE part_makers (part_id INTEGER NOT NULL REFERENCES parts (id), "
        "maker_id INTEGER NOT NULL REFERENCES makers (id), PRIMARY KEY (part_id, maker_id))",
    ),
}

TYPED_TOML = """
[types.makers]
table = "makers"
key = "ref"

[[types.makers.fields]]
name = "ref"
parser = "uuid"
required = true

[[types.makers.fields]]
name = "name"
required = true

[types.parts]
table = "parts"
key = "num"

[[types.parts.fields]]
name = "num"
parser = "integer"
required = true

[[types.parts.fields]]
name = "price"
parser = "decimal"
decimal_separator = ","

[[types.parts.fields]]
name = "spec"
parser = "json"

[[types.parts.fields]]
name = "notes"
parser = "json"

[[types.parts.fields]]
name = "grade"
parser = "enum"
values = ["low", "high"]
default = "low"

[[types.parts.fields]]
name = "made"
parser = "date"

[[types.parts.fields]]
name = "seen"
parser = "datetime"

[[types.parts.fields]]
name = "active"
parser = "boolean"

[[types.parts.fields]]
name = "spare"
parser = "boolean"

[[types.parts.fields]]
name = "token"
parser = "uuid"

[[types.parts.fields]]
name = "status"
default = "draft"

[[types.parts.fields]]
name = "maker_ref"
references = "makers"
column = "maker_id"

[[types.parts.fields]]
name = "parent_num"
references = "parts"
column = "parent_id"

[[types.parts.fields]]
name = "also_by"
link = { to = "makers", table = "part_makers", owner = "part_id", target = "maker_id" }
"""

M1 = uuid.UUID("123e4567-e89b-12d3-a456-426614174000")
M2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
TOKEN = uuid.UUID("a0000000-0000-4000-8000-00000000000a")
HEADER = [
    "num", "price", "spec", "notes", "grade", "made", "seen", "active", "spare", "token",
    "maker_ref", "parent_num", "also_by",
]  # fmt: skip
#: Two parts as a CSV file writes them: part 7's parent comes later in the file; the status
#: column is missing (its declared default applies) and part 8's grade is empty (likewise).
CSV_PARTS = [
    HEADER,
    [
        "7", "1.234,5", '{"size": [1, 2.5], "ok": true}', '[1, "a"]', "LOW", "2025-01-02",
        "2025-01-02T10:30:00", "yes", "y", "{" + str(TOKEN).upper() + "}", str(M1), "8",
        f"{M1}; {str(M2).upper()}",
    ],
    [
        "008", "0,5", '"txt"', "", "", "2025-12-13", "2025-01-03 10:30", "no", "0", "",
        str(M2), "", str(M2),
    ],
]  # fmt: skip
#: The same parts as a workbook holds them: numbers in numeric cells (1234.5 is a number, not
#: text to read with the field's decimal separator), a date as its serial number, flags as
#: booleans, the rest as text ("0,5" is text: read with the separator).
XLSX_PARTS = [
    HEADER,
    [
        7, 1234.5, '{"size": [1, 2.5], "ok": true}', '[1, "a"]', "LOW", "2025-01-02",
        "2025-01-02T10:30:00", True, True, "{" + str(TOKEN).upper() + "}", str(M1), 8,
        f"{M1}; {str(M2).upper()}",
    ],
    [
        8, "0,5", '"txt"', "", "", 46004, "2025-01-03 10:30", False, 0, "", str(M2), "",
        str(M2),
    ],
]  # fmt: skip


@dataclass
class Typed:
    """The makers and parts of `TYPED_TABLES`, declared, tracked, two makers imported."""

    url: str
    db: Database
    folder: Path
    cli: Callable[..., Any]
    csv_file: Callable[..., Path]
    xlsx_file: Callable[..., Path]

    @property
    def pg(self) -> bool:
        return self.db.dialect.name == "postgresql"

    def uuid(self, value: uuid.UUID) -> object:
        """A UUID as its column gives it back: a UUID (PostgreSQL) or its text (CHAR(36))."""
        return value if self.pg else str(value)

    def moment(self, *parts: int) -> dt.datetime:
        """A date and time as its column gives it back: in UTC (TIMESTAMPTZ), or as written."""
        return dt.datetime(*parts, tzinfo=dt.UTC if self.pg else None)

    def file(self, form: str, rows: list[list[object]], name: str = "parts") -> Path:
        """The rows as a CSV file, or as a workbook's sheet `parts`."""
        if form == "csv":
            return self.csv_file(rows, name=f"{name}.csv")
        return self.xlsx_file({"parts": rows}, name=f"{name}.xlsx")

    def run(self, *args: str) -> dict[str, Any]:
        """Runs the CLI with --json; returns its report, failing the test if it failed."""
        done = self.cli(*args, "--json")
        assert done.exit_code == 0, done.output
        report: dict[str, Any] = json.loads(done.output)
        return report

    def rows(self) -> dict[str, list[dict[str, object]]]:
        """Every row of parts and part_makers, as SQLAlchemy reads the reflected tables."""
        metadata = sa.MetaData()
        with self.db.engine.connect() as conn:
            tables = [sa.Table(n, metadata, autoload_with=conn) for n in ("parts", "part_makers")]
            return {
                table.name: [
                    dict(row)
                    for row in conn.execute(
                        sa.select(table).order_by(*table.primary_key.columns)
                    ).mappings()
                ]
                for table in tables
            }

    def parts(self) -> dict[int, dict[str, object]]:
        """Each part by its number: its values, its maker's and its parent's keys, and the
        keys of the makers it links to."""
        with self.db.engine.connect() as conn:
            makers = dict(conn.execute(sa.text("SELECT id, ref FROM makers")).all())
            numbers = dict(conn.execute(sa.text("SELECT id, num FROM parts")).all())
        stored = self.rows()
        links: dict[object, set[object]] = {}
        for link in stored["part_makers"]:
            links.setdefault(link["part_id"], set()).add(makers[link["maker_id"]])
        return {
            int(part["num"]): {
                **{k: v for k, v in part.items() if k not in _PLUMBING},
                "maker_id": makers.get(part["maker_id"]),
                "parent_id": numbers.get(part["parent_id"]),
                "also_by": links.get(part["id"], set()),
            }
            for part in stored["parts"]
        }

    def json_types(self) -> list[tuple[int, str, str]]:
        """Each part's number and its JSON values' types, as the database's own JSON
        functions see them (None for SQL NULL)."""
        query = (
            "SELECT num, jsonb_typeof(spec), json_typeof(notes) FROM parts ORDER BY num"
            if self.pg
            else "SELECT num, json_type(spec), json_type(notes) FROM parts ORDER BY num"
        )
        with self.db.engine.connect() as conn:
            found = conn.execute(sa.text(query)).all()
        # SQLite calls a JSON string "text".
        return [tuple("string" if t == "text" else t for t in row) for row in found]


_PLUMBING = frozenset({"id", "num", "import_batch_id", "row_version"})


@pytest.fixture
def typed(cli, database_url, tmp_path, monkeypatch, csv_file, xlsx_file) -> Iterator[Typed]:
    """The makers and parts, declared in ./batchport.toml and tracked; makers M1 and M2."""
    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    with db.engine.begin() as conn:
        for statement in TYPED_TABLES[db.dialect.name]:
            conn.exec_driver_sql(statement)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batchport.toml").write_text(TYPED_TOML)
    for args in (("makers", "parts"), ("part_makers", "--owner", "part_id")):
        done = cli("db", "track", *args)
        assert done.exit_code == 0, done.output
    shop = Typed(database_url, db, tmp_path, cli, csv_file, xlsx_file)
    makers = csv_file([["ref", "name"], [str(M1).upper(), "Acme"], [str(M2), "Globex"]])
    shop.run("import", "makers", str(makers))
    yield shop
    db.dispose()


def expected_parts(typed: Typed) -> dict[int, dict[str, object]]:
    """The parts of `CSV_PARTS` (and `XLSX_PARTS`) as their columns give them back."""
    return {
        7: {
            "price": decimal.Decimal("1234.50"),
            "spec": {"size": [1, 2.5], "ok": True},
            "notes": [1, "a"],
            "grade": "low",
            "made": dt.date(2025, 1, 2),
            "seen": typed.moment(2025, 1, 2, 10, 30),
            "active": True,
            "spare": 1,
            "token": typed.uuid(TOKEN),
            "status": "draft",
            "maker_id": typed.uuid(M1),
            "parent_id": 8,
            "also_by": {typed.uuid(M1), typed.uuid(M2)},
        },
        8: {
            "price": decimal.Decimal("0.50"),
            "spec": "txt",
            "notes": None,
            "grade": "low",
            "made": dt.date(2025, 12, 13),
            "seen": typed.moment(2025, 1, 3, 10, 30),
            "active": False,
            "spare": 0,
            "token": None,
            "status": "draft",
            "maker_id": typed.uuid(M2),
            "parent_id": None,
            "also_by": {typed.uuid(M2)},
        },
    }


@pytest.fixture
def direct_only(monkeypatch):
    """Fails the import if the direct path hands the file to the staged path."""

    def staged(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the direct path handed the file to the staged path")

    monkeypatch.setattr(file_import, "_import_staged", staged)


def through(path: str, request: pytest.FixtureRequest) -> list[str]:
    """The command (after `import`) that sends the parts down `path`: the direct path, with
    the staged one made to fail so that the direct one must load the file alone; the staged
    path, as rows that may meet existing ones are compared in SQL; a workbook's import, which
    stages its sheets."""
    if path == "direct":
        request.getfixturevalue("direct_only")
    if path == "workbook":
        return ["workbook"]
    return ["parts", *(["--on-existing", "skip"] if path == "staged" else [])]


@pytest.mark.parametrize(
    ("form", "path"),
    [
        ("csv", "direct"),
        ("csv", "staged"),
        ("xlsx", "direct"),
        ("xlsx", "staged"),
        ("xlsx", "workbook"),
    ],
)
def test_every_parser_stores_its_values_as_its_column_holds_them(typed, form, path, request):
    """Decimals, JSON documents, enums, dates, times, flags, UUIDs, integer and UUID keys
    (referenced, linked, in a hierarchy) and declared defaults land exactly, by every path."""
    source = typed.file(form, CSV_PARTS if form == "csv" else XLSX_PARTS)
    command = through(path, request)
    report = typed.run("import", command[0], str(source), *command[1:])
    if path == "workbook":
        [report] = report
    assert (report["rows_imported"], report["created"]) == (2, {"parts": 2, "part_makers": 3})
    stored = typed.parts()
    assert stored == expected_parts(typed)
    assert str(stored[7]["price"]) == "1234.50"
    assert typed.json_types() == [(7, "object", "array"), (8, "string", None)]


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_update_of_typed_values_is_rolled_back_exactly(typed, form):
    """`--on-existing update` changes each typed value (and the links, by UUID keys); the
    rollback puts every prior value back as it was, to the type, and deletes the new part."""
    typed.run("import", "parts", str(typed.file("csv", CSV_PARTS)))
    before = typed.rows()
    header = ["num", "price", "spec", "grade", "made", "seen", "active", "token", "maker_ref"]
    header += ["parent_num", "also_by"]
    # Numbers as a CSV writes them, or in a workbook's numeric cells.
    seven, price, nine = ("7", "9,99", "9") if form == "csv" else (7, 9.99, 9)
    changed = [
        seven, price, '{"size": 3}', "high", "2026-02-03", "2026-02-03 08:00", "no", str(M2),
        str(M2), "", str(M2),
    ]  # fmt: skip
    added = [nine, "1,00", "", "", "", "", "", "", "", seven, str(M1)]
    update = typed.file(form, [header, changed, added], name="update")
    report = typed.run("import", "parts", str(update), "--on-existing", "update")
    assert (report["updated"], report["rows_imported"]) == (1, 1)
    stored = typed.parts()
    assert stored[7] == expected_parts(typed)[7] | {
        "price": decimal.Decimal("9.99"),
        "spec": {"size": 3},
        "grade": "high",
        "made": dt.date(2026, 2, 3),
        "seen": typed.moment(2026, 2, 3, 8, 0),
        "active": False,
        "token": typed.uuid(M2),
        "maker_id": typed.uuid(M2),
        "parent_id": None,
        "also_by": {typed.uuid(M2)},
    }
    assert stored[8] == expected_parts(typed)[8]
    assert stored[9]["parent_id"] == 7
    assert (stored[9]["status"], stored[9]["grade"]) == ("draft", "low")

    done = typed.run("rollback", report["batch_id"], "--yes")
    assert done["status"] == "rolled_back", done
    assert typed.rows() == before


def test_an_update_keeps_the_text_of_a_value_equal_to_the_files(typed):
    """A JSON document stored with its keys in another order equals the file's: when the file
    changes the part's price, the document keeps its own text (no change-log entry would bring
    it back), and the rollback puts the price back."""
    if not typed.pg:
        pytest.skip("SQLite compares JSON as text: another text is another value, logged")
    typed.run("import", "parts", str(typed.file("csv", CSV_PARTS)))
    by_hand = '{"b": 1,  "a": [2]}'
    query = "SELECT notes::text, price FROM parts WHERE num = 7"
    with typed.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE parts SET notes = :notes WHERE num = 7"), {"notes": by_hand})
    update = typed.file("csv", [["num", "price", "notes"], ["7", "9,99", '{"a":[2],"b":1}']])
    report = typed.run("import", "parts", str(update), "--on-existing", "update")
    assert report["updated"] == 1
    with typed.db.engine.connect() as conn:
        assert tuple(conn.execute(sa.text(query)).one()) == (by_hand, decimal.Decimal("9.99"))
    assert typed.run("rollback", report["batch_id"], "--yes")["status"] == "rolled_back"
    with typed.db.engine.connect() as conn:
        assert tuple(conn.execute(sa.text(query)).one()) == (by_hand, decimal.Decimal("1234.50"))


def test_typed_keys_are_named_in_errors_as_the_file_writes_them(typed):
    """A key repeated as `7` and `007`, unknown integer and UUID keys, a bad UUID: each is
    reported with its row, column and value, and nothing is written."""
    unknown = uuid.UUID(int=99)
    rows = [
        ["num", "token", "maker_ref", "parent_num", "also_by"],
        ["7", "", str(unknown), "", f"{M1};{unknown}"],
        ["007", "nope", "", "99", ""],
    ]
    done = typed.cli("import", "parts", str(typed.csv_file(rows)), "--json")
    assert done.exit_code == 1, done.output
    errors = {
        (e["row"], e["column"], e["value"], e["message"]) for e in json.loads(done.output)["errors"]
    }
    assert errors == {
        (2, "maker_ref", str(unknown), f"no makers row has ref {str(unknown)!r} in the database"),
        (2, "also_by", str(unknown), f"no makers row has ref {str(unknown)!r} in the database"),
        (3, "num", "7", "num '7' is also in row 2 of this file"),
        (3, "parent_num", "99", "no parts row has num '99' in the database or this file"),
        (
            3,
            "token",
            "nope",
            "is not a UUID (expected 32 hexadecimal digits like "
            "123e4567-e89b-12d3-a456-426614174000)",
        ),
    }
    assert typed.rows() == {"parts": [], "part_makers": []}


@pytest.mark.parametrize("on_existing", ["skip", "update"])
def test_existing_rows_are_found_by_their_typed_keys(typed, on_existing):
    """An integer key written otherwise (`007`) and a UUID in capitals find their rows: they
    are skipped or left unchanged, and a row with an existing key is refused by default."""
    typed.run("import", "parts", str(typed.file("csv", CSV_PARTS)))
    again = [
        ["num", "maker_ref", "also_by"],
        ["007", str(M1).upper(), f"{M1}; {str(M2).upper()}"],
        ["8", str(M2), str(M2)],
    ]
    path = typed.csv_file(again, name="again.csv")
    report = typed.run("import", "parts", str(path), "--on-existing", on_existing)
    counted = {"skip": "skipped", "update": "unchanged"}[on_existing]
    assert (report[counted], report["rows_imported"], report["updated"]) == (2, 0, 0)
    refused = typed.cli("import", "parts", str(path), "--json")
    assert refused.exit_code == 1
    messages = [e["message"] for e in json.loads(refused.output)["errors"]]
    assert messages[0].startswith("num '7' already exists in the database (parts id ")


def test_a_workbook_number_is_never_reread_by_the_decimal_separator(typed):
    """Where a field's decimal separator is a comma, a numeric cell is still the number it
    holds; a text cell is read as a CSV's would be, with the declared separator."""
    good = [["num", "price"], [1, 1.25], [2, "1.234,5"], [3, 1234], [4, "0,5"]]
    typed.run("import", "parts", str(typed.xlsx_file({"parts": good}, name="good.xlsx")))
    prices = {number: part["price"] for number, part in typed.parts().items()}
    assert prices == {
        1: decimal.Decimal("1.25"),
        2: decimal.Decimal("1234.5"),
        3: decimal.Decimal(1234),
        4: decimal.Decimal("0.5"),
    }
    bad = [["num", "price"], [5, 1.234], [6, "1.5"]]
    done = typed.cli("import", "parts", str(typed.xlsx_file({"parts": bad}, name="bad.xlsx")))
    assert done.exit_code == 1
    assert "has 3 decimals; at most 2 allowed" in done.output  # not 1234 read by the separator
    assert "is not a number (expected digits like 1234,56)" in done.output


# A type declared in Python, with SQLAlchemy's UUID, Numeric and JSON types

GADGETS = {
    "postgresql": "CREATE TABLE gadgets (id SERIAL PRIMARY KEY, ref UUID NOT NULL UNIQUE, "
    "price NUMERIC(12, 2), spec JSON)",
    "sqlite": "CREATE TABLE gadgets (id INTEGER PRIMARY KEY AUTOINCREMENT, ref CHAR(32) NOT "
    "NULL UNIQUE, price NUMERIC(12, 2), spec JSON)",
}


def declared_in_python(db: Database) -> Database:
    """The database offering `gadgets` as an application's own models declare the table:
    `sa.Uuid` (32 hexadecimal digits on SQLite, as SQLAlchemy stores it), `Numeric`, `JSON`."""
    gadgets = sa.Table(
        "gadgets",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ref", sa.Uuid, nullable=False, unique=True),
        sa.Column("price", sa.Numeric(12, 2)),
        sa.Column("spec", sa.JSON),
        sa.Column("import_batch_id", sa.String(100)),
        sa.Column("row_version", sa.BigInteger, nullable=False),
    )
    fields = [
        {"name": "ref", "parser": "uuid", "required": True},
        {"name": "price", "parser": "decimal"},
        {"name": "spec", "parser": "json"},
    ]
    types = TypesFile.model_validate(
        {"types": {"gadgets": {"table": "gadgets", "key": "ref", "fields": fields}}}
    )
    catalog = catalog_of(types, {"gadgets": gadgets}.__getitem__, source="models")
    return Database.from_url(str(db.engine.url.render_as_string(False)), catalog=catalog)


def test_a_type_declared_in_python_stores_uuid_decimal_and_json_objects(db, cli, csv_file):
    """UUIDs, Decimals and documents reach SQLite as SQLAlchemy stores them (so the
    application reads them back), and an update of them is rolled back exactly."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql(GADGETS[db.dialect.name])
    assert cli("db", "track", "gadgets").exit_code == 0
    gadgets = declared_in_python(db)
    table = gadgets.catalog["gadgets"].table
    first = csv_file([["ref", "price", "spec"], [str(M1).upper(), "12.5", '{"a": [1]}']])
    run_import(gadgets, "gadgets", first, actor="test")
    update = csv_file([["ref", "price", "spec"], [str(M1), "0.10", "[2]"]], name="u.csv")
    report = run_import(gadgets, "gadgets", update, actor="test", on_existing="update")
    assert report.updated == 1
    with gadgets.engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.ref, table.c.price, table.c.spec)).one()
        raw = conn.execute(sa.text("SELECT ref FROM gadgets")).scalar_one()
        found = db.dialect.existing(conn, table.c.ref, [M1, M2])
    assert tuple(stored) == (M1, decimal.Decimal("0.10"), [2])
    assert str(raw) == (M1.hex if db.dialect.name == "sqlite" else str(M1))
    assert found == {M1}
    rollback_batch(gadgets, report.batch_id, actor="test")
    with gadgets.engine.connect() as conn:
        restored = conn.execute(sa.select(table.c.ref, table.c.price, table.c.spec)).one()
    gadgets.dispose()
    assert tuple(restored) == (M1, decimal.Decimal("12.50"), {"a": [1]})


KITS = (
    "CREATE TABLE kits (id {serial} PRIMARY KEY, sku VARCHAR(20) NOT NULL UNIQUE, "
    "name VARCHAR(50) NOT NULL, price NUMERIC(8,2) NOT NULL CHECK (price >= 0), "
    "qty INTEGER CONSTRAINT qty_small CHECK (qty < 1000), note TEXT)"
)
KIT_TYPES = """
[types.kits]
table = "kits"
key = "sku"
fields = [
  {{ name = "sku" }},
  {{ name = "name" }},
  {{ name = "price", parser = "decimal" }},
  {{ name = "qty", parser = "integer" }},
{note}]
"""
KIT_ROWS = [
    ["sku", "name", "price", "qty", "note"],
    ["K1", "Starter", "9.50", "3", ""],
    ["K2", "Refund", "-5", "1", ""],
    ["K3", "Bulk", "120", "5000", ""],
    ["K4", "", "1", "1", "no name"],
]


@pytest.fixture
def kits(database_url, tmp_path, monkeypatch):
    """A table of one's own with NOT NULL columns and CHECK constraints, tracked, declared
    in ./batchport.toml with none of its fields marked required."""
    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    serial = "SERIAL" if db.dialect.name == "postgresql" else "INTEGER"
    with db.engine.begin() as conn:
        conn.exec_driver_sql(KITS.format(serial=serial))
    commands.track_tables(db, ["kits"], actor="test")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batchport.toml").write_text(KIT_TYPES.format(note='  { name = "note" },\n'))
    yield db
    db.dispose()


@pytest.mark.parametrize("form", ["csv", "workbook"])
def test_the_tables_own_rules_are_reported_by_row_column_and_value(
    kits, cli, csv_file, xlsx_file, form
):
    """A CHECK constraint of the table and a NOT NULL column without a default are checked
    with the file, like batchport's own rules: every broken one named, nothing written."""
    if form == "csv":
        refused = cli("import", "kits", str(csv_file(KIT_ROWS)), "--json")
    else:
        refused = cli("import", "workbook", str(xlsx_file({"kits": KIT_ROWS})), "--json")
    assert refused.exit_code == 1, refused.output
    errors = json.loads(refused.output)["errors"]
    found = {(e["row"], e["column"]): (e["value"], e["message"]) for e in errors}
    assert set(found) == {(3, "price"), (4, "qty"), (5, "name")}
    assert float(found[3, "price"][0]) == -5
    assert found[3, "price"][1].startswith(("breaks the rule ", "breaks a rule "))
    assert "price >= " in found[3, "price"][1]
    assert found[4, "qty"] == ("5000", "breaks the rule qty_small of table kits: qty < 1000")
    assert found[5, "name"][1] == "is required"
    with kits.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM kits").scalar_one() == 0
    fixed = [row for row in KIT_ROWS if row[0] in {"sku", "K1"}]
    assert cli("import", "kits", str(csv_file(fixed, name="fixed.csv"))).exit_code == 0


def test_a_type_that_leaves_a_column_without_a_value_is_refused(kits, cli, tmp_path):
    (tmp_path / "batchport.toml").write_text(
        KIT_TYPES.format(note="").replace('  { name = "name" },\n', "")
    )
    refused = cli("types")
    assert refused.exit_code == 1
    assert (
        "column name of table kits is NOT NULL without a default, and no field fills it"
        in " ".join(refused.output.split())
    )


def test_an_update_sets_the_columns_its_file_has_and_new_rows_still_need_theirs(
    kits, cli, csv_file
):
    """`--on-existing update` with a file of keys and prices changes the prices alone; a new
    row in such a file is refused for the required columns the file lacks."""
    assert cli("import", "kits", str(csv_file(KIT_ROWS[:2], name="first.csv"))).exit_code == 0
    mixed = csv_file([["sku", "price"], ["K1", "12.25"], ["K9", "3"]], name="mixed.csv")
    refused = cli("import", "kits", str(mixed), "--on-existing", "update", "--json")
    assert refused.exit_code == 1, refused.output
    errors = [(e["row"], e["column"]) for e in json.loads(refused.output)["errors"]]
    assert errors == [(3, "name")]
    prices = csv_file([["sku", "price"], ["K1", "12.25"]], name="prices.csv")
    updated = cli("import", "kits", str(prices), "--on-existing", "update", "--json")
    assert updated.exit_code == 0, updated.output
    with kits.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT name, price, qty FROM kits").one()
    assert (row.name, float(row.price), row.qty) == ("Starter", 12.25, 3)
    batch = json.loads(updated.output)["batch_id"]
    assert cli("rollback", batch, "--yes").exit_code == 0
    with kits.engine.connect() as conn:
        assert float(conn.exec_driver_sql("SELECT price FROM kits").scalar_one()) == 9.5
