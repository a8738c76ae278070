"""`import_sessions.sheet`: the sheet to read of a workbook uploaded for one import type, as
the CLI's `--sheet` names it (NULL: the first sheet).

Revision ID: 20261201160000
Revises: 20261201140000
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261201160000"
down_revision = "20261201140000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
        # A nullable column without a default: a change of the catalog only, no table rewrite.
        op.execute("ALTER TABLE import_sessions ADD COLUMN IF NOT EXISTS sheet TEXT")
        return
    op.add_column("import_sessions", sa.Column("sheet", sa.Text(), nullable=True))


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.drop_column("import_sessions", "sheet")
