"""Rolling back a batch deletes exactly its rows: never another batch's, never a manual row."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from batchport import (
    BatchNotFound,
    BatchNotRollbackable,
    EmptyBatch,
    FileRejected,
    RollbackBlocked,
    RollbackRefused,
    get_batch,
    list_history,
    preview_rollback,
    rollback_batch,
    run_import,
)
from tests.helpers import DEPARTMENTS, manual_sql, per_table, table_name, users_file

pytestmark = pytest.mark.types("shipped", "declared")


def test_only_the_rolled_back_batch_disappears(db, csv_file, rows):
    """Two batches and a manual row: rolling back the first leaves the rest and both histories."""
    first = run_import(db, "departments", csv_file(DEPARTMENTS, name="first.csv"), actor="alice")
    manual_sql(db, "insert into {departments} (code, name) values ('MAN', 'Manual')")
    second = run_import(
        db,
        "departments",
        csv_file([["code", "name", "parent_code"], ["LAB", "Lab", "MAN"]], name="second.csv"),
        actor="bob",
    )

    report = rollback_batch(db, first.batch_id, actor="carol", reason="wrong file")

    assert report.deleted == per_table(db, user_departments=0, users=0, departments=3)
    remaining = {d["code"]: d["import_batch_id"] for d in rows("departments")}
    assert remaining == {"MAN": None, "LAB": second.batch_id}
    jobs = {j.batch_id: j for j in list_history(db)}
    assert jobs[first.batch_id].status == "rolled_back"
    assert jobs[first.batch_id].imported_by == "alice"
    assert jobs[first.batch_id].rolled_back_by == "carol"
    assert jobs[first.batch_id].rollback_reason == "wrong file"
    assert jobs[first.batch_id].rolled_back_at is not None
    assert jobs[second.batch_id].status == "completed"
    assert jobs[second.batch_id].imported_by == "bob"


def test_users_links_go_first_then_users(db, csv_file, rows):
    """A users batch takes its links with it; departments from another batch stay."""
    departments = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    users = run_import(
        db, "users", users_file(csv_file, ["a@x.org", "A", "A", "HQ;FIN"]), actor="a"
    )
    report = rollback_batch(db, users.batch_id, actor="a")
    assert report.deleted[table_name(db, "user_departments")] == 2
    assert report.deleted[table_name(db, "users")] == 1
    assert rows("users") == [] and rows("user_departments") == []
    assert {d["import_batch_id"] for d in rows("departments")} == {departments.batch_id}


def test_a_job_id_is_accepted_too(db, csv_file, rows):
    """The job id names the same batch as its batch id."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    assert rollback_batch(db, report.job_id, actor="a").batch_id == report.batch_id
    assert rows("departments") == []


def test_manual_link_to_an_imported_department_blocks_the_rollback(db, csv_file, rows):
    """A hand-made user linked to an imported department: refused, listed, nothing deleted."""
    batch = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    manual_sql(
        db, "insert into {users} (email, first_name, last_name) values ('m@x.org', 'M', 'X')"
    )
    manual_sql(
        db,
        "insert into {user_departments} (user_id, department_id) "
        "select u.id, d.id from {users} u, {departments} d "
        "where u.email = 'm@x.org' and d.code = 'FIN'",
    )
    with pytest.raises(RollbackBlocked) as caught:
        rollback_batch(db, batch.batch_id, actor="a")
    [reference] = caught.value.references
    assert reference.table == table_name(db, "user_departments")
    assert reference.referenced_key == "FIN"
    assert len(rows("departments")) == 3
    assert list_history(db)[0].status == "completed"


def test_manual_child_department_blocks_the_rollback(db, csv_file, rows):
    """A department created by hand under an imported parent blocks its parent's rollback."""
    batch = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    manual_sql(
        db,
        "insert into {departments} (code, name, parent_id) "
        "select 'KID', 'Kid', id from {departments} where code = 'OPS'",
    )
    preview = preview_rollback(db, batch.batch_id)
    assert not preview.possible
    assert [(r.table, r.column, r.referenced_key) for r in preview.references] == [
        (table_name(db, "departments"), "parent_id", "OPS")
    ]
    with pytest.raises(RollbackBlocked):
        rollback_batch(db, batch.batch_id, actor="a")
    assert len(rows("departments")) == 4


def test_another_batch_referencing_the_rows_blocks_the_rollback(db, csv_file, rows):
    """Users imported later into these departments keep the departments from being deleted."""
    departments = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    run_import(db, "users", users_file(csv_file, ["a@x.org", "A", "A", "OPS"]), actor="a")
    with pytest.raises(RollbackBlocked, match="1 row"):
        rollback_batch(db, departments.batch_id, actor="a")
    assert len(rows("departments")) == 3 and len(rows("user_departments")) == 1


@pytest.mark.parametrize("status", ["rolled_back", "failed"])
def test_batches_not_completed_cannot_be_rolled_back(db, csv_file, rows, status):
    """Rolling back a batch already rolled back, or one that failed, is refused."""
    if status == "rolled_back":
        batch_id = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a").batch_id
        rollback_batch(db, batch_id, actor="a")
    else:
        with pytest.raises(FileRejected) as caught:
            run_import(db, "departments", csv_file([["code", "name"], ["", "nameless"]]), actor="a")
        batch_id = caught.value.report.batch_id
    manual_sql(db, "insert into {departments} (code, name) values ('MAN', 'Manual')")
    before = list_history(db)
    with pytest.raises(BatchNotRollbackable, match="cannot be rolled back"):
        rollback_batch(db, batch_id, actor="b")
    assert list_history(db) == before
    assert [d["code"] for d in rows("departments")] == ["MAN"]


def test_unknown_batch_is_a_clear_error(db):
    """A batch id that no job has is named in the error."""
    with pytest.raises(BatchNotFound, match="no-such-batch"):
        rollback_batch(db, "no-such-batch", actor="a")


def test_batch_shows_its_rows_per_table(db, csv_file):
    """The batch view counts the batch's rows in each table it touched."""
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    users = run_import(
        db,
        "users",
        users_file(csv_file, ["a@x.org", "A", "A", "HQ;FIN"], ["b@x.org", "B", "B", "OPS"]),
        actor="a",
    )
    batch = get_batch(db, users.batch_id)
    assert batch.rows == per_table(db, user_departments=3, users=2)
    assert batch.job.status == "completed"


def test_preview_lists_what_would_go_and_changes_nothing(db, csv_file, rows):
    """A dry run counts the rows per table and finds no blocker; the data stays."""
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    users = run_import(
        db, "users", users_file(csv_file, ["a@x.org", "A", "A", "HQ;FIN"]), actor="a"
    )
    preview = preview_rollback(db, users.batch_id)
    assert preview.possible and preview.refusal is None and preview.references == []
    assert preview.rows == per_table(db, user_departments=2, users=1)
    assert len(rows("users")) == 1
    assert preview_rollback(db, users.batch_id).job.status == "completed"


def test_batch_with_no_rows_is_reported_and_not_marked(db):
    """A job from before batch tracking (no row carries its id) is refused, not rolled back."""
    manual_sql(
        db,
        "insert into import_history (job_id, batch_id, import_type, status) values "
        "('6f1c2f6e-4b7e-4d7c-9a43-1c5a2b0f9d11', '6f1c2f6e-4b7e-4d7c-9a43-1c5a2b0f9d11', "
        "'departments', 'completed')",
    )
    with pytest.raises(EmptyBatch, match="matches no rows"):
        rollback_batch(db, "6f1c2f6e-4b7e-4d7c-9a43-1c5a2b0f9d11", actor="a")
    assert list_history(db)[0].status == "completed"
    assert preview_rollback(db, "6f1c2f6e-4b7e-4d7c-9a43-1c5a2b0f9d11").refusal is not None


def test_failed_rollback_is_recorded_and_can_be_retried(db, csv_file, rows, failing_trigger):
    """A rollback that fails leaves the data and says rollback_failed; a retry then works."""
    allow_deletes = failing_trigger("{users}", "delete", "deletes are paused")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    users = run_import(db, "users", users_file(csv_file, ["a@x.org", "A", "A", "HQ"]), actor="a")
    with pytest.raises(RollbackRefused, match="deletes are paused"):
        rollback_batch(db, users.batch_id, actor="b")
    job = next(j for j in list_history(db) if j.batch_id == users.batch_id)
    assert job.status == "rollback_failed"
    assert "deletes are paused" in (job.error_summary or "")
    assert len(rows("users")) == 1 and len(rows("user_departments")) == 1

    allow_deletes()
    report = rollback_batch(db, users.batch_id, actor="b")
    assert report.deleted[table_name(db, "users")] == 1
    assert next(j for j in list_history(db) if j.batch_id == users.batch_id).status == "rolled_back"


def test_two_rollbacks_of_one_batch_at_once_one_wins(db, csv_file, rows):
    """Racing rollbacks of the same batch: exactly one succeeds, the other is told why."""
    batch = run_import(db, "departments", csv_file(DEPARTMENTS), actor="a")
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(rollback_batch, db, batch.batch_id, actor=f"r{i}") for i in range(2)]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(60))
            except BatchNotRollbackable as exc:
                outcomes.append(exc)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1
    assert "already" in str(errors[0])
    assert rows("departments") == []
