"""Rollbacks on an application's own database: tables batchport never heard of reference its
rows, other writers keep their own transactions and clocks, and ids come and go.

Each test plays a scenario a careful user would try and checks what the user then sees: the
rows, the history, the preview and the refusal.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from batchport import (
    BatchportError,
    ImportConflict,
    ImportFailed,
    RollbackBlocked,
    RollbackRefused,
    RowsEdited,
    RowsGone,
    audit,
    list_history,
    preview_rollback,
    rollback_batch,
    run_import,
)
from tests.conftest import DEPARTMENTS
from tests.integration.test_rollback import manual_sql, users_file

ACTIONS = ["CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"]


def app_table(db, name: str, columns: str) -> str:
    """Creates an application table (in its own schema `app` on PostgreSQL) from
    PostgreSQL-flavoured column definitions; returns its name as listings show it."""
    if db.dialect.name == "postgresql":
        manual_sql(db, "CREATE SCHEMA IF NOT EXISTS app")
        manual_sql(db, f"CREATE TABLE app.{name} ({columns})")
        return f"app.{name}"
    columns = columns.replace("bigint generated always as identity", "integer")
    manual_sql(db, f"CREATE TABLE {name} ({columns.replace('inventory.', '')})")
    return name


def app_rows(db, name: str) -> list[tuple]:
    table = f"app.{name}" if db.dialect.name == "postgresql" else name
    return manual_sql(db, f"SELECT * FROM {table} ORDER BY 1").all()


@pytest.fixture
def users_batch(db, csv_file):
    """Departments, then a users batch (ann, bob)."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    return run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Ann", "Lee", "HQ"], ["bob@x.org", "Bob", "Ray", "FIN"]),
        actor="a",
    )


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
        f"user_id bigint DEFAULT NULL REFERENCES users (id) ON DELETE {action}, note text",
    )
    manual_sql(
        db,
        f"INSERT INTO {listed} (user_id, note) SELECT id, 'by hand' FROM users "
        "WHERE email = 'ann@x.org'",
    )
    before = (rows("users"), rows("user_departments"), app_rows(db, "orders"))

    preview = preview_rollback(db, users_batch.batch_id)
    assert not preview.possible
    [reference] = preview.references
    assert (reference.table, reference.row_id, reference.column) == (listed, 1, "user_id")
    assert (reference.referenced_table, reference.referenced_key) == ("users", "ann@x.org")
    assert reference.on_delete == action and reference.batch_id is None
    with pytest.raises(RollbackBlocked) as refused:
        rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    assert refused.value.references == [reference]
    assert (rows("users"), rows("user_departments"), app_rows(db, "orders")) == before
    [job] = list_history(db, batch_id=users_batch.batch_id)
    assert job.status == "completed"

    manual_sql(db, f"DELETE FROM {listed}")
    assert rollback_batch(db, users_batch.batch_id, actor="a").deleted["users"] == 2


def test_a_composite_key_to_link_rows_and_another_schema_block(db, rows, users_batch):
    """A foreign key of two columns onto the link table (an assignment of a user to a
    department) blocks the rollback of the users batch that wrote the link."""
    listed = app_table(
        db,
        "assignments",
        "id bigint generated always as identity primary key, user_id bigint, "
        "department_id bigint, FOREIGN KEY (user_id, department_id) "
        "REFERENCES user_departments (user_id, department_id) ON DELETE CASCADE",
    )
    manual_sql(
        db,
        f"INSERT INTO {listed} (user_id, department_id) SELECT user_id, department_id "
        "FROM user_departments",
    )
    [first, second] = preview_rollback(db, users_batch.batch_id).references
    assert (first.table, first.column, first.referenced_table) == (
        listed,
        "user_id, department_id",
        "user_departments",
    )
    assert second.row_id == 2 and second.on_delete == "CASCADE"
    with pytest.raises(RollbackBlocked):
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert len(app_rows(db, "assignments")) == 2 and len(rows("users")) == 2


def test_rows_of_another_batch_are_listed_with_their_batch(db, rows, users_batch):
    """The departments batch cannot go while a users batch links to it: each link is listed
    with the batch it belongs to."""
    [departments] = list_history(db, import_type="departments")
    preview = preview_rollback(db, departments.batch_id)
    assert sorted((r.referenced_key, r.batch_id) for r in preview.references) == [
        ("FIN", users_batch.batch_id),
        ("HQ", users_batch.batch_id),
    ]


def test_a_link_written_with_an_old_clock_is_not_the_batch_s(db, rows, users_batch):
    """A program that links a department to an imported user with its own, lagging
    `created_at` (whole seconds, years back) has made an edit: listed, nothing deleted until
    the rollback is forced."""
    manual_sql(
        db,
        "INSERT INTO user_departments (user_id, department_id, is_primary, created_at) "
        "SELECT u.id, d.id, false, '2001-01-01 00:00:00' FROM users u, inventory.departments d "
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
            "INSERT INTO user_departments (user_id, department_id) "
            "SELECT u.id, d.id FROM users u, inventory.departments d "
            "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'"
        )
        early.commit()
    [job] = list_history(db, batch_id=batch.batch_id)
    [late] = [r for r in rows("user_departments") if r["import_batch_id"] is None]
    assert late["created_at"] < job.completed_at
    with pytest.raises(RowsEdited):
        rollback_batch(db, batch.batch_id, actor="a")
    assert len(rows("user_departments")) == 2


def test_ids_of_deleted_rows_are_never_given_again(db, rows, users_batch):
    """The last user deleted by hand: the next user made by hand gets a new id (SQLite would
    reuse it without AUTOINCREMENT), and so does the next import."""
    last = max(u["id"] for u in rows("users"))
    manual_sql(db, f"DELETE FROM user_departments WHERE user_id = {last}")
    manual_sql(db, f"DELETE FROM users WHERE id = {last}")
    manual_sql(db, "INSERT INTO users (email, first_name, last_name) VALUES ('h@x.org', 'H', 'X')")
    [by_hand] = rows("users", email="h@x.org")
    assert by_hand["id"] > last


def test_a_restore_never_lands_on_another_row(db, csv_file, rows, users_batch):
    """Batch B updates bob; bob's row is deleted since (his batch forced out) and users are
    made by hand. B's rollback cannot put bob back: it lists him as deleted since and, forced,
    writes nothing onto the hand-made users."""
    update = run_import(
        db,
        "users",
        users_file(csv_file, ["bob@x.org", "Robert", "Ray", "OPS"], name="b.csv"),
        actor="b",
        on_existing="update",
    )
    rollback_batch(db, users_batch.batch_id, actor="a", force_edited=True)
    for n in range(3):
        manual_sql(
            db, f"INSERT INTO users (email, first_name, last_name) VALUES ('h{n}@x.org', 'H', 'X')"
        )
    hand_made = rows("users")
    preview = preview_rollback(db, update.batch_id)
    assert [(e.table, e.gone) for e in preview.edited] == [("users", True)]
    assert "was deleted since" in str(preview.edited[0])
    with pytest.raises(RowsEdited):
        rollback_batch(db, update.batch_id, actor="b")
    done = rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert done.restored == {}
    assert rows("users") == hand_made and rows("user_departments") == []


def test_a_restore_pointing_at_a_deleted_row_is_a_listed_conflict(db, csv_file, rows):
    """B moved OPS from HQ to FIN; HQ was then deleted by hand and a new department made.
    Putting OPS back under HQ is impossible: listed in the preview and the refusal (forcing
    does not help), nothing changes — never a parent pointing at a stranger, never a bare
    foreign-key error."""
    run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["HQ", "Top", ""], ["FIN", "F", ""]]),
        actor="a",
    )
    run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["OPS", "Ops", "HQ"]], name="ops.csv"),
        actor="a",
    )
    moved = run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["OPS", "Ops", "FIN"]], name="m.csv"),
        actor="b",
        on_existing="update",
    )
    manual_sql(db, "DELETE FROM inventory.departments WHERE code = 'HQ'")
    manual_sql(db, "INSERT INTO inventory.departments (code, name) VALUES ('NEW', 'By hand')")
    before = rows("departments")
    preview = preview_rollback(db, moved.batch_id, force_edited=True)
    [conflict] = preview.conflicts
    assert (conflict.table, preview.possible) == ("departments", False)
    assert "parent_id points at departments id" in conflict.problem
    assert "no longer exists" in conflict.problem
    with pytest.raises(RollbackBlocked, match="cannot be restored") as refused:
        rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    assert refused.value.conflicts == [conflict]
    assert rows("departments") == before
    [job] = list_history(db, batch_id=moved.batch_id)
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
        "UPDATE inventory.departments SET parent_id = "
        "(SELECT id FROM inventory.departments WHERE code = 'OPS') WHERE code = 'HQ'",
    )
    before = rows("departments")
    [conflict] = preview_rollback(db, moved.batch_id).conflicts
    assert "own ancestor" in conflict.problem and conflict.key == "OPS"
    with pytest.raises(RollbackBlocked, match="cannot be restored"):
        rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    assert rows("departments") == before


def test_a_forced_restore_keeps_the_sign_of_the_edit(db, csv_file, rows, users_batch):
    """A creates ann; B updates her; she is edited by hand; B is rolled back by force. Her
    row still shows the edit, so A's plain rollback is refused instead of deleting her."""
    update = run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], name="b.csv"),
        actor="b",
        on_existing="update",
    )
    manual_sql(db, "UPDATE users SET last_name = 'Edited' WHERE email = 'ann@x.org'")
    rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    [ann] = rows("users", email="ann@x.org")
    assert (ann["first_name"], ann["last_name"]) == ("Ann", "Edited") and ann["row_version"] != 0
    with pytest.raises(RowsEdited) as refused:
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert [e.key for e in refused.value.edited] == ["ann@x.org"]
    assert rows("users", email="ann@x.org") == [ann]


def test_rolling_back_out_of_order_spares_a_later_update(db, csv_file, rows, users_batch):
    """A creates ann; B and then C update her. B forced out of order leaves C's update
    standing, so A's plain rollback must not delete her."""
    second, _third = (
        run_import(
            db,
            "users",
            users_file(csv_file, ["ann@x.org", "Annie", last, "HQ"], name=f"{last}.csv"),
            actor="b",
            on_existing="update",
        )
        for last in ("Lee", "Leigh")
    )
    rollback_batch(db, second.batch_id, actor="b", force_edited=True)
    with pytest.raises(RowsEdited):
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert len(rows("users", email="ann@x.org")) == 1


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


def test_a_retried_rollback_leaves_no_stale_failure(db, csv_file, failing_trigger, users_batch):
    """A rollback that failed once and then succeeds keeps no failure text in its job."""
    allow = failing_trigger("users", "delete", "deletes are paused")
    with pytest.raises(Exception, match="deletes are paused"):
        rollback_batch(db, users_batch.batch_id, actor="b")
    [job] = list_history(db, batch_id=users_batch.batch_id)
    assert job.status == "rollback_failed" and "paused" in job.error_summary
    allow()
    rollback_batch(db, users_batch.batch_id, actor="b")
    [job] = list_history(db, batch_id=users_batch.batch_id)
    assert (job.status, job.error_summary) == ("rolled_back", None)


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
        "user_id bigint REFERENCES users (id) ON DELETE CASCADE",
    )
    calls = []
    original = db.dialect.foreign_keys_to

    def add_an_order_after_the_checks(conn: sa.Connection, tables):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # the deleting transaction's look
            manual_sql(db, f"INSERT INTO {listed} (user_id) SELECT min(id) FROM users")
        return original(conn, tables)

    db.dialect.foreign_keys_to = add_an_order_after_the_checks
    try:
        with pytest.raises(RollbackBlocked):
            rollback_batch(db, users_batch.batch_id, actor="a")
    finally:
        del db.dialect.foreign_keys_to
    assert len(app_rows(db, "orders")) == 1 and len(rows("users")) == 2
    [job] = list_history(db, batch_id=users_batch.batch_id)
    assert job.status == "rollback_failed"


# --- overlapping writers ---------------------------------------------------------------


def waiting_on_a_lock(db, pattern: str) -> bool:
    """Whether another session waits for a lock while running a statement like `pattern`."""
    with db.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE :pattern"
                ),
                {"pattern": pattern},
            ).scalar_one()
        )


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the interleaving was never reached"
        time.sleep(0.05)


def outcome(future):
    try:
        return future.result(timeout=60)
    except BatchportError as exc:
        return exc


@pytest.mark.parametrize("first", ["rollback", "import"])
def test_a_rollback_racing_an_update_import_ends_as_one_after_the_other(
    db, csv_file, rows, users_batch, first
):
    """Batch A's rollback and an update import of A's row ann overlap, in either order (a
    held row lock makes both wait, first come first served). Rollback first: ann is gone,
    then created anew by the import. Import first: ann is updated, and the rollback is
    refused without changing anything. Reports and history say just that."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: see test_..._in_either_serial_order")
    path = users_file(csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], name="update.csv")
    rollback = ("DELETE FROM users%", lambda: rollback_batch(db, users_batch.batch_id, actor="r"))
    update = (
        "%FOR NO KEY UPDATE%",
        lambda: run_import(db, "users", path, actor="u", on_existing="update"),
    )
    order = [rollback, update] if first == "rollback" else [update, rollback]
    # The lock is let go (the connection closed) before the pool waits for its threads.
    with ThreadPoolExecutor(2) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql("SELECT id FROM users WHERE email = 'ann@x.org' FOR UPDATE")
        futures = {}
        for pattern, run in order:
            futures[pattern] = pool.submit(run)
            wait_until(lambda pattern=pattern: waiting_on_a_lock(db, pattern))
        holder.rollback()
        undone, imported = (outcome(futures[pattern]) for pattern, _ in (rollback, update))
    [ann] = rows("users", email="ann@x.org")
    jobs = {job.batch_id: job for job in list_history(db)}
    counts = jobs[imported.batch_id]
    assert (counts.rows_imported, counts.rows_updated, counts.rows_unchanged) == (
        imported.created["users"],
        imported.updated,
        imported.unchanged,
    )
    if first == "rollback":
        assert undone.deleted["users"] == 2
        assert (imported.created["users"], imported.updated, imported.unchanged) == (1, 0, 0)
        assert (ann["first_name"], ann["import_batch_id"]) == ("Annie", imported.batch_id)
        assert rows("users", email="bob@x.org") == []
        assert jobs[users_batch.batch_id].status == "rolled_back"
    else:
        assert isinstance(undone, RollbackRefused) and "changed while" in str(undone)
        assert (imported.created["users"], imported.updated) == (0, 1)
        assert (ann["first_name"], ann["import_batch_id"]) == ("Annie", users_batch.batch_id)
        assert len(rows("users")) == 2
        assert jobs[users_batch.batch_id].status == "rollback_failed"
        with pytest.raises(RowsEdited):
            rollback_batch(db, users_batch.batch_id, actor="r")


@pytest.mark.parametrize("first", ["rollback", "import"])
def test_a_rollback_and_an_update_import_in_either_serial_order(
    db, csv_file, rows, users_batch, first
):
    """The two serial orders the overlap above must end as, run one after the other (on
    SQLite, where writers queue, the only way they run): the same data and counts."""
    path = users_file(csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], name="update.csv")
    if first == "rollback":
        rollback_batch(db, users_batch.batch_id, actor="r")
        imported = run_import(db, "users", path, actor="u", on_existing="update")
        assert (imported.created["users"], imported.updated, imported.unchanged) == (1, 0, 0)
        assert [u["import_batch_id"] for u in rows("users")] == [imported.batch_id]
    else:
        imported = run_import(db, "users", path, actor="u", on_existing="update")
        assert (imported.created["users"], imported.updated) == (0, 1)
        with pytest.raises(RowsEdited):
            rollback_batch(db, users_batch.batch_id, actor="r")
        assert len(rows("users")) == 2


def test_completed_at_orders_imports_as_they_took_effect(db, csv_file):
    """An import whose transaction began first but committed last (held back by a row lock)
    has the later `completed_at`: the time its data became visible, from the database's
    clock, not when its transaction began."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: they commit in the order they begin")
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    users = users_file(csv_file, ["ann@x.org", "Ann", "Lee", "HQ"])
    others = csv_file([["code", "name"], ["LAB", "Lab"]], name="others.csv")
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql("SELECT id FROM inventory.departments WHERE code = 'HQ' FOR UPDATE")
        slow = pool.submit(run_import, db, "users", users, actor="slow")
        wait_until(lambda: waiting_on_a_lock(db, "%user_departments%"))
        quick = run_import(db, "departments", others, actor="quick")
        holder.rollback()
        slow_report = slow.result(timeout=60)
    jobs = {job.batch_id: job for job in list_history(db)}
    slow_job, quick_job = jobs[slow_report.batch_id], jobs[quick.batch_id]
    assert slow_job.started_at < quick_job.started_at
    assert slow_job.completed_at > quick_job.completed_at


# --- what is reported is what happened -------------------------------------------------


def test_an_import_that_committed_succeeds_whatever_fails_after(db, cli, csv_file, monkeypatch):
    """Letting go of the job's claim fails after the data committed (its session was lost):
    the import still reports success, with history completed and audited, and the CLI exits
    0."""

    def lost(*_args: object) -> None:
        raise sa.exc.OperationalError("select pg_advisory_unlock(...)", {}, Exception("gone"))

    monkeypatch.setattr(type(db.dialect), "release_job", lost)
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    assert report.created["departments"] == 3
    result = cli("import", "departments", str(csv_file([["code", "name"], ["X", "Y"]], "x.csv")))
    assert result.exit_code == 0, result.output
    assert {job.status for job in list_history(db)} == {"completed"}
    assert [e["outcome"] for e in audit.entries(db, action="import")] == ["ok", "ok"]


def test_an_import_whose_audit_row_fails_keeps_nothing(db, csv_file, rows, failing_trigger):
    """The audit row is written in the import's own transaction: if it cannot be written,
    the import did not happen (no rows, job failed), and the user is told."""
    failing_trigger("audit_log", "insert", "the audit log is full")
    with pytest.raises(ImportFailed, match="audit log is full"):
        run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    assert rows("departments") == []
    [job] = list_history(db)
    assert job.status == "failed" and "audit log is full" in job.error_summary


# --- link rows other tables point at ---------------------------------------------------


def notes_on_links(db, action: str = "CASCADE", deferred: bool = False) -> str:
    """An application table of notes about user-department assignments (a foreign key onto
    the link table); returns its listed name."""
    later = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    return app_table(
        db,
        "notes",
        "id bigint generated always as identity primary key, user_id bigint, "
        "department_id bigint, FOREIGN KEY (user_id, department_id) REFERENCES "
        f"user_departments (user_id, department_id) ON DELETE {action}{later}",
    )


def note_on(db, listed: str, email: str, code: str) -> None:
    manual_sql(
        db,
        f"INSERT INTO {listed} (user_id, department_id) SELECT u.id, d.id "
        "FROM users u, inventory.departments d "
        f"WHERE u.email = '{email}' AND d.code = '{code}'",
    )


@pytest.mark.parametrize("deferred", [False, True], ids=["immediate", "deferred"])
def test_a_note_on_a_link_an_update_wrote_blocks_its_restore(
    db, csv_file, rows, users_batch, deferred
):
    """An update moves ann to FIN; a note on her FIN link is written. Rolling the update back
    would delete that link: listed in the preview and the refusal, the note kept."""
    listed = notes_on_links(db, deferred=deferred)
    moved = run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="move.csv"),
        actor="b",
        on_existing="update",
    )
    note_on(db, listed, "ann@x.org", "FIN")
    [reference] = preview_rollback(db, moved.batch_id).references
    assert (reference.table, reference.referenced_table) == (listed, "user_departments")
    with pytest.raises(RollbackBlocked):
        rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    assert len(app_rows(db, "notes")) == 1
    [job] = list_history(db, batch_id=moved.batch_id)
    assert job.status == "completed"


def test_a_forced_rollback_never_takes_rows_pointing_at_an_edit(db, rows, users_batch):
    """A link added by hand to an imported user is an edit a forced rollback may undo, but not
    while a note points at it: the note is listed and kept."""
    listed = notes_on_links(db)
    manual_sql(
        db,
        "INSERT INTO user_departments (user_id, department_id) SELECT u.id, d.id "
        "FROM users u, inventory.departments d WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
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
    kept = run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Ann", "Lee", "OPS;HQ"], name="keep.csv"),
        actor="b",
        on_existing="update",
    )
    assert kept.updated == 1 and len(app_rows(db, "notes")) == 1
    before = (rows("users"), rows("user_departments"))
    with pytest.raises(ImportConflict, match="point at") as refused:
        run_import(
            db,
            "users",
            users_file(csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="drop.csv"),
            actor="b",
            on_existing="update",
        )
    assert listed in str(refused.value)
    assert (rows("users"), rows("user_departments")) == before
    assert len(app_rows(db, "notes")) == 1


# --- forced restores and the sign of an edit ---------------------------------------------


def test_a_forced_restore_of_links_keeps_the_sign_of_the_edit(db, csv_file, rows, users_batch):
    """B changes ann's links; a link is then added by hand; B is rolled back by force. Her row
    shows the edit, so A's plain rollback is refused instead of deleting her."""
    moved = run_import(
        db,
        "users",
        users_file(csv_file, ["ann@x.org", "Ann", "Lee", "FIN"], name="move.csv"),
        actor="b",
        on_existing="update",
    )
    manual_sql(
        db,
        "INSERT INTO user_departments (user_id, department_id) SELECT u.id, d.id "
        "FROM users u, inventory.departments d WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
    )
    assert [e.key for e in preview_rollback(db, moved.batch_id).edited] == ["ann@x.org"]
    rollback_batch(db, moved.batch_id, actor="b", force_edited=True)
    with pytest.raises(RowsEdited):
        rollback_batch(db, users_batch.batch_id, actor="a")
    assert len(rows("users", email="ann@x.org")) == 1


def test_a_forced_rollback_is_an_edit_to_later_batches(db, csv_file, rows):
    """A hand-made user is updated by A and then by B; A is rolled back by force (the name
    made by hand comes back). B's plain rollback must not bring A's name back: refused."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    manual_sql(db, "INSERT INTO users (email, first_name, last_name) VALUES ('u@x.org', 'H', 'X')")
    first, second = (
        run_import(
            db,
            "users",
            users_file(csv_file, ["u@x.org", name, "X", "HQ"], name=f"{name}.csv"),
            actor="b",
            on_existing="update",
        )
        for name in ("A", "B")
    )
    rollback_batch(db, first.batch_id, actor="b", force_edited=True)
    assert rows("users")[0]["first_name"] == "H"
    with pytest.raises(RowsEdited):
        rollback_batch(db, second.batch_id, actor="b")
    assert rows("users")[0]["first_name"] == "H"


def test_a_restore_never_lands_on_a_stranger_given_the_same_id(db, csv_file, rows, users_batch):
    """B updates bob; bob is deleted by hand and another user is inserted with bob's id (a
    sync tool, a backup). B's rollback lists bob as gone; forced, it writes nothing onto the
    stranger."""
    update = run_import(
        db,
        "users",
        users_file(csv_file, ["bob@x.org", "Robert", "Ray", "FIN"], name="b.csv"),
        actor="b",
        on_existing="update",
    )
    [bob] = rows("users", email="bob@x.org")
    manual_sql(db, f"DELETE FROM user_departments WHERE user_id = {bob['id']}")
    manual_sql(db, f"DELETE FROM users WHERE id = {bob['id']}")
    manual_sql(
        db,
        "INSERT INTO users (id, email, first_name, last_name) "
        f"VALUES ({bob['id']}, 'stranger@y.org', 'Sam', 'Stranger')",
    )
    stranger = rows("users", email="stranger@y.org")
    assert [e.gone for e in preview_rollback(db, update.batch_id).edited] == [True]
    rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert rows("users", email="stranger@y.org") == stranger


# --- imports that meet other writers ---------------------------------------------------


def test_a_key_taken_meanwhile_fails_the_update_import_whole(db, csv_file, rows, users_batch):
    """An update import of ann (there) and cy (new) while cy is inserted by hand between the
    import's look at existing rows and its insert: the import fails whole and says why; its
    history never counts a row twice or not at all."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is inserted while an import writes")
    path = users_file(
        csv_file, ["ann@x.org", "Ann", "Lee", "HQ"], ["cy@x.org", "Cy", "Poe", "HQ"], name="u.csv"
    )
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql("SELECT id FROM users WHERE email = 'ann@x.org' FOR UPDATE")
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing="update")
        wait_until(lambda: waiting_on_a_lock(db, "%FOR NO KEY UPDATE%"))
        manual_sql(
            db, "INSERT INTO users (email, first_name, last_name) VALUES ('cy@x.org', 'C', 'H')"
        )
        holder.rollback()
        failed = outcome(running)
    assert isinstance(failed, ImportFailed) and "meanwhile" in str(failed)
    assert [u["first_name"] for u in rows("users", email="cy@x.org")] == ["C"]
    [job] = list_history(db, batch_id=failed.batch_id)
    assert job.status == "failed" and job.rows_imported == job.rows_updated == 0


def test_a_department_deleted_while_an_import_names_it_fails_the_import(
    db, csv_file, rows, users_batch
):
    """A file naming FIN is checked, and FIN is deleted (by a rollback, by hand) before the
    import loads: the import fails whole, naming FIN, rather than load users without it."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is deleted while an import writes")
    manual_sql(db, "INSERT INTO inventory.departments (code, name) VALUES ('TMP', 'Temporary')")
    path = users_file(
        csv_file, ["ann@x.org", "Ann", "Lee", "HQ"], ["cy@x.org", "Cy", "Poe", "TMP"], name="u.csv"
    )
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql("SELECT id FROM users WHERE email = 'ann@x.org' FOR UPDATE")
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing="skip")
        wait_until(lambda: waiting_on_a_lock(db, "%FOR NO KEY UPDATE%"))
        manual_sql(db, "DELETE FROM inventory.departments WHERE code = 'TMP'")
        holder.rollback()
        failed = outcome(running)
    assert isinstance(failed, RowsGone) and "'TMP'" in str(failed)
    assert rows("users", email="cy@x.org") == []
