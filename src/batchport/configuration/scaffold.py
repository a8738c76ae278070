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
    foreign = {
        key["constrained_columns"][0]: key
        for key in inspector.get_foreign_keys(table_name, schema=schema_name)
        if len(key["constrained_columns"]) == 1
    }
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
