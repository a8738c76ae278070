"""What a long command shows on a terminal while it works: the phase, the rows done, rows
per second, and the time left where the total is known — drawn on stderr, and only when
stdout is a terminal and the command is not printing JSON (a pipe or a script gets nothing
but the result)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from batchport.cli.base import err
from batchport.progress import Progress as Reporter
from batchport.progress import no_progress

#: How the use cases name their phases, as the display says them.
PHASES = {
    "started": "starting",
    "reading": "reading and checking",
    "checking": "checking against the database",
    "loading": "loading",
    "restoring": "restoring updated rows",
    "deleting": "deleting the batch's rows",
}
#: How much of a CSV file is read to estimate its rows for the display's total.
COUNTED_BYTES = 16 << 20


class _Rows(ProgressColumn):
    """`12,345 of ~300,000 rows` (or without a total: `12,345 rows`)."""

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        if task.total:
            done += f" of {'~' if task.fields.get('estimated') else ''}{int(task.total):,}"
        return Text(f"{done} rows")


class _Rate(ProgressColumn):
    """Rows per second over the last few seconds."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


def wanted(as_json: bool) -> bool:
    """Whether to draw progress: stdout and stderr are a terminal and no JSON is printed."""
    return not as_json and sys.stdout.isatty() and err.is_terminal


@contextmanager
def shown(
    enabled: bool, title: str, *, total: int | None = None, estimated: bool = False
) -> Iterator[Reporter]:
    """A progress reporter to hand to a use case, drawing `title` and each phase it names;
    a reporter that does nothing when not `enabled`. The display goes when the work ends."""
    if not enabled:
        yield no_progress
        return
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        _Rows(),
        _Rate(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = display.add_task(title, total=total or None, estimated=estimated)

    def report(phase: str, rows: int) -> None:
        # An estimated total grows to the rows read, if they pass it.
        display.update(
            task,
            completed=rows,
            description=f"{title}: {PHASES.get(phase, phase)}",
            total=max(total, rows) if total else None,
        )

    with display:
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
