"""SQLite: foreign keys on, WAL, and BEGIN IMMEDIATE so writers queue instead of failing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa

from batchport.dialects.base import Dialect
from batchport.schema import INVENTORY

#: How long a writer waits for another writer's transaction before giving up.
BUSY_TIMEOUT_MS = 60_000
_BEGIN_MODE = "batchport_begin"


class SqliteDialect(Dialect):
    """SQLite through the standard library's sqlite3."""

    name = "sqlite"
    migrates_on_first_use = True
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
            conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(_BEGIN_MODE, '')}")

    @contextmanager
    def begin_write(self, conn: sa.Connection) -> Iterator[sa.RootTransaction]:
        # A deferred transaction that reads and then writes can fail at once with
        # SQLITE_BUSY; IMMEDIATE takes the write lock up front and waits for it instead.
        conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
        try:
            transaction = conn.begin()
        finally:
            conn.execution_options(**{_BEGIN_MODE: ""})
        with transaction:
            yield transaction

    def reserve_ids(self, conn: sa.Connection, table: sa.Table, count: int) -> Sequence[int]:
        # The write transaction (BEGIN IMMEDIATE) excludes other writers until it ends.
        last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
        return range(last + 1, last + 1 + count)

    def existing(self, conn: sa.Connection, column: sa.Column[Any], keys: list[Any]) -> set[Any]:
        # One JSON parameter instead of one bind parameter per key.
        table = column.table
        values: sa.Select[Any] = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.bindparam("keys", json.dumps(keys)))
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
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(statement, rows)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
