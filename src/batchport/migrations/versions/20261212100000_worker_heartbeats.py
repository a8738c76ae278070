"""Add `import_workers`: every process working on a job beats in it while it lives.

A job's worker is then known dead on any host once it stops beating for longer than its own
timeout, where before a worker on another host (SQLite), or one whose host vanished with its
connections still open (PostgreSQL), was presumed alive forever. A new table: nothing is
rewritten.

Revision ID: 20261212100000
Revises: 20261210100000
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261212100000"
down_revision = "20261210100000"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.create_table(
        "import_workers",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("beat_at", Timestamp, nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="import_workers_pkey"),
    )


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.drop_table("import_workers")
