"""What the database's own catalog says about a table: its name as the catalog spells it, its
kind, columns, keys, indexes and triggers. Read fresh each time; nothing here is declared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

#: Schemas a table is named without: PostgreSQL's default and SQLite's one database.
DEFAULT_SCHEMAS = frozenset({"public", "main"})

#: What batchport adds to a tracked table, as the seed's migrations add them.
BATCH_COLUMN = "import_batch_id"
BATCH_COLUMN_SQL = "VARCHAR(100)"
BATCH_COLUMN_LENGTH = 100
VERSION_COLUMN = "row_version"
VERSION_COLUMN_SQL = "BIGINT NOT NULL DEFAULT 0"


@dataclass(frozen=True, order=True)
class TableName:
    """A table as the catalog spells it: its schema (`main` on SQLite) and name."""

    schema: str
    name: str

    def __str__(self) -> str:
        return self.name if self.schema in DEFAULT_SCHEMAS else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Owner:
    """What makes a table a link: the column naming its owner row, and the owner's table."""

    column: str
    table: TableName


@dataclass(frozen=True)
class Column:
    """One column: its type as SQLAlchemy reflects it, nullability and default (SQL text)."""

    name: str
    type: sa.types.TypeEngine[Any]
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of the table: its columns and what they point at (`referred` None: a
    table the catalog no longer finds)."""

    columns: tuple[str, ...]
    referred: TableName | None
    referred_columns: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    """An index on plain columns; `valid` is false for one a failed CONCURRENTLY build left."""

    name: str
    columns: tuple[str, ...]
    valid: bool = True


@dataclass(frozen=True)
class Trigger:
    """A trigger of the table: `definition` says what it does with its name left out, in the
    dialect's words, so that batchport's own can be told from any other."""

    name: str
    definition: str
    enabled: bool = True


@dataclass(frozen=True)
class Shape:
    """A table as the catalog has it now."""

    table: TableName
    #: `table`, or what else the name is (`view`, `partitioned table`, ...).
    kind: str
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...]
    #: Whether the database fills in `id` for a row inserted without one (a sequence the
    #: column owns on PostgreSQL; SQLite's INTEGER PRIMARY KEY).
    fills_ids: bool
    #: Whether the database may give a deleted row's id to a new row (SQLite without
    #: AUTOINCREMENT, after the last row is deleted).
    reuses_ids: bool
    foreign_keys: tuple[ForeignKey, ...]
    indexes: tuple[Index, ...]
    triggers: tuple[Trigger, ...]

    def indexed(self, column: str) -> Index | None:
        """A valid index whose first column is `column`, if there is one."""
        return next((i for i in self.indexes if i.columns[:1] == (column,) and i.valid), None)

    def invalid_index(self, name: str) -> bool:
        """Whether the index called `name` is there, left invalid by a failed build."""
        return any(i.name == name and not i.valid for i in self.indexes)

    def foreign_key(self, column: str) -> ForeignKey | None:
        """The single-column foreign key on `column`, if there is one."""
        return next((k for k in self.foreign_keys if k.columns == (column,)), None)

    def trigger(self, definition: str) -> Trigger | None:
        """The trigger that does what `definition` says, whatever its name."""
        return next((t for t in self.triggers if t.definition == definition), None)


def reflected_columns(
    conn: sa.Connection, table: TableName, schema: str | None
) -> dict[str, Column]:
    """The table's columns, as SQLAlchemy reflects them (`schema` as the dialect wants it)."""
    return {
        c["name"]: Column(
            c["name"],
            c["type"],
            bool(c["nullable"]),
            None if c.get("default") is None else str(c["default"]),
        )
        for c in sa.inspect(conn).get_columns(table.name, schema=schema)
    }


def is_batch_column(column: Column) -> bool:
    """Whether the column is batchport's `import_batch_id`: VARCHAR(100), nullable."""
    return (
        isinstance(column.type, sa.String)
        and not isinstance(column.type, sa.Text)
        and column.type.length == BATCH_COLUMN_LENGTH
        and column.nullable
    )


def is_version_column(column: Column) -> bool:
    """Whether the column is batchport's `row_version`: BIGINT NOT NULL DEFAULT 0."""
    default = (column.default or "").strip("()' ").split("::")[0].strip("'")
    return isinstance(column.type, sa.BigInteger) and not column.nullable and default == "0"


def described(column: Column) -> str:
    """A column's type and nullability as SQL says them: `INTEGER NOT NULL`."""
    return f"{column.type}{'' if column.nullable else ' NOT NULL'}"
