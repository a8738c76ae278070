"""Add `import_history.worker`: which process (host:pid) runs or ran the job.

With it, a job left `running` by a process that died can be told from one still at work
(on PostgreSQL the running process also holds an advisory lock on its job). The column is
nullable with no default, so adding it rewrites nothing.

Revision ID: 20261125113000
Revises: 20251213100002
Create Date: 2026-11-25 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261125113000"
down_revision = "20251213100002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
        op.execute("ALTER TABLE import_history ADD COLUMN IF NOT EXISTS worker TEXT")
        return
    op.add_column("import_history", sa.Column("worker", sa.Text(), nullable=True))


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
        op.execute("ALTER TABLE import_history DROP COLUMN IF EXISTS worker")
        return
    with op.batch_alter_table("import_history") as batch:
        batch.drop_column("worker")
