"""The commands of import types: list them, show one, scaffold one from a table."""

import sys
from typing import Annotated

import typer

from batchport import commands
from batchport.cli.base import JsonOption, app, out, print_json, reported, say

types_app = typer.Typer(
    help="The import types: those the types file declares (--config), or the shipped ones."
)
app.add_typer(types_app, name="types")


@types_app.callback(invoke_without_command=True)
def list_types(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the import types and their columns."""
    if ctx.invoked_subcommand is not None:
        return
    with reported(ctx, as_json):
        if as_json:
            found = commands.describe_types(ctx.obj.database())
        else:  # the shipped types are listed without opening a database (or SQLAlchemy)
            found = commands.list_types(ctx.obj.config, ctx.obj.database)
    if as_json:
        print_json(found)
        return
    for entry in found:
        columns = ", ".join(
            c["name"] + ("" if c["required"] else " (optional)") for c in entry["columns"]
        )
        say(
            f" → {entry['table']}: {entry['description']}\n  columns: {columns}",
            bold=entry["import_type"],
        )


@types_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The import type.")],
    as_json: JsonOption = False,
) -> None:
    """Show one import type: its table, key, and each column's parser, target and rules."""
    from rich.table import Table  # noqa: PLC0415 - rich only for the commands that draw tables

    with reported(ctx, as_json):
        entry = commands.describe_type(ctx.obj.database(), name)
    if as_json:
        print_json(entry)
        return
    say(
        f" → {entry['table']}, keyed by {entry['key']}\n{entry['description']}",
        bold=entry["import_type"],
    )
    table = Table("column", "parser", "stored in", "rules")
    for column in entry["columns"]:
        said = ["required"] if column["required"] else []
        said += [] if column["default"] is None else [f"empty: {column['default']}"]
        said += [column["rules"]] if column["rules"] else []
        table.add_row(column["name"], column["parser"], column["target"], "; ".join(said))
    out().print(table)


@types_app.command("scaffold")
def scaffold(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="The table: schema.table, or table.")],
) -> None:
    """Print a declaration for TABLE to start a types file from: its columns, their types
    and nullability, its unique key and its foreign keys, read from the database."""
    with reported(ctx, as_json=False):
        text = commands.scaffold_type(ctx.obj.database(), table)
    sys.stdout.write(text)
