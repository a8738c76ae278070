"""Imports that meet existing rows (skip / update), rollbacks that restore what they updated,
rows edited after their import, and one batch across a whole workbook."""

from __future__ import annotations

import time

import pytest

from batchport import (
    BatchportError,
    FileRejected,
    JobFilter,
    RowsEdited,
    export_errors,
    get_batch,
    list_history,
    preview_rollback,
    rollback_batch,
    run_import,
    run_workbook_import,
)
from tests.helpers import (
    DEPARTMENTS,
    manual_sql,
    per_table,
    table_name,
    update_users,
    users_file,
)

pytestmark = pytest.mark.types("shipped", "declared")

USER_HEADER = ["email", "first_name", "last_name", "department_codes"]


def user(rows, email):
    [found] = rows("users", email=email)
    return found


def codes(db, rows, email):
    """The department codes a user is linked to, primary first."""
    ids = {d["id"]: d["code"] for d in rows("departments")}
    links = rows("user_departments", user_id=user(rows, email)["id"])
    return [ids[link["department_id"]] for link in sorted(links, key=lambda x: not x["is_primary"])]


def test_update_changes_rows_keeps_their_batch_and_rollback_restores_them(
    db, csv_file, rows, users_batch
):
    """Changed rows are updated (values and links), unchanged ones counted; the updated row
    keeps the batch that created it; the rollback puts back values and links exactly."""
    before = {u["email"]: u for u in rows("users")}
    path = users_file(
        csv_file,
        ["ann@x.org", "Annie", "Lee", "OPS;FIN"],  # name and links change
        ["bob@x.org", "Bob", "Ray", "FIN"],  # as it is
        ["cy@x.org", "Cy", "Poe", "HQ"],  # new
        name="second.csv",
    )
    report = run_import(db, "users", path, actor="b", on_existing="update")
    assert (report.created[table_name(db, "users")], report.updated, report.unchanged) == (1, 1, 1)
    # cy's link, and ann's two new ones: each carries the batch's stamp
    assert report.created[table_name(db, "user_departments")] == 3
    assert get_batch(db, report.batch_id).updated == per_table(db, users=1)
    ann = user(rows, "ann@x.org")
    assert ann["first_name"] == "Annie" and ann["import_batch_id"] == users_batch.batch_id
    assert codes(db, rows, "ann@x.org") == ["OPS", "FIN"]
    [job] = list_history(db, JobFilter(batch_id=report.batch_id))
    assert (job.rows_imported, job.rows_updated, job.rows_unchanged, job.on_existing) == (
        1,
        1,
        1,
        "update",
    )

    preview = preview_rollback(db, report.batch_id)
    assert preview.possible and preview.restores == per_table(db, users=1)
    done = rollback_batch(db, report.batch_id, actor="b")
    assert done.restored == per_table(db, users=1) and done.deleted[table_name(db, "users")] == 1
    assert {u["email"]: u for u in rows("users")} == before
    assert codes(db, rows, "ann@x.org") == ["HQ"]


def test_skip_leaves_existing_rows_and_counts_them(db, csv_file, rows, users_batch):
    """With skip, rows already there are left exactly as they are and counted as skipped."""
    before = rows("users")
    path = users_file(
        csv_file, ["ann@x.org", "Other", "Name", "OPS"], ["cy@x.org", "Cy", "Poe", "HQ"]
    )
    report = run_import(db, "users", path, actor="b", on_existing="skip")
    assert (report.created[table_name(db, "users")], report.skipped) == (1, 1)
    assert [u for u in rows("users") if u["email"] != "cy@x.org"] == before
    rollback_batch(db, report.batch_id, actor="b")
    assert rows("users") == before


def test_update_dry_run_counts_and_writes_nothing(db, csv_file, rows, users_batch):
    """A dry run that would update reports the counts and leaves every row and history alone."""
    before = (rows("users"), rows("user_departments"), len(list_history(db)))
    path = users_file(
        csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["cy@x.org", "Cy", "Poe", "HQ"]
    )
    report = run_import(db, "users", path, actor="b", on_existing="update", dry_run=True)
    assert (report.created[table_name(db, "users")], report.updated, report.unchanged) == (1, 1, 0)
    assert (rows("users"), rows("user_departments"), len(list_history(db))) == before


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE {users} SET last_name = 'Edited' WHERE email = 'ann@x.org'",
        "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
        "SELECT u.id, d.id, false FROM {users} u, {departments} d "
        "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
        "UPDATE {user_departments} SET is_primary = false WHERE user_id = (SELECT id FROM {users} "
        "WHERE email = 'ann@x.org')",
    ],
    ids=["value", "link-added", "link-changed"],
)
def test_a_row_edited_after_import_blocks_until_forced(db, rows, users_batch, edit):
    """An edit made outside batchport (to the row or to its links) is listed and blocks the
    rollback, changing nothing; --force-edited rolls back anyway and history records it."""
    manual_sql(db, edit)
    preview = preview_rollback(db, users_batch.batch_id)
    assert not preview.possible
    assert [(e.table, e.key, e.created) for e in preview.edited] == [
        (table_name(db, "users"), "ann@x.org", True)
    ]
    before = (rows("users"), rows("user_departments"))
    with pytest.raises(RowsEdited, match="edited after the import") as refused:
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert [e.key for e in refused.value.edited] == ["ann@x.org"]
    assert (rows("users"), rows("user_departments")) == before
    [job] = list_history(db, JobFilter(batch_id=users_batch.batch_id))
    assert job.status == "completed"

    rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    assert rows("users") == []
    [job] = list_history(db, JobFilter(batch_id=users_batch.batch_id))
    assert job.status == "rolled_back" and job.rollback_forced


def test_a_link_removed_by_hand_loses_nothing_and_does_not_block(db, rows, users_batch):
    """Removing a link by hand leaves nothing for the rollback to destroy: it goes ahead."""
    manual_sql(
        db,
        "DELETE FROM {user_departments} WHERE user_id = (SELECT id FROM {users} "
        "WHERE email = 'ann@x.org')",
    )
    assert preview_rollback(db, users_batch.batch_id).possible
    done = rollback_batch(db, users_batch.batch_id, actor="a")
    assert done.deleted == per_table(db, user_departments=1, users=2, departments=0)
    assert rows("users") == []


def test_an_updated_row_edited_again_blocks_the_restore(db, csv_file, rows, users_batch):
    """A row an import updated and someone edited since is not restored over that edit;
    forced, the values the import changed are put back and the later edit of another column
    stays."""
    report = run_import(
        db,
        "users",
        users_file(csv_file, ["bob@x.org", "Robert", "Ray", "FIN"]),
        actor="b",
        on_existing="update",
    )
    manual_sql(db, "UPDATE {users} SET last_name = 'Later' WHERE email = 'bob@x.org'")
    with pytest.raises(RowsEdited):
        rollback_batch(db, report.batch_id, actor="b")
    assert user(rows, "bob@x.org")["first_name"] == "Robert"
    rollback_batch(db, report.batch_id, actor="b", force_edited=True)
    bob = user(rows, "bob@x.org")
    assert (bob["first_name"], bob["last_name"]) == ("Bob", "Later")


def test_a_later_import_update_protects_the_rows_it_changed(db, csv_file, rows, users_batch):
    """Rows of batch A updated by a later batch B are edited from A's point of view: A's
    rollback waits until B is rolled back."""
    later = run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Annie", "Lee", "HQ"]),
        actor="b",
        on_existing="update",
    )
    with pytest.raises(RowsEdited):
        rollback_batch(db, users_batch.batch_id, actor="a")
    rollback_batch(db, later.batch_id, actor="b")
    rollback_batch(db, users_batch.batch_id, actor="a")
    assert rows("users") == []


def test_workbook_is_one_batch_in_dependency_order(db, xlsx_file, rows):
    """A workbook's sheets load as one job and batch, parents first whatever the sheet order;
    its rollback removes links, users and departments together."""
    path = xlsx_file(
        {
            "users": [USER_HEADER, ["ann@x.org", "Ann", "Lee", "FIN;HQ"]],
            "notes": [["anything"], ["ignored"]],
            "departments": DEPARTMENTS,
        }
    )
    reports = run_workbook_import(db, path, actor="a")
    assert [r.import_type for r in reports] == ["departments", "users"]
    assert len({r.batch_id for r in reports}) == 1
    [job] = list_history(db)
    assert (job.import_type, job.status, job.rows_imported) == ("workbook", "completed", 4)
    assert codes(db, rows, "ann@x.org") == ["FIN", "HQ"]

    done = rollback_batch(db, reports[0].batch_id, actor="a")
    assert done.deleted == per_table(db, user_departments=2, users=1, departments=3)
    assert rows("departments") == [] and rows("users") == []


def test_workbook_with_an_error_on_any_sheet_writes_nothing(db, xlsx_file, rows):
    """An error on the users sheet rejects the departments sheet too; errors name the sheet."""
    path = xlsx_file(
        {
            "departments": DEPARTMENTS,
            "users": [
                USER_HEADER,
                ["not-an-email", "Ann", "Lee", "FIN"],
                ["b@x.org", "B", "C", "NOPE"],
            ],
        }
    )
    with pytest.raises(FileRejected) as caught:
        run_workbook_import(db, path, actor="a")
    assert [(e.sheet, e.row, e.column, e.value) for e in caught.value.errors] == [
        ("users", 2, "email", "not-an-email"),
        ("users", 3, "department_codes", "NOPE"),
    ]
    assert rows("departments") == [] and rows("users") == []
    [job] = list_history(db)
    assert job.status == "failed"


def test_workbook_errors_export_names_each_sheet(db, xlsx_file, tmp_path):
    """The error report of a rejected workbook says which sheet each row is on."""
    path = xlsx_file(
        {
            "departments": [*DEPARTMENTS, ["HQ", "Twice", ""]],
            "users": [USER_HEADER, ["not-an-email", "Ann", "Lee", "FIN"]],
        }
    )
    with pytest.raises(FileRejected) as caught:
        run_workbook_import(db, path, actor="a")
    out = tmp_path / "errors.csv"
    assert export_errors(caught.value.errors, path, out) == 2
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("sheet,row,column,value,problem,cell 1")
    assert lines[1].startswith("departments,5,code,HQ,") and lines[1].endswith(",HQ,Twice,")
    assert lines[2].startswith("users,2,email,not-an-email,")


def test_departments_update_and_refuse_a_cycle_through_the_database(db, csv_file, rows):
    """Self-referencing rows update (parents resolved within the table); an update that
    would make a row its own ancestor through rows already there is refused whole."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="d.csv"), actor="a")
    moved = run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["OPS", "Ops", "FIN"], ["NEW", "New", "OPS"]]),
        actor="b",
        on_existing="update",
    )
    assert (moved.updated, moved.created[table_name(db, "departments")]) == (1, 1)
    by_code = {d["code"]: d for d in rows("departments")}
    assert by_code["OPS"]["parent_id"] == by_code["FIN"]["id"]
    before = rows("departments")
    with pytest.raises(BatchportError, match="own ancestor"):
        run_import(
            db,
            "departments",
            csv_file([["code", "name", "parent_code"], ["HQ", "Top", "NEW"]], name="loop.csv"),
            actor="c",
            on_existing="update",
        )
    assert rows("departments") == before
    rollback_batch(db, moved.batch_id, actor="b")
    by_code = {d["code"]: d for d in rows("departments")}
    assert by_code["OPS"]["parent_id"] == by_code["HQ"]["id"] and "NEW" not in by_code


def test_a_link_added_by_hand_after_an_update_blocks_its_restore(db, csv_file, rows, users_batch):
    """Restoring an updated row's links would drop a link added by hand since: refused."""
    report = run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Ann", "Lee", "FIN"]),
        actor="b",
        on_existing="update",
    )
    time.sleep(0.01)
    manual_sql(
        db,
        "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
        "SELECT u.id, d.id, false FROM {users} u, {departments} d "
        "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
    )
    with pytest.raises(RowsEdited) as refused:
        rollback_batch(db, report.batch_id, actor="b")
    assert [(e.key, e.created) for e in refused.value.edited] == [("ann@x.org", False)]
    assert codes(db, rows, "ann@x.org") == ["FIN", "OPS"]


def test_an_update_import_has_more_memory_for_its_hashes_never_less(db, csv_file, users_batch):
    """An application's trigger sees how much memory per sort or hash the import's own
    transaction has on PostgreSQL: 64 MB where the server gives less, the server's where it
    gives more; and no statement compiled to machine code (JIT). The settings end with the
    transaction."""
    if db.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    manual_sql(db, "CREATE TABLE app_seen (n serial, work_mem text, jit text)")
    manual_sql(
        db,
        "CREATE FUNCTION app_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO app_seen (work_mem, jit) VALUES (current_setting('work_mem'), "
        "current_setting('jit')); RETURN NULL; "
        "END $$",
    )
    manual_sql(
        db,
        "CREATE TRIGGER app_note AFTER UPDATE ON {users} FOR EACH STATEMENT EXECUTE FUNCTION "
        "app_note()",
    )
    update_users(db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"])
    with db.connect() as conn:  # the pool's connection, which ran the import
        now, server = conn.exec_driver_sql(
            "SELECT current_setting('work_mem'), reset_val || unit FROM pg_settings "
            "WHERE name = 'work_mem'"
        ).one()
    assert now != "64MB" and pg_size(db, now) == pg_size(db, server)
    manual_sql(
        db,
        "DO $$ BEGIN EXECUTE 'ALTER DATABASE ' || quote_ident(current_database()) || "
        "' SET work_mem = ''256MB'''; END $$",
    )
    db.engine.dispose()
    update_users(db, csv_file, ["ann@x.org", "Anna", "Lee", "HQ"])
    with db.connect() as conn:
        seen = conn.exec_driver_sql("SELECT work_mem, jit FROM app_seen ORDER BY n").all()
    assert [tuple(row) for row in seen] == [("64MB", "off"), ("256MB", "off")]


def pg_size(db, text: str) -> int:
    with db.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_size_bytes(%s)", (text,)).scalar_one()
