"""What every benchmark suite shares: timed processes, the generated files, fresh databases
copied from a migrated template, and the report. See `run.py` for the suites."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import xlsxwriter

HERE = Path(__file__).parent
DATA = HERE / "data"
BATCHPORT = shutil.which("batchport") or "batchport"
DEPARTMENT_COUNT = 500
FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farah", "George", "Hana", "Ivan", "Jo"]
LAST_NAMES = ["Silva", "Okafor", "Martin", "Volkov", "Nguyen", "Haddad", "Brown", "Sato"]


@dataclass
class Run:
    """One timed process."""

    seconds: float
    rss_mb: float


@dataclass
class Measure:
    """A named series of runs over `rows` rows."""

    name: str
    rows: int
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def rate(self) -> float:
        return self.rows / self.median

    @property
    def peak_rss(self) -> float:
        return max(r.rss_mb for r in self.runs)


def timed(args: list[str], env: dict[str, str] | None = None, *, rejects: int = 0) -> Run:
    """Runs a process to completion; its wall-clock time and its own peak RSS (measured by
    `measure.py`, see there why).

    With `rejects`, the process must exit 1 having reported exactly that many errors (its
    `--json` report's `errors`)."""
    # Output goes to files: a pipe nobody reads while waiting would stop a long report.
    with (
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
        tempfile.NamedTemporaryFile(suffix=".json") as result,
    ):
        process = subprocess.run(
            [sys.executable, str(HERE / "measure.py"), result.name, *args],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, **(env or {})},
            check=False,
        )
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
        measured = json.loads(Path(result.name).read_text() or "{}")
    if process.returncode != (1 if rejects else 0) or (
        rejects and len(json.loads(out)["errors"]) != rejects
    ):
        raise SystemExit(f"{' '.join(args)} failed:\n{out.decode()[-2000:]}\n{err.decode()}")
    return Run(measured["seconds"], measured["rss_mb"])


# --- data --------------------------------------------------------------------------------


def department_codes() -> list[str]:
    return [f"D{i:03d}" for i in range(DEPARTMENT_COUNT)]


def write_reference_departments() -> Path:
    path = DATA / "departments-500.csv"
    if not path.exists():
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["code", "name", "parent_code", "is_active"])
            for i, code in enumerate(department_codes()):
                writer.writerow(
                    [code, f"Department {i}", "" if i < 10 else f"D{i // 10:03d}", "true"]
                )
    return path


def user_rows(count: int, prefix: str = "user"):
    codes = department_codes()
    for i in range(count):
        picks = [codes[(i * 7 + k * 131) % DEPARTMENT_COUNT] for k in range(1 + i % 3)]
        yield [
            f"{prefix}{i}@example.org",
            FIRST_NAMES[i % len(FIRST_NAMES)],
            LAST_NAMES[i % len(LAST_NAMES)],
            ";".join(picks),
            "true" if i % 17 else "false",
        ]


USER_HEADER = ["email", "first_name", "last_name", "department_codes", "is_active"]


def write_users_csv(count: int, prefix: str = "user") -> Path:
    path = DATA / f"users-{prefix}-{count}.csv"
    if not path.exists():
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(USER_HEADER)
            writer.writerows(user_rows(count, prefix))
    return path


#: A bad value of the file with many errors: 2 MiB, more than a first name may hold.
HUGE_VALUE = "x" * (2 << 20)
CELLS = ["--max-cell-size", str(len(HUGE_VALUE))]


def write_rejected_users_csv(count: int, errors: int) -> Path:
    """The users file with `errors` bad rows spread evenly, the last row among them: `maybe`
    for is_active, but for the first of several, a 2 MiB first name."""
    path = DATA / f"users-rejected-{count}-{errors}.csv"
    step = count // errors
    first = count - 1 - (errors - 1) * step
    if not path.exists():
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(USER_HEADER)
            for i, row in enumerate(user_rows(count)):
                if i == first and errors > 1:
                    row[1] = HUGE_VALUE
                elif i >= first and (count - 1 - i) % step == 0:
                    row[4] = "maybe"
                writer.writerow(row)
    return path


def write_users_xlsx(count: int) -> Path:
    path = DATA / f"users-user-{count}.xlsx"
    if not path.exists():
        workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        sheet = workbook.add_worksheet("users")
        sheet.write_row(0, 0, USER_HEADER)
        for index, row in enumerate(user_rows(count), start=1):
            sheet.write_row(index, 0, row)
        workbook.close()
    return path


def write_departments_csv(count: int) -> Path:
    path = DATA / f"departments-{count}.csv"
    if not path.exists():
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["code", "name", "parent_code", "is_active"])
            for i in range(count):
                parent = "" if i < 10 else f"B{i // 10:07d}"
                writer.writerow([f"B{i:07d}", f"Branch {i}", parent, "true"])
    return path


#: The application's own tables with the users' columns, as its SQL would make them.
PEOPLE_SQL = {
    "postgresql": (
        "CREATE TABLE people (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "email varchar(255) NOT NULL UNIQUE, first_name varchar(100) NOT NULL, "
        "last_name varchar(100) NOT NULL, is_active boolean NOT NULL DEFAULT true)",
        "CREATE TABLE people_departments (user_id bigint NOT NULL REFERENCES people (id), "
        "department_id bigint NOT NULL REFERENCES inventory.departments (id), "
        "is_primary boolean NOT NULL DEFAULT false, PRIMARY KEY (user_id, department_id))",
        "CREATE INDEX people_departments_department_id ON people_departments (department_id)",
    ),
    "sqlite": (
        "CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "email varchar(255) NOT NULL UNIQUE, first_name varchar(100) NOT NULL, "
        "last_name varchar(100) NOT NULL, is_active boolean NOT NULL DEFAULT 1)",
        "CREATE TABLE people_departments (user_id INTEGER NOT NULL REFERENCES people (id), "
        "department_id INTEGER NOT NULL REFERENCES departments (id), "
        "is_primary boolean NOT NULL DEFAULT 0, PRIMARY KEY (user_id, department_id))",
        "CREATE INDEX people_departments_department_id ON people_departments (department_id)",
    ),
}
PEOPLE_TYPE = """
[types.people]
table = "people"
key = "email"

[[types.people.fields]]
name = "email"
parser = "email"
max_length = 255
required = true

[[types.people.fields]]
name = "first_name"
max_length = 100
required = true

[[types.people.fields]]
name = "last_name"
max_length = 100
required = true

[[types.people.fields]]
name = "department_codes"
max_length = 50
required = true

[types.people.fields.link]
to = "departments"
table = "people_departments"
owner = "user_id"
target = "department_id"
primary_flag = "is_primary"

[[types.people.fields]]
name = "is_active"
parser = "boolean"
"""


def setup(url: str, *args: str) -> None:
    """Runs a batchport command that prepares a database (untimed; it must succeed)."""
    subprocess.run([BATCHPORT, "--database-url", url, *args], check=True, capture_output=True)


def add_people(url: str, execute: Callable[[str], None], dialect: str) -> None:
    """Makes the declared `people` tables in the template at `url` and tracks them."""
    for statement in PEOPLE_SQL[dialect]:
        execute(statement)
    for args in (["people"], ["people_departments", "--owner", "user_id"]):
        setup(url, "db", "track", *args)


def write_people_types() -> Path:
    """The types file of the declared runs: the shipped types, and `people`."""
    # Imported here: the raw baselines' processes import this module too, and must not pay
    # for importing batchport.
    from batchport.configuration import shipped_text  # noqa: PLC0415

    path = DATA / "people.toml"
    path.write_text(shipped_text() + PEOPLE_TYPE)
    return path


# --- databases ---------------------------------------------------------------------------


class Postgres:
    """Fresh databases on a PostgreSQL server, copied from a migrated template."""

    name = "postgresql"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []
        self.template = self._create()
        url = self.url(self.template)
        setup(url, "db", "migrate")
        setup(url, "import", "departments", str(write_reference_departments()))
        with psycopg.connect(self.raw_url(self.template), autocommit=True) as conn:
            add_people(url, conn.execute, self.name)

    def _create(self, template: str | None = None) -> str:
        name = f"batchport_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"create database {name}" + (f" template {template}" if template else ""))
        self.created.append(name)
        return name

    def url(self, name: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"

    def raw_url(self, name: str) -> str:
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def fresh(self) -> str:
        name = self._create(self.template)
        with psycopg.connect(self.raw_url(name), autocommit=True) as conn:
            conn.execute("analyze")
        return name

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in reversed(self.created):
                conn.execute(f"drop database if exists {name} with (force)")


class Sqlite:
    """Fresh SQLite files, copied from a migrated template."""

    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.db"
        url = self.url(self.template)
        setup(url, "import", "departments", str(write_reference_departments()))
        with sqlite3.connect(self.template, isolation_level=None) as conn:
            add_people(url, conn.execute, self.name)

    def url(self, path: Path) -> str:
        return f"sqlite:///{path}"

    def fresh(self) -> Path:
        path = self.folder / f"{uuid.uuid4().hex[:12]}.db"
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.template}{suffix}")
            if source.exists():
                shutil.copy(source, f"{path}{suffix}")
        return path


# --- measurements ------------------------------------------------------------------------


def batchport_import(url: str, kind: str, path: Path, *extra: str) -> Run:
    return timed([BATCHPORT, "--database-url", url, "import", kind, str(path), "--json", *extra])


def declared_import(url: str, path: Path) -> Run:
    """The users file imported as `people`, the declared type with the users' columns."""
    config = ["--config", str(write_people_types())]
    return timed([BATCHPORT, "--database-url", url, *config, "import", "people", str(path)])


def batch_of(url: str, kind: str) -> str:
    out = subprocess.run(
        [
            BATCHPORT,
            "--database-url",
            url,
            "history",
            "--type",
            kind,
            "--status",
            "completed",
            "--limit",
            "1",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)[0]["batch_id"])


def alternate(repeat: int, pairs: list[tuple[Measure, Callable[[], Run]]]) -> None:
    """Runs each measure once per round, in turn, `repeat` rounds."""
    for _ in range(repeat):
        for measure, run in pairs:
            measure.runs.append(run())
            print(f"  {measure.name}: {measure.runs[-1].seconds:.2f}s", file=sys.stderr)


def report(title: str, results: list[tuple[Measure, Measure | None]]) -> None:
    print(f"\n{title}")
    print(f"{'measure':<52} {'rows':>10} {'median s':>9} {'rows/s':>10} {'RSS MB':>7} {'ratio':>6}")
    for measure, baseline in results:
        for item in ([baseline] if baseline else []) + [measure]:
            ratio = ""
            if item is measure and baseline is not None:
                ratio = f"{baseline.median / measure.median:.2f}"
            print(
                f"{item.name:<52} {item.rows:>10,} {item.median:>9.2f} {item.rate:>10,.0f} "
                f"{item.peak_rss:>7.0f} {ratio:>6}"
            )


def baseline(task: str, *args: object) -> Run:
    """A raw baseline of `baseline.py`, in its own process."""
    return timed([sys.executable, str(HERE / "baseline.py"), task, *map(str, args)])


def arguments(description: str, **more: int) -> argparse.Namespace:
    """The options every suite understands (and `more` of a suite's own, with defaults)."""
    parser = argparse.ArgumentParser(description=description)
    for name, default in more.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    parser.add_argument("--rows", type=int, default=1_000_000, help="users in the big file")
    parser.add_argument("--department-rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    parser.add_argument("--suite", action="append", help="run only these suites (repeatable)")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "BATCHPORT_BENCH_ADMIN_URL", "postgresql://root@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    return args


Results = list[tuple[Measure, Measure | None]]


def on_postgres(
    args: argparse.Namespace, suite: Callable[[argparse.Namespace, Postgres], Results]
) -> Results:
    """Runs `suite` on fresh PostgreSQL databases, dropped afterwards."""
    pg = Postgres(args.admin_url)
    try:
        return suite(args, pg)
    finally:
        pg.drop_all()
