"""Tables of an application's own that batchport tracks (`batchport db track`).

- `tracked_tables`: one row per table `db track` gave batch tracking to: its schema and name,
  for a link table the column naming its owner row and the owner's table, when and by whom.
  `db status` lists them, `db verify` checks them, `db untrack` removes them.
- On PostgreSQL, `batchport_count_link_edit(owner schema, owner table, owner column)`: the
  trigger function of a tracked link table, `batchport_count_user_link_edit` made general. A
  change to a link row made outside batchport counts as a change to its owner row (before and
  after the change), as a change to a user's department links counts for the user.

Downgrading past this revision is refused while a table is tracked: its triggers call
functions this revision and 20261125140000 own. `batchport db untrack` them first.

Revision ID: 20261210100000
Revises: 20261201160000
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from batchport.errors import ConfigurationError
from batchport.migrations.support import on_postgresql, set_timeouts

revision = "20261210100000"
down_revision = "20261201160000"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)

PG_COUNT_LINK_EDIT = """
CREATE OR REPLACE FUNCTION batchport_count_link_edit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM import_writes) THEN
        EXECUTE format(
            'UPDATE %I.%I SET row_version = row_version + 1 WHERE id IN (($1).%I, ($2).%I)',
            TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], TG_ARGV[2]
        ) USING OLD, NEW;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
    op.create_table(
        "tracked_tables",
        sa.Column("schema_name", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("owner_column", sa.Text(), nullable=True),
        sa.Column("owner_schema", sa.Text(), nullable=True),
        sa.Column("owner_table", sa.Text(), nullable=True),
        sa.Column("tracked_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("tracked_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("schema_name", "table_name", name="tracked_tables_pkey"),
    )
    if on_postgresql():
        op.execute(PG_COUNT_LINK_EDIT)


def downgrade() -> None:
    if not context.is_offline_mode():
        tracked = (
            op.get_bind()
            .exec_driver_sql(
                "SELECT schema_name, table_name FROM tracked_tables "
                "ORDER BY schema_name, table_name"
            )
            .all()
        )
        if tracked:
            names = ", ".join(
                table if schema in {"public", "main"} else f"{schema}.{table}"
                for schema, table in tracked
            )
            raise ConfigurationError(
                f"tables are still tracked ({names}): run `batchport db untrack` on them first "
                "(their triggers need what this revision and the earlier ones made)"
            )
    if on_postgresql():
        set_timeouts()
        op.execute("DROP FUNCTION IF EXISTS batchport_count_link_edit()")
    op.drop_table("tracked_tables")
