"""The schema before batch tracking: import history keyed by job id, departments, users, links.

Revision ID: 20251213073723
Revises:
Create Date: 2025-12-13 07:37:23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from batchport.migrations.support import inventory_schema, on_postgresql

revision = "20251213073723"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JobId = sa.Uuid(as_uuid=False).with_variant(sa.String(36), "sqlite")
Timestamp = sa.DateTime(timezone=True)
STATUSES = (
    "'pending', 'running', 'completed', 'failed', 'rolling_back', 'rolled_back', 'rollback_failed'"
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    schema = inventory_schema()
    if on_postgresql():
        op.execute("CREATE SCHEMA IF NOT EXISTS inventory")
    op.create_table(
        "import_history",
        sa.Column("id", BigId, sa.Identity(), nullable=False),
        sa.Column("job_id", JobId, nullable=False),
        sa.Column("import_type", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_imported", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_summary", sa.Text(), nullable=True),
        sa.Column("imported_by", sa.String(255), nullable=True),
        sa.Column("started_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.Column("completed_at", Timestamp, nullable=True),
        sa.Column("rolled_back_at", Timestamp, nullable=True),
        sa.Column("rolled_back_by", sa.String(255), nullable=True),
        sa.Column("rollback_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="import_history_pkey"),
        sa.UniqueConstraint("job_id", name="import_history_job_id_unique"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="import_history_status_check"),
    )
    op.create_table(
        "departments",
        sa.Column("id", BigId, sa.Identity(), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_id", BigId, nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="departments_pkey"),
        sa.UniqueConstraint("code", name="departments_code_unique"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            [f"{schema}.departments.id" if schema else "departments.id"],
            name="departments_parent_id_foreign",
            ondelete="NO ACTION",
        ),
        schema=schema,
    )
    op.create_index("departments_parent_id_index", "departments", ["parent_id"], schema=schema)
    op.create_table(
        "users",
        sa.Column("id", BigId, sa.Identity(), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
        sa.UniqueConstraint("email", name="users_email_unique"),
    )
    op.create_table(
        "user_departments",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("department_id", BigId, nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "department_id", name="user_departments_pkey"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="user_departments_user_id_foreign", ondelete="NO ACTION"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            [f"{schema}.departments.id" if schema else "departments.id"],
            name="user_departments_department_id_foreign",
            ondelete="NO ACTION",
        ),
    )
    op.create_index("user_departments_department_id_index", "user_departments", ["department_id"])


def downgrade() -> None:
    schema = inventory_schema()
    op.drop_table("user_departments")
    op.drop_table("users")
    op.drop_table("departments", schema=schema)
    op.drop_table("import_history")
    if on_postgresql():
        op.execute("DROP SCHEMA IF EXISTS inventory")
