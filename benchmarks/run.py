"""batchport against the raw database, measured in the same run, on fresh identical tables.

    python benchmarks/run.py                      # every suite, 1,000,000 rows
    python benchmarks/run.py --rows 200000 --department-rows 200000 --only postgresql
    python benchmarks/run.py --rows 200000 --suite update --suite restore --only postgresql

Each measurement runs in its own process (the `batchport` command, or a raw baseline's own
script), alternating baseline and batchport runs, each on a database freshly copied from a
migrated template that holds the 500 departments the users point at, and `people`: a table
of one's own with the users' columns (and its link table), made by plain SQL, tracked with
`batchport db track` and declared in a types file. Prints medians, the ratio baseline time /
batchport time (1.0 = as fast as the raw database) and each process's own peak RSS. The
suites (`--suite`, repeatable; each module's docstring says exactly what its baseline does):

- insert: users, departments and the declared `people` against raw COPY (`baseline.py`);
  the dry run; XLSX against the same CSV; rollbacks against a small table's and a raw DELETE;
- rejected: a file with one bad row at the end, and one with 100,000 errors (a 2 MiB value
  among them), against the dry run of the same file; each must report exactly its errors;
- update (`updates.py`): `--on-existing update` and `skip` against raw set-based SQL;
- restore (`restores.py`): the rollback of an update batch against a raw set-based restore;
- workbook (`workbooks.py`): a two-sheet workbook against the same sheets as two CSV files;
- api (`api.py`): upload, validate and commit through the REST API against the CLI import;
- startup (`startup.py`): `batchport types` and tiny imports against the bare interpreter;
- workers (`workers.py`): commit to job start on an idle `batchport worker`, and `--files`
  imports of `--file-rows` rows queued at once for 1, 2 and 4 workers against one process
  importing them one after the other;
- sqlite: users, departments and `people` against sqlite3 executemany; departments again
  with `--on-existing skip` against a raw `INSERT … WHERE NOT EXISTS` per row.

The machine is shared and noisy: absolute times drift, ratios measured in one run hold.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg

import api
import restores
import startup
import updates
import workbooks
import workers
from common import (
    BATCHPORT,
    CELLS,
    Measure,
    Postgres,
    Results,
    Run,
    Sqlite,
    alternate,
    arguments,
    baseline,
    batch_of,
    batchport_import,
    declared_import,
    on_postgres,
    report,
    timed,
    write_departments_csv,
    write_rejected_users_csv,
    write_users_csv,
    write_users_xlsx,
)


def insert_suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """Imports against raw COPY, the declared type against the built-in one, the workbook
    against the same CSV, and rollbacks against a small table's and a raw DELETE."""
    users = write_users_csv(args.rows)
    small = write_users_csv(10_000, prefix="small")
    departments = write_departments_csv(args.department_rows)
    xlsx_rows = min(args.xlsx_rows, args.rows)
    users_xlsx = write_users_xlsx(xlsx_rows)
    users_xlsx_csv = write_users_csv(xlsx_rows)
    base_users = Measure("COPY users + links (baseline)", args.rows)
    bp_users = Measure("batchport import users", args.rows)
    base_depts = Measure("COPY departments (baseline)", args.department_rows)
    bp_depts = Measure("batchport import departments", args.department_rows)
    dry = Measure("batchport import users --dry-run", args.rows)
    csv_small = Measure(f"batchport import users, CSV {xlsx_rows:,} rows", xlsx_rows)
    xlsx = Measure(f"batchport import users, XLSX {xlsx_rows:,} rows", xlsx_rows)
    people = Measure("import people (declared, users' columns)", args.rows)
    big_tables: list[str] = []

    def batchport_users() -> Run:
        name = pg.fresh()
        big_tables.append(name)
        return batchport_import(pg.url(name), "users", users)

    alternate(
        args.repeat,
        [
            (
                base_users,
                lambda: baseline("pg-users", pg.raw_url(pg.fresh()), users, str(uuid.uuid4())),
            ),
            (bp_users, batchport_users),
            (people, lambda: declared_import(pg.url(pg.fresh()), users)),
            (
                base_depts,
                lambda: baseline(
                    "pg-departments", pg.raw_url(pg.fresh()), departments, str(uuid.uuid4())
                ),
            ),
            (
                bp_depts,
                lambda: batchport_import(pg.url(pg.fresh()), "departments", departments),
            ),
            (dry, lambda: batchport_import(pg.url(pg.fresh()), "users", users, "--dry-run")),
            (csv_small, lambda: batchport_import(pg.url(pg.fresh()), "users", users_xlsx_csv)),
            (xlsx, lambda: batchport_import(pg.url(pg.fresh()), "users", users_xlsx)),
        ],
    )
    # Rollback: a 10k batch out of a 10k-row table and out of a table holding the big batch.
    small_alone = Measure("rollback 10k batch, 10k-row table", 10_000)
    small_in_big = Measure(f"rollback 10k batch, {args.rows + 10_000:,}-row table", 10_000)
    raw_delete = Measure(f"raw DELETE of the {args.rows:,}-row batch (baseline)", args.rows)
    big_rollback = Measure(f"batchport rollback of the {args.rows:,}-row batch", args.rows)

    def rollback(url: str, kind: str = "users") -> Run:
        return timed(
            [
                BATCHPORT,
                "--database-url",
                url,
                "rollback",
                batch_of(url, kind),
                "--yes",
                "--json",
            ]
        )

    def rollback_small_alone() -> Run:
        url = pg.url(pg.fresh())
        batchport_import(url, "users", small)
        return rollback(url)

    def rollback_small_in_big() -> Run:
        url = pg.url(big_tables[len(small_in_big.runs)])
        batchport_import(url, "users", small)
        return rollback(url)

    def delete_big() -> Run:
        # The big batch of a database the batchport run filled, deleted with plain SQL.
        name = big_tables[len(raw_delete.runs)]
        with psycopg.connect(pg.raw_url(name)) as conn:
            big_batch = conn.execute(
                "select batch_id from import_history where import_type = 'users' "
                "and status = 'completed' order by rows_imported desc limit 1"
            ).fetchone()[0]
        return baseline("pg-delete", pg.raw_url(name), big_batch)

    def rollback_big() -> Run:
        name = pg.fresh()
        batchport_import(pg.url(name), "users", users)
        return rollback(pg.url(name))

    alternate(
        args.repeat,
        [
            (small_alone, rollback_small_alone),
            (small_in_big, rollback_small_in_big),
            (raw_delete, delete_big),
            (big_rollback, rollback_big),
        ],
    )
    return [
        (bp_users, base_users),
        (people, bp_users),
        (bp_depts, base_depts),
        (dry, None),
        (xlsx, csv_small),
        (small_in_big, small_alone),
        (big_rollback, raw_delete),
    ]


def rejected_suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """Rejected files against their own dry runs: one bad row at the end, and 100,000 errors
    (one of them a 2 MiB value); each run must report exactly its errors."""
    pairs: list[tuple[Measure, Measure | None]] = []
    runs: list[tuple[Measure, Callable[[], Run]]] = []
    for errors in (1, min(100_000, args.rows // 2)):
        path = write_rejected_users_csv(args.rows, errors)
        what = "1 bad row at the end" if errors == 1 else f"{errors:,} errors"
        dry = Measure(f"--dry-run, {what} (baseline)", args.rows)
        real = Measure(f"import users, {what}", args.rows)
        for measure, extra in ((dry, ("--dry-run",)), (real, ())):
            runs.append((measure, partial(rejected_import, pg, path, errors, *extra)))
        pairs.append((real, dry))
    alternate(args.repeat, runs)
    return pairs


def rejected_import(pg: Postgres, path: Path, errors: int, *extra: str) -> Run:
    url = pg.url(pg.fresh())
    return timed(
        [BATCHPORT, "--database-url", url, "import", "users", str(path), "--json", *CELLS, *extra],
        rejects=errors,
    )


def sqlite_suite(args: argparse.Namespace) -> Results:
    with tempfile.TemporaryDirectory(prefix="batchport-bench-") as folder:
        db = Sqlite(Path(folder))
        users = write_users_csv(args.rows)
        departments = write_departments_csv(args.department_rows)
        base_users = Measure("SQLite executemany users + links (baseline)", args.rows)
        bp_users = Measure("batchport import users (SQLite)", args.rows)
        base_depts = Measure("SQLite executemany departments (baseline)", args.department_rows)
        bp_depts = Measure("batchport import departments (SQLite)", args.department_rows)
        people = Measure("import people (declared, users' columns, SQLite)", args.rows)
        alternate(
            args.repeat,
            [
                (
                    base_users,
                    lambda: baseline("sqlite-users", str(db.fresh()), users, str(uuid.uuid4())),
                ),
                (bp_users, lambda: batchport_import(db.url(db.fresh()), "users", users)),
                (people, lambda: declared_import(db.url(db.fresh()), users)),
                (
                    base_depts,
                    lambda: baseline(
                        "sqlite-departments", str(db.fresh()), departments, str(uuid.uuid4())
                    ),
                ),
                (
                    bp_depts,
                    lambda: batchport_import(db.url(db.fresh()), "departments", departments),
                ),
            ],
        )
        skipped = _sqlite_skip(args, db, departments)
        return [(bp_users, base_users), (people, bp_users), (bp_depts, base_depts), skipped]


def _sqlite_skip(
    args: argparse.Namespace, db: Sqlite, departments: Path
) -> tuple[Measure, Measure]:
    """The departments file imported again with `--on-existing skip` into a database that
    holds every one of them (loaded untimed first), against a raw skip of the same file."""
    count = args.department_rows
    base = Measure("SQLite INSERT … WHERE NOT EXISTS, all there (baseline)", count)
    skip = Measure("batchport import departments --on-existing skip (SQLite)", count)

    def raw() -> Run:
        path = str(db.fresh())
        baseline("sqlite-departments", path, departments, str(uuid.uuid4()))
        return baseline("sqlite-departments-skip", path, departments, str(uuid.uuid4()))

    def batchport() -> Run:
        url = db.url(db.fresh())
        batchport_import(url, "departments", departments)
        return batchport_import(url, "departments", departments, "--on-existing", "skip")

    alternate(args.repeat, [(base, raw), (skip, batchport)])
    return skip, base


#: The PostgreSQL suites, by name (`--suite`), in the order they run.
POSTGRES_SUITES: dict[str, Callable[[argparse.Namespace, Postgres], Results]] = {
    "insert": insert_suite,
    "rejected": rejected_suite,
    "update": updates.suite,
    "restore": restores.suite,
    "workbook": workbooks.suite,
    "api": api.suite,
    "startup": startup.suite,
    "workers": workers.suite,
}


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], files=20, file_rows=50_000)
    print(
        "ratio = baseline time / batchport time (1.00: as fast as the raw database; "
        "for rollback rows, the smaller table's time / the larger's; for people, the built-in "
        "users' time / the declared type's)"
    )
    chosen = args.suite or list(POSTGRES_SUITES)
    if args.only in (None, "postgresql"):
        for name in chosen:
            if name in POSTGRES_SUITES:
                report(f"PostgreSQL — {name}", on_postgres(args, POSTGRES_SUITES[name]))
    if args.only in (None, "sqlite") and (args.suite is None or "sqlite" in args.suite):
        report("SQLite", sqlite_suite(args))


if __name__ == "__main__":
    main()
