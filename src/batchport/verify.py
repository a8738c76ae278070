"""`db verify`: the seed's post-migration checks, run for the user against the live schema, and
the checks of every table `db track` tracks."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from batchport import tracking
from batchport.schema import BatchId, departments, import_history, users


@dataclass(frozen=True)
class Check:
    """One verified fact about the schema or its data."""

    name: str
    passed: bool
    detail: str


def verify_schema(conn: sa.Connection, schema_of_inventory: str | None) -> list[Check]:
    """Checks batch tracking is in place: columns, types, nullability, uniqueness, indexes,
    data; and for every tracked table its columns, index, trigger and key (see
    `tracking.findings`)."""
    inspector = sa.inspect(conn)
    checks: list[Check] = []
    targets = [
        (import_history, None, "batch_id", False),
        (departments, schema_of_inventory, "import_batch_id", True),
        (users, None, "import_batch_id", True),
    ]
    for table, schema, column, nullable in targets:
        qualified = f"{schema}.{table.name}" if schema else table.name
        try:
            columns = {c["name"]: c for c in inspector.get_columns(table.name, schema=schema)}
        except sa.exc.NoSuchTableError:
            checks.append(Check(f"table {qualified} exists", False, "table is missing"))
            continue
        found = columns.get(column)
        checks.append(
            Check(
                f"{qualified}.{column} exists",
                found is not None,
                "present" if found is not None else "column is missing",
            )
        )
        if found is None:
            continue
        length = getattr(found["type"], "length", None)
        checks.append(
            Check(
                f"{qualified}.{column} is VARCHAR({BatchId.length})",
                isinstance(found["type"], sa.String) and length == BatchId.length,
                f"found {found['type']}",
            )
        )
        checks.append(
            Check(
                f"{qualified}.{column} is {'nullable' if nullable else 'NOT NULL'}",
                found["nullable"] == nullable,
                "nullable" if found["nullable"] else "NOT NULL",
            )
        )
        indexed = _indexes(inspector, table.name, schema, column)
        checks.append(
            Check(
                f"{qualified}.{column} is indexed",
                bool(indexed),
                ", ".join(sorted(indexed)) or "no index",
            )
        )
    checks += _history_checks(conn, inspector)
    checks += [Check(f.name, f.passed, f.detail) for f in tracking.verified(conn)]
    return checks


def _indexes(inspector: sa.Inspector, table: str, schema: str | None, column: str) -> set[str]:
    names = {
        str(i["name"])
        for i in inspector.get_indexes(table, schema=schema)
        if i["column_names"] == [column]
    }
    names |= {
        str(u["name"])
        for u in inspector.get_unique_constraints(table, schema=schema)
        if u["column_names"] == [column]
    }
    return names


def _history_checks(conn: sa.Connection, inspector: sa.Inspector) -> list[Check]:
    columns = {c["name"] for c in inspector.get_columns("import_history")}
    if "batch_id" not in columns:
        return []
    unique = [
        u["name"]
        for u in inspector.get_unique_constraints("import_history")
        if u["column_names"] == ["batch_id"]
    ]
    unique += [
        i["name"]
        for i in inspector.get_indexes("import_history")
        if i["column_names"] == ["batch_id"] and i["unique"]
    ]
    missing = conn.execute(
        sa.select(sa.func.count())
        .select_from(sa.table("import_history", sa.column("batch_id")))
        .where(sa.column("batch_id").is_(None))
    ).scalar_one()
    return [
        Check(
            "import_history.batch_id is unique",
            bool(unique),
            ", ".join(sorted({str(n) for n in unique})) or "no unique constraint",
        ),
        Check(
            "no import_history row lacks a batch_id",
            missing == 0,
            f"{missing} row(s) with NULL batch_id",
        ),
    ]
