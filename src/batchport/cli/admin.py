"""The commands that look after the service and its work: recover, serve, accounts, the audit
log (the database's own are in `db`)."""

from datetime import timedelta
from typing import Annotated

import typer

from batchport import commands
from batchport.cli.base import (
    ActorOption,
    JsonOption,
    accounts_app,
    actor_name,
    app,
    out,
    print_json,
    reported,
)
from batchport.errors import ConfigurationError
from batchport.vocabulary import Role, Via


@app.command()
def recover(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Mark jobs whose process died as interrupted (every command also does this first)."""
    with reported(ctx, as_json):
        swept = commands.recover(ctx.obj.database())
    if as_json:
        print_json([job.to_json() for job in swept])
        return
    for job in swept:
        out().print(f"{job.batch_id}: {job.status} -> interrupted (worker {job.worker} is gone)")
    out().print(f"{len(swept)} interrupted job(s) swept." if swept else "No interrupted jobs.")


HeartbeatOption = Annotated[
    float | None,
    typer.Option(
        "--heartbeat-timeout",
        min=1.0,
        envvar="BATCHPORT_HEARTBEAT_TIMEOUT",
        help="Seconds without a heartbeat after which this process's jobs are taken for dead "
        "and swept (default 30); it beats three times as often.",
    ),
]


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Steps run at once, each in a process of its own.")
    ] = 1,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="A queue to take jobs from (repeat; default: batchport's)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="This worker's name in the history and the queue (default: the host's)."),
    ] = None,
    heartbeat_timeout: HeartbeatOption = None,
) -> None:
    """Validate and import the API's sessions (PostgreSQL): run any number of workers, on any
    hosts, beside `batchport serve --no-worker`; stop with Ctrl-C or SIGTERM."""
    from batchport import process  # noqa: PLC0415
    from batchport.queueing import uses_job_queue  # noqa: PLC0415
    from batchport.service.dependencies import MAX_UPLOAD_ROWS  # noqa: PLC0415
    from batchport.sources import Limits  # noqa: PLC0415
    from batchport.workers import queue as queue_worker  # noqa: PLC0415 - procrastinate

    with reported(ctx, as_json=False):
        if name:  # before any connection: each is named after this process
            process.name_host(name)
        db = ctx.obj.database()
        if not uses_job_queue(db.dialect.name):
            raise ConfigurationError(
                "`batchport worker` needs PostgreSQL: on SQLite, `batchport serve` validates "
                "and imports in its own process"
            )
        db.ensure_ready()
        queue_worker.run(
            db,
            Limits(max_rows=MAX_UPLOAD_ROWS),
            concurrency=concurrency,
            queues=queue or (),
            name=name,
            timeout=heartbeat_timeout,
        )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool, typer.Option(help="Validate and import sessions in this process too.")
    ] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Trust X-Forwarded-For and X-Forwarded-Proto from these proxy addresses "
            "(comma-separated; '*' for any). By default no proxy header is trusted: the "
            "address recorded is the connection's.",
        ),
    ] = None,
) -> None:
    """Run the REST API (OpenAPI at /openapi.json, docs at /docs) with uvicorn."""
    import uvicorn  # noqa: PLC0415 - only the service needs the web stack

    from batchport.service.app import create_app  # noqa: PLC0415

    with reported(ctx, as_json=False):
        db = ctx.obj.database()
        db.ensure_ready()
        uvicorn.run(
            create_app(db, worker=worker),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips,
        )


ExpiresOption = Annotated[
    str | None,
    typer.Option("--expires-in", help="The token expires after this long: 30d, 12h or 90m."),
]
NameArgument = Annotated[str, typer.Argument(help="The account's name.")]


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account's name, recorded on its work.")],
    role: Annotated[Role, typer.Option(help="What the account may do.")] = Role.importer,
    expires_in: ExpiresOption = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an account and print its API token (shown this once; stored hashed)."""
    with reported(ctx, as_json):
        token = commands.create_account(
            ctx.obj.database(),
            name,
            role,
            actor=actor_name(actor),
            via=Via.cli,
            expires_in=_expiry(expires_in),
        )
    if as_json:
        print_json({"name": name, "role": role, "token": token})
    else:
        out().print(f"Created {role} {name}. Its API token (shown once, keep it safe):\n{token}")


@accounts_app.command("rotate")
def accounts_rotate(
    ctx: typer.Context,
    name: NameArgument,
    expires_in: ExpiresOption = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give an account a new API token (shown this once); the old one stops working at once."""
    with reported(ctx, as_json):
        token = commands.rotate_token(
            ctx.obj.database(),
            name,
            actor=actor_name(actor),
            via=Via.cli,
            expires_in=_expiry(expires_in),
        )
    if as_json:
        print_json({"name": name, "token": token})
    else:
        out().print(f"New API token of {name} (shown once; the old one no longer works):\n{token}")


@accounts_app.command("disable")
def accounts_disable(
    ctx: typer.Context, name: NameArgument, actor: ActorOption = None, as_json: JsonOption = False
) -> None:
    """Disable an account: its token is refused from now on."""
    _set_disabled(ctx, name, True, actor, as_json)


@accounts_app.command("enable")
def accounts_enable(
    ctx: typer.Context, name: NameArgument, actor: ActorOption = None, as_json: JsonOption = False
) -> None:
    """Enable a disabled account again (with the token it had)."""
    _set_disabled(ctx, name, False, actor, as_json)


def _expiry(expires_in: str | None) -> timedelta | None:
    """How long a token lasts, as --expires-in says (30d, 12h, 90m); None: for ever."""
    from batchport.accounts import parse_duration  # noqa: PLC0415 - SQLAlchemy, when needed

    return parse_duration(expires_in) if expires_in else None


def _set_disabled(
    ctx: typer.Context, name: str, disabled: bool, actor: str | None, as_json: bool
) -> None:
    with reported(ctx, as_json):
        commands.set_account_disabled(
            ctx.obj.database(), name, disabled, actor=actor_name(actor), via=Via.cli
        )
    if as_json:
        print_json({"name": name, "disabled": disabled})
    else:
        out().print(f"{'Disabled' if disabled else 'Enabled'} {name}.")


@accounts_app.command("list")
def accounts_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the accounts (never their tokens)."""
    with reported(ctx, as_json):
        found = commands.list_accounts(ctx.obj.database())
    if as_json:
        print_json(found)
        return
    for account in found:
        state = ", disabled" if account["disabled_at"] else ""
        expiry = account["token_expires_at"]
        state += f", token expires {expiry:%Y-%m-%d %H:%M} UTC" if expiry else ""
        out().print(
            f"{account['name']}: {account['role']} (created {account['created_at']}{state})"
        )


@app.command("audit")
def audit_(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this account.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the audit log, newest first."""
    from rich.table import Table  # noqa: PLC0415 - rich only for the commands that draw tables

    from batchport.audit import AuditFilter  # noqa: PLC0415 - each command imports its own

    with reported(ctx, as_json):
        where = AuditFilter(actor=actor, action=action)
        found = commands.audit_log(ctx.obj.database(), where, limit=limit)
    if as_json:
        print_json(found)
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
    out().print(table if found else "No audit entries.")
