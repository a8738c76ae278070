"""The README's "Using it" examples, run in order in a fresh directory as a new user would:
each command succeeds and prints what the README shows (`…` standing for ids and times)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def examples(section: str) -> list[tuple[list[str], list[str]]]:
    """The commands of the section's first console block, each with the lines shown after it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1]
    block = body.split("```console\n", 1)[1].split("```\n", 1)[0]
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:], comments=True), []))
        elif line.strip():
            steps[-1][1].append(line)
    return steps


def shown(expected: str, lines: list[str]) -> bool:
    """Whether a printed line reads as `expected`, where `…` stands for anything."""
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return any(re.fullmatch(pattern, line.rstrip()) for line in lines)


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
