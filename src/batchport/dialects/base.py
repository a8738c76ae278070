"""The operations whose SQL or driver calls differ between databases."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import sqlalchemy as sa

#: The `ON DELETE` actions, as SQL names them.
ON_DELETE = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
#: Turns a parsed value (never None) into what a bulk write takes for its column.
Convert = Callable[[Any], Any]
#: Rows in the order of their columns.
Rows = Iterable[Sequence[object]]


def converted(rows: Rows, converts: Sequence[Convert | None]) -> Rows:
    """`rows` with the values of each column that has a `Convert` converted (None stays
    None); `rows` themselves when no column has one, so plain columns cost nothing."""
    positions = [(place, convert) for place, convert in enumerate(converts) if convert]
    if not positions:
        return rows
    return (_row(row, positions) for row in rows)


def _row(row: Sequence[object], positions: list[tuple[int, Convert]]) -> list[object]:
    values = list(row)
    for place, convert in positions:
        value = values[place]
        if value is not None:
            values[place] = convert(value)
    return values


def column_names(table: sa.Table, columns: Sequence[str]) -> list[str]:
    """The names in the database of `table`'s columns given by key (a reflected primary key
    is keyed `id` whatever its name)."""
    return [table.c[column].name if column in table.c else column for column in columns]


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key found in the database's own catalog, pointing at one of the tables
    asked about (`referred`); the referencing table is `table` in `schema`, which is one of
    the tables asked about (`declared`) or one batchport has never heard of."""

    schema: str | None
    table: str
    columns: tuple[str, ...]
    referred: sa.Table
    referred_columns: tuple[str, ...]
    on_delete: str
    #: The referencing table's primary key columns (empty if it has none).
    primary_key: tuple[str, ...]
    #: Whether the referencing table has an `import_batch_id` column.
    stamped: bool
    declared: sa.Table | None = None

    @property
    def table_name(self) -> str:
        """The referencing table as a user knows it (its schema named unless the default)."""
        if self.declared is not None:
            return self.declared.name
        return (
            self.table if self.schema in (None, "public", "main") else f"{self.schema}.{self.table}"
        )


class Dialect:
    """Defaults that hold for every database; subclasses override what differs."""

    name = "generic"
    #: Whether `batchport` may migrate the database itself on first use.
    migrates_on_first_use = False
    #: Schema names mapped to another (None: the default schema) on every statement.
    schema_translate_map: ClassVar[dict[str | None, str | None]] = {}
    #: Whether a bulk write checks each row's foreign keys as it goes (not at its end), so a
    #: row may not point at one written later in the same statement.
    checks_references_per_row = False
    #: Whether the database joins FULL OUTER (SQLite only from 3.39 on).
    full_joins = False

    def schema(self, name: str | None) -> str | None:
        """The schema a declared schema name lands in on this database."""
        return self.schema_translate_map.get(name, name)

    def configure(self, engine: sa.Engine) -> None:
        """Installs connection hooks the dialect needs on a new engine."""

    def begin_write(
        self, conn: sa.Connection, *, snapshot: bool = False, bulk: bool = False
    ) -> AbstractContextManager[sa.RootTransaction]:
        """Begins a transaction that will write; held locks make concurrent writers wait.

        With `snapshot`, every statement sees the data as the transaction's first one did,
        and a write that would touch a row committed since fails as a serialization conflict
        (`retryable`), so that checks made at the start still hold when it commits. With
        `bulk` (an import's or a rollback's set-based statements over whole files), the
        transaction may use more memory per sort or hash, and compiles no statement to
        machine code, where the database lets it say.
        """
        return conn.begin()

    def foreign_keys_to(self, conn: sa.Connection, tables: Sequence[sa.Table]) -> list[ForeignKey]:
        """Every foreign key in the database, from any table in any schema, that points at
        one of `tables`."""
        raise NotImplementedError

    def retryable(self, exc: sa.exc.DBAPIError) -> bool:
        """Whether the failed transaction may simply be run again (a deadlock's victim)."""
        return False

    def lock_row(self, statement: sa.Select[tuple[object, ...]]) -> sa.Select[tuple[object, ...]]:
        """The select, locking the rows it reads until the transaction ends."""
        return statement

    def reserve_ids(self, conn: sa.Connection, table: sa.Table, count: int) -> Sequence[int]:
        """`count` fresh ids for `table`, unused by any other writer."""
        raise NotImplementedError

    def id_connection(self, conn: sa.Connection) -> AbstractContextManager[sa.Connection]:
        """The connection `reserve_ids` runs on while `conn` is busy with a `row_stream`."""
        return nullcontext(conn)

    @contextmanager
    def row_stream(
        self, conn: sa.Connection, table: sa.Table, columns: Sequence[str]
    ) -> Iterator[Callable[[Iterable[Sequence[object]]], None]]:
        """A function appending rows to `table` for as long as the context lasts.

        Where the database allows, one bulk statement stays open throughout, so the server
        never idles between batches; nothing else may run on `conn` meanwhile.
        """
        yield lambda rows: self.copy_rows(conn, table, columns, rows)

    @contextmanager
    def checked_rows(
        self, conn: sa.Connection, table: sa.Table, columns: Sequence[str]
    ) -> Iterator[Callable[[Iterable[Sequence[object]]], None]]:
        """A function appending rows to `table`, a table whose foreign keys check every row,
        each call's rows in one statement, for as long as the context lasts."""
        yield lambda rows: self.copy_rows(conn, table, columns, rows)

    def converter(self, kind: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Convert | None:
        """What turns a parsed value into what this database's bulk write takes for a column
        of type `kind` (as SQLAlchemy would bind it); None where the value goes as it is."""
        return None

    def converters(
        self, dialect: sa.Dialect, table: sa.Table, columns: Sequence[str]
    ) -> list[Convert | None]:
        """The `converter` of each of `table`'s columns (by key)."""
        return [
            self.converter(table.c[name].type, dialect) if name in table.c else None
            for name in columns
        ]

    def existing(self, conn: sa.Connection, column: sa.Column[Any], keys: list[Any]) -> set[Any]:
        """The `keys` that `column` holds in its table."""
        table = column.table
        return set(
            conn.execute(sa.select(column).select_from(table).where(column.in_(keys))).scalars()
        )

    def among(
        self, column: sa.ColumnElement[Any], values: sa.Select[Any]
    ) -> sa.ColumnElement[bool]:
        """`column IN (values)`, phrased so the planner can use an index on `column`."""
        return column.in_(values)

    #: Whether the database knows its sessions, and so which workers hold claims and
    #: connections (else liveness goes by processes and beats).
    knows_sessions = False

    def claim_job(self, conn: sa.Connection, job_id: str) -> None:
        """Marks this connection's session as the job's live worker, where the database can."""

    def release_job(self, conn: sa.Connection, job_id: str) -> None:
        """Ends what `claim_job` started."""

    def job_claimed(self, conn: sa.Connection, job_id: str) -> bool | None:
        """Whether a live session holds the job's claim; None if the database cannot tell."""
        return None

    def worker_connected(self, conn: sa.Connection, worker: str) -> bool | None:
        """Whether the worker process (`host:pid`) has a session open on the database; None if
        the database cannot tell."""
        return None

    def end_sessions(self, conn: sa.Connection, worker: str) -> bool:
        """Ends every session the worker has open, so that none of its transactions can
        commit any more; whether none is left (True where the database has no sessions)."""
        return True

    def copy_rows(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
    ) -> None:
        """Appends `rows` (values in `columns` order) to `table` in the current transaction."""
        rows = list(rows)
        if rows:
            conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])

    def comparable(self, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """`value` as `IS DISTINCT FROM` can compare it with another of its column's type."""
        return value

    def log_json(self) -> LogJson | None:
        """How this database writes change-log JSON itself, or None where batchport builds
        it (see `loading.logged`)."""
        return None

    def analyze(self, conn: sa.Connection, table: sa.Table) -> None:
        """Gathers the planner's statistics of a temporary table just filled, where the
        database would otherwise plan its joins blind."""

    def index_lookups(self, conn: sa.Connection, column: sa.Column[Any]) -> None:
        """Indexes a temporary table's column that a statement looks rows up by, where the
        database would otherwise scan the table once per row it looks up for (SQLite: a
        `NOT EXISTS` against 30,000 held keys took 21 s; PostgreSQL hashes them instead)."""
        table = column.table
        assert isinstance(table, sa.Table)
        sa.Index(f"{table.name}_{column.name}", column).create(conn)


class LogJson(Protocol):
    """The JSON a database builds for the change log, each value written as
    `changes.encode` writes it (see `loading.logged`). Expressions are of the database's JSON
    type until `text` turns one into the document's text."""

    def value(self, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any] | None:
        """A column's value as JSON, or None where the database cannot write exactly what
        `changes.encode` would for the column's type."""

    def object(self, pairs: Sequence[tuple[str, sa.ColumnElement[Any]]]) -> sa.ColumnElement[Any]:
        """An object of these keys and values."""

    def merged(self, objects: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        """The objects' keys in one object (an empty one for none)."""

    def empty(self, *, array: bool = False) -> sa.ColumnElement[Any]:
        """An empty object, or array."""

    def rows(self, row: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """An aggregate: the rows' documents as an array."""

    def keyed(
        self, key: sa.ColumnElement[Any], value: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        """An aggregate: one object of every row's key and value."""

    def text(self, document: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
        """The document as text."""

    # --- reading a logged document back (see `rollback.staged`) ----------------------------

    def parsed(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A document's text as a document."""

    def member(
        self, document: sa.ColumnElement[Any], key: str | sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        """An object's member (NULL where it has none)."""

    def member_text(self, document: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[Any]:
        """An object's member as text, as `json.loads` then COPY would write it (NULL for a JSON
        null, or where it has none)."""

    def has(self, document: sa.ColumnElement[Any], keys: list[str]) -> sa.ColumnElement[bool]:
        """Whether an object has every one of these members."""

    def elements(self, document: sa.ColumnElement[Any], name: str) -> sa.TableValuedAlias:
        """An array's elements as rows (a table `name`, its one column `value`)."""

    def null(self) -> sa.ColumnElement[Any]:
        """JSON's null."""
