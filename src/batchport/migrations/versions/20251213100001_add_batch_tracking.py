"""Add `import_history.batch_id`: backfilled from `job_id`, then NOT NULL and UNIQUE.

On PostgreSQL every step is safe on a large, live table: DDL waits at most `lock_timeout`
for its lock; the unique index is built CONCURRENTLY; the backfill commits every few
thousand rows outside the DDL transaction; NOT NULL is proven by a CHECK added NOT VALID
and validated under a lock that lets reads and writes go on, so SET NOT NULL skips its scan.

Revision ID: 20251213100001
Revises: 20251213073723
Create Date: 2025-12-13 10:00:01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import (
    BACKFILL_CHUNK,
    lift_statement_timeout,
    on_postgresql,
    set_timeouts,
)

revision = "20251213100001"
down_revision = "20251213073723"
branch_labels = None
depends_on = None

UNIQUE = "import_history_batch_id_unique"
NOT_NULL = "import_history_batch_id_not_null"

BACKFILL = f"""
DO $$
DECLARE
    updated integer;
BEGIN
    LOOP
        UPDATE import_history SET batch_id = job_id::text
        WHERE id IN (
            SELECT id FROM import_history WHERE batch_id IS NULL ORDER BY id LIMIT {BACKFILL_CHUNK}
        );
        GET DIAGNOSTICS updated = ROW_COUNT;
        EXIT WHEN updated = 0;
        COMMIT;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if not on_postgresql():
        _upgrade_sqlite()
        return
    set_timeouts()
    op.execute("ALTER TABLE import_history ADD COLUMN IF NOT EXISTS batch_id VARCHAR(100)")
    with op.get_context().autocommit_block():
        lift_statement_timeout()
        op.execute(BACKFILL)
        # An earlier attempt that failed part-way leaves an INVALID index behind.
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {UNIQUE}")
        op.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {UNIQUE} ON import_history (batch_id)"
        )
        # Rows written by older code during the steps above have no batch id yet.
        op.execute(BACKFILL)
        set_timeouts()
    # Dropped first so that a retry after a failed VALIDATE starts clean.
    op.execute(f"ALTER TABLE import_history DROP CONSTRAINT IF EXISTS {NOT_NULL}")
    op.execute(
        f"ALTER TABLE import_history ADD CONSTRAINT {NOT_NULL} "
        "CHECK (batch_id IS NOT NULL) NOT VALID"
    )
    with op.get_context().autocommit_block():
        lift_statement_timeout()
        op.execute(f"ALTER TABLE import_history VALIDATE CONSTRAINT {NOT_NULL}")
        set_timeouts()
    op.execute("ALTER TABLE import_history ALTER COLUMN batch_id SET NOT NULL")
    op.execute(f"ALTER TABLE import_history DROP CONSTRAINT {NOT_NULL}")
    op.execute(f"ALTER TABLE import_history ADD CONSTRAINT {UNIQUE} UNIQUE USING INDEX {UNIQUE}")


def _upgrade_sqlite() -> None:
    with op.batch_alter_table("import_history") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(100), nullable=True))
    op.execute("UPDATE import_history SET batch_id = job_id WHERE batch_id IS NULL")
    with op.batch_alter_table("import_history") as batch:
        batch.alter_column("batch_id", existing_type=sa.String(100), nullable=False)
        batch.create_unique_constraint(UNIQUE, ["batch_id"])


def downgrade() -> None:
    if not on_postgresql():
        with op.batch_alter_table("import_history") as batch:
            batch.drop_constraint(UNIQUE, type_="unique")
            batch.drop_column("batch_id")
        return
    set_timeouts()
    op.execute("ALTER TABLE import_history DROP COLUMN IF EXISTS batch_id")
