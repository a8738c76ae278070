"""What the web UI needs: web sessions, the history's page order indexed, and how to read an
uploaded CSV.

- `web_sessions`: a signed-in browser's server-side session, found by the SHA-256 of its
  cookie (the cookie itself is stored nowhere), with its account, its token against
  cross-site request forgery and its expiry.
- `import_history_started_at_index` on (started_at, id), the history's order newest first:
  a page of a long history is read from the index, not sorted from the whole table. On
  PostgreSQL it is built CONCURRENTLY, outside the DDL transaction.
- `import_sessions.encoding` and `delimiter`: how to read an uploaded CSV (NULL: detected).

Revision ID: 20261201140000
Revises: 20261201120000
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import lift_statement_timeout, on_postgresql, set_timeouts

revision = "20261201140000"
down_revision = "20261201120000"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
INDEX = "import_history_started_at_index"


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
        if_not_exists=True,  # the revision can be run again if the index build fails
    )
    for column in ("encoding", "delimiter"):
        if on_postgresql():
            op.execute(f"ALTER TABLE import_sessions ADD COLUMN IF NOT EXISTS {column} VARCHAR(20)")
        else:
            op.add_column("import_sessions", sa.Column(column, sa.String(20), nullable=True))
    if on_postgresql():
        with op.get_context().autocommit_block():
            lift_statement_timeout()
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
                "ON import_history (started_at, id)"
            )
            set_timeouts()
        return
    op.create_index(INDEX, "import_history", ["started_at", "id"])


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.drop_column("import_sessions", "delimiter")
    op.drop_column("import_sessions", "encoding")
    op.drop_index(INDEX, table_name="import_history")
    op.drop_table("web_sessions")
