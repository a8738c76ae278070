"""The commands of import jobs: import a file, list the history, show a batch, roll one back."""

import codecs
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from batchport import commands
from batchport.cli.base import (
    EXIT_ERROR,
    ActorOption,
    JsonOption,
    actor_name,
    app,
    confirm,
    err,
    out,
    print_json,
    reported,
    say,
)
from batchport.cli.outcomes import (
    history_table,
    print_import,
    print_job,
    print_preview,
    print_row_errors,
)
from batchport.cli.progress import estimated_rows, shown, wanted
from batchport.cli.wording import counted, tables
from batchport.errors import FileRejected
from batchport.sources import Limits
from batchport.vocabulary import OnExisting, Via

if TYPE_CHECKING:
    from batchport.database import Database
    from batchport.importing import ReadOptions
    from batchport.reports import ImportReport

#: The CLI reads a workbook on its user's own machine: it may take more memory than the
#: service's bound (`Limits.max_workbook_memory`), enough for a sheet of a million rows.
CLI_WORKBOOK_MEMORY = 1 << 30


def _known_encoding(name: str | None) -> str | None:
    """The --encoding given, if Python knows it; else a usage error (exit code 2)."""
    if name is not None:
        try:
            codecs.lookup(name)
        except LookupError:
            raise typer.BadParameter(
                f"unknown encoding {name!r}; e.g. utf-8, windows-1252, windows-1251, utf-16"
            ) from None
    return name


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
        str | None,
        typer.Option(
            help="The CSV file's encoding, e.g. windows-1252 (default: detected: the "
            "byte-order mark's if the file starts with one (it wins over this option too), "
            "else UTF-8 if the first 64 KiB are UTF-8, else the legacy encoding "
            "charset-normalizer finds if its guess is unambiguous; a file whose encoding cannot "
            "be told for sure is refused, naming the candidates).",
            callback=_known_encoding,
        ),
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
    from batchport.importing import ReadOptions  # noqa: PLC0415 - each command imports its own

    limits = Limits(
        max_file_bytes=max_file_size << 20,
        max_rows=max_rows,
        max_cell_chars=max_cell_size,
        max_unpacked_bytes=max_file_size << 20,
        max_workbook_memory=max_workbook_memory << 20,
    )
    stopped = "nothing was written (dry run)" if dry_run else "nothing was imported"
    with reported(ctx, as_json, interrupted=f"interrupted; {stopped}"):
        db = ctx.obj.database()
        drawn = wanted(as_json)
        total = estimated_rows(file) if drawn and import_type != commands.WORKBOOK else None
        try:
            with shown(drawn, file.name, total=total, estimated=True) as progress:
                reports = _imported(
                    db,
                    import_type,
                    file,
                    actor=actor_name(actor),
                    read=ReadOptions(
                        encoding,
                        sheet,
                        progress,
                        on_existing.value,
                        delimiter=delimiter,
                        limits=limits,
                    ),
                    dry_run=dry_run,
                )
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
                err().print(
                    f"{counted(written, 'errors')} written to {errors_out}", highlight=False
                )
            if as_json:
                print_json(exc.report.to_json())
            else:
                print_row_errors(exc)
            raise typer.Exit(EXIT_ERROR) from exc
    if as_json:
        print_json(
            reports[0].to_json()
            if import_type != commands.WORKBOOK
            else [r.to_json() for r in reports]
        )
    else:
        print_import(reports, file, workbook=import_type == commands.WORKBOOK)


def _imported(
    db: "Database", import_type: str, file: Path, *, actor: str, read: "ReadOptions", dry_run: bool
) -> "list[ImportReport]":
    """The reports of one file's import (one) or a workbook's (one per sheet)."""
    if import_type == commands.WORKBOOK:
        return commands.run_workbook_import(
            db,
            file,
            actor=actor,
            via=Via.cli,
            limits=read.limits,
            dry_run=dry_run,
            on_existing=read.on_existing,
            progress=read.progress,
        )
    report = commands.run_import(
        db,
        import_type,
        file,
        actor=actor,
        via=Via.cli,
        encoding=read.encoding,
        sheet=read.sheet,
        delimiter=read.delimiter,
        limits=read.limits,
        dry_run=dry_run,
        on_existing=read.on_existing,
        progress=read.progress,
    )
    return [report]


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
    with reported(ctx, as_json, interrupted="interrupted; nothing was rolled back"):
        db = ctx.obj.database()
        total = None
        if dry_run or not yes:
            preview = commands.preview_rollback(db, batch_id, force_edited=force_edited)
            if dry_run:
                print_preview(preview, as_json)
                raise typer.Exit(0 if preview.possible else EXIT_ERROR)
            print_preview(preview, as_json=False, console=err())
            if preview.possible:
                confirm("Roll back this batch?", "Rollback cancelled; nothing was changed.")
            total = sum(preview.rows.values()) + sum(preview.restores.values())
        with shown(wanted(as_json), f"batch {batch_id}", total=total) as progress:
            report = commands.rollback_batch(
                db,
                batch_id,
                actor=actor_name(actor),
                via=Via.cli,
                reason=reason,
                force_edited=force_edited,
                progress=progress,
            )
    if as_json:
        print_json(report.to_json())
        return
    restored = tables(report.restored, none="")
    say(
        f"Rolled back batch {report.batch_id}: deleted {tables(report.deleted)}"
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
    from batchport.history import JobFilter  # noqa: PLC0415 - each command imports its own

    with reported(ctx, as_json):
        where = JobFilter(import_type=import_type, status=status, batch_id=batch_id)
        jobs = commands.list_history(ctx.obj.database(), where, limit=limit)
    if as_json:
        print_json([job.to_json() for job in jobs])
        return
    out().print(history_table(jobs, width=out().width) if jobs else "No import jobs.")


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
        print_job(report.job, report.rows, console=out(), updated=report.updated)
