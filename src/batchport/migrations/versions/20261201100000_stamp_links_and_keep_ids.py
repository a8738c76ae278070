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

import re

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

    SQLite's own procedure: foreign keys off (possible only outside a transaction, so in an
    autocommit block), then in one transaction a copy of each table made from its own
    `CREATE TABLE` text with the primary key changed and nothing else (so collations, checks,
    foreign keys and columns an application added survive), its rows copied, the old table
    dropped, the copy renamed, and the table's indexes and triggers created again from their
    own text; `PRAGMA foreign_key_check` must find nothing before it commits. Legacy renaming
    keeps SQLite from re-reading views and triggers that name a table while it is swapped.
    """
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        bind.exec_driver_sql("PRAGMA legacy_alter_table=ON")
        bind.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            for table in KEPT_IDS:
                _swap_table(bind, table, autoincrement=autoincrement)
            _check_foreign_keys(bind)
        except BaseException:
            bind.exec_driver_sql("ROLLBACK")
            raise
        else:
            bind.exec_driver_sql("COMMIT")
        finally:
            bind.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
            bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _check_foreign_keys(bind: sa.Connection) -> None:
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"rebuilding {KEPT_IDS} broke foreign keys: {broken[:5]}")


def _swap_table(bind: sa.Connection, table: str, *, autoincrement: bool) -> None:
    schema = bind.exec_driver_sql(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
        "ORDER BY type = 'table' DESC",
        (table,),
    ).all()
    [(kind, created), *others] = schema
    assert kind == "table"
    copy = f"{table}__rebuilt"
    rebuilt = _primary_key(created, table, autoincrement=autoincrement)
    bind.exec_driver_sql(re.sub(r"^CREATE TABLE\s+\"?\w+\"?", f'CREATE TABLE "{copy}"', rebuilt))
    columns = ", ".join(
        f'"{name}"'
        for name in bind.exec_driver_sql(f'SELECT name FROM pragma_table_info("{table}")')
        .scalars()
        .all()
    )
    bind.exec_driver_sql(f'INSERT INTO "{copy}" ({columns}) SELECT {columns} FROM "{table}"')
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE "{copy}" RENAME TO "{table}"')
    for _, sql in others:
        bind.exec_driver_sql(sql)


_TABLE_KEY = re.compile(r",\s*CONSTRAINT\s+\w+\s+PRIMARY KEY\s*\(\s*id\s*\)", re.IGNORECASE)
_ID = re.compile(r"\bid INTEGER NOT NULL\b(?! PRIMARY)", re.IGNORECASE)
_ID_AUTOINCREMENT = re.compile(r"\bid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT\b", re.IGNORECASE)


def _primary_key(created: str, table: str, *, autoincrement: bool) -> str:
    """A table's `CREATE TABLE` text with its integer primary key made AUTOINCREMENT, or back
    to the plain, named key batchport's first revisions gave it."""
    if autoincrement:
        changed, keys = _TABLE_KEY.subn("", created)
        changed, ids = _ID.subn("id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT", changed, count=1)
    else:
        changed, ids = _ID_AUTOINCREMENT.subn("id INTEGER NOT NULL", created, count=1)
        end = changed.rstrip().rfind(")")
        changed = f"{changed[:end].rstrip()}, \n\tCONSTRAINT {table}_pkey PRIMARY KEY (id)\n)"
        keys = 1
    if not (ids and keys):
        raise RuntimeError(
            f"{table}: its CREATE TABLE has no primary key batchport knows: {created}"
        )
    return changed
