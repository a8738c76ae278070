"""How the outcome of a job is printed: an import's line, a rejected file's rows, a rollback's
preview, a batch and its rows, the history's table."""

from pathlib import Path
from typing import TYPE_CHECKING

from batchport.cli.base import SHOWN_ERRORS, err, listed, out, print_json, say
from batchport.cli.wording import counted, tables
from batchport.errors import FileRejected, unblocking

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from batchport.reports import ImportReport, Job, RollbackPreview


#: From this width on the history shows each job's file and who imported it too.
WIDE = 120


def history_table(jobs: "list[Job]", *, width: int) -> "Table":
    """The jobs, newest first, one line each: in 80 columns the time, type, status, rows and
    the whole batch id (to copy into `rollback`); wider, the file and who imported it too."""
    from rich import box  # noqa: PLC0415 - rich only for the commands that draw tables
    from rich.table import Table  # noqa: PLC0415

    wide = width >= WIDE
    table = Table(box=box.SIMPLE_HEAD, padding=0, pad_edge=False, show_edge=False)
    # In 80 columns the time goes under the date.
    table.add_column("started (UTC)", no_wrap=wide, min_width=10)
    table.add_column("type", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    if wide:
        table.add_column("file", overflow="ellipsis", max_width=40)
        table.add_column("by", overflow="ellipsis", max_width=24)
    table.add_column("batch_id", no_wrap=True, min_width=36)
    for job in jobs:
        started = f"{job.started_at:%Y-%m-%d %H:%M}" if job.started_at else ""
        cells = [started, job.import_type, job.status, f"{job.rows_imported:,}"]
        if wide:
            cells += [job.file_name or "", _who(job.imported_by, job.imported_via)]
        table.add_row(*cells, job.batch_id)
    return table


def print_import(reports: "list[ImportReport]", file: Path, *, workbook: bool) -> None:
    """One line: what was (or would be) created, updated and skipped, and how to undo it."""
    first, last = reports[0], reports[-1]
    named = file.name
    if workbook:
        named += f" (sheets {', '.join(r.import_type for r in reports)})"
    elif first.encoding and first.encoding != "utf-8":  # a file read as anything but UTF-8
        named += f" (read as {first.encoding})"
    created: dict[str, int] = {}
    for report in reports:
        for table, count in report.created.items():
            created[table] = created.get(table, 0) + count
    done = tables(created, none="nothing") + "".join(_existing(r) for r in reports)
    if last.dry_run:
        valid = sum(r.rows_total for r in reports)
        say(
            f"{named}: {counted(valid, 'rows')} {'is' if valid == 1 else 'are'} valid; an "
            f"import would create {done}. Nothing was written (dry run)."
        )
    else:
        say(
            f"Imported {named}: created {done}; batch_id {last.batch_id}, undo with: "
            f"batchport rollback {last.batch_id}"
        )


def _existing(report: "ImportReport") -> str:
    """What became of the rows whose key was already there: `; 5 users updated, 3
    unchanged` or `; 5 users skipped (already there)`; nothing when such rows are errors."""
    table = report.import_type
    if report.on_existing == "update":
        return f"; {counted(report.updated, table)} updated, {report.unchanged:,} unchanged"
    if report.on_existing == "skip":
        return f"; {counted(report.skipped, table)} skipped (already there)"
    return ""


def print_row_errors(exc: FileRejected) -> None:
    from rich.table import Table  # noqa: PLC0415 - rich only for the commands that draw tables

    table = Table("row", "column", "value", "problem", title=str(exc), title_justify="left")
    for error in exc.errors[:SHOWN_ERRORS]:
        table.add_row(
            f"{error.sheet}!{error.row}" if error.sheet else str(error.row),
            error.column or "",
            "" if error.value is None else repr(error.value),
            error.message,
        )
    err().print(table)
    hidden = len(exc.errors) - SHOWN_ERRORS
    if hidden > 0:
        err().print(f"... and {hidden:,} more errors (--json lists them all).")
    if exc.hint:
        err().print(f"To import the file: {exc.hint}.", highlight=False)


def print_preview(
    preview: "RollbackPreview", as_json: bool, console: "Console | None" = None
) -> None:
    if as_json:
        print_json(preview.to_json())
        return
    console = console or out()
    print_job(preview.job, preview.rows, console=console, verb="would be deleted")
    if preview.refusal:
        console.print(f"[red]cannot be rolled back:[/] {preview.refusal}", highlight=False)
    for table, count in preview.restores.items():
        console.print(
            f"  {table}: {counted(count, 'rows')} would be restored to their values before "
            "the import"
        )
    if preview.references:
        console.print(
            f"[red]blocked:[/] {counted(len(preview.references), 'rows')} outside the batch "
            "reference it:",
            highlight=False,
        )
        listed(preview.references, console=console)
        if first := unblocking(preview.job.batch_id, preview.references):
            console.print(f"To roll it back: {first}.", highlight=False)
    if preview.conflicts:
        console.print(
            f"[red]blocked:[/] {counted(len(preview.conflicts), 'rows')} the batch updated "
            "cannot be restored:",
            highlight=False,
        )
        listed(preview.conflicts, console=console)
    if preview.edited:
        label = (
            "[yellow]edits that --force-edited would lose:[/]"
            if preview.force_edited
            else (
                "[red]blocked:[/] rows edited since the import (--force-edited rolls back anyway):"
            )
        )
        console.print(f"{label} {counted(len(preview.edited), 'rows')}", highlight=False)
        listed(preview.edited, console=console)
    if preview.possible:
        console.print("Nothing blocks this rollback.")


def print_job(
    job: "Job",
    rows: dict[str, int],
    *,
    console: "Console",
    verb: str = "",
    updated: dict[str, int] | None = None,
) -> None:
    console.print(
        f"batch_id {job.batch_id} (job {job.job_id})\n"
        f"  type {job.import_type}, file {job.file_name}, status {job.status}\n"
        f"  imported by {_who(job.imported_by, job.imported_via)} at {job.started_at}"
        + (
            f"\n  rolled back by {_who(job.rolled_back_by, job.rolled_back_via)} at "
            f"{job.rolled_back_at}"
            if job.rolled_back_at
            else ""
        )
    )
    for table, count in rows.items():
        console.print(f"  {table}: {counted(count, 'rows')}" + (f" {verb}" if verb else ""))
    for table, count in (updated or {}).items():
        console.print(f"  {table}: {counted(count, 'rows')} updated")
    if not rows and not updated:
        console.print("  no rows carry this batch id")


def _who(name: str | None, via: str | None) -> str:
    """An actor with where it acted from: `alice (api)`."""
    return f"{name} ({via})" if name and via else name or ""
