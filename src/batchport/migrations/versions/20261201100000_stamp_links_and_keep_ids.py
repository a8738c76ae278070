"""Stamp link rows with their batch, and never reuse an id on SQLite.

- `user_departments.import_batch_id`: the batch that wrote the link (NULL for a link made by
  hand). A rollback tells its own link rows from everyone else's by this stamp instead of
  comparing clocks. Links written before this revision are stamped from what the old rules
  said: a link belongs to the update batch that last replaced its user's links if it was
  written by then, else to its user's batch if it was written by that batch's completion;
  any later link was made by hand and stays NULL. On PostgreSQL the column is added without
  a rewrite and the backfill commits every few thousand users, outside the DDL transaction.
- On SQLite, `departments` and `users` become AUTOINCREMENT tables: SQLite otherwise gives the
  next row the id of a deleted last row, and a restore by id would land on a stranger. The
  tables are rebuilt (SQLite's documented procedure: foreign keys off, copy, swap, check),
  keeping their rows, ids, indexes and triggers. PostgreSQL's identities never reuse an id.

Revision ID: 20261201100000
Revises: 20261125160000
Create Date: 2026-12-01 10:00:00
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

revision = "20261201100000"
down_revision = "20261125160000"
branch_labels = None
depends_on = None

#: Which batch wrote `link` under the rules before stamps (see the module docstring).
LINK_STAMP = """coalesce(
    (SELECT CASE WHEN link.created_at <= job.completed_at THEN job.batch_id END
     FROM import_changes AS change
     JOIN import_history AS job ON job.batch_id = change.batch_id
     WHERE change.table_name = 'users' AND change.row_id = link.user_id
       AND change.prior_links LIKE '%"user_departments"%'
       AND job.status IN ('completed', 'rolling_back', 'rollback_failed')
     ORDER BY change.id DESC LIMIT 1),
    (SELECT owner.import_batch_id
     FROM users AS owner
     JOIN import_history AS job ON job.batch_id = owner.import_batch_id
     WHERE owner.id = link.user_id AND link.created_at <= job.completed_at)
)"""

#: The write marker the backfill holds in each of its transactions, so that the row-version
#: triggers do not count stamping a link as an edit of its user.
MARK = "migration-20261201100000"

PG_BACKFILL = f"""
DO $$
DECLARE
    low bigint := 0;
    top bigint;
BEGIN
    SELECT coalesce(max(user_id), 0) INTO top FROM user_departments;
    WHILE low < top LOOP
        INSERT INTO import_writes (job_id) VALUES ('{MARK}');
        UPDATE user_departments AS link SET import_batch_id = {LINK_STAMP}
        WHERE link.user_id > low AND link.user_id <= low + {BACKFILL_CHUNK}
          AND link.import_batch_id IS NULL;
        DELETE FROM import_writes WHERE job_id = '{MARK}';
        low := low + {BACKFILL_CHUNK};
        COMMIT;
    END LOOP;
END
$$
"""

#: The change log's new columns: the row's natural key and those of the rows its prior values
#: point at, so that a restore can prove an id still names the same row.
CHANGE_COLUMNS = ("row_key", "targets")

#: The tables whose ids the change log relies on.
KEPT_IDS = ("departments", "users")


def upgrade() -> None:
    if on_postgresql():
        set_timeouts()
        op.execute(
            "ALTER TABLE user_departments ADD COLUMN IF NOT EXISTS import_batch_id VARCHAR(100)"
        )
        for column in CHANGE_COLUMNS:
            op.execute(f"ALTER TABLE import_changes ADD COLUMN IF NOT EXISTS {column} TEXT")
        with op.get_context().autocommit_block():
            lift_statement_timeout()
            op.execute(PG_BACKFILL)
            set_timeouts()
        return
    with op.batch_alter_table("user_departments") as batch:
        batch.add_column(sa.Column("import_batch_id", sa.String(100), nullable=True))
    for column in CHANGE_COLUMNS:
        op.execute(f"ALTER TABLE import_changes ADD COLUMN {column} TEXT")
    op.execute(f"INSERT INTO import_writes (job_id) VALUES ('{MARK}')")
    op.execute(
        f"UPDATE user_departments AS link SET import_batch_id = {LINK_STAMP} "
        "WHERE import_batch_id IS NULL"
    )
    op.execute(f"DELETE FROM import_writes WHERE job_id = '{MARK}'")
    _rebuild_sqlite_tables(autoincrement=True)


def downgrade() -> None:
    if on_postgresql():
        set_timeouts()
        for column in CHANGE_COLUMNS:
            op.execute(f"ALTER TABLE import_changes DROP COLUMN IF EXISTS {column}")
        op.execute("ALTER TABLE user_departments DROP COLUMN IF EXISTS import_batch_id")
        return
    _rebuild_sqlite_tables(autoincrement=False)
    with op.batch_alter_table("import_changes") as batch:
        for column in CHANGE_COLUMNS:
            batch.drop_column(column)
    with op.batch_alter_table("user_departments") as batch:
        batch.drop_column("import_batch_id")


def _rebuild_sqlite_tables(*, autoincrement: bool) -> None:
    """Rebuilds `KEPT_IDS` with or without AUTOINCREMENT, rows and ids unchanged.

    Foreign keys can only be switched off outside a transaction, so the rebuild runs in a
    transaction of its own, opened in an autocommit block; the swap is checked with
    `PRAGMA foreign_key_check` before it commits. Legacy renaming keeps SQLite from re-reading
    triggers and views that name a table while it is being swapped; the triggers on a rebuilt
    table go with its old copy and are created again.
    """
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        bind.exec_driver_sql("PRAGMA legacy_alter_table=ON")
        bind.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            _swap_tables(bind, autoincrement=autoincrement)
        except BaseException:
            bind.exec_driver_sql("ROLLBACK")
            raise
        else:
            bind.exec_driver_sql("COMMIT")
        finally:
            bind.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
            bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _swap_tables(bind: sa.Connection, *, autoincrement: bool) -> None:
    for table in KEPT_IDS:
        triggers = (
            bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
            )
            .scalars()
            .all()
        )
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
        for trigger in triggers:
            bind.exec_driver_sql(trigger)
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"rebuilding {KEPT_IDS} broke foreign keys: {broken[:5]}")
