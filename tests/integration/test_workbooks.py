"""A workbook as its user sees it: `import workbook` reads the visible sheets and reports every
sheet's errors in one run; a one-type import reads the first visible sheet unless told one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
import xlsxwriter

from batchport import FileRejected, list_history, run_import, run_workbook_import
from batchport.errors import SourceError
from batchport.sources import Limits

pytestmark = pytest.mark.types("shipped", "declared")

DEPARTMENTS = ["code", "name", "parent_code"]
USERS = ["email", "first_name", "last_name", "department_codes"]

#: Departments with an error on rows 3, 4 and 6; HQ and LAB (row 5) are fine.
BAD_DEPARTMENTS = [
    DEPARTMENTS,
    ["HQ", "Headquarters", ""],
    ["FIN", "", "HQ"],
    ["OPS", "Operations", "NOPE"],
    ["LAB", "Lab", "HQ"],
    ["LAB", "Lab again", ""],
]
#: Users of those departments (errored rows included), of OLD (already in the database), and
#: of GHOST and NOPE, which are in neither: rows 4 and 6; row 5's e-mail is bad.
USERS_OF_BAD_DEPARTMENTS = [
    USERS,
    ["ann@x.org", "Ann", "Lee", "HQ;FIN"],
    ["bob@x.org", "Bob", "Ray", "OPS;OLD"],
    ["cy@x.org", "Cy", "Oh", "LAB;GHOST"],
    ["bad", "Dee", "Ng", "HQ"],
    ["eve@x.org", "Eve", "Fox", "NOPE"],
]
#: Every error of that workbook: (sheet, row, column, value), in the order reported.
EVERY_ERROR = [
    ("departments", 3, "name", ""),
    ("departments", 4, "parent_code", "NOPE"),
    ("departments", 6, "code", "LAB"),
    ("users", 4, "department_codes", "GHOST"),
    ("users", 5, "email", "bad"),
    ("users", 6, "department_codes", "NOPE"),
]
#: Room for the departments sheets below (42 rows of 3 columns), not for 61 rows of 4.
CELLS_200 = Limits(max_sheet_cells=200)


@pytest.fixture
def workbook(tmp_path):
    """Writes sheets ({name: rows}) to an XLSX workbook, the sheets named in `hidden` hidden
    (`very_hidden`: very hidden); returns its path."""

    def write(sheets, *, hidden=(), very_hidden=(), name="book.xlsx"):
        path = tmp_path / name
        book = xlsxwriter.Workbook(str(path))
        for sheet, rows in sheets.items():
            worksheet = book.add_worksheet(sheet)
            for index, row in enumerate(rows):
                worksheet.write_row(index, 0, row)
            if sheet in hidden:
                worksheet.hide()
            elif sheet in very_hidden:
                worksheet.very_hidden()
            else:
                worksheet.activate()  # xlsxwriter would show a hidden first sheet if active
        book.close()
        return path

    return write


@pytest.fixture
def batchport(global_options, tmp_path):
    """Runs `python -m batchport --database-url URL ...` (and `--config FILE` for declared
    types) as a user would, in its own process."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batchport", *global_options, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def old_department(db, csv_file):
    """A department OLD already in the database."""
    run_import(db, "departments", csv_file([DEPARTMENTS, ["OLD", "Old", ""]]), actor="a")


def listed(errors):
    return [(e["sheet"], e["row"], e["column"], e["value"]) for e in errors]


def hide_every_sheet(path):
    """Marks every sheet of the workbook hidden, as no spreadsheet program (nor xlsxwriter)
    will, though a file may say so."""
    with zipfile.ZipFile(path) as archive:
        parts = {entry.filename: archive.read(entry) for entry in archive.infolist()}
    text = parts["xl/workbook.xml"].decode()
    parts["xl/workbook.xml"] = re.sub(r"<sheet (?![^>]*state=)", '<sheet state="hidden" ', text)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


class TestEveryErrorInOneRun:
    def test_the_cli_lists_every_sheets_errors_and_writes_nothing(
        self, batchport, workbook, rows, old_department
    ):
        """One run of `import workbook` shows the departments sheet's errors and the users
        sheet's, each naming its sheet, exits 1 and writes nothing; --json lists them all."""
        path = workbook({"departments": BAD_DEPARTMENTS, "users": USERS_OF_BAD_DEPARTMENTS})
        shown = batchport("import", "workbook", str(path))
        assert shown.returncode == 1, shown.stderr
        assert "book.xlsx: 6 errors; nothing was imported" in shown.stderr
        for sheet, row, _, _ in EVERY_ERROR:
            assert f"{sheet}!{row} " in shown.stderr
        assert "Traceback" not in shown.stderr

        as_json = batchport("import", "workbook", str(path), "--json")
        assert as_json.returncode == 1
        report = json.loads(as_json.stdout)
        assert report["status"] == "failed"
        assert listed(report["errors"]) == EVERY_ERROR
        assert [row["code"] for row in rows("departments")] == ["OLD"]
        assert rows("users") == [] and rows("user_departments") == []

    def test_a_dry_run_lists_the_same_errors(self, batchport, workbook, db, old_department):
        """`import workbook --dry-run` reports the same errors of both sheets, and records no
        job."""
        path = workbook({"departments": BAD_DEPARTMENTS, "users": USERS_OF_BAD_DEPARTMENTS})
        jobs = len(list_history(db))
        checked = batchport("import", "workbook", str(path), "--dry-run", "--json")
        assert checked.returncode == 1, checked.stderr
        report = json.loads(checked.stdout)
        assert (report["status"], report["dry_run"]) == ("invalid", True)
        assert listed(report["errors"]) == EVERY_ERROR
        assert len(list_history(db)) == jobs

    def test_a_key_only_in_a_rejected_sheet_is_no_unknown_reference(
        self, db, workbook, old_department
    ):
        """A user of a department in the rejected departments sheet (its row valid or not) is
        not reported; one of a department in no sheet and not in the database is, with the
        key it names."""
        path = workbook({"departments": BAD_DEPARTMENTS, "users": USERS_OF_BAD_DEPARTMENTS})
        with pytest.raises(FileRejected) as rejected:
            run_workbook_import(db, path, actor="a")
        unknown = [e for e in rejected.value.errors if e.column == "department_codes"]
        assert [(e.row, e.value) for e in unknown] == [(4, "GHOST"), (6, "NOPE")]
        assert "no departments row has code 'GHOST'" in unknown[0].message

    def test_a_sheet_without_its_key_column_leaves_its_references_unjudged(self, db, workbook):
        """A departments sheet with no code column is rejected for that alone: the users
        pointing at departments cannot be told wrong, so only their own errors show."""
        path = workbook(
            {
                "departments": [["name"], ["Headquarters"]],
                "users": [USERS, ["ann@x.org", "Ann", "Lee", "HQ"], ["bad", "B", "R", "X"]],
            }
        )
        with pytest.raises(FileRejected) as rejected:
            run_workbook_import(db, path, actor="a")
        assert [(e.sheet, e.row, e.column) for e in rejected.value.errors] == [
            ("departments", 1, "code"),
            ("users", 3, "email"),
        ]

    def test_a_valid_workbook_still_checks_against_its_loaded_sheets(self, db, workbook, rows):
        """With every sheet valid, users of the sheet's departments load, and one of a
        department found nowhere is the only error."""
        departments = [DEPARTMENTS, ["HQ", "Headquarters", ""], ["FIN", "Finance", "HQ"]]
        fine = workbook(
            {"departments": departments, "users": [USERS, ["ann@x.org", "Ann", "Lee", "FIN"]]},
            name="fine.xlsx",
        )
        [_, users] = run_workbook_import(db, fine, actor="a")
        assert users.rows_imported == 1
        unknown = workbook(
            {
                "departments": [DEPARTMENTS, ["LAB", "Lab", "FIN"]],
                "users": [USERS, ["bob@x.org", "Bob", "Ray", "LAB;GHOST"]],
            },
            name="unknown.xlsx",
        )
        with pytest.raises(FileRejected) as rejected:
            run_workbook_import(db, unknown, actor="a")
        assert [(e.sheet, e.row, e.value) for e in rejected.value.errors] == [("users", 2, "GHOST")]
        assert [row["code"] for row in rows("departments")] == ["HQ", "FIN"]


class TestHiddenSheets:
    def test_import_workbook_skips_a_hidden_sheet_named_after_a_type(self, cli, workbook, rows):
        """A hidden `users` sheet (its rows invalid besides) is neither imported nor
        checked, by an import or a dry run; the visible departments sheet is."""
        path = workbook(
            {
                "departments": [DEPARTMENTS, ["HQ", "Headquarters", ""]],
                "users": [USERS, ["bad", "Ann", "Lee", "GHOST"]],
            },
            hidden={"users"},
        )
        checked = cli("import", "workbook", str(path), "--dry-run", "--json")
        assert checked.exit_code == 0, checked.output
        assert [r["import_type"] for r in json.loads(checked.stdout)] == ["departments"]
        imported = cli("import", "workbook", str(path), "--json")
        assert imported.exit_code == 0, imported.output
        assert [r["import_type"] for r in json.loads(imported.stdout)] == ["departments"]
        assert [row["code"] for row in rows("departments")] == ["HQ"]
        assert rows("users") == []

    def test_a_workbook_of_hidden_typed_sheets_only_is_refused_clearly(self, cli, workbook):
        """With its only type-named sheet very hidden, `import workbook` says no visible
        sheet is named after a type, and that hidden sheets are not read."""
        path = workbook(
            {"notes": [["text"], ["hi"]], "departments": [DEPARTMENTS, ["HQ", "HQ", ""]]},
            very_hidden={"departments"},
        )
        refused = cli("import", "workbook", str(path))
        assert refused.exit_code == 1
        assert "no visible sheet is named after an import type" in refused.output
        assert "hidden sheets are not read" in refused.output

    def test_a_one_type_import_reads_the_first_visible_sheet_unless_told(
        self, cli, workbook, rows, old_department
    ):
        """`import users BOOK` reads the first visible sheet, not the hidden one before it;
        `--sheet` names the hidden one, and that is read."""
        path = workbook(
            {
                "old users": [USERS, ["old@x.org", "Old", "One", "OLD"]],
                "users": [USERS, ["new@x.org", "New", "One", "OLD"]],
            },
            hidden={"old users"},
        )
        first = cli("import", "users", str(path))
        assert first.exit_code == 0, first.output
        assert [row["email"] for row in rows("users")] == ["new@x.org"]
        named = cli("import", "users", str(path), "--sheet", "old users")
        assert named.exit_code == 0, named.output
        assert [row["email"] for row in rows("users")] == ["new@x.org", "old@x.org"]

    def test_a_workbook_with_every_sheet_hidden_is_refused_clearly(self, cli, workbook):
        """With every sheet hidden, a one-type import says so and points at --sheet; a
        workbook import says it reads only visible sheets. Nothing is imported."""
        path = workbook({"departments": [DEPARTMENTS, ["HQ", "Headquarters", ""]]})
        hide_every_sheet(path)
        one = cli("import", "departments", str(path))
        assert one.exit_code == 1
        assert "no visible sheet (its sheets: departments)" in one.output
        assert "--sheet" in one.output
        whole = cli("import", "workbook", str(path))
        assert whole.exit_code == 1
        assert "no visible sheet; a workbook import reads only those" in whole.output
        named = cli("import", "departments", str(path), "--sheet", "departments")
        assert named.exit_code == 0, named.output


class TestSheetsReadAhead:
    """Large workbooks: each sheet is read and parsed in a process of its own, the next one
    while one is written (forced here for small files, in small chunks)."""

    @pytest.fixture(autouse=True)
    def read_ahead(self, monkeypatch):
        monkeypatch.setattr("batchport.importing.steps.READ_AHEAD_BYTES", 0)
        monkeypatch.setattr("batchport.importing.steps.CHUNK_ROWS", 7)

    def tree(self):
        """40 departments under HQ, B5's parent coming later in the sheet (B30)."""
        body = [[f"B{i}", f"Branch {i}", "HQ" if i < 5 else f"B{i // 5}"] for i in range(40)]
        body[5][2] = "B30"
        return [DEPARTMENTS, ["HQ", "Headquarters", ""], *body]

    def test_every_sheet_is_written_as_one_batch(self, db, workbook, rows, old_department):
        """Both sheets are written whole, under one batch, the users linked to departments of
        the sheet and to one already in the database."""
        users = [USERS] + [[f"u{i}@x.org", "U", "Ser", f"B{i};OLD"] for i in range(30)]
        path = workbook({"departments": self.tree(), "users": users})
        reports = run_workbook_import(db, path, actor="a")
        assert [r.rows_imported for r in reports] == [41, 30]
        by_code = {row["code"]: row for row in rows("departments")}
        assert by_code["B5"]["parent_id"] == by_code["B30"]["id"]
        assert by_code["B12"]["parent_id"] == by_code["B2"]["id"]
        assert len(rows("user_departments")) == 60
        batches = {row["import_batch_id"] for row in rows("users")}
        assert batches == {reports[0].batch_id} == {by_code["B39"]["import_batch_id"]}

    def test_a_bad_cell_deep_in_the_sheet_read_ahead_rejects_the_workbook(
        self, db, workbook, rows, old_department
    ):
        """A bad e-mail near the end of the users sheet, read while the departments are
        written, is reported exactly; nothing of either sheet is written."""
        users = [USERS] + [[f"u{i}@x.org", "U", "Ser", "OLD"] for i in range(30)]
        users[27][0] = "not-an-email"
        path = workbook({"departments": self.tree(), "users": users})
        with pytest.raises(FileRejected) as rejected:
            run_workbook_import(db, path, actor="a")
        errors = rejected.value.errors
        assert [(e.sheet, e.row, e.column, e.value) for e in errors] == [
            ("users", 28, "email", "not-an-email")
        ]
        assert [row["code"] for row in rows("departments")] == ["OLD"]
        assert rows("users") == []
        assert list_history(db)[0].status == "failed"

    def test_a_bad_header_of_the_sheet_read_ahead_rejects_the_workbook(
        self, db, workbook, rows, old_department
    ):
        """A users sheet without its e-mail column, read ahead, rejects the workbook naming
        the sheet and the column; the departments are not written."""
        users = [USERS[1:]] + [["U", "Ser", "OLD"] for _ in range(30)]
        path = workbook({"departments": self.tree(), "users": users})
        with pytest.raises(FileRejected) as rejected:
            run_workbook_import(db, path, actor="a")
        assert [(e.sheet, e.row, e.column) for e in rejected.value.errors] == [
            ("users", 1, "email")
        ]
        assert [row["code"] for row in rows("departments")] == ["OLD"]

    @pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry run"])
    def test_a_sheet_past_the_limits_rejects_the_workbook_when_it_is_read(
        self, db, workbook, rows, old_department, dry_run
    ):
        """The users sheet's part is checked only as that sheet is read (read ahead, while the
        departments are written): past the limits, the workbook is refused naming it, and
        nothing of either sheet is written."""
        users = [USERS] + [[f"u{i}@x.org", "U", "Ser", "OLD"] for i in range(60)]
        path = workbook({"departments": self.tree(), "users": users})
        with pytest.raises(SourceError) as refused:
            run_workbook_import(db, path, actor="a", limits=CELLS_200, dry_run=dry_run)
        assert refused.value.message.endswith(
            "the worksheet xl/worksheets/sheet2.xml spans 244 cells, the limit is 200 "
            "(its cells lie far apart)"
        )
        assert [row["code"] for row in rows("departments")] == ["OLD"]
        assert rows("users") == []

    def test_a_sheet_never_read_is_not_held_to_the_limits(self, db, workbook, rows):
        """A sheet named after no import type is never read: its size stops nothing."""
        notes = [["note"]] + [[f"note {i}"] for i in range(300)]
        path = workbook({"departments": self.tree(), "notes": notes})
        reports = run_workbook_import(db, path, actor="a", limits=CELLS_200)
        assert [r.rows_imported for r in reports] == [41]
        assert len(rows("departments")) == 41
