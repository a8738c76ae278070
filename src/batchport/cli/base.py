"""What every command shares: the Typer apps, the global options, the consoles, and how an
error becomes one line (or JSON) and exit code 1."""

import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO

import typer

from batchport import collecting, configuration
from batchport.errors import BatchportError, Interrupted, RollbackBlocked, RowsEdited, code_of

if TYPE_CHECKING:
    from rich.console import Console

    from batchport.database import Database

#: Exit codes: 0 success, 1 a validation or user error, 2 a usage error (Typer's own),
#: 130 interrupted (Ctrl-C), as shells report a process SIGINT ended.
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
#: At most this many row errors are printed as a table; --json gives them all.
SHOWN_ERRORS = 50

app = typer.Typer(
    help="Import spreadsheets into a database so that every import can be taken back exactly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The database: schema migrations, tracked tables, checks.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
accounts_app = typer.Typer(help="Accounts of the API service.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")


# Rich is imported only when something is drawn with it: plain lines to a pipe need none of it.
@cache
def out() -> "Console":
    """The console of stdout (rich: tables, styles on a terminal)."""
    from rich.console import Console  # noqa: PLC0415 - see above

    return Console(soft_wrap=True)


@cache
def err() -> "Console":
    """The console of stderr: errors, progress, questions."""
    from rich.console import Console  # noqa: PLC0415 - see above

    return Console(stderr=True, soft_wrap=True)


def styled(stream: TextIO) -> bool:
    """Whether rich would style what is written to `stream`: a terminal, unless TTY_COMPATIBLE
    or FORCE_COLOR says otherwise (read as rich reads them)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in {"0", "1"}:
        return compatible == "1"
    if (forced := os.environ.get("FORCE_COLOR")) is not None:
        return forced != ""
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def say(text: str, *, bold: str = "") -> None:
    """Prints `bold` (in bold on a terminal) then `text`, as they are (never read as markup),
    as one line on stdout; to a pipe as plain text, without importing rich."""
    if not styled(sys.stdout):
        sys.stdout.write(f"{bold}{text}\n")
        sys.stdout.flush()  # in order with what rich writes to stderr, as rich's own prints are
        return
    from rich.text import Text  # noqa: PLC0415 - only a terminal needs rich

    out().print(Text.assemble((bold, "bold"), text))


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
    config: str | None = None
    _database: "Database | None" = None

    def database(self) -> "Database":
        """The database the command works on, opened once, with the import types of the
        types file in use (`--config`, `$BATCHPORT_CONFIG`, `./batchport.toml`, else the
        shipped ones)."""
        if self._database is None:
            from batchport.database import Database  # noqa: PLC0415 - SQLAlchemy, when needed

            # Read when first needed: `types scaffold > batchport.toml` needs none, and nor do
            # `history` or `db migrate`.
            config = self.config
            self._database = Database.from_url(
                self.database_url, catalog=lambda engine: configuration.find(config).catalog(engine)
            )
        return self._database

    def close(self) -> None:
        """Closes the database's connections."""
        if self._database is not None:
            self._database.dispose()


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version  # noqa: PLC0415 - only --version needs it

        say(f"batchport {version('batchport')}")
        raise typer.Exit


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
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="BATCHPORT_CONFIG",
            help="The import types file (TOML; default: ./batchport.toml if there is one, "
            "else the shipped departments and users).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print batchport's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    ctx.obj = Settings(database_url=database_url, debug=debug, config=config)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    """The console script's entry point."""
    # psycopg logs what it ignores while closing a connection the server ended; the error
    # itself reaches the user once, as batchport's message.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    collecting.for_rows()
    # One name however it is started (`python -m batchport` too): usage lines and shell
    # completion say `batchport`.
    app(prog_name="batchport")


@contextmanager
def reported(
    ctx: typer.Context, as_json: bool, *, interrupted: str = "interrupted"
) -> Iterator[None]:
    """Turns batchport's errors into a one-line message (or JSON) and exit code 1, and Ctrl-C
    into one line saying what became of the work (`interrupted`, unless the use case said
    more) and exit code 130."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if ctx.obj is not None and ctx.obj.debug:
            raise
        said = str(exc) if isinstance(exc, Interrupted) else interrupted
        err().print(f"\n{said}" if sys.stderr.isatty() else said, highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BatchportError as exc:
        if ctx.obj is not None and ctx.obj.debug:
            raise
        fail(exc, as_json)
    except typer.Exit:
        raise
    except Exception as exc:
        if ctx.obj is not None and ctx.obj.debug:
            raise
        fail(exc, as_json, internal=True)


def fail(exc: Exception, as_json: bool, *, internal: bool = False) -> NoReturn:
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
        code = "internal_error" if internal else code_of(exc)
        print_json({"error": {"code": code, "message": str(exc), "details": details}})
    else:
        said = str(exc)
        if hint := getattr(exc, "hint", None):
            said += f" ({hint})"
        if internal:
            said = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
        from rich.markup import escape  # noqa: PLC0415 - rich, when there is an error to draw

        err().print("[red]error:[/] ", escape(said), sep="", highlight=False)
        if isinstance(exc, RollbackBlocked):
            listed([*exc.references, *exc.conflicts], console=err())
        if isinstance(exc, RowsEdited):
            listed(exc.edited, console=err())
    raise typer.Exit(EXIT_ERROR)


def listed(items: Sequence[object], *, console: "Console") -> None:
    """Prints `items` as a list, the first `SHOWN_ERRORS` of them (--json gives them all)."""
    for item in items[:SHOWN_ERRORS]:
        console.print(f"  - {item}", highlight=False)
    if len(items) > SHOWN_ERRORS:
        console.print(f"  ... and {len(items) - SHOWN_ERRORS:,} more (--json lists them all)")


def confirm(question: str, cancelled: str) -> None:
    """Asks a yes/no question on the terminal; anything but yes (or no terminal) cancels."""
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        err().print(f"\n{cancelled}" if not sys.stdin.isatty() else cancelled)
        raise typer.Exit(EXIT_ERROR)


def actor_name(given: str | None) -> str:
    if given:
        return given
    if from_env := os.environ.get("BATCHPORT_ACTOR"):
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def print_json(value: object) -> None:
    """Prints JSON piece by piece: a large report is never one string in memory."""
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
