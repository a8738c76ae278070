"""The record of tracked tables (`tracked_tables`), and batchport's own tables, which its
migrations track and `db track` leaves alone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from batchport.schema import departments, metadata, tracked_tables, user_departments, users
from batchport.tracking.ddl import Ddl
from batchport.tracking.shapes import Owner, TableName


@dataclass(frozen=True)
class Tracked:
    """A table `db track` gave batch tracking to: for a link table, its owner too."""

    table: TableName
    owner: Owner | None
    tracked_at: dt.datetime | None
    tracked_by: str | None

    def to_json(self) -> dict[str, object]:
        """The entry as JSON values (`--json`)."""
        return {
            "table": str(self.table),
            "schema": self.table.schema,
            "name": self.table.name,
            "owner_table": str(self.owner.table) if self.owner else None,
            "owner_column": self.owner.column if self.owner else None,
            "tracked_at": self.tracked_at.isoformat() if self.tracked_at else None,
            "tracked_by": self.tracked_by,
        }


def _entry(row: sa.RowMapping) -> Tracked:
    owner = None
    if row["owner_column"] is not None:
        owner = Owner(row["owner_column"], TableName(row["owner_schema"], row["owner_table"]))
    at = row["tracked_at"]
    if at is not None and at.tzinfo is None:  # SQLite keeps no offset: its times are UTC
        at = at.replace(tzinfo=dt.UTC)
    return Tracked(TableName(row["schema_name"], row["table_name"]), owner, at, row["tracked_by"])


def _exists(conn: sa.Connection) -> bool:
    # Before the revision that made it (a database not yet migrated), nothing is tracked.
    return sa.inspect(conn).has_table(tracked_tables.name)


def entries(conn: sa.Connection) -> list[Tracked]:
    """Every tracked table, in order of schema and name."""
    if not _exists(conn):
        return []
    rows = conn.execute(
        sa.select(tracked_tables).order_by(
            tracked_tables.c.schema_name, tracked_tables.c.table_name
        )
    ).mappings()
    return [_entry(row) for row in rows]


def entry(conn: sa.Connection, table: TableName) -> Tracked | None:
    """The table's entry, if it is tracked."""
    if not _exists(conn):
        return None
    row = (
        conn.execute(
            sa.select(tracked_tables).where(
                tracked_tables.c.schema_name == table.schema,
                tracked_tables.c.table_name == table.name,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _entry(row)


def add(conn: sa.Connection, table: TableName, owner: Owner | None, *, actor: str) -> None:
    """Records the table as tracked (by `actor`, now)."""
    conn.execute(
        tracked_tables.insert().values(
            schema_name=table.schema,
            table_name=table.name,
            owner_column=owner.column if owner else None,
            owner_schema=owner.table.schema if owner else None,
            owner_table=owner.table.name if owner else None,
            tracked_at=dt.datetime.now(dt.UTC),
            tracked_by=actor,
        )
    )


def remove(conn: sa.Connection, table: TableName) -> None:
    """Forgets the table."""
    conn.execute(
        tracked_tables.delete().where(
            tracked_tables.c.schema_name == table.schema,
            tracked_tables.c.table_name == table.name,
        )
    )


#: batchport's own tables whose migrations give them a `row_version`, so that a tracked link
#: table may have one of them as its owner.
VERSIONED = (departments, users)
#: batchport's own link tables, stamped by its migrations.
LINKS = (user_departments,)


def own_table(conn: sa.Connection, ddl: Ddl, table: TableName) -> sa.Table | None:
    """batchport's own table that `table` is, if it is one (its migrations track those)."""
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    for candidate in metadata.tables.values():
        if candidate.name != table.name:
            continue
        schema = translate.get(candidate.schema, candidate.schema)
        if ddl.locate(conn, schema, candidate.name) == table:
            return candidate
    return None
