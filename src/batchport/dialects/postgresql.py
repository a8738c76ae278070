"""PostgreSQL: COPY for bulk rows, row locks for concurrent rollbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects import postgresql

from batchport.dialects.base import Dialect

#: SQLSTATEs of transactions the server aborted to break a deadlock or a serialization
#: conflict: running them again is the documented remedy.
_RETRYABLE = frozenset({"40P01", "40001"})


class PostgresqlDialect(Dialect):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"

    def __init__(self) -> None:
        self._sequences: dict[str, str] = {}

    def lock_row(self, statement: sa.Select[tuple[object, ...]]) -> sa.Select[tuple[object, ...]]:
        return statement.with_for_update()

    def reserve_ids(self, conn: sa.Connection, table: sa.Table, count: int) -> Sequence[int]:
        # One round trip per chunk; ids of a rolled-back import are simply never used.
        qualified = f"{table.schema}.{table.name}" if table.schema else table.name
        if (sequence := self._sequences.get(qualified)) is None:
            sequence = conn.exec_driver_sql(
                "select pg_get_serial_sequence(%(table)s, 'id')", {"table": qualified}
            ).scalar_one()
            self._sequences[qualified] = sequence
        ids = conn.exec_driver_sql(
            "select array_agg(nextval(%(sequence)s)) from generate_series(1, %(count)s)",
            {"sequence": sequence, "count": count},
        ).scalar_one()
        return list(ids)

    def existing(self, conn: sa.Connection, column: sa.Column[Any], keys: list[Any]) -> set[Any]:
        # One array parameter instead of one bind parameter per key.
        table = column.table
        keys_param = sa.bindparam("keys", keys, type_=postgresql.ARRAY(column.type))
        query = sa.select(column).select_from(table).where(column == sa.func.any(keys_param))
        return set(conn.execute(query).scalars())

    def among(
        self, column: sa.ColumnElement[Any], values: sa.Select[Any]
    ) -> sa.ColumnElement[bool]:
        # As "= ANY(ARRAY(subquery))" the planner cannot guess the list long, so it probes the
        # index once per value; "IN (subquery)" often becomes a scan of the whole link table,
        # which makes a small batch's rollback cost as much as the table is large.
        return column == sa.any_(sa.func.array(values.scalar_subquery()))

    # A session-level advisory lock per job: held while the worker lives, freed by the server
    # the moment the worker's connection closes, however the process ended.
    _JOB_LOCK = "hashtextextended('batchport-job:' || %(job_id)s, 0)"

    def claim_job(self, conn: sa.Connection, job_id: str) -> None:
        conn.exec_driver_sql(f"select pg_advisory_lock({self._JOB_LOCK})", {"job_id": job_id})
        conn.commit()

    def release_job(self, conn: sa.Connection, job_id: str) -> None:
        conn.exec_driver_sql(f"select pg_advisory_unlock({self._JOB_LOCK})", {"job_id": job_id})
        conn.commit()

    def retryable(self, exc: sa.exc.DBAPIError) -> bool:
        return getattr(exc.orig, "sqlstate", None) in _RETRYABLE

    def job_claimed(self, conn: sa.Connection, job_id: str) -> bool | None:
        free = conn.exec_driver_sql(
            f"select pg_try_advisory_xact_lock({self._JOB_LOCK})", {"job_id": job_id}
        ).scalar_one()
        return not free

    def id_connection(self, conn: sa.Connection) -> AbstractContextManager[sa.Connection]:
        # Sequences are not transactional: ids drawn on another connection are as much this
        # import's alone, and drawing them there needs no pause in the COPY on this one.
        return conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def copy_rows(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
    ) -> None:
        with self.row_stream(conn, table, columns) as write:
            write(rows)

    @contextmanager
    def row_stream(
        self, conn: sa.Connection, table: sa.Table, columns: Sequence[str]
    ) -> Iterator[Callable[[Iterable[Sequence[object]]], None]]:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(*([table.schema] if table.schema else []), table.name),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        )
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:

                def write(rows: Iterable[Sequence[object]]) -> None:
                    for row in rows:
                        copy.write_row(row)

                yield write
        except psycopg.Error as exc:
            raise sa.exc.DBAPIError.instance(
                statement.as_string(driver), None, exc, psycopg.Error
            ) from exc
