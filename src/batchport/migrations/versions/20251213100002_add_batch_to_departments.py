"""Add nullable, indexed `import_batch_id` to `inventory.departments` and `users`.

NULL means the row was not created by an import (typed in by hand or by other software).
On PostgreSQL the columns are added without a default (no table rewrite) under a
`lock_timeout`, and the indexes are built CONCURRENTLY.

Revision ID: 20251213100002
Revises: 20251213100001
Create Date: 2025-12-13 10:00:02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import (
    inventory_schema,
    lift_statement_timeout,
    on_postgresql,
    set_timeouts,
)

revision = "20251213100002"
down_revision = "20251213100001"
branch_labels = None
depends_on = None

TABLES = (("inventory.departments", "departments"), ("users", "users"))


def upgrade() -> None:
    if not on_postgresql():
        for table, schema in (("departments", inventory_schema()), ("users", None)):
            op.add_column(table, sa.Column("import_batch_id", sa.String(100)), schema=schema)
            op.create_index(f"{table}_import_batch_id_index", table, ["import_batch_id"])
        return
    set_timeouts()
    for qualified, _ in TABLES:
        op.execute(f"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS import_batch_id VARCHAR(100)")
    with op.get_context().autocommit_block():
        lift_statement_timeout()
        for qualified, name in TABLES:
            index = f"{name}_import_batch_id_index"
            schema = qualified.rpartition(".")[0]
            # An earlier attempt that failed part-way leaves an INVALID index behind.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema + '.' if schema else ''}{index}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {qualified} (import_batch_id)"
            )


def downgrade() -> None:
    if not on_postgresql():
        for table in ("users", "departments"):
            op.drop_index(f"{table}_import_batch_id_index", table_name=table)
            op.drop_column(table, "import_batch_id")
        return
    set_timeouts()
    with op.get_context().autocommit_block():
        for qualified, name in TABLES:
            schema = qualified.rpartition(".")[0]
            op.execute(
                f"DROP INDEX CONCURRENTLY IF EXISTS {schema + '.' if schema else ''}"
                f"{name}_import_batch_id_index"
            )
    for qualified, _ in reversed(TABLES):
        op.execute(f"ALTER TABLE {qualified} DROP COLUMN IF EXISTS import_batch_id")
