"""Another writer between a rollback's checks and its restore: the restore never overwrites
what it did not see; not forced, the rollback stops with nothing changed."""

from __future__ import annotations

import pytest

from batchport import JobFilter, RollbackRefused, list_history, rollback_batch
from tests.helpers import manual_sql, per_table, update_users

pytestmark = pytest.mark.types("shipped", "declared")


def edit_once(db, *statements):
    """A progress listener that runs `statements` as another program, once, when the
    rollback starts restoring (after its checks, in its own transaction)."""
    done = []

    def listen(phase: str, _rows: int) -> None:
        if phase == "restoring" and not done:
            done.append(phase)
            for statement in statements:
                manual_sql(db, statement)

    return listen


@pytest.fixture
def updated(db, csv_file, users_batch):
    """users_batch, then a batch renaming ann and bob (and moving bob)."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: no write lands between the checks and the restore")
    return update_users(
        db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["bob@x.org", "Robert", "Ray", "OPS"]
    )


def test_a_row_edited_after_the_checks_stops_the_rollback(db, rows, updated):
    """bob is edited by hand once the rollback has checked the batch: it stops, naming the
    row, with nothing restored or deleted (ann keeps the batch's name too), the hand edit
    kept, and the job marked rollback_failed."""
    before = rows("users"), rows("user_departments")
    listen = edit_once(db, "UPDATE {users} SET last_name = 'Hand' WHERE email = 'bob@x.org'")
    with pytest.raises(RollbackRefused, match="was edited or deleted while the rollback ran"):
        rollback_batch(db, updated.batch_id, actor="b", progress=listen)
    users, links = before
    assert rows("users") == [
        user | ({"last_name": "Hand", "row_version": user["row_version"] + 1})
        if user["email"] == "bob@x.org"
        else user
        for user in users
    ]
    assert rows("user_departments") == links
    [job] = list_history(db, JobFilter(batch_id=updated.batch_id))
    assert job.status == "rollback_failed"


def test_a_row_deleted_after_the_checks_stops_the_rollback(db, rows, updated):
    """ann is deleted by hand, with her link rows, once the rollback has checked the batch:
    it stops with nothing changed."""
    before = rows("users"), rows("user_departments")
    listen = edit_once(
        db,
        "DELETE FROM {user_departments} WHERE user_id = "
        "(SELECT id FROM {users} WHERE email = 'ann@x.org')",
        "DELETE FROM {users} WHERE email = 'ann@x.org'",
    )
    with pytest.raises(RollbackRefused, match="was edited or deleted while the rollback ran"):
        rollback_batch(db, updated.batch_id, actor="b", progress=listen)
    users, links = before
    ann = next(u["id"] for u in users if u["email"] == "ann@x.org")
    assert rows("users") == [u for u in users if u["id"] != ann]
    assert rows("user_departments") == [link for link in links if link["user_id"] != ann]


def test_a_forced_rollback_restores_a_row_edited_after_the_checks(db, rows, updated):
    """Forced, the rollback restores bob although he was edited after its checks: the
    batch's columns come back, the hand edit of another column stays, and his row version
    shows the edit."""
    listen = edit_once(db, "UPDATE {users} SET last_name = 'Hand' WHERE email = 'bob@x.org'")
    done = rollback_batch(db, updated.batch_id, actor="b", force_edited=True, progress=listen)
    assert done.restored == per_table(db, users=2)
    [bob] = rows("users", email="bob@x.org")
    assert (bob["first_name"], bob["last_name"]) == ("Bob", "Hand")
    assert bob["row_version"] == 3
    [ann] = rows("users", email="ann@x.org")
    assert (ann["first_name"], ann["row_version"]) == ("Ann", 0)


def test_a_row_pointed_at_replaced_after_the_checks_stops_the_rollback(db, rows, updated):
    """FIN, which bob's prior link row points at, is deleted by hand and another FIN made
    once the rollback has checked the batch (the rows it points at read from the log then):
    the rollback does not put bob back into the new FIN; it stops with nothing changed."""
    before = rows("users"), rows("user_departments")
    listen = edit_once(
        db,
        "DELETE FROM {departments} WHERE code = 'FIN'",
        "INSERT INTO {departments} (code, name) VALUES ('FIN', 'Finance again')",
    )
    with pytest.raises(RollbackRefused, match="1 row it updated cannot be restored"):
        rollback_batch(db, updated.batch_id, actor="b", progress=listen)
    assert (rows("users"), rows("user_departments")) == before
    [job] = list_history(db, JobFilter(batch_id=updated.batch_id))
    assert job.status == "rollback_failed"
