"""Web sessions: a signed-in browser's server-side session, found by the SHA-256 of its cookie
(the cookie itself is stored nowhere), with its account, its token against cross-site request
forgery and its expiry.

Revision ID: 20261201140000
Revises: 20261201120000
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261201140000"
down_revision = "20261201120000"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.create_table(
        "web_sessions",
        sa.Column("id_sha256", sa.String(64), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id_sha256", name="web_sessions_pkey"),
    )


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.drop_table("web_sessions")
