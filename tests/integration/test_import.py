"""Importing valid files: rows land stamped with the batch id, history records the job."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from batchport import BUILTIN_TYPES, Database, list_history, run_import
from tests.helpers import DEPARTMENTS, per_table

pytestmark = pytest.mark.types("shipped", "declared")

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_departments_are_stamped_with_the_batch_id(db, csv_file, rows):
    """Every department the import creates carries the job's batch id."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice")
    created = rows("departments")
    assert [d["code"] for d in created] == ["HQ", "FIN", "OPS"]
    assert {d["import_batch_id"] for d in created} == {report.batch_id}
    assert report.status == "completed"
    assert report.rows_total == report.rows_imported == 3
    assert report.created == per_table(db, departments=3)


def test_parents_resolve_whether_they_come_earlier_or_later_in_the_file(db, csv_file, rows):
    """A parent code may name a row further down the file or one already in the database."""
    run_import(db, "departments", csv_file([["code", "name"], ["ROOT", "Root"]]), actor="a")
    report = run_import(
        db,
        "departments",
        csv_file(
            [["code", "name", "parent_code"], ["CHILD", "Child", "MID"], ["MID", "Middle", "ROOT"]],
            name="second.csv",
        ),
        actor="a",
    )
    by_code = {d["code"]: d for d in rows("departments")}
    assert by_code["CHILD"]["parent_id"] == by_code["MID"]["id"]
    assert by_code["MID"]["parent_id"] == by_code["ROOT"]["id"]
    assert by_code["ROOT"]["import_batch_id"] != report.batch_id


def test_users_get_links_with_the_first_department_primary(db, csv_file, rows):
    """department_codes becomes one link per code; the first code is the primary one."""
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    report = run_import(
        db,
        "users",
        csv_file(
            [
                ["Email", "First Name", "Last Name", "Department Codes"],
                ["Ann@Example.org", "Ann", "Lee", "OPS; HQ"],
                ["bob@example.org", "Bob", "Ray", "FIN"],
            ],
            name="users.csv",
        ),
        actor="a",
    )
    users = {u["email"]: u for u in rows("users")}
    assert set(users) == {"ann@example.org", "bob@example.org"}
    departments = {d["id"]: d["code"] for d in rows("departments")}
    links = {
        (u["email"], departments[link["department_id"]], link["is_primary"])
        for u in users.values()
        for link in rows("user_departments", user_id=u["id"])
    }
    assert links == {
        ("ann@example.org", "OPS", True),
        ("ann@example.org", "HQ", False),
        ("bob@example.org", "FIN", True),
    }
    assert report.created == per_table(db, users=2, user_departments=3)


def test_empty_optional_cells_take_the_column_default(db, csv_file, rows):
    """An empty is_active cell leaves the row active; an explicit no makes it inactive."""
    run_import(
        db,
        "departments",
        csv_file([["code", "name", "is_active"], ["A", "A", ""], ["B", "B", "No"]]),
        actor="a",
    )
    assert [(d["code"], d["is_active"]) for d in rows("departments")] == [
        ("A", True),
        ("B", False),
    ]


def test_history_records_who_what_and_the_outcome(db, csv_file):
    """The history row names the file, its sha256, the actor, the counts and `completed`."""
    path = csv_file(DEPARTMENTS)
    report = run_import(db, "departments", path, actor="alice")
    [job] = list_history(db)
    assert job.job_id == report.job_id
    assert job.batch_id == report.batch_id
    assert job.status == "completed"
    assert job.import_type == "departments"
    assert job.file_name == "data.csv"
    assert job.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert job.imported_by == "alice"
    assert (job.rows_total, job.rows_imported) == (3, 3)
    assert job.started_at is not None and job.completed_at is not None
    assert job.completed_at >= job.started_at


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_bundled_examples_import(db, rows, suffix):
    """The example files import in both formats: departments, then users with their links."""
    run_import(db, "departments", EXAMPLES / f"departments.{suffix}", actor="a")
    run_import(db, "users", EXAMPLES / f"users.{suffix}", actor="a")
    assert len(rows("departments")) == 10
    assert len(rows("users")) == 8
    assert len(rows("user_departments")) == 13


def test_xlsx_reads_the_named_sheet_and_numbers_as_typed(db, xlsx_file, rows):
    """--sheet picks the sheet; a code typed as the number 100 is stored as '100'."""
    path = xlsx_file(
        {
            "notes": [["nothing here"]],
            "Depts": [["Code", "Name"], [100, "Hundred"], ["X", "Ex"]],
        }
    )
    run_import(db, "departments", path, actor="a", sheet="Depts")
    assert [d["code"] for d in rows("departments")] == ["100", "X"]


def test_dry_run_writes_nothing_but_reports_what_it_would_create(db, csv_file, rows):
    """--dry-run validates, counts the would-be rows and leaves data and history untouched."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a", dry_run=True)
    assert report.dry_run
    assert report.created == per_table(db, departments=3)
    assert report.batch_id is None
    assert rows("departments") == []
    assert list_history(db) == []


def test_a_new_database_file_is_created_and_migrated_on_first_use(tmp_path, csv_file):
    """The embedded default needs no set-up: the first import creates the SQLite file."""
    db = Database.from_url(f"sqlite:///{tmp_path / 'fresh.db'}", catalog=BUILTIN_TYPES)
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    db.dispose()
    assert report.rows_imported == 3
    assert (tmp_path / "fresh.db").exists()


def test_progress_reports_rows_read(db, csv_file):
    """The progress callback hears of the start and of each chunk loaded, with row counts."""
    seen: list[tuple[str, int]] = []
    run_import(
        db, "departments", csv_file(DEPARTMENTS), actor="a", progress=lambda *p: seen.append(p)
    )
    assert seen == [("started", 0), ("loading", 3)]
