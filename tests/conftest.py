"""Fixtures shared by every test: throwaway SQLite and PostgreSQL databases, file factories.

PostgreSQL databases are copies of a template migrated once per test session
(`CREATE DATABASE ... TEMPLATE ...`), so each test starts from a fresh, migrated schema.
The server is never assumed to be ours alone: every database gets a unique name.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
import xlsxwriter
from typer.testing import CliRunner

from batchport import BUILTIN_TYPES, Database, migrations
from batchport.cli import app
from tests.helpers import ADMIN_URL, TABLES, create_pg_database, drop_pg_database


@pytest.fixture(scope="session")
def postgresql_template() -> Iterator[str]:
    """A migrated PostgreSQL database that per-test databases copy."""
    try:
        url = create_pg_database()
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the tests and unreachable at {ADMIN_URL}: {exc}")
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    with db.connect() as conn:
        migrations.upgrade(conn)
        conn.commit()
    db.dispose()
    yield sa.make_url(url).database or ""
    drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that per-test databases copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database.from_url(f"sqlite:///{path}", catalog=BUILTIN_TYPES)
    db.ensure_ready()
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database of each kind."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "batchport.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = create_pg_database(request.getfixturevalue("postgresql_template"))
    yield url
    drop_pg_database(url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The fresh database, opened as batchport opens it."""
    database = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    yield database
    database.dispose()


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    """Writes rows (the first is the header) to a CSV file and returns its path."""

    def write(rows: Sequence[Sequence[object]], name: str = "data.csv", **fmt: object) -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding=str(fmt.pop("encoding", "utf-8"))) as stream:
            csv.writer(stream, **fmt).writerows(rows)  # type: ignore[arg-type]
        return path

    return write


@pytest.fixture
def xlsx_file(tmp_path: Path) -> Callable[..., Path]:
    """Writes sheets ({name: rows}) to an XLSX workbook and returns its path."""

    def write(sheets: dict[str, Sequence[Sequence[object]]], name: str = "data.xlsx") -> Path:
        path = tmp_path / name
        workbook = xlsxwriter.Workbook(str(path))
        for sheet, rows in sheets.items():
            worksheet = workbook.add_worksheet(sheet)
            for index, row in enumerate(rows):
                worksheet.write_row(index, 0, row)
        workbook.close()
        return path

    return write


@pytest.fixture
def rows(db: Database) -> Callable[..., list[dict[str, object]]]:
    """The rows of a table (by name) as dicts, ordered by their first column."""

    def read(table: str, **where: object) -> list[dict[str, object]]:
        target = TABLES[table]
        query = sa.select(target).order_by(*target.primary_key.columns)
        for column, value in where.items():
            query = query.where(target.c[column] == value)
        with db.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    return read


@pytest.fixture
def cli(database_url: str) -> Callable[..., object]:
    """Runs the batchport CLI in-process against the fresh database."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> object:
        return runner.invoke(app, ["--database-url", database_url, *args], input=input)

    return run


@pytest.fixture
def failing_trigger(db: Database) -> Callable[..., Callable[[], None]]:
    """Installs a trigger that fails `event` on `table` (where `when` holds) with `message`.

    Returns a function that drops it again: the database's own way to inject a fault.
    """

    def install(table: str, event: str, message: str, when: str = "") -> Callable[[], None]:
        name = f"fail_{table}_{event}".lower()
        with db.connect() as conn, conn.begin():
            if db.dialect.name == "postgresql":
                conn.exec_driver_sql(
                    f"create function {name}() returns trigger language plpgsql as $$ begin "
                    f"raise exception '{message}'; end $$"
                )
                condition = f"when ({when})" if when else ""
                conn.exec_driver_sql(
                    f"create trigger {name} before {event} on {table} for each row "
                    f"{condition} execute function {name}()"
                )
            else:
                condition = f"when {when.replace('false', '0')}" if when else ""
                conn.exec_driver_sql(
                    f"create trigger {name} before {event} on {table} {condition} "
                    f"begin select raise(abort, '{message}'); end"
                )

        def drop() -> None:
            with db.connect() as conn, conn.begin():
                on_table = f" on {table}" if db.dialect.name == "postgresql" else ""
                conn.exec_driver_sql(f"drop trigger {name}{on_table}")

        return drop

    return install
