"""The service's tables: accounts with roles and hashed API tokens, import sessions kept in
the database (so they survive restarts and serve every server process), and the audit log.

The audit log is append-only for everyone: a trigger refuses UPDATE and DELETE on it. The
history is append-only in the same spirit: a trigger refuses DELETE, any change to a job's
facts (ids, type, file, who, start), and any status change but a job's way forward
(running -> completed | failed; completed | rollback_failed -> rolling_back;
rolling_back -> rolled_back | rollback_failed).

Revision ID: 20261125160000
Revises: 20261125140000
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261125160000"
down_revision = "20261125140000"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

FACTS = (
    "job_id",
    "batch_id",
    "import_type",
    "file_name",
    "file_sha256",
    "imported_by",
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
_CHANGED_FACT = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FACTS)
_MOVES = ", ".join(f"'{m}'" for m in MOVES)

PG_HISTORY = f"""
CREATE OR REPLACE FUNCTION batchport_history_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'import_history is append-only: its rows are never deleted';
    END IF;
    IF {_CHANGED_FACT} OR (NEW.status <> OLD.status AND OLD.status || '>' || NEW.status
            NOT IN ({_MOVES})) THEN
        RAISE EXCEPTION 'import_history keeps its facts; a job only moves forward (% to %)',
            OLD.status, NEW.status;
    END IF;
    RETURN NEW;
END $$
"""

PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION batchport_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$
"""


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.create_table(
        "accounts",
        sa.Column("id", Id, sa.Identity(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("created_by", sa.String(100), nullable=True),
        sa.Column("disabled_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="accounts_pkey"),
        sa.UniqueConstraint("name", name="accounts_name_unique"),
        sa.UniqueConstraint("token_id", name="accounts_token_id_unique"),
        sa.CheckConstraint("role IN ('admin', 'importer', 'viewer')", name="accounts_role_check"),
    )
    op.create_table(
        "import_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("import_type", sa.String(50), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("on_existing", sa.String(10), nullable=False, server_default="error"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("error_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("created", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="import_sessions_pkey"),
        sa.UniqueConstraint("job_id", name="import_sessions_job_id_unique"),
    )
    op.create_index("import_sessions_status_index", "import_sessions", ["status"])
    op.create_table(
        "audit_log",
        sa.Column("id", Id, sa.Identity(), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("remote", sa.String(100), nullable=True),
        sa.Column("batch_id", sa.String(100), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="audit_log_pkey"),
    )
    if on_postgresql():
        op.execute(PG_APPEND_ONLY)
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION batchport_append_only()"
        )
        op.execute(PG_HISTORY)
        op.execute(
            "CREATE TRIGGER import_history_forward_only BEFORE UPDATE OR DELETE "
            "ON import_history FOR EACH ROW EXECUTE FUNCTION batchport_history_forward_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    op.execute(
        "CREATE TRIGGER import_history_no_delete BEFORE DELETE ON import_history "
        "BEGIN SELECT RAISE(ABORT, 'import_history is append-only: its rows are never "
        "deleted'); END"
    )
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FACTS)
    op.execute(
        "CREATE TRIGGER import_history_forward_only BEFORE UPDATE ON import_history "
        f"WHEN {changed} OR (NEW.status <> OLD.status "
        f"AND OLD.status || '>' || NEW.status NOT IN ({_MOVES})) "
        "BEGIN SELECT RAISE(ABORT, 'import_history keeps its facts; a job only moves "
        "forward'); END"
    )


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
        op.execute("DROP TRIGGER IF EXISTS import_history_forward_only ON import_history")
        op.execute("DROP FUNCTION IF EXISTS batchport_history_forward_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS batchport_append_only()")
    else:
        for trigger in (
            "import_history_forward_only",
            "import_history_no_delete",
            "audit_log_no_update",
            "audit_log_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table("audit_log")
    op.drop_index("import_sessions_status_index", table_name="import_sessions")
    op.drop_table("import_sessions")
    op.drop_table("accounts")
