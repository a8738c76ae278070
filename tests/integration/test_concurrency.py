"""Imports and rollbacks running at the same time never touch each other's rows."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from batchport import (
    BatchportError,
    Database,
    FileRejected,
    ImportFailed,
    configuration,
    list_history,
    rollback_batch,
    run_import,
)
from batchport.importing.steps import CHUNK_ROWS
from tests.helpers import manual_sql, users_file

pytestmark = pytest.mark.types("shipped", "declared")

TIMEOUT = 60


class Pause:
    """A progress callback that holds the import at `phase` until released."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, phase: str, _rows: int) -> None:
        if phase == self.phase:
            self.reached.set()
            assert self.release.wait(TIMEOUT), "the test never released the import"


def departments(csv_file, prefix, count=50, name=None):
    return csv_file(
        [["code", "name"], *([f"{prefix}{i}", f"{prefix} {i}"] for i in range(count))],
        name=name or f"{prefix}.csv",
    )


def test_rollback_while_another_import_is_running(db, csv_file, rows):
    """Both imports run at once; one is rolled back while the other is still running."""
    pause_a, pause_b = Pause("started"), Pause("started")
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(
            run_import, db, "departments", departments(csv_file, "A"), actor="a", progress=pause_a
        )
        b = pool.submit(
            run_import, db, "departments", departments(csv_file, "B"), actor="b", progress=pause_b
        )
        assert pause_a.reached.wait(TIMEOUT) and pause_b.reached.wait(TIMEOUT)
        pause_a.release.set()
        first = a.result(TIMEOUT)
        assert {j.status for j in list_history(db)} == {"completed", "running"}

        rollback_batch(db, first.batch_id, actor="c")

        pause_b.release.set()
        second = b.result(TIMEOUT)
    remaining = rows("departments")
    assert len(remaining) == 50
    assert {d["import_batch_id"] for d in remaining} == {second.batch_id}
    assert {j.batch_id: j.status for j in list_history(db)} == {
        first.batch_id: "rolled_back",
        second.batch_id: "completed",
    }


def test_rollback_waits_for_an_import_that_is_loading(db, csv_file, rows):
    """A rollback started while another import writes neither blocks it forever nor loses rows."""
    first = run_import(db, "departments", departments(csv_file, "A"), actor="a")
    pause = Pause("loading")
    with ThreadPoolExecutor(2) as pool:
        loading = pool.submit(
            run_import, db, "departments", departments(csv_file, "B"), actor="b", progress=pause
        )
        assert pause.reached.wait(TIMEOUT)
        rolling_back = pool.submit(rollback_batch, db, first.batch_id, actor="c")
        time.sleep(0.3)
        pause.release.set()
        second = loading.result(TIMEOUT)
        rolling_back.result(TIMEOUT)
    assert {d["import_batch_id"] for d in rows("departments")} == {second.batch_id}
    assert len(rows("departments")) == 50


def test_a_department_deleted_while_users_load_is_named_and_nothing_is_linked(db, csv_file, rows):
    """A file's first chunk of users is written; then TMP, which only a user in the next
    chunk names, is deleted by hand (committed). The import links nobody to a department
    that is gone: it rejects the file, naming that user's row, column and value, and
    writes nothing."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is deleted while an import writes")
    run_import(db, "departments", departments(csv_file, "D", count=2), actor="a")
    manual_sql(db, "INSERT INTO {departments} (code, name) VALUES ('TMP', 'Temporary')")
    first = ([f"u{i}@x.org", "U", "X", "D0;D1"] for i in range(CHUNK_ROWS))
    path = users_file(csv_file, *first, ["last@x.org", "L", "X", "D1;TMP"])
    pause = Pause("loading")
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(run_import, db, "users", path, actor="u", progress=pause)
        assert pause.reached.wait(TIMEOUT)
        manual_sql(db, "DELETE FROM {departments} WHERE code = 'TMP'")
        pause.release.set()
        with pytest.raises(BatchportError) as caught:
            loading.result(TIMEOUT)
    assert isinstance(caught.value, FileRejected), caught.value
    [error] = caught.value.errors
    assert (error.row, error.column, error.value) == (CHUNK_ROWS + 2, "department_codes", "TMP")
    assert rows("users") == [] and rows("user_departments") == []


def test_two_imports_of_the_same_key_yield_one_row_and_one_failure(db, csv_file, rows):
    """Overlapping keys from concurrent imports: one wins, the other fails whole and says why."""
    pause = Pause("loading")
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(
            run_import,
            db,
            "departments",
            departments(csv_file, "X", 5, "one.csv"),
            actor="a",
            progress=pause,
        )
        assert pause.reached.wait(TIMEOUT)
        other = pool.submit(
            run_import, db, "departments", departments(csv_file, "X", 5, "two.csv"), actor="b"
        )
        time.sleep(0.3)
        pause.release.set()
        outcomes = []
        for future in (held, other):
            try:
                outcomes.append(future.result(TIMEOUT))
            except (FileRejected, ImportFailed) as exc:
                outcomes.append(exc)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert "already exists" in str(getattr(losers[0], "errors", "")) or "conflicts" in str(
        losers[0]
    )
    assert {d["import_batch_id"] for d in rows("departments")} == {winners[0].batch_id}
    assert len(rows("departments")) == 5
    assert sorted(j.status for j in list_history(db)) == ["completed", "failed"]


def test_failure_in_the_middle_of_loading_leaves_nothing(db, csv_file, rows, failing_trigger):
    """Users are inserted, then a link fails: no user or link remains and the job is failed."""
    failing_trigger(
        "{user_departments}", "insert", "injected failure", when="new.is_primary = false"
    )
    run_import(
        db,
        "departments",
        csv_file([["code", "name"], ["A", "a"], ["B", "b"]], name="d.csv"),
        actor="a",
    )
    path = csv_file(
        [
            ["email", "first_name", "last_name", "department_codes"],
            ["one@x.org", "One", "X", "A"],
            ["two@x.org", "Two", "X", "A;B"],
        ],
        name="u.csv",
    )
    with pytest.raises(ImportFailed, match="injected failure") as caught:
        run_import(db, "users", path, actor="a")
    assert rows("users") == [] and rows("user_departments") == []
    job = next(j for j in list_history(db) if j.batch_id == caught.value.batch_id)
    assert job.status == "failed"
    assert "injected failure" in (job.error_summary or "")


@pytest.mark.types("declared", reason="the shipped types are there before any thread starts")
def test_imports_starting_at_once_read_the_types_file_once(database_url, types_file, csv_file):
    """Imports started at once on a database whose types are read from the database on first
    use: the types are read once, and every import runs."""
    reads = []

    def catalog(engine):
        reads.append(engine)
        return configuration.find(types_file).catalog(engine)

    db = Database.from_url(database_url, catalog=catalog)
    files = [departments(csv_file, f"T{n}", 5) for n in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            reports = list(
                pool.map(lambda path: run_import(db, "departments", path, actor="a"), files)
            )
    finally:
        db.dispose()
    assert len(reads) == 1
    assert [r.status for r in reports] == ["completed"] * 4
