"""A workbook against the same sheets as separate CSV files, measured in the same run.

    python benchmarks/workbooks.py --xlsx-rows 100000 --repeat 3

The workbook has a `departments` sheet (a tree of new departments) and a `users` sheet (users
of the 500 departments the template holds), each of `--xlsx-rows` rows; the baseline imports
the same rows as two CSV files, one `batchport import` each, one after the other (timed as
one process: a shell running both). Ratio = the CSV files' time / the workbook's (issue 16's
target: at least 0.85).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import xlsxwriter

from common import (
    BATCHPORT,
    DATA,
    Measure,
    Postgres,
    Results,
    Run,
    alternate,
    arguments,
    on_postgres,
    report,
    timed,
    write_departments_csv,
    write_users_csv,
)

DEPARTMENT_HEADER = ["code", "name", "parent_code", "is_active"]


def write_workbook(count: int) -> Path:
    """The departments and users files of `count` rows each, as the two sheets of a workbook."""
    path = DATA / f"workbook-{count}.xlsx"
    if not path.exists():
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        for name, csv_path in (
            ("departments", write_departments_csv(count)),
            ("users", write_users_csv(count)),
        ):
            sheet = book.add_worksheet(name)
            with csv_path.open(newline="") as stream:
                for index, row in enumerate(csv.reader(stream)):
                    sheet.write_row(index, 0, row)
        book.close()
    return path


def suite(args: argparse.Namespace, pg: Postgres) -> Results:
    count = args.xlsx_rows
    workbook = write_workbook(count)
    departments, users = write_departments_csv(count), write_users_csv(count)
    both = Measure(f"2 CSV files, {count:,} departments + {count:,} users (baseline)", 2 * count)
    book = Measure("batchport import workbook, the same 2 sheets", 2 * count)

    def separate() -> Run:
        url = pg.url(pg.fresh())
        return timed(
            [
                "sh",
                "-c",
                f'"$0" --database-url {url} import departments {departments} --json && '
                f'"$0" --database-url {url} import users {users} --json',
                BATCHPORT,
            ]
        )

    def whole() -> Run:
        url = pg.url(pg.fresh())
        return timed([BATCHPORT, "--database-url", url, "import", "workbook", str(workbook)])

    alternate(args.repeat, [(both, separate), (book, whole)])
    return [(book, both)]


if __name__ == "__main__":
    report("PostgreSQL — workbook", on_postgres(arguments(__doc__.split("\n\n")[0]), suite))
