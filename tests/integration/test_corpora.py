"""Public corpora of tricky files (see tests/corpora/README.md): csv-spectrum's files import
with exactly the values of their expected JSON; papaparse's core parser cases read as papaparse
reads them; defusedxml's XML attacks, packed into a workbook, are refused quickly."""

from __future__ import annotations

import json
import re
import resource
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchport import Catalog, Database, Field, ImportType, SourceError, run_import
from batchport.columns.parsers import Text
from batchport.sources import open_source

CORPORA = Path(__file__).parents[1] / "corpora"
SPECTRUM = sorted((CORPORA / "csv-spectrum" / "csvs").glob("*.csv"))
#: Its JSON does not match its CSV (another phone number, mangled degree signs).
WRONG_EXPECTATIONS = {"location_coordinates"}


def spectrum_type(name: str, header: list[str]) -> ImportType:
    """A throwaway import type with one text column per header cell, keyed by the first."""
    columns = [re.sub(r"\W+", "_", cell.strip().lower()) for cell in header]
    table = sa.Table(
        f"spectrum_{name}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        *(sa.Column(column, sa.Text) for column in columns),
        sa.Column("import_batch_id", sa.String(100)),
        sa.Column("row_version", sa.BigInteger, nullable=False, server_default="0"),
    )
    fields = tuple(
        Field(column, Text(10_000), required=i == 0, column=column)
        for i, column in enumerate(columns)
    )
    return ImportType(name, table, columns[0], fields)


@pytest.mark.parametrize("path", SPECTRUM, ids=[p.stem for p in SPECTRUM])
def test_csv_spectrum_files_import_exactly(database_url, path):
    """Every row lands in the database with exactly its expected values (an empty cell is
    stored as NULL, which the comparison reads as "")."""
    if path.stem in WRONG_EXPECTATIONS:
        pytest.skip("the corpus's expected JSON does not match its CSV")
    expected = json.loads((path.parent.parent / "json" / f"{path.stem}.json").read_text())
    with open_source(path) as source:
        header = source.header()
    import_type = spectrum_type(path.stem, header)
    db = Database.from_url(database_url, catalog=Catalog((import_type,)))
    try:
        with db.connect() as conn, conn.begin():
            import_type.table.create(conn)
        report = run_import(db, path.stem, path, actor="corpus")
        assert report.rows_imported == len(expected)
        table = import_type.table
        with db.connect() as conn:
            stored = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
        columns = [f.column for f in import_type.fields]
        got = [{h: row[c] or "" for h, c in zip(header, columns, strict=True)} for row in stored]
        assert got == expected
    finally:
        db.dispose()


PAPA_CASES = json.loads((CORPORA / "papaparse" / "core-parser-cases.json").read_text())


@pytest.mark.parametrize(
    "case", PAPA_CASES, ids=[re.sub(r"\W+", "-", c["description"])[:60] for c in PAPA_CASES]
)
def test_papaparse_core_cases(tmp_path, case):
    """A case papaparse parses without error reads to the same rows (batchport skips blank
    rows, which papaparse keeps as [""]); a case papaparse flags as malformed is an error
    here, never silently repaired."""
    path = tmp_path / "case.csv"
    path.write_text(case["input"], newline="")
    expected = [row for row in case["data"] if any(row)]
    if case["errors"]:
        with pytest.raises(SourceError):
            read_all(path)
    elif not expected:
        with pytest.raises(SourceError, match=r"empty|no data rows"):
            read_all(path)
    elif len(expected) == 1:
        with open_source(path) as source:
            assert source.header() == expected[0]
    else:
        assert read_all(path) == expected


def read_all(path: Path) -> list[list[str]]:
    """The header and every data row of the file."""
    with open_source(path) as source:
        return [source.header(), *(cells for _, cells in source.rows())]


XML_ATTACKS = sorted((CORPORA / "defusedxml").glob("*.xml"))


@pytest.mark.parametrize("attack", XML_ATTACKS, ids=[p.stem for p in XML_ATTACKS])
def test_xml_attacks_in_a_workbook_are_refused_quickly(tmp_path, xlsx_file, attack):
    """Each of defusedxml's attack files, put in place of a worksheet (and of the shared
    strings), is refused in well under a second without the memory growing."""
    good = xlsx_file({"departments": [["code", "name"], ["A", "a"]]})
    path = tmp_path / "attack.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename in {"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"}:
                data = attack.read_bytes()
            target.writestr(entry, data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(SourceError, match="DTD or XML entities"):
        open_source(path)
    assert time.monotonic() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB
