"""What differs between databases in tracking a table: finding it, reading what its catalog
holds, and the statements that add (or take away) batch tracking. One class per dialect,
chosen by the dialect's name; this one holds what they share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from typing import ClassVar

import sqlalchemy as sa

from batchport.errors import ConfigurationError
from batchport.tracking.shapes import (
    BATCH_COLUMN,
    VERSION_COLUMN,
    Column,
    ForeignKey,
    Index,
    Owner,
    Shape,
    TableName,
    Trigger,
    reflected_columns,
)

#: The longest identifier PostgreSQL keeps (longer ones are cut, and may then collide).
MAX_IDENTIFIER = 63


@dataclass(frozen=True)
class Step:
    """One statement, and what it does in words for the report (None: a session setting)."""

    sql: str
    says: str | None = None


def index_name(table: str, column: str) -> str:
    """The name of the index batchport builds on `column`: `<table>_<column>_index`, as the
    seed's names go, shortened with a hash where it would be too long."""
    return _fitted(table, f"{column}_index")


def trigger_name(table: str) -> str:
    """The name of the trigger that counts a table's edits: `<table>_row_version`."""
    return _fitted(table, VERSION_COLUMN)


def _fitted(table: str, suffix: str) -> str:
    name = f"{table}_{suffix}"
    if len(name.encode()) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    room = MAX_IDENTIFIER - len(suffix) - len(digest) - 2
    return f"{table.encode()[:room].decode(errors='ignore')}_{digest}_{suffix}"


def split_name(text: str) -> tuple[tuple[str, bool], tuple[str, bool]] | None:
    """A user's name for a table as (schema, name), each with whether it was quoted (an
    empty schema when none is given); None if it is no name (`a.b.c`, an unclosed quote)."""
    parts: list[tuple[str, bool]] = []
    rest = text.strip()
    while True:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            while end != -1 and rest[end + 1 : end + 2] == '"':
                end = rest.find('"', end + 2)
            if end == -1:
                return None
            parts.append((rest[1:end].replace('""', '"'), True))
            rest = rest[end + 1 :]
        else:
            part, _, _ = rest.partition(".")
            if not part or '"' in part:
                return None
            parts.append((part, False))
            rest = rest[len(part) :]
        if not rest:
            break
        if not rest.startswith(".") or len(parts) == 2:
            return None
        rest = rest[1:]
    if len(parts) == 1:
        parts.insert(0, ("", False))
    return parts[0], parts[1]


def wanted_columns(owner: Owner | None) -> tuple[str, ...]:
    """The columns tracking adds: the batch stamp, and on a table of its own the row version
    (a link's edits are counted on its owner's)."""
    return (BATCH_COLUMN,) if owner is not None else (BATCH_COLUMN, VERSION_COLUMN)


def indexed_columns(owner: Owner | None) -> tuple[str, ...]:
    """The columns tracking indexes: a table's batch stamp (a rollback finds its rows by it);
    a link table's owner column, not its stamp — a rollback reaches a link's rows through
    their owner, never by the stamp alone, so that index would only slow every import (as
    batchport's own user_departments has none)."""
    return (owner.column,) if owner is not None else (BATCH_COLUMN,)


class Ddl:
    """Defaults that hold for every database; subclasses say what differs."""

    name: ClassVar[str] = "generic"
    #: The database's name as people write it.
    label: ClassVar[str] = "the database"
    #: Whether tracking runs in one transaction with its record (SQLite). PostgreSQL runs it
    #: statement by statement outside any: CREATE INDEX CONCURRENTLY cannot run in one.
    transactional: ClassVar[bool] = True
    #: Whether tables live in schemas of their own (SQLite keeps them all in `main`).
    schemas: ClassVar[bool] = True
    #: What to do about an `id` the database does not fill in (see `Shape.fills_ids`).
    unfilled_ids: ClassVar[str] = "the database does not fill in its id"

    def __init__(self, dialect: sa.Dialect) -> None:
        self.quote = dialect.identifier_preparer.quote

    def find(self, conn: sa.Connection, text: str) -> TableName | None:
        """The table a user's name for it (`shop.products`, `products`) means, if any."""
        raise NotImplementedError

    def locate(self, conn: sa.Connection, schema: str | None, name: str) -> TableName | None:
        """The table with exactly this schema (None: the one a query would find) and name."""
        raise NotImplementedError

    def shape(self, conn: sa.Connection, table: TableName) -> Shape | None:
        """What the catalog holds about the table; None if it is gone."""
        kind = self.kind(conn, table)
        if kind is None:
            return None
        inspector = sa.inspect(conn)
        schema = self.reflected_schema(table)
        columns = reflected_columns(conn, table, schema) if kind == "table" else {}
        keys = inspector.get_foreign_keys(table.name, schema=schema) if columns else []
        primary_key: tuple[str, ...] = ()
        if columns:
            primary = inspector.get_pk_constraint(table.name, schema=schema)
            primary_key = tuple(primary.get("constrained_columns") or ())
        return Shape(
            table=table,
            kind=kind,
            columns=columns,
            primary_key=primary_key,
            fills_ids=bool(columns) and self.fills_ids(conn, table, columns, primary_key),
            reuses_ids=bool(columns) and self.reuses_ids(conn, table),
            foreign_keys=tuple(self._foreign_key(conn, table, key) for key in keys),
            indexes=self.indexes(conn, table) if columns else (),
            triggers=self.triggers(conn, table) if columns else (),
        )

    def _foreign_key(
        self,
        conn: sa.Connection,
        table: TableName,
        key: sa.engine.interfaces.ReflectedForeignKeyConstraint,
    ) -> ForeignKey:
        referred = self.locate(conn, key.get("referred_schema"), key["referred_table"])
        columns = tuple(key["referred_columns"])
        if not columns and referred is not None:
            # A key naming no columns points at the referred table's primary key.
            pk = sa.inspect(conn).get_pk_constraint(
                referred.name, schema=self.reflected_schema(referred)
            )
            columns = tuple(pk.get("constrained_columns") or ())
        return ForeignKey(tuple(key["constrained_columns"]), referred, columns)

    def reflected_schema(self, table: TableName) -> str | None:
        """The schema to hand SQLAlchemy's inspector for the table."""
        return table.schema

    def kind(self, conn: sa.Connection, table: TableName) -> str | None:
        """`table`, or what else the name is; None if nothing has it."""
        raise NotImplementedError

    def fills_ids(
        self,
        conn: sa.Connection,
        table: TableName,
        columns: dict[str, Column],
        primary_key: tuple[str, ...],
    ) -> bool:
        raise NotImplementedError

    def reuses_ids(self, conn: sa.Connection, table: TableName) -> bool:
        return False

    def indexes(self, conn: sa.Connection, table: TableName) -> tuple[Index, ...]:
        raise NotImplementedError

    def triggers(self, conn: sa.Connection, table: TableName) -> tuple[Trigger, ...]:
        raise NotImplementedError

    def qualified(self, table: TableName) -> str:
        """The table's name quoted for a statement."""
        return f"{self.quote(table.schema)}.{self.quote(table.name)}"

    def edit_trigger(self, table: TableName, owner: Owner | None) -> Trigger:
        """The trigger tracking gives the table: on a table of its own, one that adds one to
        `row_version` for every change made outside batchport; on a link table, one that
        counts a change to a link row as a change to its owner row (before and after)."""
        raise NotImplementedError

    def track(self, shape: Shape, owner: Owner | None) -> list[Step]:
        """The statements that complete the table's tracking; none if it is complete."""
        raise NotImplementedError

    def lock(self, tables: list[TableName]) -> list[Step]:
        """Statements, at the start of the untracking transaction, that keep writers out of
        `tables` until it ends, so that no batch stamps rows after they were checked."""
        return []

    def untrack(self, shape: Shape, owner: Owner | None) -> list[Step]:
        """The statements that take the table's tracking away, in the untracking transaction."""
        raise NotImplementedError

    def reset(self, conn: sa.Connection) -> None:
        """Puts back the session settings `track` changed, after a run that stopped."""


_DDLS = {
    "postgresql": "batchport.tracking.postgresql:PostgresqlDdl",
    "sqlite": "batchport.tracking.sqlite:SqliteDdl",
}


def ddl_for(conn: sa.Connection) -> Ddl:
    """The tracking statements of the connection's database."""
    name = conn.dialect.name
    if name not in _DDLS:
        raise ConfigurationError(f"batchport cannot track tables of a {name} database")
    module, _, cls = _DDLS[name].partition(":")
    ddl: Ddl = getattr(import_module(module), cls)(conn.dialect)
    return ddl
