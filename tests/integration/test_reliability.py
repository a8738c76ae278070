"""The reliability suite: many imports, rollbacks and hand edits at once, then an invariant
checker; and faults — a dropped connection, a full disk.

Each seed plans its own mix of operations (overlapping keys included), runs them on a thread
pool against one database, and checks that every outcome was a result or a clear batchport
error, and that the data and the history agree afterwards.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchport import (
    Database,
    FileRejected,
    ImportFailed,
    ImportReport,
    JobFilter,
    RollbackRefused,
    list_history,
    rollback_batch,
    run_import,
)
from batchport.schema import import_changes, import_history
from tests.helpers import DEPARTMENTS, like, per_table, tables

pytestmark = pytest.mark.types("shipped", "declared")

IMPORTS = 32
ROLLBACKS = 12
MANUAL = 12
#: Orders an application writes by hand for imported users, and rollbacks raced by an update
#: import of the rows of the batch they take back.
ORDERS = 8
RACES = 4
BASE_CODES = ["HQ", "FIN", "OPS"]


@dataclass
class Plan:
    """What one seed runs, and what came of it."""

    seed: int
    folder: Path
    outcomes: Counter[str] = field(default_factory=Counter)
    reports: dict[str, ImportReport] = field(default_factory=dict)
    manual_users: list[str] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, outcome: str, report: ImportReport | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if report is not None and report.batch_id:
                self.reports[report.batch_id] = report


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path


def plan_operations(db: Database, plan: Plan) -> list:
    """The seed's operations, shuffled: imports (users and departments, keys overlapping),
    rollbacks of whatever batch has completed by then, manual inserts and edits."""
    rng = random.Random(plan.seed)  # noqa: S311 - a test plan, not a secret
    operations = []
    for number in range(IMPORTS):
        if rng.random() < 0.3:
            codes = rng.sample(range(40), rng.randint(2, 6))
            rows = [
                [f"N{c}", f"Unit {c}", rng.choice(BASE_CODES), rng.choice(["yes", "no"])]
                for c in codes
            ]
            header = ["code", "name", "parent_code", "is_active"]
            path = write_csv(plan.folder / f"d{number}.csv", header, rows)
            operations.append(("import", "departments", path, "error"))
        else:
            emails = rng.sample(range(400), rng.randint(3, 40))
            rows = [
                [f"p{e}@x.org", rng.choice(["Ann", "Bo", "Cy"]), f"L{e}", _codes(rng)]
                for e in emails
            ]
            header = ["email", "first_name", "last_name", "department_codes"]
            path = write_csv(plan.folder / f"u{number}.csv", header, rows)
            mode = rng.choice(["error", "error", "update", "skip"])
            operations.append(("import", "users", path, mode))
    operations += [("rollback", rng.random()) for _ in range(ROLLBACKS)]
    operations += [("manual_user", n, rng.choice(BASE_CODES)) for n in range(MANUAL // 2)]
    operations += [("manual_edit", rng.random()) for _ in range(MANUAL - MANUAL // 2)]
    operations += [("order", n, rng.random()) for n in range(ORDERS)]
    operations += [("race", n, rng.random()) for n in range(RACES)]
    rng.shuffle(operations)
    return operations


def _codes(rng: random.Random) -> str:
    return ";".join(rng.sample(BASE_CODES, rng.randint(1, 3)))


def run_operation(db: Database, plan: Plan, operation: tuple) -> None:
    """Runs one operation, noting its outcome; anything but a result or a clear batchport
    error is noted as a crash."""
    try:
        {
            "import": _import,
            "rollback": _rollback,
            "manual_user": _manual_user,
            "manual_edit": _manual_edit,
            "order": _order,
            "race": _race,
        }[operation[0]](db, plan, *operation[1:])
    except Exception as exc:  # anything else is a crash the suite must not see
        with plan.lock:
            plan.crashes.append(f"{operation[:2]}: {type(exc).__name__}: {exc}")


def _import(db: Database, plan: Plan, import_type: str, path: Path, mode: str) -> None:
    try:
        report = run_import(db, import_type, path, actor="load", on_existing=mode)
        plan.note("import completed", report)
    except FileRejected as exc:
        if not all("already exists" in e.message for e in exc.errors):
            raise AssertionError(exc.errors[:3]) from exc
        plan.note("import rejected: key taken by another import")
    except ImportFailed as exc:
        if "meanwhile" not in str(exc):
            raise AssertionError(str(exc)) from exc
        plan.note("import failed: key taken meanwhile, reported")


def _rollback(db: Database, plan: Plan, pick: float, batch_id: str | None = None) -> None:
    batch_id = batch_id or _completed_batch(plan, pick)
    if batch_id is None:
        plan.note("rollback skipped: nothing completed yet")
        return
    try:
        rollback_batch(db, batch_id, actor="undo")
        plan.note("rollback done")
    except RollbackRefused as exc:
        reason = type(exc).__name__
        if type(exc) is RollbackRefused:  # failed while deleting: say how
            reason += f" ({str(exc).partition('(')[2][:60]})"
        plan.note(f"rollback refused: {reason}")


def the_tables(db: Database) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The database's departments and users tables, and the users' link table."""
    found = tables(db)
    return found["departments"], found["users"], found["user_departments"]


def _manual_user(db: Database, plan: Plan, number: int, code: str) -> None:
    departments, users, user_departments = the_tables(db)
    email = f"manual{number}@x.org"
    # Another program writing: on SQLite it too must take the write lock up front.
    with db.connect() as conn, db.dialect.begin_write(conn):
        user_id = conn.execute(
            users.insert()
            .values(email=email, first_name="By", last_name="Hand")
            .returning(users.c.id)
        ).scalar_one()
        department = conn.execute(
            sa.select(departments.c.id).where(departments.c.code == code)
        ).scalar_one()
        conn.execute(user_departments.insert().values(user_id=user_id, department_id=department))
    with plan.lock:
        plan.manual_users.append(email)
    plan.note("manual user inserted")


def _manual_edit(db: Database, plan: Plan, pick: float) -> None:
    _, users, _ = the_tables(db)
    with db.connect() as conn, db.dialect.begin_write(conn):
        imported = (
            conn.execute(sa.select(users.c.id).where(users.c.import_batch_id.is_not(None)))
            .scalars()
            .all()
        )
        if imported:
            target = imported[int(pick * len(imported))]
            conn.execute(users.update().where(users.c.id == target).values(last_name="Edited"))
    plan.note("manual edit")


def orders_table(db: Database) -> sa.Table:
    """The application's own table: orders of users, deleted with their user by the
    database."""
    _, users, _ = the_tables(db)
    return sa.Table(
        "app_orders",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey(users.c.id, ondelete="CASCADE")),
    )


def _order(db: Database, plan: Plan, number: int, pick: float) -> None:
    """The application records an order for an imported user (if that user is still there
    by the time it commits)."""
    _, users, _ = the_tables(db)
    try:
        with db.connect() as conn, db.dialect.begin_write(conn):
            imported = (
                conn.execute(sa.select(users.c.id).where(users.c.import_batch_id.is_not(None)))
                .scalars()
                .all()
            )
            if not imported:
                plan.note("order skipped: no imported user yet")
                return
            user_id = imported[int(pick * len(imported))]
            conn.execute(orders_table(db).insert().values(id=number + 1, user_id=user_id))
    except sa.exc.IntegrityError:
        plan.note("order refused: its user was rolled back first")
        return
    with plan.lock:
        plan.orders.append(number + 1)
    plan.note("order written")


def _race(db: Database, plan: Plan, number: int, pick: float) -> None:
    """A rollback of a users batch and an update import of that batch's rows, at once."""
    batch_id = _completed_batch(plan, pick, kind="users")
    if batch_id is None:
        plan.note("race skipped: nothing completed yet")
        return
    _, users, _ = the_tables(db)
    with db.connect() as conn:
        emails = (
            conn.execute(
                sa.select(users.c.email).where(users.c.import_batch_id == batch_id).limit(5)
            )
            .scalars()
            .all()
        )
    rows = [[email, "Raced", f"R{number}", "HQ"] for email in emails]
    header = ["email", "first_name", "last_name", "department_codes"]
    path = write_csv(
        plan.folder / f"race{number}.csv", header, rows or [["r@x.org", "R", "R", "HQ"]]
    )
    with ThreadPoolExecutor(2) as pool:
        updating = pool.submit(_import, db, plan, "users", path, "update")
        _rollback(db, plan, pick, batch_id=batch_id)
        updating.result()


def _completed_batch(plan: Plan, pick: float, kind: str | None = None) -> str | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with plan.lock:
            done = sorted(b for b, r in plan.reports.items() if kind in (None, r.import_type))
        if done:
            return done[int(pick * len(done))]
        time.sleep(0.05)
    return None


def invariant_violations(db: Database, plan: Plan) -> list[str]:
    """What is wrong with the data and history after the run (nothing, it is hoped)."""
    departments, users, user_departments = the_tables(db)
    found: list[str] = []
    with db.connect() as conn:
        jobs = conn.execute(sa.select(import_history)).mappings().all()
        known = {job["batch_id"] for job in jobs}
        for job in jobs:
            batch = job["batch_id"]
            held = {table.name: _count(conn, table, batch) for table in (departments, users)}
            status = job["status"]
            if status in {"running", "rolling_back"}:
                found.append(f"job {batch} left {status}")
            elif status in {"rolled_back", "failed"}:
                if any(held.values()):
                    found.append(f"{status} batch {batch} still holds rows: {held}")
            elif batch in plan.reports:  # completed, or a refused rollback (data unchanged)
                created = plan.reports[batch].created
                expected = {t: created.get(t, 0) for t in held}
                if held != expected:
                    found.append(f"{status} batch {batch} holds {held}, created {expected}")
        strays = conn.execute(
            sa.select(users.c.import_batch_id).where(
                users.c.import_batch_id.is_not(None), users.c.import_batch_id.not_in(known)
            )
        ).all()
        if strays:
            found.append(f"rows of unknown batches: {strays[:3]}")
        manual = set(
            conn.execute(
                sa.select(users.c.email).where(users.c.import_batch_id.is_(None))
            ).scalars()
        )
        if missing := set(plan.manual_users) - manual:
            found.append(f"manual rows lost: {sorted(missing)}")
        dangling = conn.execute(
            sa.select(sa.func.count())
            .select_from(user_departments)
            .outerjoin(users, users.c.id == user_departments.c.user_id)
            .outerjoin(departments, departments.c.id == user_departments.c.department_id)
            .where(sa.or_(users.c.id.is_(None), departments.c.id.is_(None)))
        ).scalar_one()
        if dangling:
            found.append(f"{dangling} dangling links")
        found += _orders_lost(conn, orders_table(db), plan)
        found += _counts_disagree(conn, plan, jobs)
        for table, key in ((users, users.c.email), (departments, departments.c.code)):
            repeated = conn.execute(sa.select(key).group_by(key).having(sa.func.count() > 1)).all()
            if repeated:
                found.append(f"duplicate keys in {table.name}: {repeated[:3]}")
    return found


def _orders_lost(conn: sa.Connection, orders: sa.Table, plan: Plan) -> list[str]:
    """Orders the application wrote that a rollback took (cascaded) or blanked."""
    if not sa.inspect(conn).has_table(orders.name):
        return []
    kept = dict(conn.execute(sa.select(orders.c.id, orders.c.user_id)).all())
    lost = [n for n in plan.orders if kept.get(n) is None]
    return [f"orders lost or blanked: {lost}"] if lost else []


def _counts_disagree(conn: sa.Connection, plan: Plan, jobs: list) -> list[str]:
    """Jobs whose history counts differ from their report, or from the change log."""
    found = []
    for job in jobs:
        report = plan.reports.get(job["batch_id"])
        if report is None or job["status"] not in {"completed", "rolled_back", "rollback_failed"}:
            continue
        said = (report.rows_imported, report.updated, report.unchanged, report.skipped)
        recorded = (
            job["rows_imported"],
            job["rows_updated"],
            job["rows_unchanged"],
            job["rows_skipped"],
        )
        logged = conn.execute(
            sa.select(sa.func.count()).where(import_changes.c.batch_id == job["batch_id"])
        ).scalar_one()
        if said != recorded or logged != report.updated:
            found.append(
                f"batch {job['batch_id']}: report {said}, history {recorded}, log {logged}"
            )
    return found


def _count(conn: sa.Connection, table: sa.Table, batch: str) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(table).where(table.c.import_batch_id == batch)
    ).scalar_one()


#: Seed 3's plan had most rollbacks blocked by the rows other operations point at (1 to 5 of
#: 12 done over ten runs, none once under CI's load): it then proves no rollback at all.
@pytest.mark.parametrize("seed", [1, 2, 7])
def test_concurrent_operations_keep_every_invariant(db, database_url, csv_file, tmp_path, seed):
    """32 imports (users and departments, overlapping keys, error/skip/update), 12 rollbacks
    and 12 manual inserts and edits, on 6 threads at once: every outcome is a result or a
    clear error, and afterwards the data and the history agree."""
    if database_url.startswith("sqlite") and seed != 1:
        pytest.skip("SQLite runs one seed: its writers queue, so more seeds add little")
    departments_path = csv_file(
        [*DEPARTMENTS, *[[f"X{i}", f"Extra {i}", "HQ"] for i in range(3)]], name="base.csv"
    )
    base = run_import(db, "departments", departments_path, actor="setup")
    with db.connect() as conn, conn.begin():
        orders_table(db).create(conn)
    plan = Plan(seed, tmp_path)
    operations = plan_operations(db, plan)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda op: run_operation(db, plan, op), operations))
    assert plan.crashes == []
    plan.reports[base.batch_id] = base  # never a rollback's target: every user points at it
    assert invariant_violations(db, plan) == []
    skipped = plan.outcomes["race skipped: nothing completed yet"]
    assert (
        sum(plan.outcomes.values()) == IMPORTS + ROLLBACKS + MANUAL + ORDERS + 2 * RACES - skipped
    )
    assert plan.outcomes["import completed"] >= IMPORTS // 3
    assert plan.outcomes["rollback done"] >= 1
    statuses = Counter(job.status for job in list_history(db, limit=1000))
    print(f"\nseed {seed} ({db.dialect.name}): {dict(plan.outcomes)}; history {dict(statuses)}")


def test_the_invariant_checker_sees_broken_data(db, csv_file, tmp_path):
    """The checker is not blind: a lost manual row, a row of an unknown batch, a job left
    running, a completed batch missing a row, an application's order lost or blanked and a
    history count that is not the report's are all reported."""
    report = run_import(db, "departments", csv_file(DEPARTMENTS), actor="setup")
    plan = Plan(
        0,
        tmp_path,
        # A report whose count is not the history's (which no one may rewrite any more).
        reports={report.batch_id: dataclasses.replace(report, updated=5)},
        manual_users=["gone@x.org"],
        orders=[1, 2, 3],
    )
    departments, users, _ = the_tables(db)
    orders = orders_table(db)
    with db.connect() as conn, conn.begin():
        orders.create(conn)
        conn.execute(orders.insert(), [{"id": 1, "user_id": None}, {"id": 2, "user_id": None}])
        conn.execute(
            users.insert().values(
                email="stray@x.org", first_name="S", last_name="T", import_batch_id="nobody"
            )
        )
        conn.execute(departments.delete().where(departments.c.code == "OPS"))
        conn.execute(
            import_history.insert().values(
                job_id="00000000-0000-0000-0000-000000000001",
                batch_id="left-running",
                import_type="users",
                status="running",
            )
        )
    assert invariant_violations(db, plan) == [
        f"completed batch {report.batch_id} holds {per_table(db, departments=2, users=0)}, "
        f"created {per_table(db, departments=3, users=0)}",
        "job left-running left running",
        "rows of unknown batches: [('nobody',)]",
        "manual rows lost: ['gone@x.org']",
        "orders lost or blanked: [1, 2, 3]",
        f"batch {report.batch_id}: report (3, 5, 0, 0), history (3, 0, 0, 0), log 0",
    ]


def big_users_file(folder: Path, count: int = 60_000) -> Path:
    path = folder / "many.csv"
    with path.open("w") as stream:
        stream.write("email,first_name,last_name,department_codes\n")
        stream.writelines(f"u{i}@example.org,U,{i},HQ;FIN\n" for i in range(count))
    return path


def test_connection_dropped_mid_load(db, database_url, global_options, csv_file, tmp_path, rows):
    """The server ends the import's connection while it loads (`pg_terminate_backend`): no
    row is kept, the job ends `failed` with the reason, and the user gets one clear line."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's own fault: ending a backend")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="setup")
    command = ["import", "users", str(big_users_file(tmp_path))]
    process = subprocess.Popen(
        [sys.executable, "-m", "batchport", *global_options, *command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loading = sa.text(
        "select pid from pg_stat_activity where datname = current_database() "
        "and pid <> pg_backend_pid() and query ilike :copy"
    ).bindparams(copy=like(db, "copy%{users}%"))
    killed = False
    deadline = time.monotonic() + 60
    with db.connect() as conn:
        while not killed and time.monotonic() < deadline and process.poll() is None:
            for pid in conn.execute(loading).scalars():
                killed |= conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()
            conn.commit()
    _, stderr = process.communicate(timeout=60)
    assert killed
    assert process.returncode == 1
    assert stderr.startswith("error: the database failed while loading: the connection is lost")
    assert len(stderr.strip().splitlines()) == 1
    assert rows("users") == [] and rows("user_departments") == []
    [job] = list_history(db, JobFilter(import_type="users"))
    assert job.status == "failed" and "connection is lost" in job.error_summary


def test_sqlite_out_of_space(db, database_url, csv_file, tmp_path, rows):
    """The disk fills up mid-import (`PRAGMA max_page_count`): no row is kept, the error says
    so, the job ends `failed`, and the database file passes `PRAGMA integrity_check`."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's own fault: a full database file")
    run_import(db, "departments", csv_file(DEPARTMENTS), actor="setup")
    with db.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    db.engine.dispose()
    cap = pages + 40  # room for the history row, not for 60,000 users

    def capped(connection, _record):
        connection.execute(f"PRAGMA max_page_count = {cap}")

    sa.event.listen(db.engine, "connect", capped)
    with pytest.raises(ImportFailed, match="database or disk is full"):
        run_import(db, "users", big_users_file(tmp_path), actor="load")
    sa.event.remove(db.engine, "connect", capped)
    db.engine.dispose()
    assert rows("users") == [] and rows("user_departments") == []
    [job] = list_history(db, JobFilter(import_type="users"))
    assert job.status == "failed" and "full" in job.error_summary
    with db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
