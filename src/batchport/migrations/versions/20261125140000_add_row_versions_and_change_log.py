"""Row versions, the change log and the write marker: what undoing updates safely needs.

- `row_version` on `inventory.departments` and `users`: 0 when a row is created; every
  change made outside batchport adds one (a trigger), so a rollback can tell a row edited
  after its import from one left as imported. A change to one of a user's department links
  counts as a change to the user. (Links added by hand are told by their `created_at`; no
  INSERT or DELETE trigger slows the bulk paths. On SQLite, `user_departments.created_at`
  now defaults to the millisecond rather than the whole second, so that a link added just
  after an import can be told from the import's own.)
- `import_writes`: batchport inserts its job id here, in the transaction that writes, and
  deletes it before committing. The triggers leave versions alone while such a row is
  visible, which it is only to that transaction.
- `import_changes`: the values (and link rows) a row had before an import updated it, keyed
  by batch, table and row id, so that its rollback can restore them.
- `import_history` counts updated, skipped and unchanged rows, records `on_existing` and
  whether a rollback was forced over edited rows.

On PostgreSQL, columns with a constant default are added without a table rewrite (11+).

Revision ID: 20261125140000
Revises: 20261125113000
Create Date: 2026-11-25 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import inventory_schema, on_postgresql, set_timeouts

revision = "20261125140000"
down_revision = "20261125113000"
branch_labels = None
depends_on = None

HISTORY_COLUMNS = (
    ("rows_updated", "BIGINT NOT NULL DEFAULT 0"),
    ("rows_skipped", "BIGINT NOT NULL DEFAULT 0"),
    ("rows_unchanged", "BIGINT NOT NULL DEFAULT 0"),
    ("on_existing", "VARCHAR(10) NOT NULL DEFAULT 'error'"),
    ("rollback_forced", "BOOLEAN NOT NULL DEFAULT false"),
)

SQLITE_NOW_MS = sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")

PG_COUNT_EDIT = """
CREATE OR REPLACE FUNCTION batchport_count_edit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM import_writes) THEN
        NEW.row_version := OLD.row_version + 1;
    END IF;
    RETURN NEW;
END $$
"""

PG_COUNT_LINK_EDIT = """
CREATE OR REPLACE FUNCTION batchport_count_user_link_edit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM import_writes) THEN
        UPDATE users SET row_version = row_version + 1 WHERE id IN (OLD.user_id, NEW.user_id);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
        for table in ("inventory.departments", "users"):
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS row_version "
                "BIGINT NOT NULL DEFAULT 0"
            )
        for name, definition in HISTORY_COLUMNS:
            op.execute(f"ALTER TABLE import_history ADD COLUMN IF NOT EXISTS {name} {definition}")
    else:
        for table, schema in (("departments", inventory_schema()), ("users", None)):
            op.add_column(
                table,
                sa.Column("row_version", sa.BigInteger(), nullable=False, server_default="0"),
                schema=schema,
            )
        for name, definition in HISTORY_COLUMNS:
            op.execute(f"ALTER TABLE import_history ADD COLUMN {name} {definition}")
    if not on_postgresql():
        with op.batch_alter_table("user_departments", recreate="always") as batch:
            batch.alter_column("created_at", server_default=SQLITE_NOW_MS)
    op.create_table(
        "import_writes",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="import_writes_pkey"),
    )
    op.create_table(
        "import_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("batch_id", sa.String(100), nullable=False),
        sa.Column("table_name", sa.String(100), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("prior", sa.Text(), nullable=False),
        sa.Column("prior_links", sa.Text(), nullable=True),
        sa.Column("version_before", sa.BigInteger(), nullable=False),
        sa.Column("version_after", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="import_changes_pkey"),
        sa.UniqueConstraint(
            "batch_id", "table_name", "row_id", name="import_changes_batch_id_unique"
        ),
    )
    if on_postgresql():
        op.execute(PG_COUNT_EDIT)
        op.execute(PG_COUNT_LINK_EDIT)
        for table, name in (("inventory.departments", "departments"), ("users", "users")):
            op.execute(
                f"CREATE TRIGGER {name}_row_version BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION batchport_count_edit()"
            )
        op.execute(
            "CREATE TRIGGER user_departments_row_version AFTER UPDATE ON user_departments "
            "FOR EACH ROW EXECUTE FUNCTION batchport_count_user_link_edit()"
        )
        return
    for table in ("departments", "users"):
        op.execute(
            f"CREATE TRIGGER {table}_row_version AFTER UPDATE ON {table} "
            "WHEN NEW.row_version = OLD.row_version "
            "AND NOT EXISTS (SELECT 1 FROM import_writes) "
            f"BEGIN UPDATE {table} SET row_version = OLD.row_version + 1 WHERE id = NEW.id; END"
        )
    op.execute(
        "CREATE TRIGGER user_departments_row_version AFTER UPDATE ON user_departments "
        "WHEN NOT EXISTS (SELECT 1 FROM import_writes) BEGIN "
        "UPDATE users SET row_version = row_version + 1 WHERE id IN (OLD.user_id, NEW.user_id); "
        "END"
    )


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
        op.execute("DROP TRIGGER IF EXISTS user_departments_row_version ON user_departments")
        op.execute("DROP TRIGGER IF EXISTS users_row_version ON users")
        op.execute("DROP TRIGGER IF EXISTS departments_row_version ON inventory.departments")
        op.execute("DROP FUNCTION IF EXISTS batchport_count_user_link_edit()")
        op.execute("DROP FUNCTION IF EXISTS batchport_count_edit()")
    else:
        for table in ("user_departments", "users", "departments"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_row_version")
    op.drop_table("import_changes")
    op.drop_table("import_writes")
    if not on_postgresql():
        with op.batch_alter_table("user_departments", recreate="always") as batch:
            batch.alter_column("created_at", server_default=sa.func.now())
    if on_postgresql():
        for name, _ in reversed(HISTORY_COLUMNS):
            op.execute(f"ALTER TABLE import_history DROP COLUMN IF EXISTS {name}")
        for table in ("users", "inventory.departments"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS row_version")
        return
    for name, _ in reversed(HISTORY_COLUMNS):
        op.drop_column("import_history", name)
    for table in ("users", "departments"):
        op.drop_column(table, "row_version")
