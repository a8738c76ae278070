"""The direct path's parents: found in the chunk, in the database or later in the file, with
nothing held in memory that grows with the file, on both databases."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchport import Database, RowError, changes, run_import
from batchport.columns.mapping import map_header
from batchport.columns.rows import Chunk, parse_chunks
from batchport.loading.direct import DirectLoader
from batchport.sources import open_source
from tests.helpers import tables

pytestmark = pytest.mark.types("shipped", "declared")

HEADER = ["code", "name", "parent_code"]
#: Rows of the large file; each chunk of `CHUNK` rows names parents written chunks before.
ROWS = 40_000
CHUNK = 1_000


def chunks(db: Database, path: Path, size: int) -> Iterator[Chunk]:
    """The departments file parsed as an import parses it, `size` rows at a time, lazily."""
    errors: list[RowError] = []
    with open_source(path) as source:
        mapping, header_errors = map_header(db.catalog["departments"], source.header())
        assert header_errors == []
        yield from parse_chunks(mapping, source.blocks(size), errors)
    assert errors == []


def load(db: Database, path: Path, size: int, each: Callable[[int], None] = int) -> None:
    """Writes the file with the direct loader in a write transaction, as an import does;
    calls `each` with the number of each chunk written."""
    departments = db.catalog["departments"]
    with (
        db.connect() as conn,
        db.dialect.begin_write(conn),
        changes.writing(conn, str(uuid.uuid4())),
        DirectLoader(conn, db.dialect, db.catalog, departments, str(uuid.uuid4())) as loader,
    ):
        for number, chunk in enumerate(chunks(db, path, size), start=1):
            loader.write(chunk)
            each(number)
        loader.finish()


def parent_codes(rows) -> dict[object, object]:
    found = rows("departments")
    code = {d["id"]: d["code"] for d in found}
    return {d["code"]: code.get(d["parent_id"]) for d in found}


def test_parents_of_a_large_file_resolve_with_memory_that_does_not_grow(db, csv_file, rows):
    """Parents written chunks before are found; what the loader keeps between the 5th and the
    last chunk stays well under what a key per row would take (about 100 bytes each)."""
    lines = [
        [f"B{i:06d}", f"Branch {i}", f"B{i // 10:06d}" if i >= 10 else ""] for i in range(ROWS)
    ]
    path = csv_file([HEADER, *lines])
    held: dict[int, int] = {}

    def measure(number: int) -> None:
        if number in {5, ROWS // CHUNK}:
            held[number] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        load(db, path, CHUNK, measure)
    finally:
        tracemalloc.stop()
    grown = held[ROWS // CHUNK] - held[5]
    assert grown < (ROWS - 5 * CHUNK) * 100 // 4, f"{grown:,} bytes kept for {ROWS:,} rows"
    assert parent_codes(rows) == {code: parent or None for code, _, parent in lines}


def test_loads_with_parents_later_in_the_file_follow_each_other_on_one_connection(
    db, csv_file, rows
):
    """What the loader keeps in the database for parents still to come is gone when it ends,
    so the next load on the same (pooled) connection works the same way."""
    first = csv_file([HEADER, ["KID", "k", "TOP"], ["X", "x", ""], ["TOP", "t", ""]], name="a.csv")
    second = csv_file([HEADER, ["SUB", "s", "MID"], ["Y", "y", ""], ["MID", "m", "TOP"]])
    load(db, first, 2)
    load(db, second, 2)
    assert parent_codes(rows) == {
        "KID": "TOP",
        "X": None,
        "TOP": None,
        "SUB": "MID",
        "Y": None,
        "MID": "TOP",
    }


def test_one_streamed_file_finds_parents_wherever_they_are(db, csv_file, rows, monkeypatch):
    """Streamed in chunks of 3, a file's parents are found in its own chunk (before or after
    the row), chunks before, later in the file, in another batch and among rows typed by hand;
    those rows are left as they were."""
    monkeypatch.setattr("batchport.importing.steps.CHUNK_ROWS", 3)
    departments = tables(db)["departments"]
    with db.connect() as conn, conn.begin():
        conn.execute(departments.insert().values(code="HAND", name="Typed by hand"))
    run_import(db, "departments", csv_file([HEADER, ["OTHER", "Other batch", ""]]), actor="a")
    before = {row["code"]: row for row in rows("departments")}
    lines = [
        ["A", "a", "HAND"],
        ["B", "b", "C"],  # later in its chunk
        ["C", "c", "OTHER"],
        ["D", "d", "A"],  # a chunk before
        ["E", "e", "Z"],  # later in the file
        ["F", "f", "B"],
        ["G", "g", "F"],  # earlier in its chunk
        ["H", "h", "D"],
        ["Z", "z", "HAND"],
    ]
    report = run_import(db, "departments", csv_file([HEADER, *lines], name="b.csv"), actor="a")
    assert report.rows_imported == len(lines)
    assert parent_codes(rows) == {
        "HAND": None,
        "OTHER": None,
        **{code: parent for code, _, parent in lines},
    }
    after = {row["code"]: row for row in rows("departments")}
    assert [after[code] for code in before] == list(before.values())
    assert {after[code]["import_batch_id"] for code, _, _ in lines} == {report.batch_id}
