"""The restore planned once: the rollback's first transaction reads the change log, checks and
stages the restore; its deleting transaction writes from that plan when every row (and every
row the prior values point at) is as the plan saw it, and looks again, in full, when one is
not. Another program writes here between the two transactions, on either database."""

from __future__ import annotations

import pytest

from batchport import (
    JobFilter,
    RollbackBlocked,
    RollbackRefused,
    list_history,
    preview_rollback,
    rollback_batch,
)
from batchport.commands import rollbacks
from batchport.rollback import changelog, staged
from tests.helpers import manual_sql, ops_moved_to_fin, per_table, table_name, update_users

pytestmark = pytest.mark.types("shipped", "declared")


@pytest.fixture
def between(monkeypatch, db):
    """Runs statements as another program once the rollback's checks are committed (the job
    `rolling_back`), before its deleting transaction begins."""
    statements: list[str] = []
    original = rollbacks._take_back

    def take_back(*args, **kwargs):
        for statement in statements:
            manual_sql(db, statement)
        return original(*args, **kwargs)

    monkeypatch.setattr(rollbacks, "_take_back", take_back)
    return statements


@pytest.fixture
def reads(monkeypatch):
    """How many times the change log is read through, per table: by the pass over its
    pages, or by the database staging the plan (PostgreSQL)."""
    counted: dict[str, int] = {}
    paged, staged_by_database = changelog.pages, staged.stage

    def count(name):
        counted[name] = counted.get(name, 0) + 1

    def pages(conn, dialect, import_type, batch_id):
        count(import_type.table.name)
        return paged(conn, dialect, import_type, batch_id)

    def stage(putting, *args):
        edited = staged_by_database(putting, *args)
        if edited is not None:
            count(putting.table.name)
        return edited

    monkeypatch.setattr("batchport.rollback.restore.pages", pages)
    monkeypatch.setattr(staged, "stage", stage)
    return counted


@pytest.fixture
def updated(db, csv_file, users_batch):
    """users_batch, then a batch renaming ann and bob and moving bob to OPS."""
    return update_users(
        db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["bob@x.org", "Robert", "Ray", "OPS"]
    )


def status(db, batch_id):
    [job] = list_history(db, JobFilter(batch_id=batch_id))
    return job.status


def test_an_untouched_batch_is_read_from_the_change_log_once(db, rows, users_batch, updated, reads):
    """Nothing written in between: the deleting transaction writes from the plan its checks
    made, so the change log is read through once, and the rows come back as they were."""
    users_before = {u["email"]: u for u in rows("users")}
    done = rollback_batch(db, updated.batch_id, actor="b")
    assert done.restored == per_table(db, users=2)
    assert reads[table_name(db, "users")] == 1 and set(reads.values()) == {1}
    after = {u["email"]: u for u in rows("users")}
    assert (after["ann@x.org"]["first_name"], after["bob@x.org"]["first_name"]) == ("Ann", "Bob")
    assert (after["ann@x.org"]["row_version"], after["bob@x.org"]["row_version"]) == (0, 0)
    assert set(after) == set(users_before)


def test_a_row_edited_between_the_checks_and_the_restore_stops_it(
    db, rows, updated, between, reads
):
    """bob is edited once the checks are committed: the deleting transaction finds him
    changed since the plan, looks again, and stops with nothing changed; the job is
    rollback_failed."""
    between.append("UPDATE {users} SET last_name = 'Hand' WHERE email = 'bob@x.org'")
    with pytest.raises(RollbackRefused, match="was edited or deleted while the rollback ran"):
        rollback_batch(db, updated.batch_id, actor="b")
    assert reads[table_name(db, "users")] == 2
    [bob] = rows("users", email="bob@x.org")
    assert (bob["first_name"], bob["last_name"]) == ("Robert", "Hand")
    [ann] = rows("users", email="ann@x.org")
    assert ann["first_name"] == "Annie"
    assert status(db, updated.batch_id) == "rollback_failed"


def test_a_row_deleted_and_made_again_under_its_id_is_not_restored(
    db, csv_file, rows, users_batch, between
):
    """A batch renames ann and bob; between the two transactions of its rollback bob is
    deleted and a stranger made under his id, with his row version: the plan's rows are
    proven again by their identity, not only their version, so the forced restore leaves
    the stranger alone."""
    updated = update_users(
        db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["bob@x.org", "Robert", "Ray", "FIN"]
    )
    [bob] = rows("users", email="bob@x.org")
    between += [
        f"DELETE FROM {{user_departments}} WHERE user_id = {bob['id']}",
        f"DELETE FROM {{users}} WHERE id = {bob['id']}",
        "INSERT INTO {users} (id, email, first_name, last_name, row_version) "
        f"VALUES ({bob['id']}, 'stranger@y.org', 'Sam', 'Stranger', {bob['row_version']})",
    ]
    done = rollback_batch(db, updated.batch_id, actor="b", force_edited=True)
    assert done.restored == per_table(db, users=1)
    [stranger] = rows("users", id=bob["id"])
    assert (stranger["email"], stranger["first_name"]) == ("stranger@y.org", "Sam")
    [ann] = rows("users", email="ann@x.org")
    assert ann["first_name"] == "Ann"


def test_a_forced_rollback_restores_a_row_edited_between(db, rows, updated, between):
    """Forced, bob edited between the transactions gets the batch's columns back, keeps the
    hand edit, and his row version is one past the edit."""
    between.append("UPDATE {users} SET last_name = 'Hand' WHERE email = 'bob@x.org'")
    done = rollback_batch(db, updated.batch_id, actor="b", force_edited=True)
    assert done.restored == per_table(db, users=2)
    [bob] = rows("users", email="bob@x.org")
    assert (bob["first_name"], bob["last_name"], bob["row_version"]) == ("Bob", "Hand", 3)


def test_a_link_row_added_between_stops_the_rollback(db, rows, updated, between):
    """A link row another program adds to bob between the transactions counts no row
    version: the deleting transaction still finds it, set-based, and stops."""
    links_before = rows("user_departments")
    between.append(
        "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
        "SELECT u.id, d.id, false FROM {users} u, {departments} d "
        "WHERE u.email = 'bob@x.org' AND d.code = 'HQ'"
    )
    with pytest.raises(RollbackRefused, match="was edited or deleted while the rollback ran"):
        rollback_batch(db, updated.batch_id, actor="b")
    assert len(rows("user_departments")) == len(links_before) + 1
    assert status(db, updated.batch_id) == "rollback_failed"


def test_a_forced_rollback_takes_a_link_row_added_between(db, csv_file, rows, users_batch, between):
    """Forced, the link row added between goes with the batch's, bob's links are those he
    had before the batch, and his row keeps the sign of the edit."""
    links_before = rows("user_departments")
    updated = update_users(db, csv_file, ["bob@x.org", "Robert", "Ray", "OPS"])
    [bob] = rows("users", email="bob@x.org")
    between.append(
        "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
        f"SELECT {bob['id']}, d.id, false FROM {{departments}} d WHERE d.code = 'HQ'"
    )
    rollback_batch(db, updated.batch_id, actor="b", force_edited=True)
    [bob] = rows("users", email="bob@x.org")
    assert bob["row_version"] > 0
    links = [link for link in rows("user_departments") if link["user_id"] == bob["id"]]
    assert links == [link for link in links_before if link["user_id"] == bob["id"]]


def test_a_row_pointed_at_deleted_between_is_a_conflict(db, csv_file, rows, between):
    """B moved OPS from HQ to FIN; HQ is deleted by hand once the checks are committed. The
    deleting transaction proves the rows the prior values point at again, finds HQ gone and
    lists the conflict; nothing changes."""
    moved = ops_moved_to_fin(db, csv_file)
    assert preview_rollback(db, moved.batch_id).conflicts == []
    between.append("DELETE FROM {departments} WHERE code = 'HQ'")
    with pytest.raises(RollbackBlocked, match="cannot be restored") as refused:
        rollback_batch(db, moved.batch_id, actor="b")
    [conflict] = refused.value.conflicts
    assert "no longer exists" in conflict.problem and conflict.key == "OPS"
    assert {d["code"]: d["parent_id"] for d in rows("departments")}["OPS"] is not None


def test_the_plan_is_gone_with_the_rollback(db, csv_file, rows, users_batch):
    """Two update batches rolled back one after the other on the same database (and pooled
    connections): each writes from its own plan, and the second finds nothing of the
    first's."""
    first = update_users(db, csv_file, ["ann@x.org", "Annie", "Lee", "FIN"], name="1.csv")
    rollback_batch(db, first.batch_id, actor="b")
    second = update_users(db, csv_file, ["bob@x.org", "Robert", "Ray", "HQ"], name="2.csv")
    assert rollback_batch(db, second.batch_id, actor="b").restored == per_table(db, users=1)
    assert [(u["first_name"], u["row_version"]) for u in rows("users")] == [("Ann", 0), ("Bob", 0)]
