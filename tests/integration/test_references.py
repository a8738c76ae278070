"""Every reference counts, from any table: rows of tables batchport never heard of (in other
schemas, through composite keys, onto link rows) that point at what a rollback or an update
would delete, whatever their `ON DELETE` action, are found in the database's own catalog,
listed, and never cascaded away or blanked."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from batchport import (
    ImportConflict,
    JobFilter,
    RollbackBlocked,
    list_history,
    preview_rollback,
    rollback_batch,
    run_workbook_import,
)
from tests.helpers import (
    ACTIONS,
    app_rows,
    app_table,
    manual_sql,
    note_on,
    notes_on_links,
    outcome,
    sql,
    table_name,
    update_users,
    wait_until,
    waiting_on_a_lock,
)

pytestmark = pytest.mark.types("shipped", "declared")


@pytest.mark.parametrize("action", ACTIONS)
def test_a_row_of_any_table_blocks_whatever_its_on_delete_action(db, rows, users_batch, action):
    """An application's order pointing at an imported user blocks the rollback, listed in the
    preview and the refusal with its table, column, key and action; the order is neither
    deleted nor blanked, the user stays, the job stays completed. Once the order is gone, the
    rollback goes ahead."""
    listed = app_table(
        db,
        "orders",
        "id bigint generated always as identity primary key, "
        f"user_id bigint DEFAULT NULL REFERENCES {{users}} (id) ON DELETE {action}, note text",
    )
    manual_sql(
        db,
        f"INSERT INTO {listed} (user_id, note) SELECT id, 'by hand' FROM {{users}} "
        "WHERE email = 'ann@x.org'",
    )
    before = (rows("users"), rows("user_departments"), app_rows(db, "orders"))

    preview = preview_rollback(db, users_batch.batch_id)
    assert not preview.possible
    [reference] = preview.references
    assert (reference.table, reference.row_id, reference.column) == (listed, 1, "user_id")
    assert (reference.referenced_table, reference.referenced_key) == (
        table_name(db, "users"),
        "ann@x.org",
    )
    assert reference.on_delete == action and reference.batch_id is None
    with pytest.raises(RollbackBlocked) as refused:
        rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    assert refused.value.references == [reference]
    assert (rows("users"), rows("user_departments"), app_rows(db, "orders")) == before
    [job] = list_history(db, JobFilter(batch_id=users_batch.batch_id))
    assert job.status == "completed"

    manual_sql(db, f"DELETE FROM {listed}")
    assert rollback_batch(db, users_batch.batch_id, actor="a").deleted[table_name(db, "users")] == 2


def test_a_composite_key_to_link_rows_and_another_schema_block(db, rows, users_batch):
    """A foreign key of two columns onto the link table (an assignment of a user to a
    department) blocks the rollback of the users batch that wrote the link."""
    listed = app_table(
        db,
        "assignments",
        "id bigint generated always as identity primary key, user_id bigint, "
        "department_id bigint, FOREIGN KEY (user_id, department_id) "
        "REFERENCES {user_departments} (user_id, department_id) ON DELETE CASCADE",
    )
    manual_sql(
        db,
        f"INSERT INTO {listed} (user_id, department_id) SELECT user_id, department_id "
        "FROM {user_departments}",
    )
    [first, second] = preview_rollback(db, users_batch.batch_id).references
    assert (first.table, first.column, first.referenced_table) == (
        listed,
        "user_id, department_id",
        table_name(db, "user_departments"),
    )
    assert second.row_id == 2 and second.on_delete == "CASCADE"
    with pytest.raises(RollbackBlocked):
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert len(app_rows(db, "assignments")) == 2 and len(rows("users")) == 2


def test_rows_of_another_batch_are_listed_with_their_batch(db, rows, users_batch):
    """The departments batch cannot go while a users batch links to it: each link is listed
    with the batch it belongs to."""
    [departments] = list_history(db, JobFilter(import_type="departments"))
    preview = preview_rollback(db, departments.batch_id)
    assert sorted((r.referenced_key, r.batch_id) for r in preview.references) == [
        ("FIN", users_batch.batch_id),
        ("HQ", users_batch.batch_id),
    ]


def test_a_reference_added_while_the_rollback_deletes_is_found(db, rows, users_batch):
    """An order committed by another program while the rollback's deleting transaction runs
    (after its snapshot was taken) is not cascaded away: the delete fails as a conflict, the
    transaction runs again and finds the order. (SQLite's writers queue: no row can be added
    while the rollback holds the write lock.)"""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is written while a rollback deletes")
    listed = app_table(
        db,
        "orders",
        "id bigint generated always as identity primary key, "
        "user_id bigint REFERENCES {users} (id) ON DELETE CASCADE",
    )
    calls = []
    original = db.dialect.foreign_keys_to

    def add_an_order_after_the_checks(conn: sa.Connection, tables):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # the deleting transaction's look
            manual_sql(db, f"INSERT INTO {listed} (user_id) SELECT min(id) FROM {{users}}")
        return original(conn, tables)

    db.dialect.foreign_keys_to = add_an_order_after_the_checks
    try:
        with pytest.raises(RollbackBlocked):
            rollback_batch(db, users_batch.batch_id, actor="a")
    finally:
        del db.dialect.foreign_keys_to
    assert len(app_rows(db, "orders")) == 1 and len(rows("users")) == 2
    [job] = list_history(db, JobFilter(batch_id=users_batch.batch_id))
    assert job.status == "rollback_failed"


@pytest.mark.parametrize("deferred", [False, True], ids=["immediate", "deferred"])
def test_a_note_on_a_link_an_update_wrote_blocks_its_restore(
    db, csv_file, rows, users_batch, deferred
):
    """An update moves ann to FIN; a note on her FIN link is written. Rolling the update back
    would delete that link: listed in the preview and the refusal, the note kept."""
    listed = notes_on_links(db, deferred=deferred)
    moved = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="move.csv")
    note_on(db, listed, "ann@x.org", "FIN")
    [reference] = preview_rollback(db, moved.batch_id).references
    assert (reference.table, reference.referenced_table) == (
        listed,
        table_name(db, "user_departments"),
    )
    with pytest.raises(RollbackBlocked):
        rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    assert len(app_rows(db, "notes")) == 1
    [job] = list_history(db, JobFilter(batch_id=moved.batch_id))
    assert job.status == "completed"


def test_a_forced_rollback_never_takes_rows_pointing_at_an_edit(db, rows, users_batch):
    """A link added by hand to an imported user is an edit a forced rollback may undo, but not
    while a note points at it: the note is listed and kept."""
    listed = notes_on_links(db)
    manual_sql(
        db,
        "INSERT INTO {user_departments} (user_id, department_id) SELECT u.id, d.id "
        "FROM {users} u, {departments} d WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
    )
    note_on(db, listed, "ann@x.org", "OPS")
    with pytest.raises(RollbackBlocked) as refused:
        rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    assert [r.table for r in refused.value.references] == [listed]
    assert len(app_rows(db, "notes")) == 1 and len(rows("users")) == 2


def test_an_update_never_deletes_a_link_another_row_points_at(db, csv_file, rows, users_batch):
    """A file that keeps a link (only its primary flag changes) leaves the link row and the
    note on it alone; a file that drops the link is refused whole, naming the note."""
    listed = notes_on_links(db)
    note_on(db, listed, "ann@x.org", "HQ")
    kept = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "OPS;HQ"], name="keep.csv")
    assert kept.updated == 1 and len(app_rows(db, "notes")) == 1
    before = (rows("users"), rows("user_departments"))
    with pytest.raises(ImportConflict, match="point at") as refused:
        update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="drop.csv")
    assert listed in str(refused.value)
    assert (rows("users"), rows("user_departments")) == before
    assert len(app_rows(db, "notes")) == 1


def test_a_note_written_while_an_update_drops_its_link_is_never_cascaded(db, csv_file, users_batch):
    """A note on ann's HQ link is being written (not yet committed) when an update drops that
    link: the update waits for it, then sees it and is refused whole; the note stays."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: no note is half-written while an import writes")
    listed = notes_on_links(db)
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as writer:
        writer.exec_driver_sql(
            sql(
                db,
                f"INSERT INTO {listed} (user_id, department_id) SELECT u.id, d.id "
                "FROM {users} u, {departments} d WHERE u.email = 'ann@x.org' AND d.code = 'HQ'",
            )
        )
        running = pool.submit(
            update_users, db, csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="drop.csv"
        )
        wait_until(lambda: waiting_on_a_lock(db, "%{user_departments}%FOR UPDATE%"))
        writer.commit()
        refused = outcome(running)
    assert isinstance(refused, ImportConflict) and listed in str(refused)
    assert len(app_rows(db, "notes")) == 1


def test_a_link_moved_by_hand_to_another_row_still_counts(db, xlsx_file, rows):
    """A workbook batch links ann to its new department LAB; the link row is then moved by hand
    to a user made by hand. Rolling the batch back would delete LAB under that link: listed,
    refused, forced or not; nothing changes."""
    reports = run_workbook_import(
        db,
        xlsx_file(
            {
                "departments": [["code", "name"], ["LAB", "Lab"]],
                "users": [
                    ["email", "first_name", "last_name", "department_codes"],
                    ["ann@x.org", "Ann", "Lee", "LAB"],
                ],
            }
        ),
        actor="a",
    )
    manual_sql(
        db, "INSERT INTO {users} (email, first_name, last_name) VALUES ('h@x.org', 'H', 'X')"
    )
    manual_sql(
        db,
        "UPDATE {user_departments} SET user_id = (SELECT id FROM {users} WHERE email = 'h@x.org')",
    )
    before = (rows("users"), rows("user_departments"), rows("departments"))
    with pytest.raises(RollbackBlocked) as refused:
        rollback_batch(db, reports[0].batch_id, actor="a", force_edited=True)
    [reference] = refused.value.references
    assert (reference.table, reference.referenced_key) == (
        table_name(db, "user_departments"),
        "LAB",
    )
    assert reference.batch_id == reports[0].batch_id
    assert (rows("users"), rows("user_departments"), rows("departments")) == before
