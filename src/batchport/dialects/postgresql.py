"""PostgreSQL: COPY for bulk rows, row locks for concurrent rollbacks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from psycopg import sql

from batchport.dialects.base import Dialect


class PostgresqlDialect(Dialect):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"

    def lock_row(self, statement: sa.Select[tuple[object, ...]]) -> sa.Select[tuple[object, ...]]:
        return statement.with_for_update()

    def copy_rows(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
    ) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(*([table.schema] if table.schema else []), table.name),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        )
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
