"""The history is append-only for the application and for anyone else: a job's rows are
never deleted, its facts never rewritten, and its status only moves forward."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from batchport import list_history, rollback_batch, run_import
from tests.helpers import DEPARTMENTS


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM import_history",
        "UPDATE import_history SET imported_by = 'mallory'",
        "UPDATE import_history SET batch_id = 'other'",
        "UPDATE import_history SET status = 'running'",
        "UPDATE import_history SET status = 'failed'",
        "UPDATE import_history SET rows_imported = 0",
        "UPDATE import_history SET completed_at = NULL",
        "UPDATE import_history SET rolled_back_by = 'mallory'",
        "UPDATE import_history SET imported_via = 'api'",
        "UPDATE import_history SET worker = 'elsewhere'",
        # Moving forward does not open the import's counts or the rollback's end again.
        "UPDATE import_history SET status = 'rolling_back', rows_imported = 0",
        "UPDATE import_history SET status = 'rolling_back', rolled_back_at = completed_at",
    ],
)
def test_history_refuses_rewrites(db, csv_file, statement):
    """Whoever runs it, the statement fails and the job's row stays as it was."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice")
    [before] = list_history(db)
    refused = pytest.raises(sa.exc.DatabaseError, match=r"append-only|moves forward")
    with refused, db.connect() as conn, conn.begin():
        conn.exec_driver_sql(statement)
    assert list_history(db) == [before]
    assert before.batch_id == report.batch_id


def test_the_way_forward_is_open(db, csv_file):
    """completed -> rolling_back -> rolled_back goes through the guard."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice")
    rollback_batch(db, report.batch_id, actor="alice")
    [job] = list_history(db)
    assert (job.status, job.imported_by, job.rolled_back_by) == ("rolled_back", "alice", "alice")


def test_a_finished_rollback_keeps_who_did_it(db, csv_file):
    """Once rolled back, the job's rollback fields are written for good."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice")
    rollback_batch(db, report.batch_id, actor="bob", reason="wrong file")
    [before] = list_history(db)
    for statement in (
        "UPDATE import_history SET rolled_back_by = 'mallory'",
        "UPDATE import_history SET rollback_reason = 'nothing to see'",
        "UPDATE import_history SET rolled_back_at = started_at",
    ):
        refused = pytest.raises(sa.exc.DatabaseError, match="moves forward")
        with refused, db.connect() as conn, conn.begin():
            conn.exec_driver_sql(statement)
    assert list_history(db) == [before]
    assert (before.rolled_back_by, before.rollback_reason) == ("bob", "wrong file")


@pytest.mark.parametrize("table", ["audit_log", "import_history"])
def test_truncate_is_refused(db, csv_file, table):
    """TRUNCATE (PostgreSQL's; SQLite has none) cannot empty the audit log or the history."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE triggers refuse (tested above)")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="alice")
    refused = pytest.raises(sa.exc.DatabaseError, match="append-only")
    with refused, db.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"TRUNCATE {table} CASCADE")
    with db.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one() >= 1
