"""Imports that meet existing rows, against raw set-based SQL doing the least such a load can.

    python benchmarks/updates.py --rows 200000 --repeat 3

Every run starts from a fresh database holding the users file's `--rows` users and their
links (written by `baseline.py pg-users`, then analysed), and is its own process:

- `--on-existing update` of the same users, 10 % of them with another first name and 5 %
  (others) with other departments. Baseline (`updates.py baseline-update`): COPY the file
  into temporary tables (rows, and link keys); one `UPDATE … FROM` that logs the prior values
  of the rows that differ (values compared with IS DISTINCT FROM, or links that differ as
  sets) into a temporary table; the changed rows' links replaced set-based (their prior link
  rows logged as JSON, deleted, the wanted ones inserted stamped); the change log written
  with one `INSERT … SELECT`.
- `--on-existing skip` of a file holding the existing users and 10 % new ones (after them).
  Baseline (`updates.py baseline-skip`): COPY the file into temporary tables; one
  `INSERT … SELECT … WHERE NOT EXISTS` of the new rows, stamped; their links with one
  `INSERT … SELECT`.

Both baselines parse the CSV with the csv module and mark their transaction as batchport's
(`import_writes`), so that the row-version triggers cost them what they cost batchport.
"""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from common import (
    DATA,
    DEPARTMENT_COUNT,
    USER_HEADER,
    Measure,
    Postgres,
    Results,
    Run,
    alternate,
    arguments,
    baseline,
    batchport_import,
    department_codes,
    on_postgres,
    report,
    timed,
    user_rows,
    write_users_csv,
)


def write_update_csv(count: int) -> Path:
    """The users file with 10 % of first names changed (every tenth row) and 5 % of department
    lists changed (every twentieth, offset by 5, so the two never meet)."""

    path = DATA / f"updates-changed-{count}.csv"
    codes = department_codes()
    if not path.exists():
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(USER_HEADER)
            for i, row in enumerate(user_rows(count)):
                if i % 10 == 0:
                    row[1] += "-changed"
                if i % 20 == 5:
                    row[3] = ";".join(codes[(i * 11 + k * 17) % DEPARTMENT_COUNT] for k in range(2))
                writer.writerow(row)
    return path


def write_skip_csv(count: int) -> Path:
    """The users file, then `count // 10` new users."""

    path = DATA / f"updates-skip-{count}.csv"
    if not path.exists():
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(USER_HEADER)
            writer.writerows(user_rows(count))
            writer.writerows(user_rows(count // 10, prefix="new"))
    return path


def suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """Update and skip imports against their raw baselines."""

    existing = write_users_csv(args.rows)
    changed = write_update_csv(args.rows)
    skipping = write_skip_csv(args.rows)
    base_update = Measure("raw set-based update (baseline)", args.rows)
    update = Measure("batchport import users --on-existing update", args.rows)
    base_skip = Measure("raw INSERT … WHERE NOT EXISTS (baseline)", args.rows * 11 // 10)
    skip = Measure("batchport import users --on-existing skip", args.rows * 11 // 10)

    def filled() -> str:
        name = pg.fresh()
        baseline("pg-users", pg.raw_url(name), existing, str(uuid.uuid4()))
        with psycopg.connect(pg.raw_url(name), autocommit=True) as conn:
            conn.execute("analyze")
        return name

    def raw(task: str, path: Path) -> Callable[[], Run]:
        return lambda: timed([sys.executable, __file__, task, pg.raw_url(filled()), str(path)])

    def batchport(path: Path, mode: str) -> Callable[[], Run]:
        return lambda: batchport_import(pg.url(filled()), "users", path, "--on-existing", mode)

    alternate(
        args.repeat,
        [
            (base_update, raw("baseline-update", changed)),
            (update, batchport(changed, "update")),
            (base_skip, raw("baseline-skip", skipping)),
            (skip, batchport(skipping, "skip")),
        ],
    )
    return [(update, base_update), (skip, base_skip)]


# --- the raw baselines, each run as its own process ----------------------------------------


def _staged(conn: psycopg.Connection, path: str) -> None:
    """The file in temporary tables: `s` (one row per user), `sl` (one per department key)."""
    conn.execute(
        "create temp table s (email text, first_name text, last_name text, is_active boolean) "
        "on commit drop"
    )
    conn.execute("create temp table sl (email text, code text, position int) on commit drop")
    with conn.cursor() as cur:
        with cur.copy("copy s from stdin") as copy:
            for email, first_name, last_name, _, active in _rows(path):
                copy.write_row((email, first_name, last_name, active))
        with cur.copy("copy sl from stdin") as copy:
            for email, _, _, codes, _ in _rows(path):
                for position, code in enumerate(codes.split(";")):
                    copy.write_row((email, code, position))
    conn.execute("analyze s")
    conn.execute("analyze sl")


def _rows(path: str) -> Iterator[list[str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        next(reader)
        yield from reader


_WANTED_LINKS = """
create temp table wl on commit drop as
select u.id as user_id, d.id as department_id, sl.position = 0 as is_primary
from sl join users u on u.email = sl.email join inventory.departments d on d.code = sl.code
"""
_CHANGED_LINKS = """
create temp table lc on commit drop as
select w.user_id from wl w left join user_departments l
    on l.user_id = w.user_id and l.department_id = w.department_id
where l.user_id is null or l.is_primary is distinct from w.is_primary
union
select l.user_id from user_departments l join users u on u.id = l.user_id
    join s on s.email = u.email
where not exists (
    select from wl w where w.user_id = l.user_id and w.department_id = l.department_id)
"""
_UPDATE = """
with old as (
    select u.id, u.email, u.created_at, u.import_batch_id, u.row_version, u.updated_at,
        u.first_name, u.last_name, u.is_active,
        s.first_name as new_first_name, s.last_name as new_last_name,
        s.is_active as new_is_active
    from users u join s on s.email = u.email
    where (u.first_name, u.last_name, u.is_active)
        is distinct from (s.first_name, s.last_name, s.is_active)
        or u.id in (select user_id from lc)
    for update of u
), updated as (
    update users u set first_name = o.new_first_name, last_name = o.new_last_name,
        is_active = o.new_is_active, row_version = u.row_version + 1, updated_at = now()
    from old o where u.id = o.id
)
insert into prior select * from old
"""
_PRIOR_LINKS = """
create temp table prior_links on commit drop as
select l.user_id, json_agg(json_build_object('user_id', l.user_id,
    'department_id', l.department_id, 'is_primary', l.is_primary, 'created_at', l.created_at,
    'import_batch_id', l.import_batch_id)) as rows
from user_departments l where l.user_id in (select user_id from lc) group by l.user_id
"""
_LOG = """
insert into import_changes (batch_id, table_name, row_id, prior, prior_links, version_before,
    version_after, row_key)
select %(batch)s, 'users', p.id,
    (jsonb_strip_nulls(jsonb_build_object(
        'first_name', case when p.first_name is distinct from p.new_first_name
            then p.first_name end,
        'last_name', case when p.last_name is distinct from p.new_last_name
            then p.last_name end,
        'is_active', case when p.is_active is distinct from p.new_is_active
            then p.is_active end)) || jsonb_build_object('updated_at', p.updated_at))::text,
    case when pl.rows is not null then json_build_object('user_departments', pl.rows)::text end,
    p.row_version, p.row_version + 1,
    json_build_object('key', p.email, 'created_at', p.created_at,
        'batch_id', p.import_batch_id)::text
from prior p left join prior_links pl on pl.user_id = p.id
"""


def baseline_update(url: str, path: str) -> None:
    batch = str(uuid.uuid4())
    with psycopg.connect(url) as conn:
        conn.execute("insert into import_writes values (%s)", (batch,))
        _staged(conn, path)
        conn.execute(_WANTED_LINKS)
        conn.execute(_CHANGED_LINKS)
        conn.execute(
            "create temp table prior on commit drop as select u.id, u.email, u.created_at, "
            "u.import_batch_id, u.row_version, u.updated_at, u.first_name, u.last_name, "
            "u.is_active, s.first_name as new_first_name, s.last_name as new_last_name, "
            "s.is_active as new_is_active from users u, s with no data"
        )
        conn.execute(_UPDATE)
        conn.execute(_PRIOR_LINKS)
        conn.execute("delete from user_departments where user_id in (select user_id from lc)")
        conn.execute(
            "insert into user_departments (user_id, department_id, is_primary, import_batch_id) "
            "select user_id, department_id, is_primary, %s from wl "
            "where user_id in (select user_id from lc)",
            (batch,),
        )
        conn.execute(_LOG, {"batch": batch})
        conn.execute("delete from import_writes where job_id = %s", (batch,))


def baseline_skip(url: str, path: str) -> None:
    batch = str(uuid.uuid4())
    with psycopg.connect(url) as conn:
        conn.execute("insert into import_writes values (%s)", (batch,))
        _staged(conn, path)
        conn.execute(
            "insert into users (email, first_name, last_name, is_active, import_batch_id) "
            "select email, first_name, last_name, is_active, %s from s "
            "where not exists (select from users u where u.email = s.email)",
            (batch,),
        )
        conn.execute(
            "insert into user_departments (user_id, department_id, is_primary, import_batch_id) "
            "select u.id, d.id, sl.position = 0, %(batch)s from sl "
            "join users u on u.email = sl.email and u.import_batch_id = %(batch)s "
            "join inventory.departments d on d.code = sl.code",
            {"batch": batch},
        )
        conn.execute("delete from import_writes where job_id = %s", (batch,))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("baseline-"):
        task, *rest = sys.argv[1:]
        {"baseline-update": baseline_update, "baseline-skip": baseline_skip}[task](*rest)
    else:
        report("PostgreSQL — updates", on_postgres(arguments(__doc__), suite))
