"""The `batchport` command: a thin layer that parses flags, calls a use case, prints the result."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from batchport import commands
from batchport.audit import AuditFilter
from batchport.builtin_types import BUILTIN_TYPES
from batchport.database import Database
from batchport.errors import BatchportError, FileRejected, RollbackBlocked, RowsEdited, first_line
from batchport.history import JobFilter
from batchport.reports import ImportReport, Job, RollbackPreview
from batchport.sources import Limits
from batchport.vocabulary import OnExisting, Role

#: Exit codes: 0 success, 1 a validation or user error, 2 a usage error (Typer's own).
EXIT_ERROR = 1
#: At most this many row errors are printed as a table; --json gives them all.
SHOWN_ERRORS = 50

app = typer.Typer(
    help="Import spreadsheets into a database so that every import can be taken back exactly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
accounts_app = typer.Typer(help="Accounts of the API service.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ActorOption = Annotated[
    str | None,
    typer.Option("--as", help="Who is acting (default: $BATCHPORT_ACTOR, else the OS user)."),
]


@dataclass
class Settings:
    """What the global options say, built once per invocation."""

    database_url: str | None
    debug: bool
    _database: Database | None = None

    def database(self) -> Database:
        """The database the command works on, opened once."""
        if self._database is None:
            self._database = Database.from_url(self.database_url, catalog=BUILTIN_TYPES)
        return self._database

    def close(self) -> None:
        """Closes the database's connections."""
        if self._database is not None:
            self._database.dispose()


@app.callback()
def _main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="BATCHPORT_DATABASE_URL",
            help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
            "(default: ./batchport.db, created on first use).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    ctx.obj = Settings(database_url=database_url, debug=debug)
    ctx.call_on_close(ctx.obj.close)


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
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import FILE as one batch: every row, or none if any row is invalid."""
    limits = Limits(
        max_file_bytes=max_file_size << 20,
        max_rows=max_rows,
        max_cell_chars=max_cell_size,
        max_unpacked_bytes=max_file_size << 20,
    )
    with _reported(ctx, as_json):
        db = ctx.obj.database()
        try:
            if import_type == commands.WORKBOOK:
                reports = commands.run_workbook_import(
                    db,
                    file,
                    actor=_actor(actor),
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
                        actor=_actor(actor),
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
                _print_json(exc.report.to_json())
            else:
                _print_row_errors(exc)
            raise typer.Exit(EXIT_ERROR) from exc
    if as_json:
        _print_json(
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
    with _reported(ctx, as_json):
        db = ctx.obj.database()
        if dry_run or not yes:
            preview = commands.preview_rollback(db, batch_id, force_edited=force_edited)
            if dry_run:
                _print_preview(preview, as_json)
                raise typer.Exit(0 if preview.possible else EXIT_ERROR)
            _print_preview(preview, as_json=False, console=err)
            if preview.possible:
                _confirm("Roll back this batch?", "Rollback cancelled; nothing was changed.")
        report = commands.rollback_batch(
            db, batch_id, actor=_actor(actor), reason=reason, force_edited=force_edited
        )
    if as_json:
        _print_json(report.to_json())
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
    with _reported(ctx, as_json):
        where = JobFilter(import_type=import_type, status=status, batch_id=batch_id)
        jobs = commands.list_history(ctx.obj.database(), where, limit=limit)
    if as_json:
        _print_json([job.to_json() for job in jobs])
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
            job.imported_by or "",
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
    with _reported(ctx, as_json):
        report = commands.get_batch(ctx.obj.database(), batch_id)
    if as_json:
        _print_json(report.to_json())
    else:
        _print_job(report.job, report.rows, console=out)


@app.command()
def recover(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Mark jobs whose process died as interrupted (every command also does this first)."""
    with _reported(ctx, as_json):
        swept = commands.recover(ctx.obj.database())
    if as_json:
        _print_json([job.to_json() for job in swept])
        return
    for job in swept:
        out.print(f"{job.batch_id}: {job.status} -> interrupted (worker {job.worker} is gone)")
    out.print(f"{len(swept)} interrupted job(s) swept." if swept else "No interrupted jobs.")


@app.command("types")
def types_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the import types and their columns."""
    with _reported(ctx, as_json):
        catalog = ctx.obj.database().catalog
    described = [
        {
            "import_type": t.name,
            "description": t.description,
            "key": t.key,
            "columns": [{"name": f.name, "required": f.required} for f in t.fields],
        }
        for t in catalog.types
    ]
    if as_json:
        _print_json(described)
        return
    for entry in described:
        columns = ", ".join(
            c["name"] + ("" if c["required"] else " (optional)") for c in entry["columns"]
        )
        out.print(f"[bold]{entry['import_type']}[/]: {entry['description']}\n  columns: {columns}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool, typer.Option(help="Validate and import sessions in this process too.")
    ] = True,
) -> None:
    """Run the REST API (OpenAPI at /openapi.json, docs at /docs) with uvicorn."""
    import uvicorn  # noqa: PLC0415 - only the service needs the web stack

    from batchport.service.app import create_app  # noqa: PLC0415

    with _reported(ctx, as_json=False):
        db = ctx.obj.database()
        db.ensure_ready()
        uvicorn.run(create_app(db, worker=worker), host=host, port=port, log_level="info")


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account's name, recorded on its work.")],
    role: Annotated[Role, typer.Option(help="What the account may do.")] = Role.importer,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an account and print its API token (shown this once; stored hashed)."""
    with _reported(ctx, as_json):
        token = commands.create_account(ctx.obj.database(), name, role, actor=_actor(actor))
    if as_json:
        _print_json({"name": name, "role": role, "token": token})
    else:
        out.print(f"Created {role} {name}. Its API token (shown once, keep it safe):\n{token}")


@accounts_app.command("list")
def accounts_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the accounts (never their tokens)."""
    with _reported(ctx, as_json):
        found = commands.list_accounts(ctx.obj.database())
    if as_json:
        _print_json(found)
        return
    for account in found:
        out.print(f"{account['name']}: {account['role']} (created {account['created_at']})")


@app.command("audit")
def audit_(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this account.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the audit log, newest first."""
    with _reported(ctx, as_json):
        where = AuditFilter(actor=actor, action=action)
        found = commands.audit_log(ctx.obj.database(), where, limit=limit)
    if as_json:
        _print_json(found)
        return
    table = Table("at (UTC)", "who", "action", "outcome", "from", "batch", "detail")
    for entry in found:
        table.add_row(
            f"{entry['at']:%Y-%m-%d %H:%M:%S}",
            entry["actor"] or "",
            entry["action"],
            entry["outcome"],
            entry["remote"] or "",
            entry["batch_id"] or "",
            entry["detail"] or "",
        )
    out.print(table if found else "No audit entries.")


@db_app.command("migrate")
def db_migrate(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Apply every pending revision."""
    with _reported(ctx, as_json):
        status = commands.migrate(ctx.obj.database())
    _print_status(status, as_json, f"Database is at revision {status.current} (head).")


@db_app.command("status")
def db_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the current revision and the pending ones."""
    with _reported(ctx, as_json):
        status = commands.migration_status(ctx.obj.database())
    pending = ", ".join(status.pending) or "none"
    _print_status(
        status,
        as_json,
        f"Current revision: {status.current or 'none'}\nHead: {status.head}\nPending: {pending}",
    )


@db_app.command("rollback")
def db_rollback(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option(help="Downgrade to this revision (default: undo the last one).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Undo the last revision, or every revision after --target."""
    with _reported(ctx, as_json):
        db = ctx.obj.database()
        if not yes:
            _confirm(
                f"Downgrade {db.display_url} to {target or 'the previous revision'}? "
                "Columns the undone revisions added are dropped with their data.",
                "Cancelled; the schema is unchanged.",
            )
        status = commands.rollback_migration(db, target)
    _print_status(status, as_json, f"Database is at revision {status.current or 'none (base)'}.")


@db_app.command("verify")
def db_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check that batch tracking is in place; exit 1 if any check fails."""
    with _reported(ctx, as_json):
        checks = commands.verify_migrations(ctx.obj.database())
    if as_json:
        _print_json([{"check": c.name, "passed": c.passed, "detail": c.detail} for c in checks])
    else:
        for check in checks:
            mark = "[green]ok  [/]" if check.passed else "[red]FAIL[/]"
            out.print(f"{mark} {check.name} [dim]({check.detail})[/]")
    if not all(c.passed for c in checks):
        raise typer.Exit(EXIT_ERROR)


def main() -> None:
    """The console script's entry point."""
    # psycopg logs what it ignores while closing a connection the server ended; the error
    # itself reaches the user once, as batchport's message.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    app()


@contextmanager
def _reported(ctx: typer.Context, as_json: bool) -> Iterator[None]:
    """Turns batchport's errors into a one-line message (or JSON) and exit code 1."""
    try:
        yield
    except BatchportError as exc:
        if ctx.obj is not None and ctx.obj.debug:
            raise
        _fail(exc, as_json)
    except typer.Exit:
        raise
    except Exception as exc:
        if ctx.obj is not None and ctx.obj.debug:
            raise
        _fail(exc, as_json, internal=True)


def _fail(exc: Exception, as_json: bool, *, internal: bool = False) -> NoReturn:
    if as_json:
        details: dict[str, Any] = {
            key: value
            for key, value in vars(exc).items()
            if not key.startswith("_") and isinstance(value, str | int | None)
        }
        if isinstance(exc, RollbackBlocked):
            details["references"] = [str(r) for r in exc.references]
            details["conflicts"] = [str(c) for c in exc.conflicts]
        if isinstance(exc, RowsEdited):
            details["edited"] = [str(r) for r in exc.edited]
        code = "internal_error" if internal else type(exc).__name__
        _print_json({"error": {"code": code, "message": str(exc), "details": details}})
    else:
        chain = str(exc)
        cause = exc.__cause__
        if internal:
            chain = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
        elif cause is not None and str(cause) and str(cause) not in chain:
            chain += f" (caused by {type(cause).__name__}: {first_line(cause)})"
        err.print(f"[red]error:[/] {chain}", highlight=False, markup=True)
        if isinstance(exc, RollbackBlocked):
            for blocker in [*exc.references, *exc.conflicts]:
                err.print(f"  - {blocker}", highlight=False)
        if isinstance(exc, RowsEdited):
            for edited in exc.edited:
                err.print(f"  - {edited}", highlight=False)
    raise typer.Exit(EXIT_ERROR)


def _confirm(question: str, cancelled: str) -> None:
    """Asks a yes/no question on the terminal; anything but yes (or no terminal) cancels."""
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        err.print(f"\n{cancelled}" if not sys.stdin.isatty() else cancelled)
        raise typer.Exit(EXIT_ERROR)


def _actor(given: str | None) -> str:
    if given:
        return given
    if from_env := os.environ.get("BATCHPORT_ACTOR"):
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _print_status(status: commands.MigrationStatus, as_json: bool, text: str) -> None:
    if as_json:
        _print_json(asdict(status))
    else:
        out.print(text, highlight=False)


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


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
        _print_json(preview.to_json())
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
        f"  imported by {job.imported_by} at {job.started_at}"
        + (
            f"\n  rolled back by {job.rolled_back_by} at {job.rolled_back_at}"
            if job.rolled_back_at
            else ""
        )
    )
    for table, count in rows.items():
        console.print(f"  {table}: {count} rows" + (f" {verb}" if verb else ""))
    if not rows:
        console.print("  no rows carry this batch id")
