"""What a long command shows on a terminal while it works (`display`): drawn on stderr, and
only when stdout is a terminal and the command is not printing JSON (a pipe or a script gets
nothing but the result, and rich is not even imported)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batchport.cli.base import styled
from batchport.progress import Progress as Reporter
from batchport.progress import no_progress

#: How much of a CSV file is read to estimate its rows for the display's total.
COUNTED_BYTES = 16 << 20


def wanted(as_json: bool) -> bool:
    """Whether to draw progress: stdout and stderr are a terminal and no JSON is printed."""
    return not as_json and sys.stdout.isatty() and styled(sys.stderr)


@contextmanager
def shown(
    enabled: bool, title: str, *, total: int | None = None, estimated: bool = False
) -> Iterator[Reporter]:
    """A progress reporter to hand to a use case, drawing `title` and each phase it names;
    a reporter that does nothing when not `enabled`. The display goes when the work ends."""
    if not enabled:
        yield no_progress
        return
    from batchport.cli.display import drawn  # noqa: PLC0415 - rich, only when drawn

    with drawn(title, total=total, estimated=estimated) as report:
        yield report


def estimated_rows(path: Path) -> int | None:
    """About how many data rows a CSV file holds: its lines but the header, counted in its
    first `COUNTED_BYTES` and scaled to its size (a whole file is not read twice for a
    display); None for a workbook. Cells with line breaks make it an estimate too: the display
    says so."""
    if path.suffix.lower() not in {".csv", ".txt", ".tsv"}:
        return None
    try:
        size = path.stat().st_size
        with path.open("rb") as raw:
            head = raw.read(COUNTED_BYTES)
    except OSError:
        return None
    lines = head.count(b"\n") * (size / len(head)) if head else 0
    return max(round(lines) - 1, 0) or None
