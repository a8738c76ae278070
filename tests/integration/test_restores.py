"""Rows told apart by their stamp, never by clocks; ids never reused; a restore that lands only
on the row it was taken from; forced rollbacks that never hide later edits."""

from __future__ import annotations

import pytest

from batchport import (
    Database,
    JobFilter,
    RollbackBlocked,
    RowsEdited,
    list_history,
    preview_rollback,
    rollback_batch,
    run_import,
)
from tests.helpers import (
    DEPARTMENTS,
    manual_sql,
    ops_moved_to_fin,
    per_table,
    sql,
    table_name,
    update_users,
    users_file,
)

pytestmark = pytest.mark.types("shipped", "declared")


def test_a_link_written_with_an_old_clock_is_not_the_batch_s(db, rows, users_batch):
    """A program that links a department to an imported user with its own, lagging
    `created_at` (whole seconds, years back) has made an edit: listed, nothing deleted until
    the rollback is forced."""
    manual_sql(
        db,
        "INSERT INTO {user_departments} (user_id, department_id, is_primary, created_at) "
        "SELECT u.id, d.id, false, '2001-01-01 00:00:00' FROM {users} u, {departments} d "
        "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
    )
    with pytest.raises(RowsEdited) as refused:
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert [(e.key, e.created) for e in refused.value.edited] == [("ann@x.org", True)]
    assert len(rows("user_departments")) == 3
    rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    assert rows("users") == [] and rows("user_departments") == []


def test_a_link_from_a_transaction_older_than_the_import(db, database_url, rows, csv_file):
    """PostgreSQL's `now()` is when a transaction began: a link committed after the import by
    a transaction that began before it carries an earlier `created_at` than the import's
    completion, and is still told apart (by its missing stamp)."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: no transaction spans another's import")
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    with db.engine.connect() as early:
        early.exec_driver_sql("SELECT now()")  # the transaction, and its clock, start here
        batch = run_import(
            db, "users", users_file(csv_file, ["ann@x.org", "Ann", "Lee", "HQ"]), actor="a"
        )
        early.exec_driver_sql(
            sql(
                db,
                "INSERT INTO {user_departments} (user_id, department_id) "
                "SELECT u.id, d.id FROM {users} u, {departments} d "
                "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
            )
        )
        early.commit()
    [job] = list_history(db, JobFilter(batch_id=batch.batch_id))
    [late] = [r for r in rows("user_departments") if r["import_batch_id"] is None]
    assert late["created_at"] < job.completed_at
    with pytest.raises(RowsEdited):
        rollback_batch(db, batch.batch_id, actor="a")
    assert len(rows("user_departments")) == 2


@pytest.mark.types("shipped", reason="the shipped tables' own DDL; an application's says")
def test_ids_of_deleted_rows_are_never_given_again(db, rows, users_batch):
    """The last user deleted by hand: the next user made by hand gets a new id (SQLite would
    reuse it without AUTOINCREMENT), and so does the next import."""
    last = max(u["id"] for u in rows("users"))
    manual_sql(db, f"DELETE FROM {{user_departments}} WHERE user_id = {last}")
    manual_sql(db, f"DELETE FROM {{users}} WHERE id = {last}")
    manual_sql(
        db, "INSERT INTO {users} (email, first_name, last_name) VALUES ('h@x.org', 'H', 'X')"
    )
    [by_hand] = rows("users", email="h@x.org")
    assert by_hand["id"] > last


def test_a_restore_never_lands_on_another_row(db, csv_file, rows, users_batch):
    """Batch B updates bob; bob's row is deleted since (his batch forced out) and users are
    made by hand. B's rollback cannot put bob back: it lists him as deleted since and, forced,
    writes nothing onto the hand-made users."""
    update = update_users(db, csv_file, ["bob@x.org", "Robert", "Ray", "OPS"], name="b.csv")
    rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    for n in range(3):
        manual_sql(
            db,
            f"INSERT INTO {{users}} (email, first_name, last_name) VALUES ('h{n}@x.org', 'H', 'X')",
        )
    hand_made = rows("users")
    preview = preview_rollback(db, update.batch_id)
    assert [(e.table, e.gone) for e in preview.edited] == [(table_name(db, "users"), True)]
    assert "was deleted since" in str(preview.edited[0])
    with pytest.raises(RowsEdited):
        rollback_batch(db, update.batch_id, actor="b")
    done = rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert done.restored == {}
    assert rows("users") == hand_made and rows("user_departments") == []


def test_a_restore_never_lands_on_a_stranger_given_the_same_id(db, csv_file, rows, users_batch):
    """B updates bob; bob is deleted by hand and another user is inserted with bob's id (a
    sync tool, a backup). B's rollback lists bob as gone; forced, it writes nothing onto the
    stranger."""
    update = update_users(db, csv_file, ["bob@x.org", "Robert", "Ray", "FIN"], name="b.csv")
    [bob] = rows("users", email="bob@x.org")
    manual_sql(db, f"DELETE FROM {{user_departments}} WHERE user_id = {bob['id']}")
    manual_sql(db, f"DELETE FROM {{users}} WHERE id = {bob['id']}")
    manual_sql(
        db,
        "INSERT INTO {users} (id, email, first_name, last_name) "
        f"VALUES ({bob['id']}, 'stranger@y.org', 'Sam', 'Stranger')",
    )
    stranger = rows("users", email="stranger@y.org")
    assert [e.gone for e in preview_rollback(db, update.batch_id).edited] == [True]
    rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert rows("users", email="stranger@y.org") == stranger


def test_a_restore_pointing_at_a_deleted_row_is_a_listed_conflict(db, csv_file, rows):
    """B moved OPS from HQ to FIN; HQ was then deleted by hand and a new department made.
    Putting OPS back under HQ is impossible: listed in the preview and the refusal (forcing
    does not help), nothing changes — never a parent pointing at a stranger, never a bare
    foreign-key error."""
    moved = ops_moved_to_fin(db, csv_file)
    manual_sql(db, "DELETE FROM {departments} WHERE code = 'HQ'")
    manual_sql(db, "INSERT INTO {departments} (code, name) VALUES ('NEW', 'By hand')")
    before = rows("departments")
    preview = preview_rollback(db, moved.batch_id, force_edited=True)
    [conflict] = preview.conflicts
    assert (conflict.table, preview.possible) == (table_name(db, "departments"), False)
    assert f"parent_id points at {table_name(db, 'departments')} id" in conflict.problem
    assert "no longer exists" in conflict.problem
    with pytest.raises(RollbackBlocked, match="cannot be restored") as refused:
        rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    assert refused.value.conflicts == [conflict]
    assert rows("departments") == before
    [job] = list_history(db, JobFilter(batch_id=moved.batch_id))
    assert job.status == "completed"


def test_a_restore_that_makes_a_row_its_own_ancestor_is_refused(db, csv_file, rows):
    """B made OPS a top department; by hand HQ was then put under OPS. Restoring OPS under HQ
    would loop: listed, refused, nothing changed."""
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    moved = run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["OPS", "Operations", ""]], name="m.csv"),
        actor="b",
        on_existing="update",
    )
    manual_sql(
        db,
        "UPDATE {departments} SET parent_id = "
        "(SELECT id FROM {departments} WHERE code = 'OPS') WHERE code = 'HQ'",
    )
    before = rows("departments")
    [conflict] = preview_rollback(db, moved.batch_id).conflicts
    assert "own ancestor" in conflict.problem and conflict.key == "OPS"
    with pytest.raises(RollbackBlocked, match="cannot be restored"):
        rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    assert rows("departments") == before
    # Only restoring shows the loop: the rollback restores once, for real, and fails.
    [job] = list_history(db, JobFilter(batch_id=moved.batch_id))
    assert job.status == "rollback_failed"


def test_a_forced_restore_keeps_the_sign_of_the_edit(db, csv_file, rows, users_batch):
    """A creates ann; B updates her; she is edited by hand; B is rolled back by force. Her
    row still shows the edit, so A's plain rollback is refused instead of deleting her."""
    update = update_users(db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], name="b.csv")
    manual_sql(db, "UPDATE {users} SET last_name = 'Edited' WHERE email = 'ann@x.org'")
    rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    [ann] = rows("users", email="ann@x.org")
    assert (ann["first_name"], ann["last_name"]) == ("Ann", "Edited") and ann["row_version"] != 0
    with pytest.raises(RowsEdited) as refused:
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert [e.key for e in refused.value.edited] == ["ann@x.org"]
    assert rows("users", email="ann@x.org") == [ann]


def test_a_forced_restore_of_links_keeps_the_sign_of_the_edit(db, csv_file, rows, users_batch):
    """B changes ann's links; a link is then added by hand; B is rolled back by force. Her row
    shows the edit, so A's plain rollback is refused instead of deleting her."""
    moved = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="move.csv")
    manual_sql(
        db,
        "INSERT INTO {user_departments} (user_id, department_id) SELECT u.id, d.id "
        "FROM {users} u, {departments} d WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
    )
    assert [e.key for e in preview_rollback(db, moved.batch_id).edited] == ["ann@x.org"]
    rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    with pytest.raises(RowsEdited):
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert len(rows("users", email="ann@x.org")) == 1


def test_rolling_back_out_of_order_spares_a_later_update(db, csv_file, rows, users_batch):
    """A creates ann; B and then C update her. B forced out of order leaves C's update
    standing, so A's plain rollback must not delete her."""
    second, _third = (
        update_users(db, csv_file, ["ann@x.org", "Annie", last, "HQ"], name=f"{last}.csv")
        for last in ("Lee", "Leigh")
    )
    rollback_batch(db, second.batch_id, actor="b", force_edited=True)
    with pytest.raises(RowsEdited):
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert len(rows("users", email="ann@x.org")) == 1


def test_a_forced_rollback_is_an_edit_to_later_batches(db, csv_file, rows):
    """A hand-made user is updated by A and then by B; A is rolled back by force (the name
    made by hand comes back). B's plain rollback must not bring A's name back: refused."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    manual_sql(
        db, "INSERT INTO {users} (email, first_name, last_name) VALUES ('u@x.org', 'H', 'X')"
    )
    first, second = (
        update_users(db, csv_file, ["u@x.org", name, "X", "HQ"], name=f"{name}.csv")
        for name in ("A", "B")
    )
    rollback_batch(db, first.batch_id, actor="b", force_edited=True)
    assert rows("users")[0]["first_name"] == "H"
    with pytest.raises(RowsEdited):
        rollback_batch(db, second.batch_id, actor="b")
    assert rows("users")[0]["first_name"] == "H"


def test_an_update_changes_only_the_columns_in_the_file(db, csv_file, rows):
    """Updating from a file without parent_code and is_active keeps parents and inactive
    flags; a present column's empty cell clears a parent but leaves a flag with a default
    as it is; defaults apply to new rows only."""
    run_import(
        db,
        "departments",
        csv_file(
            [
                ["code", "name", "parent_code", "is_active"],
                ["HQ", "Top", "", "yes"],
                ["FIN", "Finance", "HQ", "no"],
                ["OPS", "Operations", "HQ", "no"],
            ]
        ),
        actor="a",
    )
    run_import(
        db,
        "departments",
        csv_file(
            [["code", "name"], ["FIN", "Money"], ["NEW", "Fresh"]],
            name="names.csv",
        ),
        actor="b",
        on_existing="update",
    )
    run_import(
        db,
        "departments",
        csv_file(
            [["code", "name", "parent_code", "is_active"], ["OPS", "Operations", "", ""]],
            name="blank.csv",
        ),
        actor="c",
        on_existing="update",
    )
    by_code = {d["code"]: d for d in rows("departments")}
    hq = by_code["HQ"]["id"]
    assert (by_code["FIN"]["name"], by_code["FIN"]["parent_id"]) == ("Money", hq)
    assert not by_code["FIN"]["is_active"]
    assert by_code["OPS"]["parent_id"] is None and not by_code["OPS"]["is_active"]
    assert by_code["NEW"]["is_active"] and by_code["NEW"]["parent_id"] is None


def test_a_row_renamed_by_hand_is_still_the_row_the_batch_updated(db, csv_file, rows, users_batch):
    """B updates bob's first name; bob's email is then changed by hand. The row is still bob:
    B's rollback lists him as edited (not gone) and, forced, gives him his first name back."""
    update = update_users(db, csv_file, ["bob@x.org", "Robert", "Ray", "FIN"], name="b.csv")
    manual_sql(db, "UPDATE {users} SET email = 'robert@x.org' WHERE email = 'bob@x.org'")
    [edited] = preview_rollback(db, update.batch_id).edited
    assert (edited.key, edited.gone) == ("robert@x.org", False)
    with pytest.raises(RowsEdited):
        rollback_batch(db, update.batch_id, actor="b")
    done = rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert done.restored == per_table(db, users=1)
    [bob] = rows("users", email="robert@x.org")
    assert bob["first_name"] == "Bob"


def test_a_read_only_look_at_a_restore_still_tells_what_blocks(db, database_url, csv_file, rows):
    """A preview over a connection that may not write (a read-only SQLite file) cannot try the
    restore; it looks without trying: the same restores, no false blocker."""
    if db.dialect.name != "sqlite":
        pytest.skip("a read-only role is a server-wide object; SQLite opens a file read-only")
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    update = run_import(
        db,
        "departments",
        csv_file([["code", "name"], ["FIN", "Money"]], name="rename.csv"),
        actor="b",
        on_existing="update",
    )
    path = database_url.removeprefix("sqlite:///")
    reader = Database.from_url(f"sqlite:///file:{path}?mode=ro&uri=true", catalog=db.catalog)
    try:
        preview = preview_rollback(reader, update.batch_id)
    finally:
        reader.dispose()
    assert preview.possible and preview.restores == per_table(db, departments=1)
    assert preview.references == [] and preview.conflicts == []
