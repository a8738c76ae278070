"""The `batchport` command as a user runs it: output, JSON, exit codes, confirmation."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchport import BUILTIN_TYPES, Database, commands
from tests.helpers import DEPARTMENTS, create_pg_database, drop_pg_database

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Runs the command (`python -m batchport`, so no venv need be active) in `cwd`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "batchport", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fresh_directory_import_creates_the_embedded_database(tmp_path):
    """`batchport import departments FILE` works with no set-up and says how to undo it."""
    result = run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created 10 departments" in result.stdout
    assert "batchport rollback" in result.stdout
    assert (tmp_path / "batchport.db").exists()


def test_import_json_has_the_documented_keys(tmp_path):
    """--json prints job_id, batch_id, import_type, status, rows_total, rows_imported, errors."""
    result = run(
        "import",
        "departments",
        str(EXAMPLES / "departments.xlsx"),
        "--json",
        "--as",
        "alice",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {
        "job_id",
        "batch_id",
        "import_type",
        "status",
        "rows_total",
        "rows_imported",
        "errors",
    } <= set(report)
    assert (report["status"], report["rows_imported"], report["errors"]) == ("completed", 10, [])
    history = json.loads(run("history", "--json", cwd=tmp_path).stdout)
    assert history[0]["imported_by"] == "alice"


def test_actor_comes_from_the_environment(tmp_path):
    """Without --as, BATCHPORT_ACTOR names who imported."""
    run(
        "import",
        "departments",
        str(EXAMPLES / "departments.csv"),
        cwd=tmp_path,
        env={"BATCHPORT_ACTOR": "svc-loader"},
    )
    history = json.loads(run("history", "--json", cwd=tmp_path).stdout)
    assert history[0]["imported_by"] == "svc-loader"


def test_invalid_file_exits_1_with_row_column_and_value(tmp_path):
    """A rejected file prints each error with its row, column and value, and exits 1."""
    path = tmp_path / "bad.csv"
    path.write_text("code,name\nOK,Fine\nBAD,\n")
    result = run("import", "departments", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.csv: 1 error; nothing was imported" in result.stderr
    assert "│ 3   │ name" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = json.loads(run("import", "departments", str(path), "--json", cwd=tmp_path).stdout)
    assert as_json["errors"] == [
        {"row": 3, "column": "name", "value": "", "message": "is required", "sheet": None}
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "departments", "missing.csv"], "missing.csv: no such file"),
        (["import", "widgets", "x.csv"], "unknown import type 'widgets'"),
        (["rollback", "nope", "--yes"], "no import job has batch id or job id 'nope'"),
        (["--database-url", "mysql://x/y", "history"], "unsupported database 'mysql'"),
        (["--database-url", "not a url", "history"], "not a database URL"),
    ],
)
def test_user_errors_exit_1_with_one_line_and_no_traceback(tmp_path, args, message):
    """Mistakes a user can make get one clear line on stderr and exit code 1."""
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path):
    """A missing argument or unknown option is a usage error: exit 2."""
    assert run("import", "departments", cwd=tmp_path).returncode == 2
    assert run("history", "--bogus", cwd=tmp_path).returncode == 2


def test_rollback_asks_first_and_json_lists_deleted_rows(tmp_path):
    """Without --yes a rollback asks; no answer cancels; --yes deletes and reports per table."""
    imported = json.loads(
        run(
            "import", "departments", str(EXAMPLES / "departments.csv"), "--json", cwd=tmp_path
        ).stdout
    )
    batch_id = imported["batch_id"]
    cancelled = run("rollback", batch_id, cwd=tmp_path, stdin="n\n")
    assert cancelled.returncode == 1
    assert "departments: 10 rows" in cancelled.stderr
    assert "nothing was changed" in cancelled.stderr
    done = run("rollback", batch_id, "--yes", "--json", "--reason", "test", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["batch_id"], report["status"]) == (batch_id, "rolled_back")
    assert report["deleted"]["departments"] == 10
    again = run("rollback", batch_id, "--yes", cwd=tmp_path)
    assert again.returncode == 1
    assert "already rolled back" in again.stderr
    batch = json.loads(run("batch", batch_id, "--json", cwd=tmp_path).stdout)
    assert batch["status"] == "rolled_back" and batch["rows"] == {}


def test_blocked_rollback_lists_the_references(tmp_path):
    """Refusing a rollback names each row outside the batch that points into it."""
    departments = json.loads(
        run(
            "import", "departments", str(EXAMPLES / "departments.csv"), "--json", cwd=tmp_path
        ).stdout
    )
    users = json.loads(
        run("import", "users", str(EXAMPLES / "users.csv"), "--json", cwd=tmp_path).stdout
    )
    result = run("rollback", departments["batch_id"], "--yes", cwd=tmp_path)
    assert result.returncode == 1
    assert "13 rows outside the batch reference its rows" in result.stderr
    assert "user_departments row" in result.stderr and "'FIN-AP'" in result.stderr
    # It says which batch holds on to it, and the order that works.
    assert (
        f"first roll back batch {users['batch_id']}: batchport rollback {users['batch_id']}; "
        f"then roll back this batch {departments['batch_id']}" in " ".join(result.stderr.split())
    )
    assert "caused by" not in result.stderr
    for batch_id in (users["batch_id"], departments["batch_id"]):
        assert run("rollback", batch_id, "--yes", cwd=tmp_path).returncode == 0


def test_rollback_dry_run_previews_and_exits_by_outcome(tmp_path):
    """--dry-run shows rows per table; exit 0 if the rollback could go ahead, 1 if blocked."""
    departments = json.loads(
        run(
            "import", "departments", str(EXAMPLES / "departments.csv"), "--json", cwd=tmp_path
        ).stdout
    )
    preview = run("rollback", departments["batch_id"], "--dry-run", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "departments: 10 rows would be deleted" in preview.stdout
    assert "Nothing blocks this rollback" in preview.stdout
    run("import", "users", str(EXAMPLES / "users.csv"), cwd=tmp_path)
    blocked = run("rollback", departments["batch_id"], "--dry-run", "--json", cwd=tmp_path)
    assert blocked.returncode == 1
    report = json.loads(blocked.stdout)
    assert report["possible"] is False and len(report["blockers"]) == 13
    history = json.loads(run("history", "--json", cwd=tmp_path).stdout)
    assert {j["status"] for j in history} == {"completed"}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_row_of_an_application_table_blocks_and_is_listed(tmp_path, database):
    """An application's order pointing at an imported user (ON DELETE CASCADE): the dry run
    and the refusal both name it and say what the cascade would have done; exit 1; the order
    and the user stay."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    if database == "postgresql":
        url = create_pg_database()
    env = {"BATCHPORT_DATABASE_URL": url}
    try:
        if database == "postgresql":
            run("db", "migrate", cwd=tmp_path, env=env)
        run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path, env=env)
        users = json.loads(
            run(
                "import", "users", str(EXAMPLES / "users.csv"), "--json", cwd=tmp_path, env=env
            ).stdout
        )
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER "
                "REFERENCES users (id) ON DELETE CASCADE)"
            )
            conn.exec_driver_sql("INSERT INTO orders (id, user_id) SELECT 7, min(id) FROM users")
        preview = run("rollback", users["batch_id"], "--dry-run", "--json", cwd=tmp_path, env=env)
        assert preview.returncode == 1
        [blocker] = json.loads(preview.stdout)["blockers"]
        assert (blocker["table"], blocker["row_id"], blocker["column"]) == ("orders", 7, "user_id")
        assert blocker["on_delete"] == "CASCADE"
        refused = run(
            "rollback", users["batch_id"], "--yes", "--force-edited", cwd=tmp_path, env=env
        )
        assert refused.returncode == 1
        assert "orders row 7 (user_id) references users" in refused.stderr
        assert "ON DELETE CASCADE would delete it" in refused.stderr
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM orders").scalar_one() == 1
            assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar_one() == 8
        engine.dispose()
    finally:
        if database == "postgresql":
            drop_pg_database(url)


def test_history_filters_and_batch_view(tmp_path):
    """history filters by type and status; batch shows row counts per table."""
    run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path)
    users = json.loads(
        run("import", "users", str(EXAMPLES / "users.xlsx"), "--json", cwd=tmp_path).stdout
    )
    only_users = json.loads(run("history", "--type", "users", "--json", cwd=tmp_path).stdout)
    assert [j["batch_id"] for j in only_users] == [users["batch_id"]]
    assert json.loads(run("history", "--status", "failed", "--json", cwd=tmp_path).stdout) == []
    batch = run("batch", users["batch_id"], cwd=tmp_path)
    assert "users: 8 rows" in batch.stdout and "user_departments: 13 rows" in batch.stdout


def test_dry_run_says_what_it_would_create(tmp_path):
    """--dry-run prints the counts and leaves no history behind."""
    result = run("import", "users", str(EXAMPLES / "users.csv"), "--dry-run", cwd=tmp_path)
    assert result.returncode == 1  # the departments are not there yet
    assert "no departments row has code 'HQ'" in result.stderr
    assert json.loads(run("history", "--json", cwd=tmp_path).stdout) == []  # no failed job
    run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path)
    result = run("import", "users", str(EXAMPLES / "users.csv"), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0
    assert "8 rows are valid; an import would create 8 users and 13 user_departments" in (
        result.stdout
    )
    assert len(json.loads(run("history", "--json", cwd=tmp_path).stdout)) == 1


@pytest.fixture
def pg_url():
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.mark.slow
def test_postgresql_lifecycle_through_the_cli(tmp_path, pg_url):
    """Unmigrated PostgreSQL is refused with advice; migrate, status, verify, rollback work."""
    env = {"BATCHPORT_DATABASE_URL": pg_url}
    refused = run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "run `batchport db migrate`" in refused.stderr

    status = json.loads(run("db", "status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["current"] is None and len(status["pending"]) == 14

    assert run("db", "migrate", cwd=tmp_path, env=env).returncode == 0
    verify = run("db", "verify", cwd=tmp_path, env=env)
    assert verify.returncode == 0, verify.stdout
    assert "FAIL" not in verify.stdout and "import_history.batch_id is unique" in verify.stdout

    assert run("db", "rollback", "--yes", cwd=tmp_path, env=env).returncode == 0
    status = json.loads(run("db", "status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["current"] == "20261212110000"
    back = run("db", "rollback", "--target", "20251213100001", "--yes", cwd=tmp_path, env=env)
    assert back.returncode == 0
    failing = run("db", "verify", cwd=tmp_path, env=env)
    assert (
        failing.returncode == 1
        and "FAIL inventory.departments.import_batch_id exists" in failing.stdout
    )

    down = run("db", "rollback", "--target", "20251213073723", "--yes", cwd=tmp_path, env=env)
    assert down.returncode == 0
    assert json.loads(run("db", "status", "--json", cwd=tmp_path, env=env).stdout)["pending"] == [
        "20251213100001",
        "20251213100002",
        "20261125113000",
        "20261125140000",
        "20261125160000",
        "20261201100000",
        "20261201120000",
        "20261201140000",
        "20261201160000",
        "20261210100000",
        "20261212100000",
        "20261212110000",
        "20261212120000",
    ]
    assert run("db", "migrate", cwd=tmp_path, env=env).returncode == 0
    imported = run(
        "import", "departments", str(EXAMPLES / "departments.csv"), "--json", cwd=tmp_path, env=env
    )
    assert json.loads(imported.stdout)["rows_imported"] == 10


def test_unreachable_database_is_a_clear_error(tmp_path):
    """A PostgreSQL URL nobody answers at gives one line naming the URL, no traceback."""
    result = run(
        "history",
        cwd=tmp_path,
        env={"BATCHPORT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 1
    assert "cannot connect to postgresql+psycopg://nobody@127.0.0.1:1/none" in result.stderr
    assert "Traceback" not in result.stderr and "caused by" not in result.stderr


def test_module_is_runnable(tmp_path):
    """`python -m batchport` is the same command."""
    result = subprocess.run(
        [sys.executable, "-m", "batchport", "types"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "departments" in result.stdout and "users" in result.stdout


def test_in_process_cli_on_both_databases(cli, csv_file):
    """The same import and rollback through the CLI on SQLite and PostgreSQL."""
    imported = cli("import", "departments", str(csv_file(DEPARTMENTS)), "--json")
    assert imported.exit_code == 0, imported.output
    batch_id = json.loads(imported.stdout)["batch_id"]
    rolled = cli("rollback", batch_id, "--yes", "--json")
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.stdout)["deleted"]["departments"] == 3


def test_workbook_update_and_forced_rollback_through_the_cli(tmp_path):
    """`import workbook` loads both sheets as one batch; `--on-existing update` reports its
    counts; an edited row blocks `rollback` (exit 1, listed) until `--force-edited`."""
    whole = run("import", "workbook", str(EXAMPLES / "workbook.xlsx"), "--json", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    sheets = json.loads(whole.stdout)
    assert [(s["import_type"], s["rows_imported"]) for s in sheets] == [
        ("departments", 10),
        ("users", 8),
    ]
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "email,first_name,last_name,department_codes\n"
        "ana.silva@example.org,Anabela,Silva,HQ\n"
        "zoe.new@example.org,Zoe,New,HQ\n"
    )
    update = run("import", "users", str(changed), "--on-existing", "update", cwd=tmp_path)
    assert update.returncode == 0, update.stderr
    assert "created 1 user and 1 user_department; 1 user updated, 0 unchanged" in update.stdout
    batch_id = update.stdout.split("batchport rollback ")[1].split()[0]

    with sqlite3.connect(tmp_path / "batchport.db") as conn:
        conn.execute("UPDATE users SET last_name = 'Hand' WHERE email = 'zoe.new@example.org'")
    refused = run("rollback", batch_id, "--yes", cwd=tmp_path)
    assert refused.returncode == 1
    assert "zoe.new@example.org" in refused.stderr and "--force-edited" in refused.stderr
    forced = run("rollback", batch_id, "--yes", "--force-edited", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "restored 1 user (forced over edited rows)" in forced.stdout
    [job] = json.loads(run("history", "--json", "--limit", "1", cwd=tmp_path).stdout)
    assert (job["status"], job["rollback_forced"], job["rows_updated"]) == ("rolled_back", True, 1)


def test_errors_out_writes_a_spreadsheet_safe_report(tmp_path):
    """--errors-out writes each error with its row's cells; cells a spreadsheet would run as a
    formula are neutralised with a leading quote, a plain negative number is kept."""
    path = tmp_path / "bad.csv"
    path.write_text(
        "code,name,parent_code\n"
        "OK,Fine,\n"
        '=HYPERLINK("http://x"),"+cmd|calc",@SUM(1)\n'
        "-2,\tTabbed,NOPE\n"
    )
    out = tmp_path / "errors.csv"
    result = run("import", "departments", str(path), "--errors-out", str(out), cwd=tmp_path)
    assert result.returncode == 1
    assert f"2 errors written to {out}" in result.stderr
    with out.open(newline="", encoding="utf-8-sig") as stream:
        lines = list(csv.reader(stream))
    assert lines[0] == ["row", "column", "value", "problem", "code", "name", "parent_code"]
    by_row = {(line[0], line[1]): line for line in lines[1:]}
    bad_parent = by_row["3", "parent_code"]
    assert bad_parent[2] == "'@SUM(1)"
    assert bad_parent[4:] == ['\'=HYPERLINK("http://x")', "'+cmd|calc", "'@SUM(1)"]
    assert by_row["4", "parent_code"][4:] == ["-2", "'\tTabbed", "NOPE"]
    for line in lines[1:]:
        assert not any(
            cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line if cell != "-2"
        )


def test_accounts_and_audit_through_the_cli(tmp_path):
    """`accounts create` prints a token once (stored hashed), `accounts list` never shows it,
    and `audit` lists the account's creation and the imports."""
    created = json.loads(
        run("accounts", "create", "alice", "--role", "importer", "--json", cwd=tmp_path).stdout
    )
    assert created["token"].startswith("bp_") and created["role"] == "importer"
    listed = run("accounts", "list", "--json", cwd=tmp_path)
    assert created["token"] not in listed.stdout
    assert [a["name"] for a in json.loads(listed.stdout)] == ["alice"]
    with sqlite3.connect(tmp_path / "batchport.db") as conn:
        [stored] = conn.execute("select token_hash from accounts").fetchone()
    assert stored.startswith("$argon2") and created["token"].split("_", 2)[2] not in stored
    refused = run("accounts", "create", "alice", cwd=tmp_path)
    assert refused.returncode == 1 and "exists already" in refused.stderr
    run("import", "departments", str(EXAMPLES / "departments.csv"), "--as", "carol", cwd=tmp_path)
    entries = json.loads(run("audit", "--json", cwd=tmp_path).stdout)
    assert [(e["action"], e["outcome"]) for e in entries][:2] == [
        ("import", "ok"),
        ("create account", "ok"),
    ]
    assert entries[0]["actor"] == "carol" and entries[0]["file_sha256"]


def test_tokens_rotate_disable_and_expire_through_the_cli(tmp_path):
    """`accounts rotate` prints a new token and the old one stops working; `disable` refuses
    the token at once, `enable` takes it back; `--expires-in` sets an expiry; look-alike names
    and durations that are none are refused; the audit log says who did it, from the CLI."""
    first = json.loads(
        run("accounts", "create", "bob", "--expires-in", "30d", "--json", cwd=tmp_path).stdout
    )["token"]
    rotated = run("accounts", "rotate", "bob", "--json", "--as", "ops", cwd=tmp_path)
    second = json.loads(rotated.stdout)["token"]
    db = Database.from_url(f"sqlite:///{tmp_path / 'batchport.db'}", catalog=BUILTIN_TYPES)
    try:
        assert commands.authenticate(db, first) is None
        assert commands.authenticate(db, second).name == "bob"
        assert run("accounts", "disable", "bob", cwd=tmp_path).returncode == 0
        assert commands.authenticate(db, second) is None
        [listed] = json.loads(run("accounts", "list", "--json", cwd=tmp_path).stdout)
        assert listed["disabled_at"] and listed["token_expires_at"] is None  # rotated: none
        assert run("accounts", "enable", "bob", cwd=tmp_path).returncode == 0
        assert commands.authenticate(db, second).name == "bob"
    finally:
        db.dispose()
    bad = run("accounts", "create", "b\u200bob", cwd=tmp_path)
    assert bad.returncode == 1 and "invisible or direction characters" in bad.stderr
    never = run("accounts", "rotate", "bob", "--expires-in", "soon", cwd=tmp_path)
    assert never.returncode == 1 and "30d, 12h or 90m" in never.stderr
    entries = json.loads(run("audit", "--json", cwd=tmp_path).stdout)
    assert [(e["action"], e["actor"], e["via"]) for e in entries][:3] == [
        ("enable account", entries[0]["actor"], "cli"),
        ("disable account", entries[0]["actor"], "cli"),
        ("rotate token", "ops", "cli"),
    ]


def test_db_grant_needs_postgresql(tmp_path):
    """SQLite has no roles: `db grant` says so, exit 1, no traceback."""
    refused = run("db", "grant", "service", cwd=tmp_path)
    assert refused.returncode == 1 and "roles are PostgreSQL's" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_workbook_over_the_memory_bound_is_refused_and_the_bound_raised(tmp_path, xlsx_file):
    """The CLI reads a workbook on its user's machine with a bound of its own (1 GiB by
    default; the service keeps 200 MiB): the estimate of what reading takes is checked
    against `--max-workbook-memory`."""
    book = xlsx_file({"departments": [["code", "name"], ["HQ", "Head office"]]})
    refused = run("import", "workbook", str(book), "--max-workbook-memory", "1", cwd=tmp_path)
    assert refused.returncode == 1 and "memory" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    done = run("import", "workbook", str(book), cwd=tmp_path)
    assert done.returncode == 0, done.stderr


#: A bad value of 2 MiB: more than a department's name may hold.
HUGE = "x" * (2 << 20)
SHOWN_HUGE = "x" * 200 + "… (2,097,152 characters)"


def test_a_huge_bad_value_is_shown_cut_with_its_length(cli, csv_file, tmp_path):
    """A 2 MiB bad cell is shown as its first 200 characters and its length in the error
    table, in --json and in the --errors-out file: named, never echoed whole."""
    path = csv_file([*DEPARTMENTS, ["BIG", HUGE, "HQ"]])
    cells = ("--max-cell-size", str(len(HUGE)))
    shown = cli("import", "departments", str(path), *cells)
    assert shown.exit_code == 1
    assert "2,097,152 characters" in shown.output and "x" * 300 not in shown.output
    as_json = cli("import", "departments", str(path), *cells, "--json", "--dry-run")
    assert as_json.exit_code == 1
    [error] = json.loads(as_json.stdout)["errors"]
    assert (error["row"], error["column"], error["value"]) == (5, "name", SHOWN_HUGE)
    assert error["message"] == "is 2097152 characters long; at most 255 allowed"
    out = tmp_path / "errors.csv"
    cli("import", "departments", str(path), *cells, "--errors-out", str(out))
    with out.open(encoding="utf-8-sig", newline="") as stream:
        [_, line] = list(csv.reader(stream))
    assert line[:3] == ["5", "name", SHOWN_HUGE] and line[4:] == ["BIG", SHOWN_HUGE, "HQ"]


def _users_with_errors(rows: int, every: int, *, duplicate: bool) -> list[list[str]]:
    """Users rows, every `every`-th with a bad is_active; with `duplicate`, the last row
    repeats the first one's email (an error only the whole file shows)."""
    found = [["email", "first_name", "last_name", "department_codes", "is_active"]]
    found += (
        [f"u{i}@example.org", "Ana", "Silva", "FIN", "maybe" if i % every else "1"]
        for i in range(rows)
    )
    if duplicate:
        found.append(["u0@example.org", "Ana", "Silva", "FIN", "1"])
    return found


@pytest.mark.parametrize("duplicate", [False, True], ids=["cells", "cells-and-duplicate"])
def test_a_file_with_many_errors_reports_every_one_exactly(cli, csv_file, duplicate):
    """Thousands of bad cells across chunks, and a repeated key if any: the import and the dry
    run report every error, each once, in row order; nothing is imported."""
    assert cli("import", "departments", str(csv_file(DEPARTMENTS, name="d.csv"))).exit_code == 0
    rows = 30_000
    path = csv_file(_users_with_errors(rows, 2, duplicate=duplicate))
    expected = [
        [i + 2, "is_active", "maybe", "is not a yes/no value (use true/false, yes/no or 1/0)"]
        for i in range(rows)
        if i % 2
    ]
    if duplicate:
        expected.append(
            [
                rows + 2,
                "email",
                "u0@example.org",
                "email 'u0@example.org' is also in row 2 of this file",
            ]
        )
    for extra in ((), ("--dry-run",)):
        result = cli("import", "users", str(path), "--json", *extra)
        assert result.exit_code == 1
        errors = json.loads(result.stdout)["errors"]
        assert [[e["row"], e["column"], e["value"], e["message"]] for e in errors] == expected
    history = json.loads(cli("history", "--type", "users", "--json").stdout)
    assert [(job["status"], job["rows_imported"]) for job in history] == [("failed", 0)]
