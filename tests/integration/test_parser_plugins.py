"""A parser of one's own, registered by an installed package through the entry point group
`batchport.types`: a types file names it, the CLI imports with it, and a cell it rejects is
reported by row, column and value with the parser's own words — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import sqlalchemy as sa

from batchport import BUILTIN_TYPES, Database, commands

PLUGIN = '''
import re

SHAPE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}")


def postcode(spec, column):
    """UK postcodes, stored upper-case with one space."""

    def parse(text):
        compact = text.upper().replace(" ", "")
        if not SHAPE.fullmatch(compact):
            raise ValueError("is not a UK postcode such as SW1A 1AA")
        return f"{compact[:-3]} {compact[-3:]}"

    return parse
'''

TYPES = """
[types.offices]
table = "offices"
key = "code"

[[types.offices.fields]]
name = "code"
required = true

[[types.offices.fields]]
name = "postcode"
parser = "postcode"
"""


def install_plugin(folder) -> None:
    """The package `office_parsers` and its distribution's entry point, on a path of its own."""
    (folder / "office_parsers.py").write_text(PLUGIN)
    info = folder / "office_parsers-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: office-parsers\nVersion: 1.0\n")
    entry_point = "postcode = office_parsers:postcode"
    (info / "entry_points.txt").write_text(f"[batchport.types]\n{entry_point}\n")


def run(database_url, folder, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "batchport", "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        check=False,
    )


def test_a_registered_parser_is_named_in_a_types_file_and_used(database_url, tmp_path):
    install_plugin(tmp_path)
    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    serial = "SERIAL" if db.dialect.name == "postgresql" else "INTEGER"
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE offices (id {serial} PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE, "
            "postcode VARCHAR(8))"
        )
    commands.track_tables(db, ["offices"], actor="test")
    (tmp_path / "batchport.toml").write_text(textwrap.dedent(TYPES))
    (tmp_path / "offices.csv").write_text("code,postcode\nLON,sw1a1aa\nMAN,M1 1AE\n")
    (tmp_path / "bad.csv").write_text("code,postcode\nLDS,LS1 4AP\nBHX,12345\n")

    shown = run(database_url, tmp_path, "types", "show", "offices", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["columns"][1]["parser"] == "postcode"
    imported = run(database_url, tmp_path, "import", "offices", "offices.csv")
    assert imported.returncode == 0, imported.stderr
    rejected = run(database_url, tmp_path, "import", "offices", "bad.csv", "--json")
    assert rejected.returncode == 1
    errors = json.loads(rejected.stdout)["errors"]
    assert [(e["row"], e["column"], e["value"], e["message"]) for e in errors] == [
        (3, "postcode", "12345", "is not a UK postcode such as SW1A 1AA")
    ]
    with db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT code, postcode FROM offices ORDER BY id")).all()
    db.dispose()
    assert [tuple(row) for row in stored] == [("LON", "SW1A 1AA"), ("MAN", "M1 1AE")]
