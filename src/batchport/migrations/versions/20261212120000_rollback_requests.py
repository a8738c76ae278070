"""Add `rollback_requests`: a rollback asked for through the API waits there for a worker,
then keeps its outcome, for the client that follows it. At most one request of an import job
is open (queued or rolling back) at a time. A new table: nothing is rewritten.

Revision ID: 20261212120000
Revises: 20261212110000
Create Date: 2026-12-12 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261212120000"
down_revision = "20261212110000"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
JobId = sa.Uuid(as_uuid=False).with_variant(sa.String(36), "sqlite")
OPEN = sa.text("status IN ('queued', 'rolling_back')")


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.create_table(
        "rollback_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("job_id", JobId, nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("remote", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("force_edited", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="rollback_requests_pkey"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_history.job_id"], name="rollback_requests_job_id_fkey"
        ),
    )
    op.create_index(
        "rollback_requests_one_open",
        "rollback_requests",
        ["job_id"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("rollback_requests_status", "rollback_requests", ["status", "created_at"])


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.drop_table("rollback_requests")
