"""A declaration to start from, read off an existing table: its columns, their types and
nullability, its unique constraints (the key) and foreign keys (references), as TOML."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from batchport.errors import ConfigurationError

#: Columns batch tracking adds (`db track`): no file fills them.
TRACKING = frozenset({"import_batch_id", "row_version"})
#: Parsers for column types, most specific first.
PARSERS: tuple[tuple[type[sa.types.TypeEngine[Any]], str], ...] = (
    (sa.Enum, "enum"),
    (sa.Boolean, "boolean"),
    (sa.Uuid, "uuid"),
    (sa.JSON, "json"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.Float, "decimal"),
    (sa.Numeric, "decimal"),
    (sa.Integer, "integer"),
    (sa.String, "text"),
)


def scaffold(conn: sa.Connection, name: str) -> str:
    """A `[types.TABLE]` declaration for the table `name` (`schema.table` or `table`)."""
    table_schema, _, table_name = name.rpartition(".")
    inspector = sa.inspect(conn)
    schema_name = table_schema or None
    if not inspector.has_table(table_name, schema=schema_name):
        raise ConfigurationError(f"no table {name!r} in the database")
    columns = inspector.get_columns(table_name, schema=schema_name)
    primary = set(
        inspector.get_pk_constraint(table_name, schema=schema_name)["constrained_columns"]
    )
    foreign = _single_foreign_keys(inspector, table_name, schema_name)
    if len(primary) != 1 and len(foreign) >= 2:
        return _link_note(inspector, name)
    unique = unique_columns(inspector, table_name, schema_name)
    key = next((c["name"] for c in columns if c["name"] in unique - primary), None)
    lines = [
        f"[types.{table_name}]",
        f"table = {json.dumps(name)}",
        f"key = {json.dumps(key or 'CHOOSE-A-UNIQUE-COLUMN')}",
    ]
    if key is None:
        lines.insert(
            0, "# No unique column but the primary key: add a unique constraint for the key."
        )
    for column in columns:
        if column["name"] in primary or column["name"] in TRACKING:
            continue
        lines += ["", f"[[types.{table_name}.fields]]"]
        lines += _field(inspector, column, foreign.get(column["name"]), table_name)
    for link in _links_to(inspector, table_name, schema_name):
        lines += ["", *_link_note(inspector, link, table_name).rstrip().splitlines()]
    return "\n".join(lines) + "\n"


def _field(inspector: sa.Inspector, column: Any, foreign: Any, own: str) -> list[str]:
    """One field's lines: a reference for a foreign key, else a parser for its type."""
    required = not column["nullable"] and column.get("default") is None
    if foreign is not None:
        target = foreign["referred_table"]
        target_key = _target_key(inspector, foreign)
        stem = column["name"].removesuffix("_id")
        return [
            f"name = {json.dumps(f'{stem}_{target_key}')}",
            f"references = {json.dumps(own if target == own else target)}",
            f"column = {json.dumps(column['name'])}",
            *(["required = true"] if required else []),
        ]
    kind = column["type"]
    parser = next((p for t, p in PARSERS if isinstance(kind, t)), "text")
    lines = [f"name = {json.dumps(column['name'])}"]
    if parser != "text":
        lines.append(f"parser = {json.dumps(parser)}")
    if parser == "text" and getattr(kind, "length", None):
        lines.append(f"max_length = {kind.length}")
    if parser == "enum":
        lines.append(f"values = {json.dumps(list(kind.enums))}")
    if required:
        lines.append("required = true")
    return lines


def unique_columns(inspector: sa.Inspector, table: str, schema: str | None) -> set[str]:
    """The columns that are unique on their own: a constraint, or a unique index (SQLite's
    own for a column declared UNIQUE included, which reflection leaves out)."""
    found = {
        str(c["column_names"][0])
        for c in inspector.get_unique_constraints(table, schema=schema)
        if len(c["column_names"]) == 1
    }
    auto = {"include_auto_indexes": True} if inspector.dialect.name == "sqlite" else {}
    found |= {
        str(i["column_names"][0])
        for i in inspector.get_indexes(table, schema=schema, **auto)
        if i["unique"] and len(i["column_names"]) == 1
    }
    return found


def _target_key(inspector: sa.Inspector, foreign: Any) -> str:
    """The referenced table's key: its first unique column, else `key`."""
    table, schema = foreign["referred_table"], foreign.get("referred_schema")
    unique = unique_columns(inspector, table, schema)
    columns = [c["name"] for c in inspector.get_columns(table, schema=schema)]
    return next((c for c in columns if c in unique), "key")


def _single_foreign_keys(inspector: sa.Inspector, table: str, schema: str | None) -> dict[str, Any]:
    """The table's foreign keys of one column, by that column."""
    return {
        key["constrained_columns"][0]: key
        for key in inspector.get_foreign_keys(table, schema=schema)
        if len(key["constrained_columns"]) == 1
    }


def _links_to(inspector: sa.Inspector, table: str, schema: str | None) -> list[str]:
    """The link tables of the schema (keyed by more than one column, with two foreign keys or
    more) owned by `table`: their primary key's first column points at it."""
    found = []
    for name in inspector.get_table_names(schema=schema):
        keys = _single_foreign_keys(inspector, name, schema)
        primary = inspector.get_pk_constraint(name, schema=schema)["constrained_columns"]
        owned = bool(primary) and keys.get(primary[0], {}).get("referred_table") == table
        if len(keys) >= 2 and len(primary) != 1 and owned:
            found.append(f"{schema}.{name}" if schema else name)
    return found


def _link_note(inspector: sa.Inspector, name: str, owner_table: str | None = None) -> str:
    """A link table is no type of its own but a field of its owner type (`owner_table`, else
    the table its primary key's first column points at): that field, as a comment to move
    under the owner's declaration."""
    table_schema, _, table_name = name.rpartition(".")
    schema = table_schema or None
    keys = _single_foreign_keys(inspector, table_name, schema)
    first = inspector.get_pk_constraint(table_name, schema=schema)["constrained_columns"]
    owner_column = next(
        (c for c, k in keys.items() if k["referred_table"] == owner_table),
        first[0] if first and first[0] in keys else next(iter(keys)),
    )
    owner = keys[owner_column]
    target_column, target = next((c, k) for c, k in keys.items() if c != owner_column)
    flags = [
        c["name"]
        for c in inspector.get_columns(table_name, schema=schema)
        if isinstance(c["type"], sa.Boolean) and c["name"] not in TRACKING
    ]
    link = (
        f'to = "{target["referred_table"]}", table = {json.dumps(name)}, '
        f'owner = "{owner_column}", target = "{target_column}"'
        + (f', primary_flag = "{flags[0]}"' if flags else "")
    )
    owner_type = owner["referred_table"]
    stem = target_column.removesuffix("_id")
    return (
        "\n".join(
            [
                f"# {name} links {owner_type} to {target['referred_table']}: a field of type "
                f"{owner_type}, not a type of its own.",
                f"# Track it with `batchport db track {name} --owner {owner_column}`, and "
                f"declare it under [types.{owner_type}]:",
                f"# [[types.{owner_type}.fields]]",
                f'# name = "{stem}_{_target_key(inspector, target)}s"',
                f"# link = {{ {link} }}",
            ]
        )
        + "\n"
    )
