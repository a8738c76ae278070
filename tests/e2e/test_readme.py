"""The README's "Using it" examples, run in order in a fresh directory as a new user would:
each command succeeds and prints what the README shows (`…` standing for ids and times)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import console_steps, shown

ROOT = Path(__file__).parents[2]


def examples(section: str) -> list[tuple[list[str], list[str]]]:
    """The commands of the section's console blocks, as words, each with the lines shown."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        (shlex.split(command, comments=True), lines)
        for command, lines in console_steps(text, f"## {section}")
    ]


def test_the_readme_examples_run_in_order_on_a_fresh_directory(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    steps = examples("Using it")
    assert len(steps) >= 6 and all(words[0] == "batchport" for words, _ in steps)
    newest = None
    for words, expected in steps:
        args = [newest if word == "BATCH_ID" else word for word in words[1:]]
        result = subprocess.run(
            [sys.executable, "-m", "batchport", *args],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (words, result.stderr)
        printed = result.stdout.splitlines()
        for line in expected:
            assert shown(line, printed), (words, line, result.stdout)
        if found := re.search(r"undo with: batchport rollback (\S+)", result.stdout):
            newest = found[1]
