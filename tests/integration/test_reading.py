"""Files read right, through a real import on SQLite and PostgreSQL: a file in a legacy
encoding is stored as the text it holds; a NUL byte, a stray byte or an unclosed quote anywhere
is refused naming the file and line, and nothing is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchport import SourceError, list_history, run_import
from tests.helpers import DEPARTMENTS

USERS_HEADER = b"email,first_name,last_name,department_codes\n"


@pytest.fixture
def departments(db, csv_file):
    """The departments the users files name."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")


def users_file(tmp_path: Path, rows: int, last: bytes) -> Path:
    """A users file: the header, `rows` valid rows (lines 2 to `rows` + 1), then `last`."""
    path = tmp_path / "users.csv"
    body = b"".join(b"u%d@example.org,Ann,Lee,HQ\n" % i for i in range(rows))
    path.write_bytes(USERS_HEADER + body + last)
    return path


def assert_no_users(db, rows):
    """No user or link was written, and no users import is recorded as anything but failed."""
    assert rows("users") == []
    assert rows("user_departments") == []
    assert {job.status for job in list_history(db) if job.import_type == "users"} <= {"failed"}


def test_a_nul_byte_deep_in_a_file_is_refused_naming_its_line(db, departments, tmp_path, rows):
    """A NUL after 40,000 good rows (beyond the sample, in a file read ahead in another
    process) is refused before a row is written: no bare database error, no NUL stored."""
    path = users_file(tmp_path, 40_000, b"zoe@example.org,Zo\x00e,Lee,HQ\n")
    with pytest.raises(SourceError, match=r"users\.csv: line 40002 holds a NUL character"):
        run_import(db, "users", path, actor="a")
    assert_no_users(db, rows)


def test_the_command_line_refuses_a_nul_byte_with_exit_code_1(
    db, database_url, departments, tmp_path, rows
):
    """`batchport import users FILE` prints one line naming the file and the line, no
    traceback, and exits with 1."""
    path = users_file(tmp_path, 2, b"zoe@example.org,Zo\x00e,Lee,HQ\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHPORT_")}
    command = [sys.executable, "-m", "batchport", "--database-url", database_url]
    result = subprocess.run(
        [*command, "import", "users", str(path)],
        cwd=tmp_path,
        env={**environment, "COLUMNS": "1000"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}: line 4 holds a NUL character" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_users(db, rows)


def test_a_windows_1251_file_is_stored_as_its_cyrillic_text(db, tmp_path, rows):
    """Detected as Windows-1251, the names are stored as written, not as 'Ìîñêâà'."""
    path = tmp_path / "departments.csv"
    text = "code,name,parent_code\nMSK,Москва,\nSPB,Санкт-Петербург,MSK\nKZN,Казань,MSK\n"
    path.write_bytes(text.encode("cp1251"))
    run_import(db, "departments", path, actor="a")
    assert [d["name"] for d in rows("departments")] == ["Москва", "Санкт-Петербург", "Казань"]


def test_a_utf8_file_with_one_stray_byte_is_refused_naming_the_line(db, tmp_path, rows):
    """One Windows-1252 line in a UTF-8 file is an error at that line, not the whole file
    stored as 'CafÃ©'."""
    path = tmp_path / "departments.csv"
    lines = "code,name\nA,Café\nB,Zürich\n".encode() + "C,Crème brûlée\n".encode("cp1252")
    path.write_bytes(lines)
    with pytest.raises(SourceError, match=r"not valid utf-8 \(byte 0xe8, .*\) at line 4"):
        run_import(db, "departments", path, actor="a")
    assert rows("departments") == []


def test_excel_csv_utf8_imports_with_encoding_utf8_named(db, tmp_path, rows):
    """Excel's "CSV UTF-8" starts with a byte-order mark; --encoding utf-8 drops it, so the
    first column is 'code', not an unknown '\\ufeffcode'."""
    path = tmp_path / "departments.csv"
    path.write_bytes("code,name\r\nA,Åse\r\n".encode("utf-8-sig"))
    run_import(db, "departments", path, actor="a", encoding="utf-8")
    assert [(d["code"], d["name"]) for d in rows("departments")] == [("A", "Åse")]


def test_an_unclosed_quote_is_refused_at_the_line_it_opens(db, departments, tmp_path, rows):
    """A quote opened at line 25,001 and never closed is reported there, not at the end of
    the file 15,000 lines later."""
    body = b"".join(b"v%d@example.org,Vic,Ray,HQ\n" % i for i in range(15_000))
    path = users_file(tmp_path, 25_000, b'zoe@example.org,"Zoe,Lee,HQ\n' + body)
    with pytest.raises(SourceError, match="a quoted cell opened at line 25002 is never closed"):
        run_import(db, "users", path, actor="a")
    assert_no_users(db, rows)
