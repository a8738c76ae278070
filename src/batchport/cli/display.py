"""The progress display itself, drawn with rich on stderr: the phase, the rows done, rows per
second, and the time left where the total is known. Imported only when it is drawn."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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

#: How the use cases name their phases, as the display says them.
PHASES = {
    "started": "starting",
    "reading": "reading and checking",
    "checking": "checking against the database",
    "loading": "loading",
    "restoring": "restoring updated rows",
    "deleting": "deleting the batch's rows",
}


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


@contextmanager
def drawn(title: str, *, total: int | None, estimated: bool) -> Iterator[Reporter]:
    """A progress reporter drawing `title` and each phase it is told; the display goes when
    the work ends."""
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        _Rows(),
        _Rate(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=err(),
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
