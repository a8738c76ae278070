"""What the tests share: throwaway PostgreSQL databases, sample rows and files, SQL run as
another program would, application tables of their own, ways to hold another writer at a
chosen point, the API's upload and wait, and a real server. Test modules import from here,
never from each other."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import sqlalchemy as sa
import xlsxwriter

from batchport import BatchportError, ImportReport, run_import
from batchport.schema import departments, import_history, user_departments, users

#: The server tests create their databases on; CI must reach it (a failure, never a skip).
ADMIN_URL = os.environ.get(
    "BATCHPORT_TEST_ADMIN_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)

TABLES = {
    "departments": departments,
    "users": users,
    "user_departments": user_departments,
    "import_history": import_history,
}


def _admin() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def create_pg_database(template: str | None = None) -> str:
    """Creates an empty (or templated) PostgreSQL database; returns its URL."""
    name = f"batchport_test_{uuid.uuid4().hex[:16]}"
    admin = _admin()
    with admin.connect() as conn:
        suffix = f" TEMPLATE {template}" if template else ""
        conn.exec_driver_sql(f"CREATE DATABASE {name}{suffix}")
    admin.dispose()
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drops a database made by `create_pg_database`, closing whatever still uses it."""
    name = sa.make_url(url).database
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


DEPARTMENTS = [
    ["code", "name", "parent_code"],
    ["HQ", "Headquarters", ""],
    ["FIN", "Finance", "HQ"],
    ["OPS", "Operations", "HQ"],
]


def manual_sql(db, statement):
    """Runs SQL as another program would; `inventory.` is dropped on SQLite."""
    if db.dialect.name != "postgresql":
        statement = statement.replace("inventory.", "")
    with db.connect() as conn, conn.begin():
        return conn.exec_driver_sql(statement)


def users_file(csv_file, *users, name="users.csv"):
    header = ["email", "first_name", "last_name", "department_codes"]
    return csv_file([header, *users], name=name)


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


#: How long a test waits for the worker.
WAIT = 30


def upload(api, who: str, text: str, import_type: str = "departments", **form: str):
    """Uploads CSV text as a file; returns the response."""
    return api(
        who,
        "POST",
        "/sessions",
        data={"import_type": import_type, **form},
        files={"file": ("data.csv", text.encode(), "text/csv")},
    )


def wait_for(api, who: str, session_id: str, *statuses: str) -> dict:
    """Polls the session until it reaches one of `statuses`; returns it."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = api(who, "GET", f"/sessions/{session_id}").json()
        if found["status"] in statuses:
            return found
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} stayed {found['status']}")


DEPARTMENTS_CSV = "code,name,parent_code\nHQ,Headquarters,\nFIN,Finance,HQ\n"


#: How long a real server may take to start or to finish a session (seconds).
SERVER_WAIT = 60


class Server:
    """`batchport serve` in its own process."""

    def __init__(
        self, url: str, token: str, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "batchport", "serve", "--port", str(self.port), *extra],
            env={**os.environ, "BATCHPORT_DATABASE_URL": url, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        deadline = time.monotonic() + SERVER_WAIT
        while time.monotonic() < deadline:
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def upload(self, text: str) -> dict:
        answer = self.client.post(
            "/sessions",
            data={"import_type": "departments"},
            files={"file": ("d.csv", text.encode(), "text/csv")},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def wait(self, session_id: str, *statuses: str) -> dict:
        deadline = time.monotonic() + SERVER_WAIT
        while time.monotonic() < deadline:
            found = self.client.get(f"/sessions/{session_id}").json()
            if found["status"] in statuses:
                return found
            time.sleep(0.1)
        raise AssertionError(f"session stayed {found['status']}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.client.close()
        self.process.send_signal(sig)
        self.process.wait(timeout=SERVER_WAIT)


#: The parts of a workbook that the bombs below fill.
SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"


def plain_parts() -> dict[str, bytes]:
    """The parts of a real workbook: sheet departments, code and name, one row (A, Alpha)."""
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data, {"in_memory": True})
    sheet = book.add_worksheet("departments")
    sheet.write_row(0, 0, ["code", "name"])
    sheet.write_row(1, 0, ["A", "Alpha"])
    book.close()
    with zipfile.ZipFile(data) as archive:
        return {entry.filename: archive.read(entry) for entry in archive.infolist()}


def whitespace_bomb(path: Path, megabytes: int) -> Path:
    """The workbook with `megabytes` MiB of spaces in its sheet, written as a stream."""
    parts = plain_parts()
    head, tail = parts[SHEET].split(b"<sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            if name != SHEET:
                archive.writestr(name, data)
                continue
            with archive.open(name, "w", force_zip64=True) as part:
                part.write(head + b"<sheetData>")
                for _ in range(megabytes):
                    part.write(b" " * (1 << 20))
                part.write(tail)
    return path


def copies_bomb(path: Path, cells: int) -> Path:
    """The workbook with one shared string of 1 MiB (a run of one letter, so it packs small),
    which `cells` cells of column B refer to."""
    parts = plain_parts()
    parts[STRINGS] = parts[STRINGS].replace(b"<t>Alpha</t>", b"<t>" + b"x" * (1 << 20) + b"</t>")
    rows = b"".join(
        b'<row r="%d"><c r="B%d" t="s"><v>3</v></c></row>' % (row, row)
        for row in range(3, cells + 2)
    )
    parts[SHEET] = parts[SHEET].replace(b"</sheetData>", rows + b"</sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path
