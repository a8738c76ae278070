"""Harden the service: token expiry, actors with their origin, session errors as rows, and a
history and audit log their own database role cannot erase or rewrite.

- `accounts.token_expires_at`: a token past it is refused (NULL: never expires).
- `import_history.imported_via` / `rolled_back_via` and `audit_log.via`: where an actor acted
  from (`cli`, `api`, `library`), so that an API account and an operating-system user of the
  same name are never taken for one another. Rows written before are NULL (unknown).
- `import_session_errors`: a session's validation errors, one row each, paged in the database
  (they were one JSON text in `import_sessions.errors`, which is copied over; that column is no
  longer written, and stays until a later revision drops it, so that a server of the previous
  version still running during an upgrade keeps working).
- The history guard gets stricter: besides its facts and forward-only status, every other
  column changes only with a status move; the import's counts only as the job leaves
  `running`, the rollback's fields only as it moves into `rolling_back` (who, why) or
  `rolled_back` (when, forced). On PostgreSQL, `TRUNCATE` of `audit_log` and
  `import_history` is refused by a statement-level trigger (SQLite has no TRUNCATE; its
  `DELETE` triggers already refuse).

Revision ID: 20261201120000
Revises: 20261201100000
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261201120000"
down_revision = "20261201100000"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)

#: The import's outcome: written once, as the job leaves `running`.
OUTCOME = (
    "rows_total",
    "rows_imported",
    "rows_failed",
    "rows_updated",
    "rows_skipped",
    "rows_unchanged",
    "completed_at",
    "on_existing",
)
#: Who rolled back and why: written as the job moves into `rolling_back` (or `rolled_back`).
ROLLBACK_BY = ("rolled_back_by", "rolled_back_via", "rollback_reason")
#: When and how the rollback ended: written as the job moves into `rolled_back`.
ROLLBACK_END = ("rolled_back_at", "rollback_forced")
#: Every column but the status, the facts (never changed) and the above: only with a move.
WITH_A_MOVE = ("error_summary", "worker")
FACTS = (
    "job_id",
    "batch_id",
    "import_type",
    "file_name",
    "file_sha256",
    "imported_by",
    "imported_via",
    "started_at",
)
MOVES = (
    "pending>running",
    "pending>failed",
    "running>completed",
    "running>failed",
    "completed>rolling_back",
    "rollback_failed>rolling_back",
    "rolling_back>rolled_back",
    "rolling_back>rollback_failed",
)
_MOVES = ", ".join(f"'{m}'" for m in MOVES)


def _changed(columns: tuple[str, ...], differ: str) -> str:
    return "(" + " OR ".join(f"NEW.{c} {differ} OLD.{c}" for c in columns) + ")"


def _refused(differ: str) -> str:
    """The condition under which an UPDATE of a history row is refused."""
    moved = "NEW.status <> OLD.status"
    rest = OUTCOME + ROLLBACK_BY + ROLLBACK_END + WITH_A_MOVE
    into_rollback = "NEW.status IN ('rolling_back', 'rolled_back')"
    return " OR ".join(
        [
            _changed(FACTS, differ),
            f"({moved} AND OLD.status || '>' || NEW.status NOT IN ({_MOVES}))",
            f"(NOT ({moved}) AND {_changed(rest, differ)})",
            f"(OLD.status NOT IN ('pending', 'running') AND {_changed(OUTCOME, differ)})",
            f"(NOT ({into_rollback}) AND {_changed(ROLLBACK_BY, differ)})",
            f"(NEW.status <> 'rolled_back' AND {_changed(ROLLBACK_END, differ)})",
        ]
    )


PG_HISTORY = f"""
CREATE OR REPLACE FUNCTION batchport_history_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'import_history is append-only: its rows are never deleted';
    END IF;
    IF {_refused("IS DISTINCT FROM")} THEN
        RAISE EXCEPTION 'import_history keeps its facts; a job only moves forward (% to %)',
            OLD.status, NEW.status;
    END IF;
    RETURN NEW;
END $$
"""

SQLITE_HISTORY = (
    "CREATE TRIGGER import_history_forward_only BEFORE UPDATE ON import_history "
    f"WHEN {_refused('IS NOT')} "
    "BEGIN SELECT RAISE(ABORT, 'import_history keeps its facts; a job only moves forward'); END"
)

#: The guard of the revision before, put back on downgrade.
OLD_FACTS = tuple(c for c in FACTS if c != "imported_via")
PG_OLD_HISTORY = PG_HISTORY.replace(
    _refused("IS DISTINCT FROM"),
    f"{_changed(OLD_FACTS, 'IS DISTINCT FROM')} OR (NEW.status <> OLD.status AND "
    f"OLD.status || '>' || NEW.status NOT IN ({_MOVES}))",
)
SQLITE_OLD_HISTORY = (
    "CREATE TRIGGER import_history_forward_only BEFORE UPDATE ON import_history "
    f"WHEN {_changed(OLD_FACTS, 'IS NOT')} OR (NEW.status <> OLD.status "
    f"AND OLD.status || '>' || NEW.status NOT IN ({_MOVES})) "
    "BEGIN SELECT RAISE(ABORT, 'import_history keeps its facts; a job only moves forward'); END"
)

GUARDED = ("audit_log", "import_history")


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.add_column("accounts", sa.Column("token_expires_at", Timestamp, nullable=True))
    op.add_column("import_history", sa.Column("imported_via", sa.String(10), nullable=True))
    op.add_column("import_history", sa.Column("rolled_back_via", sa.String(10), nullable=True))
    op.add_column("audit_log", sa.Column("via", sa.String(10), nullable=True))
    op.create_table(
        "import_session_errors",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("row", sa.BigInteger(), nullable=False),
        sa.Column("column_name", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sheet", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", "position", name="import_session_errors_pkey"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["import_sessions.id"],
            name="import_session_errors_session_id_foreign",
            ondelete="CASCADE",
        ),
    )
    _move_errors_to_rows()
    if on_postgresql():
        op.execute(PG_HISTORY)
        for table in GUARDED:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION batchport_append_only()"
            )
        return
    op.execute("DROP TRIGGER IF EXISTS import_history_forward_only")
    op.execute(SQLITE_HISTORY)


def _move_errors_to_rows() -> None:
    """Each session's JSON list of errors becomes rows (in SQL, so offline too)."""
    if on_postgresql():
        elements = "jsonb_array_elements(s.errors::jsonb) WITH ORDINALITY AS e(value, n)"
        position, field = "e.n - 1", "e.value->>'{}'"
        row = "(e.value->>'row')::bigint"
    else:
        elements = "json_each(s.errors) AS e"
        position, field = "e.key", "json_extract(e.value, '$.{}')"
        row = field.format("row")
    op.execute(
        "INSERT INTO import_session_errors (session_id, position, row, column_name, value, "
        f"message, sheet) SELECT s.id, {position}, {row}, {field.format('column')}, "
        f"{field.format('value')}, {field.format('message')}, {field.format('sheet')} "
        f"FROM import_sessions AS s, {elements} WHERE s.errors IS NOT NULL"
    )


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(PG_OLD_HISTORY)
    else:
        op.execute("DROP TRIGGER IF EXISTS import_history_forward_only")
        op.execute(SQLITE_OLD_HISTORY)
    _move_errors_to_text()
    op.drop_table("import_session_errors")
    op.drop_column("audit_log", "via")
    op.drop_column("import_history", "rolled_back_via")
    op.drop_column("import_history", "imported_via")
    op.drop_column("accounts", "token_expires_at")


def _move_errors_to_text() -> None:
    """Each session's error rows become its JSON list again (for sessions validated since)."""
    if on_postgresql():
        entry = "json_build_object('row', row, 'column', column_name, 'value', value, "
        entry += "'message', message, 'sheet', sheet)"
        listed = (
            f"SELECT json_agg({entry} ORDER BY position)::text FROM import_session_errors "
            "WHERE session_id = import_sessions.id"
        )
    else:  # SQLite before 3.44 has no ORDER BY in aggregates: a subquery keeps the order
        entry = "json_object('row', row, 'column', column_name, 'value', value, "
        entry += "'message', message, 'sheet', sheet)"
        listed = (
            f"SELECT json_group_array(json(entry)) FROM (SELECT {entry} AS entry "
            "FROM import_session_errors WHERE session_id = import_sessions.id "
            "ORDER BY position LIMIT -1)"
        )
    op.execute(
        f"UPDATE import_sessions SET errors = ({listed}) "
        "WHERE id IN (SELECT session_id FROM import_session_errors)"
    )
