"""Starting the command: what each path imports (tests do not time it; benchmarks/startup.py
does), and the shipped types listed from their file alone, as the catalog describes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchport import BUILTIN_TYPES, commands
from batchport.configuration.describe import described
from batchport.configuration.listing import shipped_listing

#: What a command that reads no file and opens no database must not import: the database and
#: web stacks, the readers, the migrations.
HEAVY = frozenset(
    {
        "alembic",
        "argon2",
        "charset_normalizer",
        "email_validator",
        "fastapi",
        "jinja2",
        "psycopg",
        "python_calamine",
        "sqlalchemy",
        "starlette",
        "uvicorn",
    }
)
#: Runs the command as `python -m batchport ARGS` does, then prints the top-level packages it
#: loaded as a JSON list on stderr's last line.
PROBE = """
import atexit, json, runpy, sys
atexit.register(lambda: print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})),
                              file=sys.stderr))
sys.argv = ["batchport", *sys.argv[1:]]
runpy.run_module("batchport", run_name="__main__", alter_sys=True)
"""
LISTING = """\
departments → inventory.departments: Departments with an optional parent department (by code).
  columns: code, name, parent_code (optional), is_active (optional)
users → users: Users and the departments they belong to (codes separated by ';', the first \
one primary).
  columns: email, first_name, last_name, department_codes, is_active (optional)
"""
#: A database that cannot be reached: a command that opens it fails.
NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"


def probed(
    *args: str, cwd: Path, code: str = PROBE
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Runs `code` with `args` in `cwd` with no batchport setting but an unreachable database;
    returns the process and the packages it loaded."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**environment, "BATCHPORT_DATABASE_URL": NOWHERE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *said, loaded = result.stderr.rstrip("\n").split("\n")
    result.stderr = "\n".join(said)
    return result, set(json.loads(loaded))


def test_types_lists_the_shipped_types_without_a_database_or_heavy_libraries(tmp_path):
    """`batchport types` to a pipe prints the shipped types as always, opens no database (an
    unreachable one does not matter, none is created) and imports neither SQLAlchemy, the
    readers, the web stack, nor rich."""
    result, loaded = probed("types", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == LISTING
    assert loaded & (HEAVY | {"rich"}) == set()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["types", "--help"], ["import", "--help"], ["db", "--help"]]
)
def test_help_and_version_import_nothing_heavy(tmp_path, args):
    """Help and the version need no database: they import none of its stack."""
    result, loaded = probed(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "batchport" in result.stdout
    assert loaded & HEAVY == set()


def test_a_command_that_needs_the_database_opens_it(tmp_path):
    """The probe can fail: `history` imports SQLAlchemy and reports the unreachable database
    (exit 1, one line)."""
    result, loaded = probed("history", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to postgresql+psycopg://nobody@")
    assert "sqlalchemy" in loaded


def test_importing_the_package_loads_names_when_first_used(tmp_path):
    """`import batchport` (and the CLI, the use cases, the readers' package) loads nothing
    heavy; a name is imported when first used, and only what it needs."""
    code = (
        "import batchport, batchport.cli, batchport.commands, batchport.sources, sys\n"
        "assert batchport.Limits().max_rows > 0\n"
        "import json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})),"
        " file=sys.stderr)\n"
    )
    result, loaded = probed(cwd=tmp_path, code=code)
    assert result.returncode == 0, result.stderr
    assert loaded & (HEAVY | {"pydantic", "rich"}) == set()


def test_the_shipped_listing_is_what_the_catalog_describes():
    """The listing read off the shipped file alone has the types, tables, descriptions and
    columns (each required or not) of the catalog built over batchport's own tables."""
    keys = ("import_type", "table", "description")
    from_catalog = [
        {
            **{key: entry[key] for key in keys},
            "columns": [{"name": c["name"], "required": c["required"]} for c in entry["columns"]],
        }
        for entry in map(described, BUILTIN_TYPES.types)
    ]
    assert shipped_listing() == from_catalog


def test_list_types_reads_the_shipped_file_and_no_database(tmp_path, monkeypatch):
    """With no types file of one's own, `list_types` never opens the database; with one, it
    describes the types from the database it opens."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BATCHPORT_CONFIG", raising=False)

    def no_database() -> None:
        raise AssertionError("the database was opened")

    assert commands.list_types(None, no_database) == shipped_listing()
    (tmp_path / "batchport.toml").write_text("")
    with pytest.raises(AssertionError, match="the database was opened"):
        commands.list_types(None, no_database)
