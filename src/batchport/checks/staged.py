"""Checks that need the whole file or the database: natural keys, references, cycles.

Each runs as set-based SQL over the staging tables (one query; for cycles, one per round of
`checks.cycles`), so its cost grows with the file's rows (times log n for cycles), never
with their square.
"""

from __future__ import annotations

import sqlalchemy as sa

from batchport.checks.cycles import on_cycles
from batchport.checks.stage import ROW_NUMBER, Stage
from batchport.declarations import Catalog, ImportType
from batchport.errors import RowError


def check_stage(
    conn: sa.Connection, stage: Stage, catalog: Catalog, *, on_existing: str = "error"
) -> list[RowError]:
    """Every error the staged rows have against each other and against the database.

    A key already in the database is an error only when `on_existing` is `error`.
    """
    return [
        *_duplicate_keys(conn, stage),
        *(_existing_keys(conn, stage) if on_existing == "error" else []),
        *(_new_rows_lacking(conn, stage) if on_existing == "update" else []),
        *_unknown_references(conn, stage, catalog),
        *_unknown_link_targets(conn, stage, catalog),
        *_cycles(conn, stage),
    ]


def _duplicate_keys(conn: sa.Connection, stage: Stage) -> list[RowError]:
    key = stage.import_type.key
    rows = stage.rows
    first = (
        sa.select(rows.c[key], sa.func.min(rows.c[ROW_NUMBER]).label("first"))
        .where(rows.c[key].is_not(None))
        .group_by(rows.c[key])
        .having(sa.func.count() > 1)
        .subquery()
    )
    query = (
        sa.select(rows.c[ROW_NUMBER], rows.c[key], first.c.first)
        .join(first, first.c[key] == rows.c[key])
        .where(rows.c[ROW_NUMBER] > first.c.first)
    )
    return [
        RowError(
            number,
            key,
            _text(value),
            f"{key} {_text(value)!r} is also in row {first_row} of this file",
        )
        for number, value, first_row in conn.execute(query)
    ]


def _existing_keys(conn: sa.Connection, stage: Stage) -> list[RowError]:
    import_type = stage.import_type
    key = import_type.key
    table = import_type.table
    query = sa.select(
        stage.rows.c[ROW_NUMBER], stage.rows.c[key], table.c.id, table.c.import_batch_id
    ).join(table, import_type.key_column == stage.rows.c[key])
    return [
        RowError(
            number,
            key,
            _text(value),
            f"{key} {_text(value)!r} already exists in the database "
            f"({import_type.name} id {row_id}, "
            + (f"imported by batch {batch_id})" if batch_id else "entered outside batchport)"),
        )
        for number, value, row_id, batch_id in conn.execute(query)
    ]


def _new_rows_lacking(conn: sa.Connection, stage: Stage) -> list[RowError]:
    """An error for each row new to the table, for each required column the file left out
    (an update may leave out columns; a new row needs them)."""
    import_type = stage.import_type
    missing = [f.name for f in import_type.fields if f.required and f.name not in stage.present]
    if not missing:
        return []
    rows = stage.rows
    new = sa.select(rows.c[ROW_NUMBER]).where(
        ~sa.exists().where(import_type.key_column == rows.c[import_type.key])
    )
    return [
        RowError(
            number,
            name,
            "",
            f"is required for a new {import_type.name} row: the file has no {name} column, "
            "which only rows already in the database may leave out",
        )
        for (number,) in conn.execute(new.order_by(rows.c[ROW_NUMBER]))
        for name in missing
    ]


def _known(
    value: sa.ColumnElement[object], target: ImportType, stage: Stage
) -> sa.ColumnElement[bool]:
    """True where `value` is a key of `target` in the database, or in the file for a self type."""
    found: sa.ColumnElement[bool] = sa.exists().where(target.key_column == value)
    if target.name == stage.import_type.name:
        staged = stage.rows.alias("staged_target")
        found = found | sa.exists().where(staged.c[target.key] == value)
    return found


def _where(target: ImportType, stage: Stage) -> str:
    place = "the database or this file" if target.name == stage.import_type.name else "the database"
    return f"no {target.name} row has {target.key} {{value!r}} in {place}"


def _unknown_references(conn: sa.Connection, stage: Stage, catalog: Catalog) -> list[RowError]:
    errors: list[RowError] = []
    for reference in stage.import_type.references:
        target = catalog[reference.to]
        value = stage.rows.c[reference.field]
        query = sa.select(stage.rows.c[ROW_NUMBER], value).where(
            value.is_not(None), ~_known(value, target, stage)
        )
        message = _where(target, stage)
        errors += [
            RowError(number, reference.field, _text(found), message.format(value=_text(found)))
            for number, found in conn.execute(query)
        ]
    return errors


def _unknown_link_targets(conn: sa.Connection, stage: Stage, catalog: Catalog) -> list[RowError]:
    errors: list[RowError] = []
    for link, table in stage.links:
        target = catalog[link.to]
        query = sa.select(table.c[ROW_NUMBER], table.c.target_key).where(
            ~_known(table.c.target_key, target, stage)
        )
        message = _where(target, stage)
        errors += [
            RowError(number, link.field, _text(found), message.format(value=_text(found)))
            for number, found in conn.execute(query)
        ]
    return errors


def _cycles(conn: sa.Connection, stage: Stage) -> list[RowError]:
    """Rows whose chain of same-file parents leads back to themselves.

    A key repeated in the file is followed from its first row (the later ones are errors of
    their own), so that each key has one parent and the chains can be settled at once.
    """
    import_type = stage.import_type
    key = import_type.key
    rows = stage.rows
    first = (
        sa.select(sa.func.min(rows.c[ROW_NUMBER]))
        .where(rows.c[key].is_not(None))
        .group_by(rows.c[key])
    )
    errors: list[RowError] = []
    for reference in import_type.references:
        if reference.to != import_type.name:
            continue
        parent = rows.c[reference.field]
        edges = sa.select(rows.c[key], parent).where(
            rows.c[ROW_NUMBER].in_(first), parent.in_(sa.select(rows.c[key]))
        )
        with on_cycles(conn, edges, import_type.key_column.type) as looped:
            found = conn.execute(
                sa.select(rows.c[ROW_NUMBER], rows.c[key], parent)
                .where(rows.c[ROW_NUMBER].in_(first), rows.c[key].in_(looped))
                .order_by(rows.c[ROW_NUMBER])
            ).all()
        errors += [
            RowError(
                number,
                reference.field,
                _text(value),
                f"{key} {_text(origin)!r} would be its own ancestor: its {reference.field} chain "
                "leads back to it",
            )
            for number, origin, value in found
        ]
    return errors


def _text(value: object) -> str:
    """A key as a message shows it: as it reads in the file (a UUID, a number as text)."""
    return value if isinstance(value, str) else str(value)
