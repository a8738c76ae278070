"""A table's own CHECK constraints, tried on the staged rows before any row is written, so
that a row the database would refuse is reported by its row, column and value like every
other mistake, instead of failing the load with the database's words alone.

Only rows new to the table are tried (an update keeps what the file leaves out, so the row's
whole value is known only as it is written; the database still refuses a bad one then). A
check this cannot try (it names a column the file does not set, or a function of its own) is
left to the database.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from batchport.checks.stage import ROW_NUMBER, Stage
from batchport.declarations import Catalog
from batchport.errors import RowError
from batchport.loading.values import file_values


def broken_rules(conn: sa.Connection, stage: Stage, catalog: Catalog) -> list[RowError]:
    """An error for each new row that a CHECK constraint of its table would refuse."""
    table = stage.import_type.table
    rules = checks_of(conn, table)
    if not rules:
        return []
    candidate = _candidate(stage, catalog)
    errors: list[RowError] = []
    for name, text in rules:
        field, column = _named(stage, text)
        query = (
            sa.select(candidate.c[ROW_NUMBER], candidate.c[column] if column else sa.null())
            .select_from(candidate)
            .where(sa.text(f"NOT ({_literal(text)})"))
            .order_by(candidate.c[ROW_NUMBER])
        )
        try:
            with conn.begin_nested():
                found = conn.execute(query).all()
        except sa.exc.DBAPIError:
            continue  # not a check these values alone can answer: the database will
        rule = f"the rule {name}" if name else "a rule"
        message = f"breaks {rule} of table {table.name}: {text}"
        errors += [
            RowError(row, field, "" if value is None else str(value), message)
            for row, value in found
        ]
    return errors


def _literal(sql: str) -> str:
    """SQL text as `sa.text` takes it verbatim: no colon read as a bind parameter."""
    return sql.replace(":", "\\:")


def checks_of(conn: sa.Connection, table: sa.Table) -> list[tuple[str | None, str]]:
    """The table's CHECK constraints: each one's name (if it has one) and its SQL text."""
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    found = sa.inspect(conn).get_check_constraints(table.name, schema=schema)
    return [(check.get("name"), check["sqltext"]) for check in found]


def _candidate(stage: Stage, catalog: Catalog) -> sa.Subquery:
    """Each new staged row as it would be inserted: its row number and each column's value."""
    import_type = stage.import_type
    rows = stage.rows
    values: list[tuple[str, sa.ColumnElement[Any]]] = file_values(stage, catalog)
    key = import_type.key_column
    return (
        sa.select(rows.c[ROW_NUMBER], *(value.label(name) for name, value in values))
        .where(~sa.exists().where(key == rows.c[import_type.key]))
        .subquery("candidate")
    )


def _named(stage: Stage, text: str) -> tuple[str, str | None]:
    """The field (and its column) the check's text names first; else the key's."""
    import_type = stage.import_type
    for field in import_type.fields:
        column = field.column or next(
            (r.column for r in import_type.references if r.field == field.name), None
        )
        if column and re.search(rf"\b{re.escape(column)}\b", text):
            return field.name, column
    return import_type.key, None
