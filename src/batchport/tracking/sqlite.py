"""SQLite: tracking in one write transaction (SQLite's DDL is transactional), so a run that
stops anywhere leaves the table as it was. Every table is in the one database, `main`."""

from __future__ import annotations

import re

import sqlalchemy as sa

from batchport.tracking.ddl import (
    Ddl,
    Step,
    index_name,
    indexed_columns,
    split_name,
    trigger_name,
    wanted_columns,
)
from batchport.tracking.shapes import (
    BATCH_COLUMN,
    BATCH_COLUMN_SQL,
    VERSION_COLUMN,
    VERSION_COLUMN_SQL,
    Column,
    Index,
    Owner,
    Shape,
    TableName,
    Trigger,
)

MAIN = "main"

#: A trigger's text up to its name, which its definition leaves out.
_TRIGGER_HEAD = re.compile(
    r'^\s*CREATE\s+(?:TEMP\w*\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"(?:[^"]|"")*"|\S+)\s+',
    re.IGNORECASE,
)


def _definition(sql: str) -> str:
    return " ".join(_TRIGGER_HEAD.sub("", sql).split())


class SqliteDdl(Ddl):
    """SQLite 3.35 or later (ALTER TABLE ... DROP COLUMN)."""

    name = "sqlite"
    label = "SQLite"
    transactional = True
    schemas = False
    unfilled_ids = (
        "its id is not declared INTEGER PRIMARY KEY (SQLite's rowid), so SQLite does not fill it in"
    )

    def find(self, conn: sa.Connection, text: str) -> TableName | None:
        parts = split_name(text)
        if parts is None:
            return None
        (schema, _), (name, _) = parts
        if schema and schema.lower() != MAIN:
            return None
        return self.locate(conn, None, name)

    def locate(self, conn: sa.Connection, schema: str | None, name: str) -> TableName | None:
        if schema is not None and schema != MAIN:
            return None
        found = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name = ? COLLATE NOCASE",
            (name,),
        ).scalar()
        return None if found is None else TableName(MAIN, found)

    def reflected_schema(self, table: TableName) -> str | None:
        return None

    def qualified(self, table: TableName) -> str:
        return self.quote(table.name)

    def kind(self, conn: sa.Connection, table: TableName) -> str | None:
        found = conn.exec_driver_sql(
            "SELECT type FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
            (table.name,),
        ).scalar()
        return None if found is None else str(found)

    def _created(self, conn: sa.Connection, table: TableName) -> str:
        return str(
            conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
            ).scalar()
            or ""
        )

    def fills_ids(
        self,
        conn: sa.Connection,
        table: TableName,
        columns: dict[str, Column],
        primary_key: tuple[str, ...],
    ) -> bool:
        # Only a column declared exactly INTEGER PRIMARY KEY is the rowid, which SQLite fills
        # in; `INT PRIMARY KEY` or `BIGINT PRIMARY KEY` are ordinary columns that stay NULL.
        declared = conn.exec_driver_sql(
            "SELECT type FROM pragma_table_info(?) WHERE name = 'id' AND pk = 1", (table.name,)
        ).scalar()
        without_rowid = re.search(r"\)\s*WITHOUT\s+ROWID\b", self._created(conn, table), re.I)
        return (
            primary_key == ("id",)
            and str(declared or "").upper() == "INTEGER"
            and without_rowid is None
        )

    def reuses_ids(self, conn: sa.Connection, table: TableName) -> bool:
        return re.search(r"\bAUTOINCREMENT\b", self._created(conn, table), re.I) is None

    def indexes(self, conn: sa.Connection, table: TableName) -> tuple[Index, ...]:
        found: dict[str, list[str]] = {}
        for name, column in conn.exec_driver_sql(
            "SELECT l.name, i.name FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS i "
            "ORDER BY l.name, i.seqno",
            (table.name,),
        ):
            found.setdefault(name, []).append(column)
        return tuple(Index(name, tuple(columns)) for name, columns in found.items())

    def triggers(self, conn: sa.Connection, table: TableName) -> tuple[Trigger, ...]:
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
            "ORDER BY name",
            (table.name,),
        )
        return tuple(Trigger(name, _definition(sql or "")) for name, sql in found)

    def edit_trigger(self, table: TableName, owner: Owner | None) -> Trigger:
        name = trigger_name(table.name)
        return Trigger(name, _definition(self._create_trigger(table, owner)))

    def _create_trigger(self, table: TableName, owner: Owner | None) -> str:
        name, quoted = trigger_name(table.name), self.qualified(table)
        if owner is None:
            return (
                f"CREATE TRIGGER {self.quote(name)} AFTER UPDATE ON {quoted} "
                "WHEN NEW.row_version = OLD.row_version "
                "AND NOT EXISTS (SELECT 1 FROM import_writes) "
                f"BEGIN UPDATE {quoted} SET row_version = OLD.row_version + 1 "
                "WHERE id = NEW.id; END"
            )
        column = self.quote(owner.column)
        return (
            f"CREATE TRIGGER {self.quote(name)} AFTER UPDATE ON {quoted} "
            "WHEN NOT EXISTS (SELECT 1 FROM import_writes) "
            f"BEGIN UPDATE {self.qualified(owner.table)} SET row_version = row_version + 1 "
            f"WHERE id IN (OLD.{column}, NEW.{column}); END"
        )

    def track(self, shape: Shape, owner: Owner | None) -> list[Step]:
        table = self.qualified(shape.table)
        definitions = {BATCH_COLUMN: BATCH_COLUMN_SQL, VERSION_COLUMN: VERSION_COLUMN_SQL}
        steps = [
            Step(f"ALTER TABLE {table} ADD COLUMN {c} {definitions[c]}", f"added column {c}")
            for c in wanted_columns(owner)
            if c not in shape.columns
        ]
        for column in indexed_columns(owner):
            if column in shape.columns and shape.indexed(column) is not None:
                continue
            name = index_name(shape.table.name, column)
            steps.append(
                Step(
                    f"CREATE INDEX IF NOT EXISTS {self.quote(name)} ON {table} "
                    f"({self.quote(column)})",
                    f"built index {name}",
                )
            )
        trigger = self.edit_trigger(shape.table, owner)
        if shape.trigger(trigger.definition) is None:
            steps.append(
                Step(self._create_trigger(shape.table, owner), f"created trigger {trigger.name}")
            )
        return steps

    def untrack(self, shape: Shape, owner: Owner | None) -> list[Step]:
        table = self.qualified(shape.table)
        steps = []
        trigger = shape.trigger(self.edit_trigger(shape.table, owner).definition)
        if trigger is not None:
            steps.append(
                Step(
                    f"DROP TRIGGER IF EXISTS {self.quote(trigger.name)}",
                    f"dropped trigger {trigger.name}",
                )
            )
        present = [c for c in wanted_columns(owner) if c in shape.columns]
        # SQLite drops no column an index names: the stamp's indexes go first.
        steps += [
            Step(f"DROP INDEX IF EXISTS {self.quote(index.name)}", f"dropped index {index.name}")
            for index in shape.indexes
            if BATCH_COLUMN in index.columns and BATCH_COLUMN in present
        ]
        steps += [
            Step(f"ALTER TABLE {table} DROP COLUMN {c}", f"dropped column {c}") for c in present
        ]
        return steps
