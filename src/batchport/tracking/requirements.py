"""What a table needs before batchport can track it, what a tracked table must still have for
every guarantee to hold, and the errors that say which is missing.

A table of its own (an import type's table) needs a single-column integer primary key named
`id` that the database fills in (the engine finds, links and restores rows by `table.c.id`;
PostgreSQL draws ids from the column's sequence). A link table needs a primary key of any
columns (the engine deletes and re-flags link rows by it) and an owner column whose foreign
key points at its owner's `id`; the owner must be tracked first (or be one of batchport's own
`departments` and `users`), since the link's trigger counts its edits on the owner's
`row_version`. Neither needs a `created_at`: rows are told apart by their stamp, never by a
clock (a table of its own that has one gives restores a stronger proof of identity).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from batchport.errors import ConfigurationError
from batchport.tracking import registry
from batchport.tracking.ddl import Ddl, ddl_for
from batchport.tracking.shapes import (
    BATCH_COLUMN,
    VERSION_COLUMN,
    Owner,
    Shape,
    TableName,
    described,
    is_batch_column,
    is_version_column,
    reflected_columns,
)


class TrackingRefused(ConfigurationError):
    """batchport did not track or untrack the table; nothing was changed. `hint` says what a
    user of the command line can do about it (an option to pass)."""

    def __init__(self, table: str, message: str, *, hint: str | None = None) -> None:
        self.table = table
        self.hint = hint
        super().__init__(message)


class TableNotTracked(ConfigurationError):
    """The table lacks batch tracking (or part of it); `batchport db track` gives it.
    `commands` are what to run, in order."""

    def __init__(
        self,
        table: str,
        problems: list[str],
        commands: list[str],
        *,
        registered: bool,
        message: str | None = None,
    ) -> None:
        self.table = table
        self.problems = problems
        self.commands = commands
        self.registered = registered
        run = ", then ".join(f"`{c}`" for c in commands)
        if message is None and registered:
            message = f"table {table} is not fully tracked ({'; '.join(problems)}): run {run}"
        elif message is None:
            message = f"table {table} is not tracked: run {run}"
        super().__init__(message)


def track_command(table: TableName | str, owner_column: str | None = None) -> str:
    """The command that tracks the table (as a link owned through `owner_column`)."""
    owner = f" --owner {owner_column}" if owner_column else ""
    return f"batchport db track {table}{owner}"


def _column_refusals(shape: Shape, owner: str | None) -> str | None:
    batch = shape.columns.get(BATCH_COLUMN)
    if batch is not None and not is_batch_column(batch):
        return (
            f"it has a column {BATCH_COLUMN} of type {described(batch)}, and batchport needs "
            f"VARCHAR(100), nullable: rename or drop that column"
        )
    version = shape.columns.get(VERSION_COLUMN)
    if owner is None and version is not None and not is_version_column(version):
        return (
            f"it has a column {VERSION_COLUMN} of type {described(version)} (default "
            f"{version.default}), and batchport needs BIGINT NOT NULL DEFAULT 0: rename or drop "
            "that column"
        )
    return None


def _kind_refusal(shape: Shape) -> str | None:
    if shape.kind == "table":
        return None
    if shape.kind == "partitioned table":
        return (
            "it is a partitioned table, whose index CREATE INDEX CONCURRENTLY cannot build; "
            "batchport tracks plain tables"
        )
    return f"it is a {shape.kind}; batchport tracks tables"


def key_refusal(ddl: Ddl, shape: Shape) -> str | None:
    """Why the table's primary key will not do for an import type's table, if it will not."""
    key = shape.primary_key
    wanted = "batchport needs a single integer column named id"
    if not key:
        return f"it has no primary key; {wanted}"
    if len(key) > 1:
        return f"its primary key is composite ({', '.join(key)}); {wanted}"
    if key != ("id",):
        return f"its primary key is {key[0]}; {wanted}"
    column = shape.columns["id"]
    if not isinstance(column.type, sa.Integer):
        return f"its primary key id is {column.type}; {wanted}"
    if not shape.fills_ids:
        return ddl.unfilled_ids
    return None


def table_refusal(ddl: Ddl, shape: Shape) -> str | None:
    """Why the table cannot be tracked as an import type's table, if it cannot."""
    return _kind_refusal(shape) or key_refusal(ddl, shape) or _column_refusals(shape, None)


def link_refusal(shape: Shape, owner_column: str) -> str | None:
    """Why the table cannot be tracked as a link owned through `owner_column`, if it cannot."""
    if refused := _kind_refusal(shape):
        return refused
    if owner_column not in shape.columns:
        return f"it has no column {owner_column}"
    if not shape.primary_key:
        return (
            "it has no primary key; a link table needs one (usually its pair of columns, e.g. "
            f"PRIMARY KEY ({owner_column}, ...))"
        )
    return _owner_key_refusal(shape, owner_column) or _column_refusals(shape, owner_column)


def _owner_key_refusal(shape: Shape, owner_column: str) -> str | None:
    key = shape.foreign_key(owner_column)
    if key is None:
        return (
            f"its column {owner_column} has no foreign key; a link's owner column must "
            "reference its owner table's id"
        )
    if key.referred is None:
        return f"its column {owner_column} references a table the catalog does not find"
    if key.referred_columns != ("id",):
        return (
            f"its column {owner_column} references {key.referred} "
            f"({', '.join(key.referred_columns)}); it must reference {key.referred} (id)"
        )
    return None


@dataclass(frozen=True)
class Finding:
    """One fact about a tracked table: `problem` says it as a sentence when it fails."""

    name: str
    passed: bool
    detail: str
    problem: str = ""


def verified(conn: sa.Connection) -> list[Finding]:
    """The findings of every tracked table, in order of schema and name."""
    return [f for entry in registry.entries(conn) for f in findings(conn, entry)]


def findings(conn: sa.Connection, entry: registry.Tracked) -> list[Finding]:
    """What `db verify` checks of a tracked table: its columns, their types, its indexes
    (valid), its trigger (present and enabled), its key, and for a link its owner."""
    ddl = ddl_for(conn)
    table, owner = entry.table, entry.owner
    shape = ddl.shape(conn, table)
    if shape is None or shape.kind != "table":
        found = "missing" if shape is None else f"a {shape.kind}"
        return [
            Finding(
                f"table {table} exists",
                False,
                found,
                f"table {table} is {found} (dropped or renamed since it was tracked; "
                f"`batchport db untrack {table}` forgets it)",
            )
        ]
    facts = _batch_findings(shape, indexed=owner is None)
    if owner is None:
        facts += _version_findings(shape)
        refused = key_refusal(ddl, shape)
        facts.append(
            Finding(
                f"{table}.id is its integer primary key",
                refused is None,
                "id" if refused is None else refused,
                f"{table} cannot be imported into: {refused}",
            )
        )
    else:
        facts += _owner_findings(conn, ddl, shape, owner)
    expected = ddl.edit_trigger(table, owner)
    trigger = shape.trigger(expected.definition)
    what = "edit trigger" if owner is None else f"link trigger (edits count on {owner.table})"
    if trigger is None:
        detail = f"no trigger {expected.definition}"
    elif not trigger.enabled:
        detail = f"{trigger.name} is disabled"
    else:
        detail = trigger.name
    facts.append(
        Finding(
            f"{table} has its {what}",
            trigger is not None and trigger.enabled,
            detail,
            f"{table} has no working {what}: {detail}",
        )
    )
    return facts


def _batch_findings(shape: Shape, *, indexed: bool) -> list[Finding]:
    """The stamp column's findings (and its index's, if `indexed`: see `indexed_columns`)."""
    table = shape.table
    column = shape.columns.get(BATCH_COLUMN)
    facts = [
        Finding(
            f"{table}.{BATCH_COLUMN} exists",
            column is not None,
            "present" if column is not None else "column is missing",
            f"{table} has no column {BATCH_COLUMN}",
        )
    ]
    if column is None:
        return facts
    facts.append(
        Finding(
            f"{table}.{BATCH_COLUMN} is VARCHAR(100), nullable",
            is_batch_column(column),
            described(column),
            f"{table}.{BATCH_COLUMN} is {described(column)}, not VARCHAR(100) nullable",
        )
    )
    if indexed:
        facts.append(_index_finding(shape, BATCH_COLUMN))
    return facts


def _index_finding(shape: Shape, column: str) -> Finding:
    index = shape.indexed(column)
    invalid = [i.name for i in shape.indexes if i.columns[:1] == (column,) and not i.valid]
    if index is not None:
        detail = index.name
    elif invalid:
        detail = f"{', '.join(invalid)} INVALID (a failed CREATE INDEX CONCURRENTLY)"
    else:
        detail = "no index"
    return Finding(
        f"{shape.table}.{column} is indexed",
        index is not None,
        detail,
        f"{shape.table}.{column} has no valid index ({detail})",
    )


def _version_findings(shape: Shape) -> list[Finding]:
    table = shape.table
    column = shape.columns.get(VERSION_COLUMN)
    facts = [
        Finding(
            f"{table}.{VERSION_COLUMN} exists",
            column is not None,
            "present" if column is not None else "column is missing",
            f"{table} has no column {VERSION_COLUMN}",
        )
    ]
    if column is not None:
        facts.append(
            Finding(
                f"{table}.{VERSION_COLUMN} is BIGINT NOT NULL DEFAULT 0",
                is_version_column(column),
                f"{described(column)} default {column.default}",
                f"{table}.{VERSION_COLUMN} is {described(column)} default {column.default}, "
                "not BIGINT NOT NULL DEFAULT 0",
            )
        )
    return facts


def _owner_findings(conn: sa.Connection, ddl: Ddl, shape: Shape, owner: Owner) -> list[Finding]:
    table = shape.table
    key = shape.foreign_key(owner.column)
    points = key is not None and key.referred == owner.table and key.referred_columns == ("id",)
    if key is None:
        detail = "no foreign key"
    else:
        detail = f"references {key.referred} ({', '.join(key.referred_columns)})"
    facts = [
        Finding(
            f"{table}.{owner.column} references {owner.table}.id",
            points,
            detail,
            f"{table}.{owner.column} does not reference {owner.table}.id: {detail}",
        ),
        _index_finding(shape, owner.column),
    ]
    kind = ddl.kind(conn, owner.table)
    columns = (
        reflected_columns(conn, owner.table, ddl.reflected_schema(owner.table)) if kind else {}
    )
    version = columns.get(VERSION_COLUMN)
    facts.append(
        Finding(
            f"{owner.table}.{VERSION_COLUMN} exists (the owner of {table})",
            version is not None,
            "present" if version is not None else "missing",
            f"{table}'s owner {owner.table} has no {VERSION_COLUMN}",
        )
    )
    return facts


def problems(conn: sa.Connection, table: sa.Table, *, owner_column: str | None = None) -> list[str]:
    """What keeps batchport from giving its guarantees for imports into `table` (as a link
    owned through `owner_column`, if given): empty if it is tracked and whole.

    batchport's own tables are tracked by its migrations (`db verify` checks them). A table
    `db track` never tracked is one problem, saying so."""
    found = _resolved(conn, table)
    if isinstance(found, str):
        return [found]
    ddl, name = found
    if registry.own_table(conn, ddl, name) is not None:
        return []
    entry = registry.entry(conn, name)
    if entry is None:
        return [f"table {name} is not tracked"]
    if (entry.owner.column if entry.owner else None) != owner_column:
        as_now = (
            f"a link owned through {entry.owner.column}" if entry.owner else "a table of its own"
        )
        as_wanted = f"a link owned through {owner_column}" if owner_column else "a table of its own"
        return [f"table {name} is tracked as {as_now}, not as {as_wanted}"]
    return [f.problem for f in findings(conn, entry) if not f.passed]


def require_tracked(
    conn: sa.Connection, table: sa.Table, *, owner_column: str | None = None
) -> None:
    """Raises `TableNotTracked`, with the command that fixes it, if `problems` finds any."""
    found = problems(conn, table, owner_column=owner_column)
    if not found:
        return
    resolved = _resolved(conn, table)
    name = str(resolved[1]) if not isinstance(resolved, str) else _declared(table)
    registered = not isinstance(resolved, str) and registry.entry(conn, resolved[1]) is not None
    commands = [track_command(name, owner_column)]
    if registered and found[0].startswith(f"table {name} is tracked as"):
        commands.insert(0, f"batchport db untrack {name}")
    raise TableNotTracked(name, found, commands, registered=registered)


def all_tracked(refusals: list[TableNotTracked]) -> TableNotTracked | None:
    """One refusal for every table `require_tracked` refused, with the commands that fix
    them all, in order (tables of their own tracked in one command, before their links)."""
    if len(refusals) <= 1:
        return refusals[0] if refusals else None
    plain = [r.table for r in refusals if r.commands == [track_command(r.table)]]
    commands = [track_command(" ".join(plain))] if plain else []
    commands += [c for r in refusals if r.table not in plain for c in r.commands]
    names = ", ".join(r.table for r in refusals)
    run = ", then ".join(f"`{c}`" for c in commands)
    return TableNotTracked(
        names,
        [p for r in refusals for p in r.problems],
        commands,
        registered=any(r.registered for r in refusals),
        message=f"{len(refusals)} tables are not tracked ({names}): run {run}",
    )


def _declared(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _resolved(conn: sa.Connection, table: sa.Table) -> tuple[Ddl, TableName] | str:
    """The catalog's name of a declared table, or why there is none."""
    ddl = ddl_for(conn)
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    name = ddl.locate(conn, translate.get(table.schema, table.schema), table.name)
    if name is None:
        return f"table {_declared(table)} does not exist"
    return ddl, name
