"""PostgreSQL: COPY for bulk rows, row locks for concurrent rollbacks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects import postgresql

from batchport.dialects.base import (
    Convert,
    Dialect,
    ForeignKey,
    LogJson,
    column_names,
    converted,
)
from batchport.dialects.postgresql_json import PostgresqlJson
from batchport.process import this_worker

#: SQLSTATEs of transactions the server aborted to break a deadlock or a serialization
#: conflict: running them again is the documented remedy.
_RETRYABLE = frozenset({"40P01", "40001"})

#: Numbers the temporary tables `checked_rows` makes.
_INCOMING = itertools.count()

#: `pg_constraint.confdeltype` letters.
_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

#: Every foreign key pointing at one of the tables given by oid, from the catalog. A key
#: declared on a partitioned table is read once, from that table (not from each partition).
_FOREIGN_KEYS = """
SELECT c.confrelid AS referred, c.conrelid AS child, n.nspname AS schema, t.relname AS table,
    c.confdeltype AS on_delete,
    ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(number, position)
          JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.number
          ORDER BY k.position)::text[] AS columns,
    ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(number, position)
          JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.number
          ORDER BY k.position)::text[] AS referred_columns,
    ARRAY(SELECT a.attname FROM pg_index AS i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(number, position)
          JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.number
          WHERE i.indrelid = c.conrelid AND i.indisprimary
          ORDER BY k.position)::text[] AS primary_key,
    EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = c.conrelid
            AND a.attname = 'import_batch_id' AND NOT a.attisdropped) AS stamped
FROM pg_constraint AS c
JOIN pg_class AS t ON t.oid = c.conrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = ANY(%(oids)s)
ORDER BY n.nspname, t.relname, c.conname
"""


#: The memory per sort or hash of a bulk transaction (`begin_write(bulk=True)`), at least.
BULK_WORK_MEM = "64MB"


def application_name(worker: str) -> str:
    """The name a worker's sessions carry in `pg_stat_activity` (cut to PostgreSQL's 63
    bytes, as the server cuts it)."""
    return f"batchport {worker}".encode()[:63].decode(errors="ignore")


class PostgresqlDialect(Dialect):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"
    full_joins = True

    def __init__(self) -> None:
        self._sequences: dict[str, str] = {}

    def configure(self, engine: sa.Engine) -> None:
        @sa.event.listens_for(engine, "do_connect")
        def _name(_dialect: object, _record: object, _args: object, params: dict[str, Any]) -> None:
            # Named at each connect, so a session tells which process (host:pid) holds it.
            params["application_name"] = application_name(this_worker())

    @contextmanager
    def begin_write(
        self, conn: sa.Connection, *, snapshot: bool = False, bulk: bool = False
    ) -> Iterator[sa.RootTransaction]:
        with conn.begin() as transaction:
            if snapshot:
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if bulk:
                # The transaction's own (SET LOCAL): hashes and sorts of a million rows spill
                # to disk at the default 4 MB (never lower than the server's); statements with
                # a subquery or a JSON document per row look costly to the planner, which then
                # spends longer compiling them (JIT) than running them.
                conn.exec_driver_sql(
                    "select set_config('jit', 'off', true), set_config('work_mem', "
                    "greatest(pg_size_bytes(current_setting('work_mem')), "
                    "pg_size_bytes(%(size)s)) / 1024 || 'kB', true)",
                    {"size": BULK_WORK_MEM},
                )
            yield transaction

    def foreign_keys_to(self, conn: sa.Connection, tables: Sequence[sa.Table]) -> list[ForeignKey]:
        oids: dict[int, sa.Table] = {}
        for table in tables:
            # A table declared without a schema is found as a query would: on the search path.
            oid = conn.exec_driver_sql(
                "select to_regclass(concat_ws('.', quote_ident(%(schema)s::text), "
                "quote_ident(%(name)s::text)))::oid",
                {"schema": table.schema, "name": table.name},
            ).scalar()
            if oid is not None:
                oids[oid] = table
        found = conn.exec_driver_sql(_FOREIGN_KEYS, {"oids": list(oids)}).mappings()
        return [
            ForeignKey(
                schema=row["schema"],
                table=row["table"],
                columns=tuple(row["columns"]),
                referred=oids[row["referred"]],
                referred_columns=tuple(row["referred_columns"]),
                on_delete=_ON_DELETE[row["on_delete"]],
                primary_key=tuple(row["primary_key"]),
                stamped=row["stamped"],
                declared=oids.get(row["child"]),
            )
            for row in found
        ]

    def worker_connected(self, conn: sa.Connection, worker: str) -> bool | None:
        return bool(
            conn.exec_driver_sql(
                "select exists (select from pg_stat_activity where application_name = %(name)s "
                "and pid <> pg_backend_pid())",
                {"name": application_name(worker)},
            ).scalar()
        )

    def end_sessions(self, conn: sa.Connection, worker: str) -> bool:
        # pg_terminate_backend waits (up to 5 s) until each session has ended: a transaction
        # committing as it was told to end has either committed or never will. Without the
        # right to end them (another role's sessions), they are left, and so is the worker.
        try:
            with conn.begin_nested():
                ended = conn.exec_driver_sql(
                    "select coalesce(bool_and(pg_terminate_backend(pid, 5000)), true) "
                    "from pg_stat_activity where application_name = %(name)s "
                    "and pid <> pg_backend_pid()",
                    {"name": application_name(worker)},
                ).scalar_one()
        except sa.exc.DBAPIError:
            return False
        return bool(ended)

    def lock_row(self, statement: sa.Select[tuple[object, ...]]) -> sa.Select[tuple[object, ...]]:
        return statement.with_for_update()

    def reserve_ids(self, conn: sa.Connection, table: sa.Table, count: int) -> Sequence[int]:
        # One round trip per chunk; ids of a rolled-back import are simply never used.
        qualified = f"{table.schema}.{table.name}" if table.schema else table.name
        if (sequence := self._sequences.get(qualified)) is None:
            sequence = conn.exec_driver_sql(
                "select pg_get_serial_sequence(%(table)s, %(column)s)",
                {"table": qualified, "column": table.c.id.name},
            ).scalar_one()
            self._sequences[qualified] = sequence
        ids = conn.exec_driver_sql(
            "select array_agg(nextval(%(sequence)s)) from generate_series(1, %(count)s)",
            {"sequence": sequence, "count": count},
        ).scalar_one()
        return list(ids)

    def existing(self, conn: sa.Connection, column: sa.Column[Any], keys: list[Any]) -> set[Any]:
        table = column.table
        if _plain_text(column.type) and all(type(key) is str for key in keys):
            # Text keys as one JSON document, compared as text: psycopg dumps an array's
            # elements one at a time in Python (10,000 addresses: 66 ms a query, 14 ms so).
            document = sa.cast(sa.bindparam("keys", json.dumps(keys), sa.Text), postgresql.JSON)
            texts = sa.select(sa.func.json_array_elements_text(document))
            query = sa.select(column).select_from(table).where(self.among(column, texts))
            return set(conn.execute(query).scalars())
        # One array parameter instead of one bind parameter per key.
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

    knows_sessions = True
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

    def converter(self, kind: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Convert | None:
        # COPY takes a JSON document as its text: psycopg writes a list as an array, and no
        # dict at all. Every other parsed value (Decimal, UUID, dates) psycopg writes itself.
        return json.dumps if isinstance(kind, sa.JSON) else None

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
            sql.SQL(", ").join(sql.Identifier(c) for c in column_names(table, columns)),
        )
        converts = self.converters(conn.dialect, table, columns)
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:

                def write(rows: Iterable[Sequence[object]]) -> None:
                    for row in converted(rows, converts):
                        copy.write_row(row)

                yield write
        except psycopg.Error as exc:
            raise sa.exc.DBAPIError.instance(
                statement.as_string(driver), None, exc, psycopg.Error
            ) from exc

    @contextmanager
    def checked_rows(
        self, conn: sa.Connection, table: sa.Table, columns: Sequence[str]
    ) -> Iterator[Callable[[Iterable[Sequence[object]]], None]]:
        # COPY into a temporary table (no key to check there), then one INSERT ... SELECT.
        # A COPY runs its foreign key checks at its end, with the slots of its 1,000 buffered
        # rows still pinned in the statement's resource owner; up to PostgreSQL 16 each
        # check's own pins are kept in that owner's hash, and where they fall among those
        # 1,000 every check probes past them. Which they do depends on where the session
        # happens to hold the tables' descriptors: 2,000,000 link rows took 22.1 s to COPY in
        # batchport's session, 17.5 s in a bare script's, 20.3 s this way in batchport's
        # (which, in that bare script, was no slower than its COPY).
        incoming = sa.Table(
            f"bp_incoming_{next(_INCOMING)}",  # two link tables may share a name
            sa.MetaData(),
            *(sa.Column(name, table.c[name].type) for name in columns),
            prefixes=["TEMPORARY"],
        )
        incoming.create(conn)
        insert = table.insert().from_select(list(columns), sa.select(incoming))
        empty = sa.text(f"TRUNCATE {conn.dialect.identifier_preparer.format_table(incoming)}")

        def write(rows: Iterable[Sequence[object]]) -> None:
            self.copy_rows(conn, incoming, columns, rows)
            conn.execute(insert)
            conn.execute(empty)

        yield write
        incoming.drop(conn)

    def comparable(self, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # json has no equality operator; as jsonb, documents compare as values (key order and
        # spacing aside), as the decoded documents do.
        if isinstance(value.type, sa.JSON) and not isinstance(value.type, postgresql.JSONB):
            return sa.cast(value, postgresql.JSONB)
        return value

    def log_json(self) -> LogJson:
        return PostgresqlJson()

    def index_lookups(self, conn: sa.Connection, column: sa.Column[Any]) -> None:
        pass  # its planner hashes the table for an anti-join: an index would cost, not help

    def analyze(self, conn: sa.Connection, table: sa.Table) -> None:
        # Autovacuum never analyzes temporary tables; without statistics the planner takes
        # a table of a million staged rows for a small one.
        conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}")


def _plain_text(kind: sa.types.TypeEngine[Any]) -> bool:
    """Whether a column of type `kind` compares with text as text does (varchar, text: not
    citext, which ignores case, nor char, which ignores trailing spaces, nor an enum)."""
    if isinstance(kind, postgresql.CITEXT):
        return False
    return isinstance(kind, (sa.VARCHAR, sa.TEXT)) or type(kind) in {sa.String, sa.Text}
