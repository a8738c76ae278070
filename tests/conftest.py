"""Fixtures shared by every test: throwaway SQLite and PostgreSQL databases, file factories.

PostgreSQL databases are copies of a template migrated once per test session
(`CREATE DATABASE ... TEMPLATE ...`), so each test starts from a fresh, migrated schema.
The server is never assumed to be ours alone: every database gets a unique name.

A database holds the shipped import types, departments and users over batchport's own tables;
a module (or test) marked `types("shipped", "declared")` runs on databases that hold, besides,
an application's own tables (tracked, made once per session in a template of their own) with
the same types declared over them in a types file, opened as the CLI opens it (`--config`).
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

from batchport import BUILTIN_TYPES, Catalog, Database, configuration, migrations
from batchport.cli import app
from tests.helpers import (
    ADMIN_URL,
    create_pg_database,
    drop_pg_database,
    make_own_tables,
    own_types,
    sql,
    tables,
)

#: The import types a database may hold: the shipped ones over batchport's own tables, or the
#: same ones declared in a types file over an application's own tables.
TYPES = ("shipped", "declared")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "types(*kinds, reason=None): the import types (of shipped, declared) the databases of "
        "a module or test hold, each a run of its own (reason: why no others); unmarked, "
        "shipped only",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("types")
    if marker is not None and "types" in metafunc.fixturenames:
        assert set(marker.args) <= set(TYPES), marker.args
        metafunc.parametrize("types", marker.args)


@pytest.fixture
def types() -> str:
    """The import types the test's database holds (see `TYPES`; the `types` marker asks for
    more)."""
    return "shipped"


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


@pytest.fixture(scope="session")
def declared_postgresql_template(postgresql_template: str) -> Iterator[str]:
    """The migrated PostgreSQL template with the application's own tables, tracked."""
    url = create_pg_database(postgresql_template)
    make_own_tables(url)
    yield sa.make_url(url).database or ""
    drop_pg_database(url)


@pytest.fixture(scope="session")
def declared_sqlite_template(sqlite_template: Path) -> Path:
    """The migrated SQLite template with the application's own tables, tracked."""
    path = sqlite_template.with_name("declared.db")
    shutil.copy(sqlite_template, path)
    make_own_tables(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def declared_types_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The types file declaring departments and users over the application's own tables, for
    each kind of database."""
    folder = tmp_path_factory.mktemp("types")
    files = {dialect: folder / f"{dialect}.toml" for dialect in ("sqlite", "postgresql")}
    for dialect, path in files.items():
        path.write_text(own_types(dialect), encoding="utf-8")
    return files


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, types: str) -> Iterator[str]:
    """The URL of a fresh, migrated database of each kind (holding the application's own
    tables for declared types)."""
    prefix = "" if types == "shipped" else "declared_"
    if request.param == "sqlite":
        template = request.getfixturevalue(f"{prefix}sqlite_template")
        path = tmp_path / "batchport.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = create_pg_database(request.getfixturevalue(f"{prefix}postgresql_template"))
    yield url
    drop_pg_database(url)


@pytest.fixture
def types_file(request: pytest.FixtureRequest, database_url: str, types: str) -> Path | None:
    """The types file the database's import types are declared in (None: the shipped ones)."""
    if types == "shipped":
        return None
    files = request.getfixturevalue("declared_types_files")
    return files[sa.make_url(database_url).get_backend_name()]


@pytest.fixture
def global_options(database_url: str, types_file: Path | None) -> list[str]:
    """The CLI's global options that point it at the fresh database and its import types."""
    config = ["--config", str(types_file)] if types_file else []
    return ["--database-url", database_url, *config]


@pytest.fixture(scope="session")
def declared_catalogs() -> dict[Path, Catalog]:
    """Each declared types file's catalog, read (as the CLI reads it) from the first database
    that needs it: every copy of a template has the same tables, and reading them takes a
    while on PostgreSQL."""
    return {}


@pytest.fixture
def db(
    request: pytest.FixtureRequest, database_url: str, types_file: Path | None
) -> Iterator[Database]:
    """The fresh database, opened as batchport opens it (with the types file, as the CLI
    does)."""
    if types_file is None:
        database = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    else:
        catalogs = request.getfixturevalue("declared_catalogs")

        def catalog(engine: sa.Engine) -> Catalog:
            if types_file not in catalogs:
                catalogs[types_file] = configuration.find(types_file).catalog(engine)
            return catalogs[types_file]

        database = Database.from_url(database_url, catalog=catalog)
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
    """The rows of a table (named as `tests.helpers.tables` names it) as dicts, ordered by
    their primary key."""

    def read(table: str, **where: object) -> list[dict[str, object]]:
        target = tables(db)[table]
        query = sa.select(target).order_by(*target.primary_key.columns)
        for column, value in where.items():
            query = query.where(target.c[column] == value)
        with db.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    return read


@pytest.fixture
def cli(global_options: list[str]) -> Callable[..., object]:
    """Runs the batchport CLI in-process against the fresh database and its import types."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> object:
        return runner.invoke(app, [*global_options, *args], input=input)

    return run


@pytest.fixture
def failing_trigger(db: Database) -> Callable[..., Callable[[], None]]:
    """Installs a trigger that fails `event` on `table` (where `when` holds) with `message`;
    `table` may be a placeholder of `tests.helpers.sql` (`{users}`).

    Returns a function that drops it again: the database's own way to inject a fault.
    """

    def install(table: str, event: str, message: str, when: str = "") -> Callable[[], None]:
        table = sql(db, table)
        name = f"fail_{table.rpartition('.')[2]}_{event}".lower()
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
