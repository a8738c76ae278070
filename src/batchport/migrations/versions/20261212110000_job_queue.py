"""On PostgreSQL, procrastinate's schema: the job queue that API servers defer validations,
imports and rollbacks to, and `batchport worker` processes on any host take them from.

The schema is procrastinate's own (`procrastinate.schema.SchemaManager.get_schema()`, of the
3.x release installed), applied only where the database has none yet: an application that
already queues its own jobs with procrastinate keeps its tables, and batchport's jobs go on
queues of their own. A schema this revision created says so in a comment on
`procrastinate_jobs`; downgrading drops only such a schema, and only while it holds no job of
another queue. SQLite needs none of it: its worker runs in the server's process.

Revision ID: 20261212110000
Revises: 20261212100000
Create Date: 2026-12-12 11:00:00
"""

from __future__ import annotations

from alembic import op

from batchport.migrations.support import on_postgresql

revision = "20261212110000"
down_revision = "20261212100000"
branch_labels = None
depends_on = None

MARK = "created by batchport (revision 20261212110000)"
QUEUES = ("batchport", "batchport-rollbacks")


def upgrade() -> None:
    if not on_postgresql():
        return
    from procrastinate.schema import SchemaManager  # noqa: PLC0415 - PostgreSQL only

    schema = SchemaManager.get_schema()
    # One statement, so that it is applied whole or not at all, and only where it is missing
    # (also when emitted as SQL, to run later).
    op.execute(
        "DO $batchport$ BEGIN\n"
        "IF to_regclass('procrastinate_jobs') IS NULL THEN\n"
        f"EXECUTE $procrastinate_schema${schema}$procrastinate_schema$;\n"
        f"COMMENT ON TABLE procrastinate_jobs IS '{MARK}';\n"
        "END IF;\n"
        "END $batchport$"
    )


def downgrade() -> None:
    if not on_postgresql():
        return
    queues = ", ".join(f"'{queue}'" for queue in QUEUES)
    op.execute(
        "DO $batchport$ DECLARE f regprocedure; BEGIN\n"
        "IF to_regclass('procrastinate_jobs') IS NULL\n"
        f"   OR obj_description('procrastinate_jobs'::regclass) IS DISTINCT FROM '{MARK}'\n"
        f"   OR EXISTS (SELECT FROM procrastinate_jobs WHERE queue_name NOT IN ({queues})) THEN\n"
        "    RETURN;\n"
        "END IF;\n"
        "DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,\n"
        "    procrastinate_workers CASCADE;\n"
        "FOR f IN SELECT p.oid::regprocedure FROM pg_proc AS p\n"
        "    WHERE p.proname LIKE 'procrastinate\\_%'\n"
        "    AND p.pronamespace = current_schema()::regnamespace\n"
        "LOOP\n"
        "    EXECUTE 'DROP FUNCTION ' || f || ' CASCADE';\n"
        "END LOOP;\n"
        "DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_event_type,\n"
        "    procrastinate_job_status CASCADE;\n"
        "END $batchport$"
    )
