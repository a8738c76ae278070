"""The tables batchport reads and writes, as SQLAlchemy Core definitions.

The migrations in `batchport/migrations` build exactly this schema; a test compares the two.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from batchport.vocabulary import JobStatus, Role

#: Constraint names follow Knex's, which the seed's database already uses.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_name)s_index",
    "uq": "%(table_name)s_%(column_0_name)s_unique",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_foreign",
    "pk": "%(table_name)s_pkey",
}

INVENTORY = "inventory"


metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# PostgreSQL stores job ids as native UUIDs; SQLite as the same 36-character text.
JobId = sa.Uuid(as_uuid=False).with_variant(sa.String(36), "sqlite")
BatchId = sa.String(100)
Timestamp = sa.DateTime(timezone=True)


class PreciseNow(FunctionElement[dt.datetime]):
    """The current time: `now()`, and on SQLite the time to the millisecond (its
    CURRENT_TIMESTAMP has whole seconds)."""

    type = Timestamp
    inherit_cache = True


@compiles(PreciseNow)
def _now(element: PreciseNow, compiler: SQLCompiler, **kw: object) -> str:
    return "now()"


@compiles(PreciseNow, "sqlite")
def _sqlite_now(element: PreciseNow, compiler: SQLCompiler, **kw: object) -> str:
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


class SecondsSince(FunctionElement[float]):
    """The seconds from a timestamp column's time to now, by the database's clock (so that
    processes on hosts whose clocks differ agree on it)."""

    type = sa.Float()
    inherit_cache = True

    def __init__(self, column: sa.ColumnElement[dt.datetime]) -> None:
        super().__init__(column)


@compiles(SecondsSince)
def _seconds_since(element: SecondsSince, compiler: SQLCompiler, **kw: object) -> str:
    return f"extract(epoch from clock_timestamp() - {compiler.process(element.clauses, **kw)})"


@compiles(SecondsSince, "sqlite")
def _sqlite_seconds_since(element: SecondsSince, compiler: SQLCompiler, **kw: object) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"((julianday('now') - julianday({column})) * 86400.0)"


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, sa.Identity(), primary_key=True)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=sa.func.now()),
    ]


import_history = sa.Table(
    "import_history",
    metadata,
    _id(),
    sa.Column("job_id", JobId, nullable=False, unique=True),
    sa.Column("batch_id", BatchId, nullable=False, unique=True),
    sa.Column("import_type", sa.String(50), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("file_name", sa.Text(), nullable=True),
    sa.Column("file_sha256", sa.String(64), nullable=True),
    sa.Column("rows_total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("rows_imported", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("rows_failed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error_summary", sa.Text(), nullable=True),
    sa.Column("imported_by", sa.String(255), nullable=True),
    sa.Column("worker", sa.Text(), nullable=True),
    sa.Column("started_at", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("completed_at", Timestamp, nullable=True),
    sa.Column("rolled_back_at", Timestamp, nullable=True),
    sa.Column("rolled_back_by", sa.String(255), nullable=True),
    sa.Column("rollback_reason", sa.Text(), nullable=True),
    sa.Column("rows_updated", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("rows_skipped", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("rows_unchanged", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("on_existing", sa.String(10), nullable=False, server_default="error"),
    sa.Column("rollback_forced", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("imported_via", sa.String(10), nullable=True),
    sa.Column("rolled_back_via", sa.String(10), nullable=True),
    sa.CheckConstraint(
        sa.column("status").in_([str(s) for s in JobStatus]),
        name="status",
    ),
    sa.Index("import_history_started_at_index", "started_at", "id"),
)

departments = sa.Table(
    "departments",
    metadata,
    _id(),
    sa.Column("code", sa.String(50), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column(
        "parent_id",
        BigId,
        sa.ForeignKey("inventory.departments.id", ondelete="NO ACTION"),
        nullable=True,
        index=True,
    ),
    sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
    *_timestamps(),
    sa.Column("import_batch_id", BatchId, nullable=True, index=True),
    #: 0 when created; a trigger adds one for every change made outside batchport.
    sa.Column("row_version", sa.BigInteger(), nullable=False, server_default="0"),
    schema=INVENTORY,
    # Ids are never reused (SQLite would hand a deleted row's id to the next insert): the
    # change log restores rows by id.
    sqlite_autoincrement=True,
)

users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
    *_timestamps(),
    sa.Column("import_batch_id", BatchId, nullable=True, index=True),
    #: 0 when created; a trigger adds one for every change made outside batchport.
    sa.Column("row_version", sa.BigInteger(), nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

user_departments = sa.Table(
    "user_departments",
    metadata,
    sa.Column(
        "user_id",
        BigId,
        sa.ForeignKey("users.id", ondelete="NO ACTION"),
        primary_key=True,
    ),
    sa.Column(
        "department_id",
        BigId,
        sa.ForeignKey("inventory.departments.id", ondelete="NO ACTION"),
        primary_key=True,
        index=True,
    ),
    sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False, server_default=PreciseNow()),
    # The batch that wrote the link: a link row belongs to the batch of its stamp, not of its
    # owner (another writer may link a hand-made row to an imported one, or the reverse).
    sa.Column("import_batch_id", BatchId, nullable=True),
)

#: Holds a job's id while batchport writes in one transaction (visible to it alone), so that
#: the row-version triggers tell batchport's own changes from everyone else's.
import_writes = sa.Table(
    "import_writes",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
)

#: What an import changed in rows it did not create: their prior values and link rows.
import_changes = sa.Table(
    "import_changes",
    metadata,
    _id(),
    sa.Column("batch_id", BatchId, nullable=False),
    sa.Column("table_name", sa.String(100), nullable=False),
    sa.Column("row_id", sa.BigInteger(), nullable=False),
    sa.Column("prior", sa.Text(), nullable=False),
    sa.Column("prior_links", sa.Text(), nullable=True),
    sa.Column("version_before", sa.BigInteger(), nullable=False),
    sa.Column("version_after", sa.BigInteger(), nullable=False),
    # The row's natural key, and those of the rows its prior values point at (JSON: table ->
    # id -> key): a restore lands only where an id still names the same row.
    sa.Column("row_key", sa.Text(), nullable=True),
    sa.Column("targets", sa.Text(), nullable=True),
    sa.UniqueConstraint("batch_id", "table_name", "row_id", name="import_changes_batch_id_unique"),
)

#: Who may use the service: a role, and an API token stored hashed (argon2).
accounts = sa.Table(
    "accounts",
    metadata,
    _id(),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("token_id", sa.String(32), nullable=False, unique=True),
    sa.Column("token_hash", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(100), nullable=True),
    sa.Column("disabled_at", Timestamp, nullable=True),
    sa.Column("token_expires_at", Timestamp, nullable=True),
    sa.CheckConstraint(sa.column("role").in_([str(r) for r in Role]), name="role"),
)

#: An uploaded file on its way in: validated, then committed as an import job.
import_sessions = sa.Table(
    "import_sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("import_type", sa.String(50), nullable=False),
    sa.Column("file_name", sa.Text(), nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary(), nullable=False),
    sa.Column("on_existing", sa.String(10), nullable=False, server_default="error"),
    sa.Column("encoding", sa.String(20), nullable=True),
    sa.Column("delimiter", sa.String(20), nullable=True),
    # The sheet of a workbook uploaded for one import type (NULL: the first).
    sa.Column("sheet", sa.Text(), nullable=True),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("worker", sa.Text(), nullable=True),
    sa.Column("rows_read", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("rows_total", sa.BigInteger(), nullable=True),
    sa.Column("error_count", sa.BigInteger(), nullable=False, server_default="0"),
    # No longer written (errors are rows of `import_session_errors`): kept until a later
    # revision drops it, so that servers of the previous version keep working mid-upgrade.
    sa.Column("errors", sa.Text(), nullable=True),
    sa.Column("created", sa.Text(), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
    sa.Column("job_id", sa.String(36), nullable=True, unique=True),
    sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", Timestamp, nullable=False),
)

#: A session's validation errors, in the order they were found (`position`).
import_session_errors = sa.Table(
    "import_session_errors",
    metadata,
    sa.Column(
        "session_id",
        sa.String(36),
        sa.ForeignKey("import_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.BigInteger(), primary_key=True),
    sa.Column("row", sa.BigInteger(), nullable=False),
    sa.Column("column_name", sa.Text(), nullable=True),
    sa.Column("value", sa.Text(), nullable=True),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("sheet", sa.Text(), nullable=True),
)

#: A signed-in browser's session, found by the SHA-256 of its cookie.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(100), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)

#: Who did what, when, from where, and how it ended. Append-only: a trigger refuses changes.
audit_log = sa.Table(
    "audit_log",
    metadata,
    _id(),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(100), nullable=True),
    sa.Column("via", sa.String(10), nullable=True),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("remote", sa.String(100), nullable=True),
    sa.Column("batch_id", sa.String(100), nullable=True),
    sa.Column("file_sha256", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
)

#: Tables of an application's own that `batchport db track` gave batch tracking to (their
#: `import_batch_id`, and `row_version` or, for a link table, the trigger that counts a link's
#: change as its owner's); `batchport.tracking` reads and writes it.
tracked_tables = sa.Table(
    "tracked_tables",
    metadata,
    sa.Column("schema_name", sa.Text(), primary_key=True),
    sa.Column("table_name", sa.Text(), primary_key=True),
    # A link table: the column naming its owner row, and the owner's table.
    sa.Column("owner_column", sa.Text(), nullable=True),
    sa.Column("owner_schema", sa.Text(), nullable=True),
    sa.Column("owner_table", sa.Text(), nullable=True),
    sa.Column("tracked_at", Timestamp, nullable=False, server_default=sa.func.now()),
    sa.Column("tracked_by", sa.Text(), nullable=True),
)

#: The processes that work on jobs, each beating while it lives (`batchport.heartbeat`): a
#: job whose worker stopped beating for longer than the worker's own timeout is swept, on
#: whatever host it ran.
import_workers = sa.Table(
    "import_workers",
    metadata,
    # host:pid:nonce, as `import_history.worker` and `import_sessions.worker` name it.
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("beat_at", Timestamp, nullable=False),
    # How long the worker may go without beating before it is taken for dead (seconds).
    sa.Column("timeout_seconds", sa.Float(), nullable=False),
)

#: A rollback asked for through the API, waiting for a worker, then its outcome: the job a
#: client follows. At most one waits or runs per import job (`rollback_requests_one_open`).
rollback_requests = sa.Table(
    "rollback_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job_id", JobId, sa.ForeignKey("import_history.job_id"), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("remote", sa.Text(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("force_edited", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("worker", sa.Text(), nullable=True),
    # JSON: the rollback's report once done, the error (code, message, details) if it failed.
    sa.Column("outcome", sa.Text(), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(
        "rollback_requests_one_open",
        "job_id",
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'rolling_back')"),
        sqlite_where=sa.text("status IN ('queued', 'rolling_back')"),
    ),
    sa.Index("rollback_requests_status", "status", "created_at"),
)
