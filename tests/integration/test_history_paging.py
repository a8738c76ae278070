"""A long history pages as fast as a short one: a page of jobs, newest first, is read in the
order of an index, not sorted from the whole table (the query plan says so)."""

from __future__ import annotations

import datetime as dt
import uuid

from batchport import list_history
from batchport.history import JobFilter, page_of_jobs
from batchport.schema import import_history

JOBS = 10_000
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_page_of_ten_thousand_jobs_is_read_from_the_index(db):
    with db.connect() as conn, conn.begin():
        conn.execute(
            import_history.insert(),
            [
                {
                    "job_id": str(uuid.UUID(int=i + 1)),
                    "batch_id": f"b{i}",
                    "import_type": "departments",
                    "status": "completed",
                    "started_at": START + dt.timedelta(seconds=i),
                }
                for i in range(JOBS)
            ],
        )
        if db.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE import_history")
    compiled = page_of_jobs(JobFilter(), limit=50, offset=100).compile(
        db.engine, compile_kwargs={"literal_binds": True}
    )
    explain = "EXPLAIN" if db.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
    with db.connect() as conn:
        plan = " ".join(str(r) for r in conn.exec_driver_sql(f"{explain} {compiled}").all())
    assert "import_history_started_at_index" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    page = list_history(db, limit=50, offset=100)
    assert [job.batch_id for job in page] == [f"b{i}" for i in range(JOBS - 101, JOBS - 151, -1)]
