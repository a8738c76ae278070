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
