"""What the open-world tests share: application tables of their own, and ways to hold another
writer at a chosen point (a row lock, and a look at who waits for it)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from batchport import BatchportError, ImportReport, run_import
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


def update_users(db, csv_file, *users: list[str], name: str = "update.csv") -> ImportReport:
    """Imports `users` (email, first name, last name, department codes) with
    `--on-existing update`, as actor b."""
    return run_import(
        db, "users", users_file(csv_file, *users, name=name), actor="b", on_existing="update"
    )
