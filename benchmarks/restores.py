"""The rollback of an `--on-existing update` batch against a raw set-based restore.

    python benchmarks/restores.py --rows 200000 --repeat 3

One database is prepared as a user's would be: `batchport import users` of ROWS users, then
`batchport import users FILE --on-existing update` of a file (written here with the csv
module) that gives every tenth user a new first name, every twentieth of those also new
departments (5 % of the users' links change), and adds ROWS / 100 new users. Each run gets
its own copy of that database (CREATE DATABASE ... TEMPLATE: identical files), vacuumed
and analyzed.

The measure is `batchport rollback BATCH --yes --json`: restore the updated users' prior
values and link rows, delete the users and link rows the batch created, record it.

The raw baseline (`baseline-restore URL BATCH`, its own process, psycopg 3) does, in one
transaction and with batchport's own writing mark (`import_writes`, so that the row-version
triggers fire and count nothing, as for batchport): one `UPDATE users ... FROM` the batch's
`import_changes` (each changed column's prior value read from the `prior` JSON with a CASE per
column, `row_version` set back to `version_before`); the prior link rows expanded from
`prior_links` with `jsonb_populate_recordset` into a temporary table, then one DELETE of the
current link rows of those users that are not among them, one `INSERT ... ON CONFLICT DO
UPDATE` putting back the missing ones (and a changed flag); one DELETE each of the link rows
and the users carrying the batch's stamp; the job marked `rolled_back`. It checks nothing
(no edited rows, no references, no cycles): the least a restore must do.
"""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from pathlib import Path

import psycopg

from common import (
    BATCHPORT,
    DATA,
    DEPARTMENT_COUNT,
    USER_HEADER,
    Measure,
    Postgres,
    Results,
    Run,
    alternate,
    arguments,
    batch_of,
    batchport_import,
    department_codes,
    on_postgres,
    report,
    timed,
    user_rows,
    write_users_csv,
)


def suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """batchport's rollback of the update batch against the raw set-based restore."""
    template, batch_id = prepare(pg, args.rows)
    with psycopg.connect(pg.raw_url(template)) as conn:
        restored = conn.execute(
            "select count(*) from import_changes where batch_id = %s", (batch_id,)
        ).fetchone()
    rows = int(restored[0]) if restored else 0
    raw = Measure(f"raw set-based restore of {rows:,} users (baseline)", rows)
    batchport = Measure(f"batchport rollback restoring {rows:,} users", rows)
    outcomes: set[str] = set()

    def baseline_run() -> Run:
        name = copy_of(pg, template)
        run = timed([sys.executable, __file__, "baseline-restore", pg.raw_url(name), batch_id])
        outcomes.add(_outcome(pg.raw_url(name)))
        return run

    def batchport_run() -> Run:
        name = copy_of(pg, template)
        run = timed(
            [BATCHPORT, "--database-url", pg.url(name), "rollback", batch_id, "--yes", "--json"]
        )
        outcomes.add(_outcome(pg.raw_url(name)))
        return run

    alternate(args.repeat, [(raw, baseline_run), (batchport, batchport_run)])
    if len(outcomes) != 1:
        raise SystemExit("batchport's rollback and the raw restore left different data")
    return [(batchport, raw)]


def prepare(pg: Postgres, count: int) -> tuple[str, str]:
    """A database holding `count` imported users and the update batch; returns its name and
    the update's batch id."""

    name = pg.fresh()
    url = pg.url(name)
    batchport_import(url, "users", write_users_csv(count))
    batchport_import(url, "users", write_update_csv(count), "--on-existing", "update")
    return name, batch_of(url, "users")


def write_update_csv(count: int) -> Path:
    """The update file: every tenth user renamed, every twentieth also moved to other
    departments, and `count // 100` new users; unchanged users are left out (they would
    cost the import a comparison each, and leave the change log as it is)."""
    path = DATA / f"users-update-{count}.csv"
    if path.exists():
        return path
    codes = department_codes()
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(USER_HEADER)
        for i, row in enumerate(user_rows(count)):
            if i % 10:
                continue
            row[1] = f"Renamed{i}"
            if i % 20 == 0:
                row[3] = ";".join(codes[(i * 11 + k * 37) % DEPARTMENT_COUNT] for k in range(2))
            writer.writerow(row)
        for row in user_rows(count // 100, prefix="added"):
            writer.writerow(row)
    return path


def copy_of(pg: Postgres, template: str) -> str:
    """A new database copied from `template` (dropped with the others), vacuumed and
    analyzed as a live database would be, so that neither run pays for setting the hint bits
    of rows the copy has never read."""
    name = f"batchport_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template {template}")
    pg.created.append(name)
    with psycopg.connect(pg.raw_url(name), autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return name


def _outcome(url: str) -> str:
    """A digest of the users, their links and the jobs' statuses after a rollback (the same
    for batchport and the baseline, or the benchmark fails)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_OUTCOME).fetchone()
    return repr(row)


_OUTCOME = """
SELECT (SELECT md5(string_agg(concat_ws('|', id, email, first_name, last_name, is_active,
                                        updated_at, row_version, import_batch_id), ','
                              ORDER BY id)) FROM users),
       (SELECT md5(string_agg(concat_ws('|', user_id, department_id, is_primary, created_at,
                                        import_batch_id), ',' ORDER BY user_id, department_id))
        FROM user_departments),
       (SELECT count(*) FROM users), (SELECT count(*) FROM user_departments),
       (SELECT string_agg(status, ',' ORDER BY id) FROM import_history)
"""


# --- the raw baseline ----------------------------------------------------------------------

_RESTORE_USERS = """
UPDATE users AS u SET
    first_name = CASE WHEN c.prior ? 'first_name' THEN c.prior->>'first_name'
                      ELSE u.first_name END,
    last_name = CASE WHEN c.prior ? 'last_name' THEN c.prior->>'last_name' ELSE u.last_name END,
    is_active = CASE WHEN c.prior ? 'is_active' THEN (c.prior->>'is_active')::boolean
                     ELSE u.is_active END,
    updated_at = CASE WHEN c.prior ? 'updated_at' THEN (c.prior->>'updated_at')::timestamptz
                      ELSE u.updated_at END,
    row_version = c.version_before
FROM (SELECT row_id, prior::jsonb AS prior, version_before FROM import_changes
      WHERE batch_id = %(batch)s AND table_name = 'users') AS c
WHERE u.id = c.row_id
"""

_PRIOR_LINKS = """
CREATE TEMPORARY TABLE prior_links ON COMMIT DROP AS
SELECT l.* FROM import_changes AS c,
    jsonb_populate_recordset(NULL::user_departments, c.prior_links::jsonb->'user_departments') AS l
WHERE c.batch_id = %(batch)s AND c.table_name = 'users' AND c.prior_links IS NOT NULL
"""

_DELETE_LINKS = """
DELETE FROM user_departments AS d
USING (SELECT DISTINCT user_id FROM prior_links) AS o
WHERE d.user_id = o.user_id AND NOT EXISTS (
    SELECT FROM prior_links AS p
    WHERE p.user_id = d.user_id AND p.department_id = d.department_id)
"""

_PUT_LINKS_BACK = """
INSERT INTO user_departments (user_id, department_id, is_primary, created_at, import_batch_id)
SELECT user_id, department_id, is_primary, created_at, import_batch_id FROM prior_links
ON CONFLICT (user_id, department_id) DO UPDATE SET
    is_primary = excluded.is_primary, created_at = excluded.created_at,
    import_batch_id = excluded.import_batch_id
WHERE (user_departments.is_primary, user_departments.created_at,
       user_departments.import_batch_id)
      IS DISTINCT FROM (excluded.is_primary, excluded.created_at, excluded.import_batch_id)
"""


def baseline_restore(url: str, batch_id: str) -> None:
    """The raw set-based restore of the batch (see the module docstring)."""
    mark = str(uuid.uuid4())
    batch = {"batch": batch_id}
    with psycopg.connect(url) as conn:
        conn.execute("insert into import_writes (job_id) values (%s)", (mark,))
        conn.execute(_RESTORE_USERS, batch)
        conn.execute(_PRIOR_LINKS, batch)
        conn.execute(_DELETE_LINKS)
        conn.execute(_PUT_LINKS_BACK)
        conn.execute("delete from user_departments where import_batch_id = %(batch)s", batch)
        conn.execute("delete from users where import_batch_id = %(batch)s", batch)
        for marking in (
            "status = 'rolling_back', rolled_back_by = 'baseline'",
            "status = 'rolled_back', rolled_back_at = now()",
        ):
            conn.execute(f"update import_history set {marking} where batch_id = %(batch)s", batch)
        conn.execute("delete from import_writes where job_id = %s", (mark,))


if __name__ == "__main__":
    if sys.argv[1:2] == ["baseline-restore"]:
        baseline_restore(*sys.argv[2:4])
    else:
        report("PostgreSQL — restores", on_postgres(arguments(__doc__), suite))
