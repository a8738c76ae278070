"""What `batchport types` prints, to a pipe (plain text, without rich) and on a terminal
(rich): the types file's words as they are written."""

from __future__ import annotations

from batchport.configuration import shipped_text
from tests.e2e.test_cli import run
from tests.e2e.test_cli_terminal import on_terminal

#: A description a markup reader would eat: tags, an emoji code, a backslash.
WRITTEN = r"Departments [red]as written[/] :smile: \ kept"


def test_descriptions_are_printed_as_written(tmp_path):
    """A types file's description with brackets, colons and a backslash is listed as the
    file says, to a pipe and on a terminal (where the type's name is bold)."""
    shipped = "Departments with an optional parent department (by code)."
    text = shipped_text()
    assert shipped in text
    written = WRITTEN.replace("\\", "\\\\")
    (tmp_path / "batchport.toml").write_text(text.replace(shipped, written), encoding="utf-8")

    piped = run("types", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[0] == f"departments → inventory.departments: {WRITTEN}"

    code, drawn = on_terminal("types", cwd=tmp_path)
    assert code == 0, drawn
    assert "\x1b[1mdepartments\x1b[0m" in drawn
    assert f" → inventory.departments: {WRITTEN}" in drawn
