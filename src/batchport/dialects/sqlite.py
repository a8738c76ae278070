"""SQLite: foreign keys on, WAL, and BEGIN IMMEDIATE so writers queue instead of failing."""

from __future__ import annotations

import decimal
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa

from batchport.dialects.base import Convert, Dialect, ForeignKey, column_names, converted
from batchport.schema import INVENTORY

#: Every foreign key of every table, one row per column, in the catalog's own words.
_FOREIGN_KEYS = """
SELECT t.name AS child, f.id, f.seq, f."table" AS referred, f."from" AS column, f."to",
    f.on_delete
FROM sqlite_master AS t, pragma_foreign_key_list(t.name) AS f
WHERE t.type = 'table'
ORDER BY t.name, f.id, f.seq
"""


def _table_shapes(conn: sa.Connection, names: set[str]) -> Iterator[tuple[str, list[str], bool]]:
    """Each table's primary key columns and whether it has an `import_batch_id`."""
    for name in sorted(names):
        columns = conn.exec_driver_sql(
            "SELECT name, pk FROM pragma_table_info(?) ORDER BY pk", (name,)
        ).all()
        primary = [column for column, position in columns if position]
        yield name, primary, any(column == "import_batch_id" for column, _ in columns)


#: Column types whose values sqlite3 cannot bind, or binds unlike SQLAlchemy (which the
#: application's own writes and batchport's reads go through): a date and time as SQLAlchemy's
#: text, a UUID as its 32 hexadecimal digits, JSON as its text.
_CONVERTED = (sa.Uuid, sa.JSON, sa.Date, sa.DateTime)


def _number(value: object) -> object:
    """A decimal as SQLite's NUMERIC and REAL hold it: a float (exact to 15 significant
    digits), as SQLAlchemy binds one; an integer field's ints stay exact."""
    return float(value) if type(value) is decimal.Decimal else value


#: How long a writer waits for another writer's transaction before giving up.
BUSY_TIMEOUT_MS = 60_000
_BEGIN_MODE = "batchport_begin"


class SqliteDialect(Dialect):
    """SQLite through the standard library's sqlite3."""

    name = "sqlite"
    migrates_on_first_use = True
    checks_references_per_row = True  # executemany inserts, and checks, row by row
    schema_translate_map: ClassVar[dict[str | None, str | None]] = {INVENTORY: None}

    def configure(self, engine: sa.Engine) -> None:
        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: object) -> None:
            # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            options = conn.get_execution_options()
            # An autocommit block (a migration step SQLite allows only outside a
            # transaction) opens its own transactions, if any.
            if options.get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql(f"BEGIN {options.get(_BEGIN_MODE, '')}")

    @contextmanager
    def begin_write(
        self, conn: sa.Connection, *, snapshot: bool = False, bulk: bool = False
    ) -> Iterator[sa.RootTransaction]:
        # A deferred transaction that reads and then writes can fail at once with
        # SQLITE_BUSY; IMMEDIATE takes the write lock up front and waits for it instead.
        # Holding the one write lock, the transaction sees no other writer's commits: every
        # write transaction is a snapshot.
        conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
        try:
            transaction = conn.begin()
        finally:
            conn.execution_options(**{_BEGIN_MODE: ""})
        with transaction:
            yield transaction

    def foreign_keys_to(self, conn: sa.Connection, tables: Sequence[sa.Table]) -> list[ForeignKey]:
        wanted = {table.name.casefold(): table for table in tables}
        found: dict[tuple[str, int], dict[str, Any]] = {}
        for row in conn.exec_driver_sql(_FOREIGN_KEYS).mappings():
            referred = wanted.get(row["referred"].casefold())
            if referred is None:
                continue
            key = found.setdefault(
                (row["child"], row["id"]),
                {"row": row, "referred": referred, "columns": [], "referred_columns": []},
            )
            key["columns"].append(row["column"])
            # A key naming no columns points at the referred table's primary key.
            primary = [c.name for c in referred.primary_key.columns]
            key["referred_columns"].append(row["to"] or primary[row["seq"]])
        shapes = {
            name: (tuple(primary), stamped)
            for name, primary, stamped in _table_shapes(conn, {child for child, _ in found})
        }
        return [
            ForeignKey(
                schema=None,
                table=child,
                columns=tuple(key["columns"]),
                referred=key["referred"],
                referred_columns=tuple(key["referred_columns"]),
                on_delete=key["row"]["on_delete"].upper(),
                primary_key=shapes[child][0],
                stamped=shapes[child][1],
                declared=wanted.get(child.casefold()),
            )
            for (child, _), key in sorted(found.items())
        ]

    def reserve_ids(self, conn: sa.Connection, table: sa.Table, count: int) -> Sequence[int]:
        # The write transaction (BEGIN IMMEDIATE) excludes other writers until it ends. Past
        # both the largest id and, for an AUTOINCREMENT table, the largest ever used.
        used = (
            sa.select(sa.column("seq"))
            .select_from(sa.table("sqlite_sequence"))
            .where(sa.column("name") == table.name)
            .scalar_subquery()
        )
        last = conn.execute(
            sa.select(
                sa.func.max(sa.func.coalesce(sa.func.max(table.c.id), 0), sa.func.coalesce(used, 0))
            )
        ).scalar_one()
        return range(last + 1, last + 1 + count)

    def converter(self, kind: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Convert | None:
        if isinstance(kind, sa.Numeric):  # Float too
            return _number
        if isinstance(kind, _CONVERTED):
            return kind.dialect_impl(dialect).bind_processor(dialect)
        return None

    def existing(self, conn: sa.Connection, column: sa.Column[Any], keys: list[Any]) -> set[Any]:
        # One JSON parameter instead of one bind parameter per key, each key as stored.
        table = column.table
        convert = self.converter(column.type, conn.dialect)
        stored = list(map(convert, keys)) if convert else keys
        values: sa.Select[Any] = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.bindparam("keys", json.dumps(stored)))
        )
        query = sa.select(column).select_from(table).where(column.in_(values))
        return set(conn.execute(query).scalars())

    def copy_rows(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
    ) -> None:
        names = ", ".join(f'"{c}"' for c in column_names(table, columns))
        marks = ", ".join("?" for _ in columns)
        statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        converts = self.converters(conn.dialect, table, columns)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(statement, converted(rows, converts))
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
