"""The command as a person at a terminal meets it: progress while it works, Ctrl-C, the
version, completion, wording, and a history that fits in 80 columns."""

from __future__ import annotations

import json
import os
import pty
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.e2e.test_cli import EXAMPLES, run


def on_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Runs the command with stdout and stderr on a pseudo-terminal, as a person would;
    returns its exit code and everything it drew."""
    main, terminal = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "batchport", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env={**environment, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(terminal)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    return process.wait(timeout=120), drawn.decode("utf-8", "replace")


def departments_file(path: Path, rows: int) -> Path:
    with path.open("w") as out:
        out.write("code,name\n")
        out.writelines(f"D{n},Department {n}\n" for n in range(rows))
    return path


def test_an_import_on_a_terminal_shows_its_progress(tmp_path):
    """On a terminal an import draws its file, phase, rows and rows per second on stderr,
    then one line; the same import into a pipe, or with --json, draws nothing of it."""
    source = departments_file(tmp_path / "many.csv", 30_000)
    code, drawn = on_terminal("import", "departments", str(source), cwd=tmp_path)
    assert code == 0, drawn
    assert "many.csv: loading" in drawn and "rows/s" in drawn
    assert "30,000" in drawn and "Imported many.csv: created 30,000 departments" in drawn

    piped = run(
        "import", "departments", str(source), "--dry-run", "--on-existing", "skip", cwd=tmp_path
    )
    assert piped.returncode == 0, piped.stderr
    assert "rows/s" not in piped.stderr + piped.stdout
    code, drawn = on_terminal(
        "import", "departments", str(source), "--json", "--on-existing", "skip", cwd=tmp_path
    )
    assert code == 0 and "rows/s" not in drawn
    assert json.loads(drawn)["skipped"] == 30_000


def test_a_rollback_on_a_terminal_shows_its_phases(tmp_path):
    source = departments_file(tmp_path / "many.csv", 5_000)
    batch_id = json.loads(run("import", "departments", str(source), "--json", cwd=tmp_path).stdout)[
        "batch_id"
    ]
    code, drawn = on_terminal("rollback", batch_id, "--yes", cwd=tmp_path)
    assert code == 0, drawn
    assert f"batch {batch_id}: deleting the batch's rows" in drawn
    assert f"Rolled back batch {batch_id}: deleted 5,000 departments." in drawn


#: `python -m batchport`, with Ctrl-C handled as at a terminal: a test runner's worker may
#: ignore SIGINT, and its children inherit that.
AS_AT_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('batchport', run_name='__main__')"
)


def _interrupted(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Starts a long import, presses Ctrl-C (SIGINT to its process group, as a terminal does)
    once its job is running (or a moment after the start, for a dry run), and waits."""
    source = departments_file(tmp_path / "huge.csv", 1_500_000)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}
    process = subprocess.Popen(
        [sys.executable, "-c", AS_AT_A_TERMINAL, "import", "departments", str(source), *args],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _running(tmp_path / "batchport.db", args):
        time.sleep(0.02)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _running(database: Path, args: tuple[str, ...]) -> bool:
    if "--dry-run" in args:
        return database.exists()
    try:
        with sqlite3.connect(database) as conn:
            return bool(
                conn.execute("SELECT 1 FROM import_history WHERE status = 'running'").fetchall()
            )
    except sqlite3.Error:
        return False


def test_ctrl_c_stops_an_import_with_one_line_and_exit_130(tmp_path):
    """Ctrl-C mid-import: one line says nothing was imported and which job is failed; exit
    130; the history says interrupted; no row of the file is there."""
    result = _interrupted(tmp_path)
    assert result.returncode == 130, result.stderr
    [job] = json.loads(run("history", "--json", cwd=tmp_path).stdout)
    assert (job["status"], job["error_summary"]) == ("failed", "interrupted")
    assert result.stderr.strip() == (
        f"interrupted; nothing was imported — job {job['job_id']} is failed: interrupted"
    )
    with sqlite3.connect(tmp_path / "batchport.db") as conn:
        assert conn.execute("SELECT count(*) FROM departments").fetchone() == (0,)


def test_ctrl_c_stops_a_dry_run_saying_nothing_was_written(tmp_path):
    result = _interrupted(tmp_path, "--dry-run")
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "interrupted; nothing was written (dry run)"
    assert json.loads(run("history", "--json", cwd=tmp_path).stdout) == []


def test_version_and_shell_completion(tmp_path):
    shown = run("--version", cwd=tmp_path)
    assert (shown.returncode, shown.stdout) == (0, f"batchport {version('batchport')}\n")
    completion = {"_BATCHPORT_COMPLETE": "complete_bash", "COMP_WORDS": "batchport hist"}
    words = run(cwd=tmp_path, env={**completion, "COMP_CWORD": "1"})
    assert words.stdout.split() == ["history"]
    # Typed in bash (the shell is found among the command's parents, whoever ran the tests).
    typed = f"{shlex.quote(sys.executable)} -m batchport --show-completion; exit $?"
    script = subprocess.run(
        ["bash", "-c", typed], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert "complete -o default -F _batchport_completion batchport" in script.stdout, script


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "departments", "x.csv", "--encoding", "utf-9"], "unknown encoding 'utf-9'"),
        (["accounts", "create", "eve", "--role", "owner"], "'owner' is not one of"),
        (["import", "departments", "x.csv", "--on-existing", "merge"], "'merge' is not one of"),
    ],
)
def test_usage_errors_exit_2_naming_the_value(tmp_path, args, message):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert "Traceback" not in result.stderr


def test_counts_read_as_words(tmp_path):
    """One row is singular; thousands are separated; a workbook import says it in one line."""
    one = tmp_path / "one.csv"
    one.write_text("code,name\nHQ,Head office\n")
    single = run("import", "departments", str(one), "--dry-run", cwd=tmp_path)
    assert "1 row is valid; an import would create 1 department." in single.stdout
    many = departments_file(tmp_path / "many.csv", 12_345)
    assert (
        "created 12,345 departments;"
        in run("import", "departments", str(many), cwd=tmp_path).stdout
    )

    whole = run("import", "workbook", str(EXAMPLES / "workbook.xlsx"), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    [line] = whole.stdout.splitlines()
    assert line.startswith(
        "Imported workbook.xlsx (sheets departments, users): created 10 departments, 8 users "
        "and 13 user_departments; batch_id "
    )


def test_a_key_already_there_suggests_on_existing(tmp_path):
    run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path)
    again = run("import", "departments", str(EXAMPLES / "departments.csv"), cwd=tmp_path)
    assert again.returncode == 1
    said = " ".join(again.stderr.split())
    assert "10 of the rows are already in the database: --on-existing skip leaves them" in said
    skipped = run(
        "import",
        "departments",
        str(EXAMPLES / "departments.csv"),
        "--on-existing",
        "skip",
        cwd=tmp_path,
    )
    assert "10 departments skipped (already there)" in skipped.stdout


def test_the_history_fits_in_80_columns(tmp_path):
    """In 80 columns every line fits and each whole batch id is there to copy; wider, the
    file and who imported it are shown too."""
    batches = [
        json.loads(
            run("import", name, str(EXAMPLES / f"{name}.csv"), "--json", cwd=tmp_path).stdout
        )["batch_id"]
        for name in ("departments", "users")
    ]
    run("rollback", batches[1], "--yes", cwd=tmp_path)
    narrow = run("history", cwd=tmp_path, env={"COLUMNS": "80"})
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert all(any(b in line for line in lines) for b in batches)
    assert any("rolled_back" in line and batches[1] in line for line in lines)
    wide = run("history", cwd=tmp_path, env={"COLUMNS": "140"})
    assert "users.csv" in wide.stdout and "(cli)" in wide.stdout
