"""Imports and rollbacks that overlap end as one after the other would, and what is reported
is what happened: counts, times, audit rows and outcomes, whatever another writer does
meanwhile. The interleavings are forced with row locks, and checked on PostgreSQL; SQLite's
writers queue, so there the serial orders themselves are checked."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from batchport import (
    AuditFilter,
    ImportFailed,
    JobFilter,
    RollbackRefused,
    RowsEdited,
    RowsGone,
    audit,
    list_history,
    rollback_batch,
    run_import,
)
from batchport.schema import import_changes
from tests.helpers import (
    DEPARTMENTS,
    manual_sql,
    outcome,
    sql,
    table_name,
    users_file,
    wait_until,
    waiting_on_a_lock,
)

pytestmark = pytest.mark.types("shipped", "declared")


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
    rollback = (
        "DELETE FROM %{users}%",
        lambda: rollback_batch(db, users_batch.batch_id, actor="r"),
    )
    update = (
        "%FOR NO KEY UPDATE%",
        lambda: run_import(db, "users", path, actor="u", on_existing="update"),
    )
    order = [rollback, update] if first == "rollback" else [update, rollback]
    # The lock is let go (the connection closed) before the pool waits for its threads.
    with ThreadPoolExecutor(2) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql(
            sql(db, "SELECT id FROM {users} WHERE email = 'ann@x.org' FOR UPDATE")
        )
        futures = {}
        for pattern, run in order:
            futures[pattern] = pool.submit(run)
            wait_until(lambda pattern=pattern: waiting_on_a_lock(db, pattern))
        holder.rollback()
        undone, imported = (outcome(futures[pattern]) for pattern, _ in (rollback, update))
    [ann] = rows("users", email="ann@x.org")
    jobs = {job.batch_id: job for job in list_history(db)}
    counts = jobs[imported.batch_id]
    users = table_name(db, "users")
    assert (counts.rows_imported, counts.rows_updated, counts.rows_unchanged) == (
        imported.created[users],
        imported.updated,
        imported.unchanged,
    )
    if first == "rollback":
        assert undone.deleted[users] == 2
        assert (imported.created[users], imported.updated, imported.unchanged) == (1, 0, 0)
        assert (ann["first_name"], ann["import_batch_id"]) == ("Annie", imported.batch_id)
        assert rows("users", email="bob@x.org") == []
        assert jobs[users_batch.batch_id].status == "rolled_back"
    else:
        assert isinstance(undone, RollbackRefused) and "changed while" in str(undone)
        assert (imported.created[users], imported.updated) == (0, 1)
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
    users = table_name(db, "users")
    if first == "rollback":
        rollback_batch(db, users_batch.batch_id, actor="r")
        imported = run_import(db, "users", path, actor="u", on_existing="update")
        assert (imported.created[users], imported.updated, imported.unchanged) == (1, 0, 0)
        assert [u["import_batch_id"] for u in rows("users")] == [imported.batch_id]
    else:
        imported = run_import(db, "users", path, actor="u", on_existing="update")
        assert (imported.created[users], imported.updated) == (0, 1)
        with pytest.raises(RowsEdited):
            rollback_batch(db, users_batch.batch_id, actor="r")
        assert len(rows("users")) == 2


def test_a_key_taken_meanwhile_fails_the_update_import_whole(db, csv_file, rows, users_batch):
    """An update import of ann (there, renamed) and cy (new) while cy is inserted by hand
    between the import's look at existing rows and its insert: the import fails whole and
    says why; its history never counts a row twice or not at all."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is inserted while an import writes")
    path = users_file(
        csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["cy@x.org", "Cy", "Poe", "HQ"], name="u.csv"
    )
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql(
            sql(db, "SELECT id FROM {users} WHERE email = 'ann@x.org' FOR UPDATE")
        )
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing="update")
        wait_until(lambda: waiting_on_a_lock(db, "%FOR NO KEY UPDATE%"))
        manual_sql(
            db, "INSERT INTO {users} (email, first_name, last_name) VALUES ('cy@x.org', 'C', 'H')"
        )
        holder.rollback()
        failed = outcome(running)
    assert isinstance(failed, ImportFailed) and "meanwhile" in str(failed)
    assert [u["first_name"] for u in rows("users", email="cy@x.org")] == ["C"]
    [job] = list_history(db, JobFilter(batch_id=failed.batch_id))
    assert job.status == "failed" and job.rows_imported == job.rows_updated == 0


def test_a_department_deleted_while_an_import_names_it_fails_the_import(
    db, csv_file, rows, users_batch
):
    """A file naming TMP is checked, and TMP is deleted (by a rollback, by hand) before the
    import loads (while it waits for ann, whom it renames): the import fails whole, naming
    TMP, rather than load users without it."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is deleted while an import writes")
    manual_sql(db, "INSERT INTO {departments} (code, name) VALUES ('TMP', 'Temporary')")
    path = users_file(
        csv_file,
        ["ann@x.org", "Annie", "Lee", "HQ"],
        ["cy@x.org", "Cy", "Poe", "TMP"],
        name="u.csv",
    )
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql(
            sql(db, "SELECT id FROM {users} WHERE email = 'ann@x.org' FOR UPDATE")
        )
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing="update")
        wait_until(lambda: waiting_on_a_lock(db, "%FOR NO KEY UPDATE%"))
        manual_sql(db, "DELETE FROM {departments} WHERE code = 'TMP'")
        holder.rollback()
        failed = outcome(running)
    assert isinstance(failed, RowsGone) and "'TMP'" in str(failed)
    assert rows("users", email="cy@x.org") == []


def _ann_renamed_bob_as_he_is(csv_file):
    return users_file(
        csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["bob@x.org", "Bob", "Ray", "FIN"]
    )


@pytest.mark.parametrize("mode", ["update", "skip"])
def test_an_import_leaves_the_rows_it_does_not_change_to_other_writers(
    db, csv_file, rows, users_batch, mode
):
    """While another writer holds bob (edits him, uncommitted), an import naming bob as he is
    and renaming ann neither waits for bob nor changes him: it ends, ann renamed, bob counted
    unchanged (or skipped); the other writer's edit then commits over nothing."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: no other writer holds a row while an import writes")
    path = _ann_renamed_bob_as_he_is(csv_file)
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql(
            sql(db, "UPDATE {users} SET last_name = 'Roy' WHERE email = 'bob@x.org'")
        )
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing=mode)
        imported = running.result(timeout=30)
        holder.commit()
    if mode == "update":
        assert (imported.updated, imported.unchanged) == (1, 1)
        [ann] = rows("users", email="ann@x.org")
        assert ann["first_name"] == "Annie"
    else:
        assert imported.skipped == 2
    [bob] = rows("users", email="bob@x.org")
    assert (bob["last_name"], bob["import_batch_id"]) == ("Roy", users_batch.batch_id)


def test_a_row_deleted_while_an_update_import_waits_is_imported_anew(
    db, csv_file, rows, users_batch
):
    """bob (named as he is) is deleted by hand while the import waits for ann (renamed, held
    by another writer): the import ends as if the deletion had come first, ann updated and
    bob created anew with his links, and counts just that."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is deleted while an import writes")
    path = _ann_renamed_bob_as_he_is(csv_file)
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as holder:
        holder.exec_driver_sql(
            sql(db, "SELECT id FROM {users} WHERE email = 'ann@x.org' FOR UPDATE")
        )
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing="update")
        wait_until(lambda: waiting_on_a_lock(db, "%FOR NO KEY UPDATE%"))
        with db.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            conn.exec_driver_sql(
                sql(
                    db,
                    "DELETE FROM {user_departments} WHERE user_id IN "
                    "(SELECT id FROM {users} WHERE email = 'bob@x.org')",
                )
            )
            conn.exec_driver_sql(sql(db, "DELETE FROM {users} WHERE email = 'bob@x.org'"))
        holder.rollback()
        imported = outcome(running)
    users = table_name(db, "users")
    assert (imported.created[users], imported.updated, imported.unchanged) == (1, 1, 0)
    [bob] = rows("users", email="bob@x.org")
    assert bob["import_batch_id"] == imported.batch_id
    links = rows("user_departments", user_id=bob["id"])
    assert [link["import_batch_id"] for link in links] == [imported.batch_id]
    [job] = list_history(db, JobFilter(batch_id=imported.batch_id))
    assert (job.rows_imported, job.rows_updated, job.rows_unchanged) == (1, 1, 0)


def test_a_row_another_writer_changes_while_the_import_waits_is_compared_as_it_then_is(
    db, csv_file, rows, users_batch
):
    """Another writer renames ann to Annie and adds her to FIN, and commits while the
    import (ann, Annie, in HQ and FIN) waits for her: the import finds ann as the file wants
    her, links included, and changes and logs nothing."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is written while an import writes")
    path = users_file(csv_file, ["ann@x.org", "Annie", "Lee", "HQ;FIN"])
    with ThreadPoolExecutor(1) as pool, db.engine.connect() as writer:
        writer.exec_driver_sql(
            sql(db, "UPDATE {users} SET first_name = 'Annie' WHERE email = 'ann@x.org'")
        )
        writer.exec_driver_sql(
            sql(
                db,
                "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
                "SELECT u.id, d.id, false FROM {users} u, {departments} d "
                "WHERE u.email = 'ann@x.org' AND d.code = 'FIN'",
            )
        )
        running = pool.submit(run_import, db, "users", path, actor="u", on_existing="update")
        wait_until(lambda: waiting_on_a_lock(db, "%FOR NO KEY UPDATE%"))
        writer.commit()
        imported = outcome(running)
    assert (imported.updated, imported.unchanged) == (0, 1)
    [ann] = rows("users", email="ann@x.org")
    assert ann["first_name"] == "Annie"
    assert len(rows("user_departments", user_id=ann["id"])) == 2
    with db.connect() as conn:
        logged = conn.execute(
            sa.select(sa.func.count())
            .select_from(import_changes)
            .where(import_changes.c.batch_id == imported.batch_id)
        ).scalar_one()
    assert logged == 0


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
        holder.exec_driver_sql(sql(db, "SELECT id FROM {departments} WHERE code = 'HQ' FOR UPDATE"))
        slow = pool.submit(run_import, db, "users", users, actor="slow")
        wait_until(lambda: waiting_on_a_lock(db, "%{user_departments}%"))
        quick = run_import(db, "departments", others, actor="quick")
        holder.rollback()
        slow_report = slow.result(timeout=60)
    jobs = {job.batch_id: job for job in list_history(db)}
    slow_job, quick_job = jobs[slow_report.batch_id], jobs[quick.batch_id]
    assert slow_job.started_at < quick_job.started_at
    assert slow_job.completed_at > quick_job.completed_at


def test_an_import_that_committed_succeeds_whatever_fails_after(db, cli, csv_file, monkeypatch):
    """Letting go of the job's claim fails after the data committed (its session was lost):
    the import still reports success, with history completed and audited, and the CLI exits
    0."""

    def lost(*_args: object) -> None:
        raise sa.exc.OperationalError("select pg_advisory_unlock(...)", {}, Exception("gone"))

    monkeypatch.setattr(type(db.dialect), "release_job", lost)
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    assert report.created[table_name(db, "departments")] == 3
    result = cli("import", "departments", str(csv_file([["code", "name"], ["X", "Y"]], "x.csv")))
    assert result.exit_code == 0, result.output
    assert {job.status for job in list_history(db)} == {"completed"}
    assert [e["outcome"] for e in audit.entries(db, AuditFilter(action="import"))] == ["ok", "ok"]


def test_an_import_whose_audit_row_fails_keeps_nothing(db, csv_file, rows, failing_trigger):
    """The audit row is written in the import's own transaction: if it cannot be written,
    the import did not happen (no rows, job failed), and the user is told."""
    failing_trigger("audit_log", "insert", "the audit log is full")
    with pytest.raises(ImportFailed, match="audit log is full"):
        run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    assert rows("departments") == []
    [job] = list_history(db)
    assert job.status == "failed" and "audit log is full" in job.error_summary


def test_a_retried_rollback_leaves_no_stale_failure(db, csv_file, failing_trigger, users_batch):
    """A rollback that failed once and then succeeds keeps no failure text in its job."""
    allow = failing_trigger("{users}", "delete", "deletes are paused")
    with pytest.raises(Exception, match="deletes are paused"):
        rollback_batch(db, users_batch.batch_id, actor="b")
    [job] = list_history(db, JobFilter(batch_id=users_batch.batch_id))
    assert job.status == "rollback_failed" and "paused" in job.error_summary
    allow()
    rollback_batch(db, users_batch.batch_id, actor="b")
    [job] = list_history(db, JobFilter(batch_id=users_batch.batch_id))
    assert (job.status, job.error_summary) == ("rolled_back", None)
