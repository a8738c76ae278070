"""Invalid files: every error is reported with its row, column and value, and nothing is written."""

from __future__ import annotations

import pytest

from batchport import FileRejected, SourceError, list_history, run_import
from tests.helpers import DEPARTMENTS, manual_sql, per_table

pytestmark = pytest.mark.types("shipped", "declared")


def rejected(db, import_type, path, **options):
    """Runs the import, expecting a rejection; returns its errors as (row, column, value)."""
    with pytest.raises(FileRejected) as caught:
        run_import(db, import_type, path, actor="a", **options)
    return caught.value


def cells(rejection):
    return [(e.row, e.column, e.value) for e in rejection.errors]


@pytest.fixture
def with_departments(db, csv_file):
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        (["", "Name", ""], "code", "", "is required"),
        (["X", "", ""], "name", "", "is required"),
        (["X" * 51, "Name", ""], "code", "X" * 51, "at most 50"),
        (["X", "Name", "", "maybe"], "is_active", "maybe", "yes/no"),
    ],
)
def test_cell_rules_name_row_column_and_value(db, csv_file, rows, row, column, value, message):
    """A bad cell in row 3 is reported at row 3 under its column, and no row is written."""
    path = csv_file(
        [
            ["code", "name", "parent_code", "is_active"],
            ["OK", "Fine", "", ""],
            row + [""] * (4 - len(row)),
        ]
    )
    rejection = rejected(db, "departments", path)
    [error] = rejection.errors
    assert (error.row, error.column, error.value) == (3, column, value)
    assert message in error.message
    assert rows("departments") == []


def test_all_errors_are_reported_together(db, csv_file, rows):
    """Errors from cells, from the whole file and from the database come in one report."""
    path = csv_file(
        [
            ["code", "name", "parent_code"],
            ["A", "", "NOPE"],
            ["B", "Bee", ""],
            ["B", "Again", "A"],
        ]
    )
    rejection = rejected(db, "departments", path)
    assert cells(rejection) == [
        (2, "name", ""),
        (2, "parent_code", "NOPE"),
        (4, "code", "B"),
    ]
    assert "also in row 3" in rejection.errors[2].message
    assert rows("departments") == []


def test_duplicate_key_in_the_file_names_both_rows(db, csv_file, rows):
    """The second occurrence is the error and the message points at the first."""
    rejection = rejected(
        db, "departments", csv_file([["code", "name"], ["A", "x"], ["B", "y"], ["A", "z"]])
    )
    [error] = rejection.errors
    assert (error.row, error.column, error.value) == (4, "code", "A")
    assert "row 2" in error.message
    assert rows("departments") == []


def test_key_already_in_the_database_names_the_existing_row(db, csv_file, rows):
    """A code typed in by hand earlier makes the file's row an error that says so."""
    manual_sql(db, "insert into {departments} (code, name) values ('HQ', 'Typed in')")
    rejection = rejected(db, "departments", csv_file(DEPARTMENTS))
    [error] = rejection.errors
    assert (error.row, error.column, error.value) == (2, "code", "HQ")
    assert "already exists in the database" in error.message
    assert "entered outside batchport" in error.message
    assert [d["code"] for d in rows("departments")] == ["HQ"]


def test_key_imported_before_names_its_batch(db, csv_file):
    """A code imported by an earlier batch is reported with that batch id."""
    first = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    rejection = rejected(db, "departments", csv_file(DEPARTMENTS[:2], name="again.csv"))
    assert first.batch_id in rejection.errors[0].message


def test_email_is_checked_and_compared_without_case(db, csv_file, with_departments, rows):
    """Emails must look like emails; two spellings of one address are one duplicate."""
    path = csv_file(
        [
            ["email", "first_name", "last_name", "department_codes"],
            ["not-an-email", "A", "B", "HQ"],
            ["Ann@Example.org", "Ann", "Lee", "HQ"],
            ["ann@example.ORG", "Ann", "Lee", "FIN"],
        ],
        name="users.csv",
    )
    rejection = rejected(db, "users", path)
    assert cells(rejection) == [(2, "email", "not-an-email"), (4, "email", "ann@example.org")]
    assert rows("users") == []


def test_unknown_department_code_fails_the_user_row(db, csv_file, with_departments, rows):
    """Each department code must exist; the unknown one is named with its row."""
    path = csv_file(
        [
            ["email", "first_name", "last_name", "department_codes"],
            ["a@example.org", "A", "B", "HQ;GHOST"],
            ["b@example.org", "B", "C", "FIN;FIN"],
        ],
        name="users.csv",
    )
    rejection = rejected(db, "users", path)
    assert cells(rejection) == [
        (2, "department_codes", "GHOST"),
        (3, "department_codes", "FIN;FIN"),
    ]
    assert "no departments row has code 'GHOST'" in rejection.errors[0].message
    assert "twice" in rejection.errors[1].message
    assert rows("users") == []
    assert rows("user_departments") == []


def test_unknown_parent_is_an_error(db, csv_file, rows):
    """A parent code found neither in the file nor in the database is rejected."""
    rejection = rejected(
        db, "departments", csv_file([["code", "name", "parent_code"], ["A", "a", "ZZ"]])
    )
    assert cells(rejection) == [(2, "parent_code", "ZZ")]
    assert rows("departments") == []


def test_parent_cycles_are_errors(db, csv_file, rows):
    """A department that is its own parent, or a loop of parents, is rejected."""
    rejection = rejected(
        db,
        "departments",
        csv_file(
            [
                ["code", "name", "parent_code"],
                ["A", "a", "B"],
                ["B", "b", "A"],
                ["C", "c", "C"],
                ["D", "d", "A"],
            ]
        ),
    )
    assert cells(rejection) == [
        (2, "parent_code", "B"),
        (3, "parent_code", "A"),
        (4, "parent_code", "C"),
    ]
    assert rows("departments") == []


@pytest.mark.parametrize(
    ("header", "column", "message"),
    [
        (["code", "name", "colour"], "colour", "unknown column"),
        (["code"], "name", "required column is missing"),
        (["code", "name", "Name"], "Name", "appears twice"),
    ],
)
def test_header_problems_are_row_1_errors(db, csv_file, rows, header, column, message):
    """A shifted or misspelt header is caught at row 1 before any data row is read."""
    rejection = rejected(db, "departments", csv_file([header, ["A"] * len(header)]))
    assert [(e.row, e.column) for e in rejection.errors] == [(1, column)]
    assert message in rejection.errors[0].message
    assert rows("departments") == []


def test_row_with_values_beyond_the_header_is_an_error(db, csv_file, rows):
    """A row with more cells than the header (a shifted row) is reported, not truncated."""
    rejection = rejected(
        db, "departments", csv_file([["code", "name"], ["A", "a"], ["B", "b", "extra"]])
    )
    assert cells(rejection) == [(3, "#3", "extra")]
    assert rows("departments") == []


def test_row_with_fewer_cells_than_the_header_is_an_error(db, csv_file, rows):
    """A row missing cells at its end is reported, not padded with empty values."""
    rejection = rejected(
        db, "departments", csv_file([["code", "name", "parent_code"], ["A", "a", ""], ["B", "b"]])
    )
    assert cells(rejection) == [(3, None, None)]
    assert "2 cells, the header has 3" in rejection.errors[0].message
    assert rows("departments") == []


def test_rejected_import_is_recorded_as_failed(db, csv_file):
    """The job is in the history as failed, with the first errors as its reason."""
    rejection = rejected(db, "departments", csv_file([["code", "name"], ["", "x"]]))
    [job] = list_history(db)
    assert job.batch_id == rejection.report.batch_id
    assert job.status == "failed"
    assert "row 2, column code" in (job.error_summary or "")
    assert job.rows_failed == 1


def test_bytes_invalid_in_the_encoding_suggest_the_encoding_option(db, tmp_path, rows):
    """A Latin-1 file is detected as such; read as UTF-8 (named, or because its first 64 KiB
    are UTF-8) it fails with a message naming the line, and a hint (the CLI's) naming
    --encoding."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("code,name\nZ,Zürich\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"not valid utf-8 .*at line 2") as caught:
        run_import(db, "departments", path, actor="a", encoding="utf-8")
    assert "--encoding" in (caught.value.hint or "")
    late = tmp_path / "late.csv"
    late.write_bytes(
        b"code,name\n"
        + b"".join(b"C%d,plain\n" % i for i in range(8000))
        + "Z,Zürich\n".encode("latin-1")
    )
    with pytest.raises(SourceError, match=r"byte 0xfc.*at line 8002") as caught:
        run_import(db, "departments", late, actor="a")
    assert "--encoding" in (caught.value.hint or "")
    assert rows("departments") == []
    run_import(db, "departments", path, actor="a")
    assert [d["name"] for d in rows("departments")] == ["Zürich"]


def test_bom_is_not_part_of_the_first_header(db, tmp_path, rows):
    """A UTF-8 byte-order mark, as Excel writes it, does not break the first column name."""
    path = tmp_path / "bom.csv"
    path.write_bytes("code,name\nA,Ä\n".encode("utf-8-sig"))
    run_import(db, "departments", path, actor="a")
    assert [(d["code"], d["name"]) for d in rows("departments")] == [("A", "Ä")]


def test_missing_sheet_is_a_clear_error(db, xlsx_file):
    """Asking for a sheet the workbook lacks names the sheets it has."""
    path = xlsx_file({"Depts": DEPARTMENTS})
    with pytest.raises(SourceError, match=r"no sheet 'Users'.*Depts"):
        run_import(db, "departments", path, actor="a", sheet="Users")


def test_xlsx_errors_use_spreadsheet_row_numbers(db, xlsx_file, rows):
    """Row numbers in a workbook's errors are the ones the spreadsheet shows."""
    path = xlsx_file({"Sheet1": [["Code", "Name"], ["A", "a"], [], ["B", ""]]})
    rejection = rejected(db, "departments", path)
    assert cells(rejection) == [(4, "name", "")]


def test_dry_run_reports_the_same_errors_as_an_import(db, csv_file, rows):
    """The dry run's fast path falls back to the exact report: same rows, columns, values."""
    path = csv_file(
        [
            ["code", "name", "parent_code"],
            ["A", "a", "B"],
            ["B", "b", "A"],
            ["C", "", "NOPE"],
            ["C", "again", ""],
        ]
    )
    dry = rejected(db, "departments", path, dry_run=True)
    real = rejected(db, "departments", path)
    assert cells(dry) == cells(real)
    assert dry.report.status == "invalid" and real.report.status == "failed"
    assert rows("departments") == []


def test_dry_run_of_a_valid_file_counts_forward_and_database_parents(db, csv_file, rows):
    """Parents later in the file or already in the database pass the dry run's checks."""
    run_import(
        db, "departments", csv_file([["code", "name"], ["ROOT", "r"]], name="r.csv"), actor="a"
    )
    report = run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["KID", "k", "MID"], ["MID", "m", "ROOT"]]),
        actor="a",
        dry_run=True,
    )
    assert report.created == per_table(db, departments=2)
    assert [d["code"] for d in rows("departments")] == ["ROOT"]


def test_two_rows_naming_each_other_as_parent_are_rejected(db, csv_file, rows):
    """A loop of parents inside the file, with no row its own parent, is still a cycle."""
    rejection = rejected(
        db,
        "departments",
        csv_file(
            [["code", "name", "parent_code"], ["A", "a", "B"], ["B", "b", "A"], ["C", "c", ""]]
        ),
    )
    assert cells(rejection) == [(2, "parent_code", "B"), (3, "parent_code", "A")]
    assert rows("departments") == []


@pytest.fixture
def small_chunks(monkeypatch):
    """Two rows per chunk, so that references and cycles cross chunk boundaries."""
    monkeypatch.setattr("batchport.importing.steps.CHUNK_ROWS", 2)


@pytest.mark.usefixtures("small_chunks")
def test_cycles_across_chunks_are_rejected(db, csv_file, rows):
    """A loop of parents spread over several chunks is found, not loaded."""
    rejection = rejected(
        db,
        "departments",
        csv_file(
            [
                ["code", "name", "parent_code"],
                ["A", "a", "D"],
                ["X", "x", ""],
                ["B", "b", "A"],
                ["C", "c", "B"],
                ["D", "d", "C"],
            ]
        ),
    )
    assert [e.row for e in rejection.errors] == [2, 4, 5, 6]
    assert rows("departments") == []


@pytest.mark.usefixtures("small_chunks")
def test_children_before_parents_across_chunks_import(db, csv_file, rows):
    """A file listing children first still links each to its parent."""
    run_import(
        db,
        "departments",
        csv_file(
            [
                ["code", "name", "parent_code"],
                ["LEAF", "l", "MID"],
                ["MID2", "m2", "ROOT"],
                ["MID", "m", "ROOT"],
                ["ROOT", "r", ""],
            ]
        ),
        actor="a",
    )
    by_code = {d["code"]: d for d in rows("departments")}
    assert by_code["LEAF"]["parent_id"] == by_code["MID"]["id"]
    assert by_code["MID"]["parent_id"] == by_code["ROOT"]["id"]
    assert by_code["MID2"]["parent_id"] == by_code["ROOT"]["id"]
    assert by_code["ROOT"]["parent_id"] is None


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (["u@example.org", "Ann", "Lee", "HQ", "maybe"], [(32, "is_active", "maybe")]),
        (
            ["u@example.org", "Ann"],
            [(32, None, None), (32, "last_name", ""), (32, "department_codes", "")],
        ),
        (["u@example.org", "Ann", "Lee", "HQ", "yes", "extra"], [(32, "#6", "extra")]),
    ],
    ids=["bad-cell", "short-row", "long-row"],
)
def test_errors_found_while_reading_ahead_are_exact(
    db, csv_file, rows, with_departments, monkeypatch, dry_run, bad, expected
):
    """When a second process reads the file (large files), a bad cell or row deep in it still
    gets its exact row, column and value, and nothing is written."""
    monkeypatch.setattr("batchport.importing.steps.READ_AHEAD_BYTES", 0)
    monkeypatch.setattr("batchport.importing.steps.CHUNK_ROWS", 7)
    body = [
        [f"u{i}@example.org", "Ann", "Lee", "FIN;OPS" if i % 2 else "HQ", "yes"] for i in range(40)
    ]
    body[30] = bad
    header = ["email", "first_name", "last_name", "department_codes", "is_active"]
    rejection = rejected(db, "users", csv_file([header, *body]), dry_run=dry_run)
    assert cells(rejection) == expected
    assert rows("users") == []


@pytest.mark.parametrize("ahead", ["in-place", "read-ahead", "known-late"])
@pytest.mark.parametrize(
    ("key", "said"),
    [("u1@example.org", "also in row 3"), ("typed@example.org", "already exists in the database")],
    ids=["written-before", "typed-in"],
)
def test_keys_after_a_bad_cell_are_checked_against_the_rows_written_before_it(
    db, csv_file, rows, with_departments, monkeypatch, ahead, key, said
):
    """The rows before the first bad cell are written (and rolled back); the rest is checked
    with their keys as seen in the file: a later row repeating one of them, or a key typed in
    by hand, is named along with the bad cell. Read ahead, the written rows' keys come from
    the spool; "known-late" reads ahead, but the bad cell is known only once reached (as when
    the writer keeps up with the reader), so rows are sure to have been written."""
    if ahead != "in-place":
        monkeypatch.setattr("batchport.importing.steps.READ_AHEAD_BYTES", 0)
    if ahead == "known-late":
        monkeypatch.setattr("batchport.importing.steps._has_errors", lambda _part: False)
    monkeypatch.setattr("batchport.importing.steps.CHUNK_ROWS", 7)
    typed = (
        "insert into {users} (email, first_name, last_name) values ('typed@example.org', 'T', 'I')"
    )
    manual_sql(db, typed)
    body = [[f"u{i}@example.org", "Ann", "Lee", "HQ", "yes"] for i in range(40)]
    body[18][4] = "maybe"  # row 20, after two chunks of 7 rows
    body[28][0] = key  # row 30
    header = ["email", "first_name", "last_name", "department_codes", "is_active"]
    rejection = rejected(db, "users", csv_file([header, *body]))
    assert cells(rejection) == [(20, "is_active", "maybe"), (30, "email", key)]
    assert said in rejection.errors[1].message
    assert [user["email"] for user in rows("users")] == ["typed@example.org"]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (["X29", "Branch", "NOPE"], (31, "parent_code", "NOPE")),
        (["HQ", "Again", ""], (31, "code", "HQ")),
    ],
    ids=["unknown-parent", "key-in-database"],
)
def test_errors_met_while_streaming_one_bulk_statement_are_exact(
    db, csv_file, rows, with_departments, monkeypatch, bad, expected
):
    """Departments stream through one COPY on PostgreSQL: a problem met mid-stream (in
    Python, or by the database) cancels it, and the file's errors come back exact."""
    monkeypatch.setattr("batchport.importing.steps.CHUNK_ROWS", 7)
    body = [[f"B{i}", "Branch", "HQ" if i < 5 else f"B{i // 5}"] for i in range(40)]
    body[29] = bad
    before = rows("departments")
    rejection = rejected(db, "departments", csv_file([["code", "name", "parent_code"], *body]))
    assert cells(rejection) == [expected]
    assert rows("departments") == before


def test_a_codec_that_refuses_the_whole_file_is_a_clear_error(db, tmp_path, rows):
    """UTF-16 named for a file without its byte-order mark: a SourceError naming the file and
    the encoding, not an internal error (found by schemathesis through the API's upload)."""
    path = tmp_path / "plain.csv"
    path.write_bytes(b"code,name\nA,a\n")
    with pytest.raises(SourceError, match=r"plain\.csv: the file cannot be read as utf-16"):
        run_import(db, "departments", path, actor="a", encoding="utf-16")
    assert rows("departments") == []
