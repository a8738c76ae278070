"""The raw-database baselines batchport is measured against: the least work a loader must do.

Run as its own process, as the batchport command is, so that both pay for starting Python:

    python benchmarks/baseline.py pg-users URL FILE BATCH_ID
    python benchmarks/baseline.py pg-departments URL FILE BATCH_ID
    python benchmarks/baseline.py pg-delete URL BATCH_ID
    python benchmarks/baseline.py sqlite-users PATH FILE BATCH_ID
    python benchmarks/baseline.py sqlite-departments PATH FILE BATCH_ID
    python benchmarks/baseline.py sqlite-departments-skip PATH FILE BATCH_ID

Each reads the CSV with the csv module and writes the rows, stamped with the batch id (link
rows too: a rollback tells its own link rows by that stamp), with psycopg 3 COPY ... FROM
STDIN (write_row) or sqlite3 executemany; ids are given explicitly (the tables are fresh), so
links and parents need no lookups beyond a dict. The skip baseline inserts each row only
where its code is not in the table yet (one `INSERT … SELECT … WHERE NOT EXISTS` per row,
executemany, by the table's unique index), its parent looked up the same way.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from collections.abc import Iterator

import psycopg


def _rows(path: str) -> Iterator[list[str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        next(reader)
        yield from reader


def _next_id(execute, table: str) -> int:  # type: ignore[no-untyped-def]
    return int(execute(f"select coalesce(max(id), 0) + 1 from {table}").fetchone()[0])


CHUNK = 10_000


def pg_users(url: str, path: str, batch_id: str) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        departments = dict(conn.execute("select code, id from inventory.departments").fetchall())
        user_id = _next_id(conn.execute, "users")
        users: list[tuple[object, ...]] = []
        links: list[tuple[int, int, bool]] = []
        for email, first_name, last_name, codes, active in _rows(path):
            users.append((user_id, email, first_name, last_name, active, batch_id))
            links += [
                (user_id, departments[c], i == 0, batch_id) for i, c in enumerate(codes.split(";"))
            ]
            user_id += 1
            if len(users) == CHUNK:
                _pg_flush(cur, users, links)
        _pg_flush(cur, users, links)
        cur.execute("select setval(pg_get_serial_sequence('users', 'id'), %s)", (user_id,))


def _pg_flush(cur: psycopg.Cursor, users: list, links: list) -> None:  # type: ignore[type-arg]
    with cur.copy(
        "copy users (id, email, first_name, last_name, is_active, import_batch_id) from stdin"
    ) as copy:
        for row in users:
            copy.write_row(row)
    with cur.copy(
        "copy user_departments (user_id, department_id, is_primary, import_batch_id) from stdin"
    ) as copy:
        for link in links:
            copy.write_row(link)
    users.clear()
    links.clear()


def pg_departments(url: str, path: str, batch_id: str) -> None:
    with psycopg.connect(url) as conn:
        ids: dict[str, int] = {}
        first = _next_id(conn.execute, "inventory.departments")
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy inventory.departments "
                "(id, code, name, parent_id, is_active, import_batch_id) from stdin"
            ) as copy,
        ):
            for offset, (code, name, parent, active) in enumerate(_rows(path)):
                ids[code] = first + offset
                copy.write_row((first + offset, code, name, ids.get(parent), active, batch_id))
            last = first + len(ids)
        conn.execute(
            "select setval(pg_get_serial_sequence('inventory.departments', 'id'), %s)", (last,)
        )


def pg_delete(url: str, batch_id: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "delete from user_departments where user_id in "
            "(select id from users where import_batch_id = %s)",
            (batch_id,),
        )
        conn.execute("delete from users where import_batch_id = %s", (batch_id,))


def sqlite_users(path: str, file: str, batch_id: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma foreign_keys=on")
    conn.execute("begin immediate")
    departments = dict(conn.execute("select code, id from departments").fetchall())
    first = _next_id(conn.execute, "users")
    users, links = [], []
    for offset, (email, first_name, last_name, codes, active) in enumerate(_rows(file)):
        user_id = first + offset
        users.append((user_id, email, first_name, last_name, active == "true", batch_id))
        links += [
            (user_id, departments[c], i == 0, batch_id) for i, c in enumerate(codes.split(";"))
        ]
        if len(users) == 10_000:
            _sqlite_flush(conn, users, links)
    _sqlite_flush(conn, users, links)
    conn.execute("commit")
    conn.close()


def _sqlite_flush(conn: sqlite3.Connection, users: list, links: list) -> None:  # type: ignore[type-arg]
    conn.executemany(
        "insert into users (id, email, first_name, last_name, is_active, import_batch_id) "
        "values (?, ?, ?, ?, ?, ?)",
        users,
    )
    conn.executemany(
        "insert into user_departments (user_id, department_id, is_primary, import_batch_id) "
        "values (?, ?, ?, ?)",
        links,
    )
    users.clear()
    links.clear()


def sqlite_departments(path: str, file: str, batch_id: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma foreign_keys=on")
    conn.execute("begin immediate")
    first = _next_id(conn.execute, "departments")
    ids: dict[str, int] = {}
    rows = []
    for offset, (code, name, parent, active) in enumerate(_rows(file)):
        ids[code] = first + offset
        rows.append((first + offset, code, name, ids.get(parent), active == "true", batch_id))
    conn.executemany(
        "insert into departments (id, code, name, parent_id, is_active, import_batch_id) "
        "values (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("commit")
    conn.close()


def sqlite_departments_skip(path: str, file: str, batch_id: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma foreign_keys=on")
    conn.execute("begin immediate")
    conn.executemany(
        "insert into departments (code, name, parent_id, is_active, import_batch_id) "
        "select ?1, ?2, (select id from departments where code = ?3), ?4, ?5 "
        "where not exists (select 1 from departments where code = ?1)",
        (
            (code, name, parent or None, active == "true", batch_id)
            for code, name, parent, active in _rows(file)
        ),
    )
    conn.execute("commit")
    conn.close()


if __name__ == "__main__":
    task, *args = sys.argv[1:]
    {
        "pg-users": pg_users,
        "pg-departments": pg_departments,
        "pg-delete": pg_delete,
        "sqlite-users": sqlite_users,
        "sqlite-departments": sqlite_departments,
        "sqlite-departments-skip": sqlite_departments_skip,
    }[task](*args)
