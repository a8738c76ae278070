"""The commands of the database: schema migrations, tracked tables, checks, the service's role."""

from dataclasses import asdict
from typing import Annotated

import typer

from batchport import commands
from batchport.cli.base import (
    EXIT_ERROR,
    ActorOption,
    JsonOption,
    actor_name,
    confirm,
    db_app,
    err,
    out,
    print_json,
    reported,
)
from batchport.vocabulary import Via


@db_app.command("migrate")
def db_migrate(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Apply every pending revision."""
    with reported(ctx, as_json):
        status = commands.migrate(ctx.obj.database())
    _print_status(status, as_json, f"Database is at revision {status.current} (head).")


@db_app.command("status")
def db_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the current revision, the pending ones and the tracked tables."""
    with reported(ctx, as_json):
        status = commands.migration_status(ctx.obj.database())
        tracked = commands.tracked_tables(ctx.obj.database())
    if as_json:
        print_json(asdict(status) | {"tracked": [entry.to_json() for entry in tracked]})
        return
    pending = ", ".join(status.pending) or "none"
    out().print(
        f"Current revision: {status.current or 'none'}\nHead: {status.head}\nPending: {pending}",
        highlight=False,
    )
    out().print(f"Tracked tables:{'' if tracked else ' none'}", highlight=False)
    for entry in tracked:
        link = f" (link of {entry.owner.table} through {entry.owner.column})" if entry.owner else ""
        when = f"{entry.tracked_at:%Y-%m-%d %H:%M} UTC" if entry.tracked_at else "?"
        out().print(f"  {entry.table}{link}, tracked {when} by {entry.tracked_by}", highlight=False)


TablesArgument = Annotated[
    list[str],
    typer.Argument(
        metavar="TABLE",
        help="Tables, as SQL names them: products, shop.products.",
        show_default=False,
    ),
]
SchemaOption = Annotated[
    str | None, typer.Option("--schema", help="The schema of the tables named without one.")
]
SqlOption = Annotated[
    bool,
    typer.Option(
        "--sql", help="Print the statements it would run, and change nothing (like alembic's)."
    ),
]


@db_app.command("track")
def db_track(
    ctx: typer.Context,
    tables: TablesArgument,
    schema: SchemaOption = None,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            metavar="COLUMN",
            help="Track a link table (its rows join an owner row to a target row): the column "
            "naming its owner row, whose foreign key gives the owner table (tracked first). "
            "One link table at a time.",
        ),
    ] = None,
    sql: SqlOption = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add batch tracking to existing tables, so that imports into them can be rolled back
    exactly: a nullable, indexed import_batch_id VARCHAR(100), and a row_version BIGINT NOT
    NULL DEFAULT 0 with the trigger that counts edits made outside batchport (a link table:
    the trigger that counts a link's edits on its owner row). The table needs a single integer
    primary key named id that the database fills in (a link table: any primary key). Safe on
    a large, live PostgreSQL table (lock and statement timeouts, no rewrite, indexes built
    CONCURRENTLY); running it again is harmless and finishes a run that stopped."""
    if owner is not None and len(tables) > 1:
        raise typer.BadParameter(
            "names the owner column of one link table; track link tables one at a time",
            param_hint="--owner",
        )
    with reported(ctx, as_json):
        done = commands.track_tables(
            ctx.obj.database(),
            tables,
            schema=schema,
            owner_column=owner,
            sql_only=sql,
            actor=actor_name(actor),
            via=Via.cli,
        )
    _print_tracking(done, as_json, "Tracked", "was tracked already")


@db_app.command("untrack")
def db_untrack(
    ctx: typer.Context,
    tables: TablesArgument,
    schema: SchemaOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Untrack even if imports that can still be rolled back need the tables (they "
            "then can no longer be rolled back).",
        ),
    ] = False,
    sql: SqlOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take batch tracking away from tables: their trigger, import_batch_id (with its index)
    and row_version are dropped, and batchport forgets them. Refused while an import that can
    still be rolled back needs them (unless --force), and for an owner whose link table is
    still tracked."""
    with reported(ctx, as_json):
        db = ctx.obj.database()
        if not (yes or sql):
            confirm(
                f"Untrack {', '.join(tables)} on {db.display_url}? Their import_batch_id and "
                "row_version columns are dropped with their data.",
                "Cancelled; nothing was changed.",
            )
        done = commands.untrack_tables(
            db,
            tables,
            schema=schema,
            force=force,
            sql_only=sql,
            actor=actor_name(actor),
            via=Via.cli,
        )
    _print_tracking(done, as_json, "Untracked", "")


def _print_tracking(done: "commands.Tracking", as_json: bool, verb: str, unchanged: str) -> None:
    if as_json:
        print_json(
            {
                "shown_only": done.shown_only,
                "statements": [sql for _, sql in done.statements()],
                "tables": [change.to_json() for change in done.changes],
            }
        )
        return
    if done.shown_only:
        _print_sql(done)
        return
    for change in done.changes:
        link = (
            f" (link of {change.owner.table} through {change.owner.column})" if change.owner else ""
        )
        if not (change.steps or change.records):
            out().print(f"{change.table}{link} {unchanged}.", highlight=False)
            continue
        said = "; ".join(change.done) or "recorded"
        out().print(f"{verb} {change.table}{link}: {said}.", highlight=False)
        for note in change.notes:
            err().print(f"note: {note}", highlight=False)


def _print_sql(done: "commands.Tracking") -> None:
    """The statements as a script, like `alembic upgrade --sql`."""
    lines = ["BEGIN;"] if done.transaction else []
    table = None
    for name, statement in done.statements():
        if name is not None and name != table:
            lines.append(f"\n-- {name}")
            table = name
        lines.append(f"{statement};")
    if done.transaction:
        lines.append("COMMIT;")
    if not done.statements():
        lines = ["-- nothing to do: every table is as asked"]
    out().print("\n".join(lines), highlight=False, markup=False)


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
    with reported(ctx, as_json):
        db = ctx.obj.database()
        if not yes:
            confirm(
                f"Downgrade {db.display_url} to {target or 'the previous revision'}? "
                "Columns the undone revisions added are dropped with their data.",
                "Cancelled; the schema is unchanged.",
            )
        status = commands.rollback_migration(db, target)
    _print_status(status, as_json, f"Database is at revision {status.current or 'none (base)'}.")


@db_app.command("verify")
def db_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check that batch tracking is in place; exit 1 if any check fails."""
    with reported(ctx, as_json):
        checks = commands.verify_migrations(ctx.obj.database())
    if as_json:
        print_json([{"check": c.name, "passed": c.passed, "detail": c.detail} for c in checks])
    else:
        for check in checks:
            mark = "[green]ok  [/]" if check.passed else "[red]FAIL[/]"
            out().print(f"{mark} {check.name} [dim]({check.detail})[/]")
    if not all(c.passed for c in checks):
        raise typer.Exit(EXIT_ERROR)


@db_app.command("grant")
def db_grant(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="The role to run the service as.")],
    as_json: JsonOption = False,
) -> None:
    """Set up a least-privileged PostgreSQL role for the service (created if missing, with
    LOGIN and no password): what imports, rollbacks and sessions need, no deleting from the
    history or the audit log, and no ownership, so no way round their triggers."""
    with reported(ctx, as_json):
        statements = commands.grant_service_role(ctx.obj.database(), role)
    if as_json:
        print_json({"role": role, "statements": statements})
        return
    for statement in statements:
        out().print(f"{statement};", highlight=False)
    out().print(
        f"Run the service as {role} (set its password with ALTER ROLE, or let pg_hba.conf "
        "authenticate it), and run `batchport db migrate` as the tables' owner.",
        highlight=False,
    )


def _print_status(status: "commands.MigrationStatus", as_json: bool, text: str) -> None:
    if as_json:
        print_json(asdict(status))
    else:
        out().print(text, highlight=False)
