"""The commands of import jobs: import a file, list the history, show a batch, roll one back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from batchport import commands
from batchport.cli.base import (
    EXIT_ERROR,
    SHOWN_ERRORS,
    ActorOption,
    JsonOption,
    actor_name,
    app,
    confirm,
    err,
    out,
    print_json,
    reported,
)
from batchport.errors import FileRejected
from batchport.history import JobFilter
from batchport.reports import ImportReport, Job, RollbackPreview
from batchport.sources import Limits
from batchport.vocabulary import OnExisting, Via

#: The CLI reads a workbook on its user's own machine: it may take more memory than the
#: service's bound (`Limits.max_workbook_memory`), enough for a sheet of a million rows.
CLI_WORKBOOK_MEMORY = 1 << 30


@app.command("import")
def import_(
    ctx: typer.Context,
    import_type: Annotated[
        str,
        typer.Argument(
            help="What the file holds, e.g. departments; `workbook` imports every sheet "
            "named after a type, in dependency order, as one batch."
        ),
    ],
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file.")],
    sheet: Annotated[str | None, typer.Option(help="The sheet of a workbook to read.")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The CSV file's encoding (default: UTF-8).")
    ] = None,
    on_existing: Annotated[
        OnExisting,
        typer.Option(
            help="A row whose key is already in the database: an error, skipped, or updated "
            "(its prior values are kept, and a rollback restores them)."
        ),
    ] = OnExisting.error,
    delimiter: Annotated[
        str | None,
        typer.Option(help="The CSV delimiter: , ; tab or | (default: detected from the header)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report; write nothing.")
    ] = False,
    errors_out: Annotated[
        Path | None,
        typer.Option(
            "--errors-out",
            help="If the file is rejected, write every error with its row's cells to this "
            "CSV, to fix in a spreadsheet.",
        ),
    ] = None,
    max_rows: Annotated[
        int, typer.Option(min=1, help="Refuse files with more data rows than this.")
    ] = Limits.max_rows,
    max_file_size: Annotated[
        int,
        typer.Option(
            min=1, help="Refuse files (and workbooks unpacking to) more megabytes than this."
        ),
    ] = Limits.max_file_bytes >> 20,
    max_cell_size: Annotated[
        int, typer.Option(min=1, help="Refuse cells longer than this many characters.")
    ] = Limits.max_cell_chars,
    max_workbook_memory: Annotated[
        int,
        typer.Option(
            min=1,
            help="Refuse workbooks whose reading would take more megabytes of memory than "
            "this (estimated before reading; a workbook's sheet is read whole).",
        ),
    ] = CLI_WORKBOOK_MEMORY >> 20,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import FILE as one batch: every row, or none if any row is invalid."""
    limits = Limits(
        max_file_bytes=max_file_size << 20,
        max_rows=max_rows,
        max_cell_chars=max_cell_size,
        max_unpacked_bytes=max_file_size << 20,
        max_workbook_memory=max_workbook_memory << 20,
    )
    with reported(ctx, as_json):
        db = ctx.obj.database()
        try:
            if import_type == commands.WORKBOOK:
                reports = commands.run_workbook_import(
                    db,
                    file,
                    actor=actor_name(actor),
                    via=Via.cli,
                    limits=limits,
                    dry_run=dry_run,
                    on_existing=on_existing.value,
                )
            else:
                reports = [
                    commands.run_import(
                        db,
                        import_type,
                        file,
                        actor=actor_name(actor),
                        via=Via.cli,
                        encoding=encoding,
                        sheet=sheet,
                        delimiter=delimiter,
                        limits=limits,
                        dry_run=dry_run,
                        on_existing=on_existing.value,
                    )
                ]
        except FileRejected as exc:
            if errors_out is not None:
                written = commands.export_errors(
                    exc.errors,
                    file,
                    errors_out,
                    encoding=encoding,
                    sheet=sheet,
                    delimiter=delimiter,
                    limits=limits,
                )
                err.print(f"{written} error(s) written to {errors_out}", highlight=False)
            if as_json:
                print_json(exc.report.to_json())
            else:
                _print_row_errors(exc)
            raise typer.Exit(EXIT_ERROR) from exc
    if as_json:
        print_json(
            reports[0].to_json()
            if import_type != commands.WORKBOOK
            else [r.to_json() for r in reports]
        )
    else:
        _print_import(reports)


@app.command()
def rollback(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id (or job id) to take back.")],
    reason: Annotated[str | None, typer.Option(help="Why; stored in the history.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be deleted and what blocks it.")
    ] = False,
    force_edited: Annotated[
        bool,
        typer.Option(
            "--force-edited",
            help="Roll back even rows edited since the import, losing those edits "
            "(recorded in the history).",
        ),
    ] = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a batch back in one transaction: restore the rows it updated, delete the rows it
    created (children first)."""
    with reported(ctx, as_json):
        db = ctx.obj.database()
        if dry_run or not yes:
            preview = commands.preview_rollback(db, batch_id, force_edited=force_edited)
            if dry_run:
                _print_preview(preview, as_json)
                raise typer.Exit(0 if preview.possible else EXIT_ERROR)
            _print_preview(preview, as_json=False, console=err)
            if preview.possible:
                confirm("Roll back this batch?", "Rollback cancelled; nothing was changed.")
        report = commands.rollback_batch(
            db,
            batch_id,
            actor=actor_name(actor),
            via=Via.cli,
            reason=reason,
            force_edited=force_edited,
        )
    if as_json:
        print_json(report.to_json())
        return
    deleted = ", ".join(f"{n} {table}" for table, n in report.deleted.items() if n) or "no rows"
    restored = ", ".join(f"{n} {table}" for table, n in report.restored.items())
    out.print(
        f"Rolled back batch {report.batch_id}: deleted {deleted}"
        + (f"; restored {restored}" if restored else "")
        + (" (forced over edited rows)" if report.forced else "")
        + "."
    )


@app.command("history")
def history_(
    ctx: typer.Context,
    import_type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    batch_id: Annotated[str | None, typer.Option("--batch", help="Only this batch.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many jobs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List import jobs, newest first."""
    with reported(ctx, as_json):
        where = JobFilter(import_type=import_type, status=status, batch_id=batch_id)
        jobs = commands.list_history(ctx.obj.database(), where, limit=limit)
    if as_json:
        print_json([job.to_json() for job in jobs])
        return
    table = Table("started (UTC)", "type", "status", "file", "rows", "by")
    table.add_column("batch_id", no_wrap=True, min_width=36)
    for job in jobs:
        table.add_row(
            f"{job.started_at:%Y-%m-%d %H:%M:%S}" if job.started_at else "",
            job.import_type,
            job.status,
            job.file_name or "",
            str(job.rows_imported),
            _who(job.imported_by, job.imported_via),
            job.batch_id,
        )
    out.print(table if jobs else "No import jobs.")


@app.command()
def batch(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="The batch id (or job id).")],
    as_json: JsonOption = False,
) -> None:
    """Show one batch and how many of its rows each table holds."""
    with reported(ctx, as_json):
        report = commands.get_batch(ctx.obj.database(), batch_id)
    if as_json:
        print_json(report.to_json())
    else:
        _print_job(report.job, report.rows, console=out)


def _print_import(reports: list[ImportReport]) -> None:
    for report in reports:
        done = ", ".join(f"{n} {table}" for table, n in report.created.items())
        if report.on_existing != "error":
            table = report.import_type
            done += (
                f"; {report.updated} {table} updated, {report.unchanged} unchanged"
                if report.on_existing == "update"
                else f"; {report.skipped} {table} skipped (already there)"
            )
        if report.dry_run:
            out.print(
                f"{report.file_name}: {report.rows_total} rows are valid; "
                f"an import would create {done}. Nothing was written (dry run)."
            )
        else:
            out.print(f"Imported {report.file_name}: created {done}.")
    last = reports[-1] if reports else None
    if last is not None and not last.dry_run:
        out.print(
            f"batch_id {last.batch_id} (job {last.job_id}); "
            f"undo with: batchport rollback {last.batch_id}"
        )


def _print_row_errors(exc: FileRejected) -> None:
    table = Table("row", "column", "value", "problem", title=str(exc), title_justify="left")
    for error in exc.errors[:SHOWN_ERRORS]:
        table.add_row(
            f"{error.sheet}!{error.row}" if error.sheet else str(error.row),
            error.column or "",
            "" if error.value is None else repr(error.value),
            error.message,
        )
    err.print(table)
    hidden = len(exc.errors) - SHOWN_ERRORS
    if hidden > 0:
        err.print(f"... and {hidden} more errors (--json lists them all).")


def _print_preview(preview: RollbackPreview, as_json: bool, console: Console = out) -> None:
    if as_json:
        print_json(preview.to_json())
        return
    _print_job(preview.job, preview.rows, console=console, verb="would be deleted")
    if preview.refusal:
        console.print(f"[red]cannot be rolled back:[/] {preview.refusal}", highlight=False)
    for table, count in preview.restores.items():
        console.print(
            f"  {table}: {count} rows would be restored to their values before the import"
        )
    if preview.references:
        console.print(
            f"[red]blocked:[/] {len(preview.references)} row(s) outside the batch reference it:",
            highlight=False,
        )
        for reference in preview.references:
            console.print(f"  - {reference}", highlight=False)
    if preview.conflicts:
        console.print(
            f"[red]blocked:[/] {len(preview.conflicts)} row(s) the batch updated cannot be "
            "restored:",
            highlight=False,
        )
        for conflict in preview.conflicts:
            console.print(f"  - {conflict}", highlight=False)
    if preview.edited:
        label = (
            "[yellow]edits that --force-edited would lose:[/]"
            if preview.force_edited
            else (
                "[red]blocked:[/] rows edited since the import (--force-edited rolls back anyway):"
            )
        )
        console.print(f"{label} {len(preview.edited)} row(s)", highlight=False)
        for edited in preview.edited:
            console.print(f"  - {edited}", highlight=False)
    if preview.possible:
        console.print("Nothing blocks this rollback.")


def _print_job(job: Job, rows: dict[str, int], *, console: Console, verb: str = "") -> None:
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
        console.print(f"  {table}: {count} rows" + (f" {verb}" if verb else ""))
    if not rows:
        console.print("  no rows carry this batch id")


def _who(name: str | None, via: str | None) -> str:
    """An actor with where it acted from: `alice (api)`."""
    return f"{name} ({via})" if name and via else name or ""
