"""The migration chain: upgrades and downgrades cleanly, backfills, builds the declared schema."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from batchport import BUILTIN_TYPES, Database, migrations, verify_migrations
from batchport.schema import metadata
from tests.helpers import create_pg_database, drop_pg_database

BASE = "20251213073723"
BATCH_TRACKING = "20251213100001"
BATCH_COLUMNS = "20251213100002"
JOB_WORKER = "20261125113000"
ROW_VERSIONS = "20261125140000"
SERVICE = "20261125160000"
STAMPS = "20261201100000"
HARDENED = "20261201120000"
WEB_UI = "20261201140000"
SHEET = "20261201160000"
TRACKED = "20261210100000"
HEARTBEATS = "20261212100000"
JOB_QUEUE = "20261212110000"
HEAD = "20261212120000"

#: squawk rules these revisions break on purpose, each with the reason.
ACCEPTED_SQUAWK_RULES = {
    # The seed fixes batch_id and import_batch_id as VARCHAR(100); the rule's concern (a later
    # change of the length needs an ACCESS EXCLUSIVE lock) does not apply to adding a column.
    "prefer-text-field": "VARCHAR(100) is the seed's data model",
    # The only constraint dropped is the temporary CHECK (batch_id IS NOT NULL) that lets
    # SET NOT NULL skip its table scan; NOT NULL keeps the guarantee it gave.
    "ban-drop-constraint": "drops only the helper CHECK that NOT NULL replaces",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        db = Database.from_url(f"sqlite:///{tmp_path / 'empty.db'}", catalog=BUILTIN_TYPES)
        yield db
        db.dispose()
        return
    url = create_pg_database()
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    yield db
    db.dispose()
    drop_pg_database(url)


def upgrade(db: Database, target: str = "head") -> None:
    with db.connect() as conn:
        migrations.upgrade(conn, target)
        conn.commit()


def downgrade(db: Database, target: str) -> None:
    with db.connect() as conn:
        migrations.downgrade(conn, target)
        conn.commit()


def table_names(db: Database) -> set[str]:
    with db.connect() as conn:
        inspector = sa.inspect(conn)
        names = set(inspector.get_table_names())
        if db.dialect.name == "postgresql":
            names |= {f"inventory.{n}" for n in inspector.get_table_names(schema="inventory")}
        return names - {"alembic_version"}


def test_upgrade_downgrade_upgrade(empty_db):
    """Head, then base (no tables left), then head again: every downgrade works."""
    upgrade(empty_db)
    queue = {"procrastinate_events", "procrastinate_jobs", "procrastinate_periodic_defers"}
    queue |= {"procrastinate_workers"}
    names = table_names(empty_db)
    assert queue <= names if empty_db.dialect.name == "postgresql" else not queue & names
    assert len(names - queue) == 14
    downgrade(empty_db, "base")
    assert table_names(empty_db) == set()
    upgrade(empty_db)
    with empty_db.connect() as conn:
        assert migrations.current_revision(conn) == HEAD
    assert all(check.passed for check in verify_migrations(empty_db))


def test_each_revision_downgrades_one_step(empty_db):
    """Undoing the revisions one by one passes through each earlier revision."""
    upgrade(empty_db)
    seen = []
    for _ in range(14):
        downgrade(empty_db, "-1")
        with empty_db.connect() as conn:
            seen.append(migrations.current_revision(conn))
    assert seen == [
        JOB_QUEUE,
        HEARTBEATS,
        TRACKED,
        SHEET,
        WEB_UI,
        HARDENED,
        STAMPS,
        SERVICE,
        ROW_VERSIONS,
        JOB_WORKER,
        BATCH_COLUMNS,
        BATCH_TRACKING,
        BASE,
        None,
    ]


def test_backfill_sets_every_batch_id_to_its_job_id(empty_db):
    """History rows written before batch tracking get batch_id = job_id, in several chunks."""
    upgrade(empty_db, BASE)
    history = sa.table(
        "import_history",
        sa.column("job_id"),
        sa.column("import_type"),
        sa.column("status"),
    )
    job_ids = [str(uuid.uuid4()) for _ in range(12_345)]
    with empty_db.connect() as conn, conn.begin():
        conn.execute(
            history.insert(),
            [{"job_id": j, "import_type": "users", "status": "completed"} for j in job_ids],
        )
    upgrade(empty_db)
    with empty_db.connect() as conn:
        pairs = conn.exec_driver_sql("select job_id, batch_id from import_history").all()
    assert len(pairs) == len(job_ids)
    assert all(str(job_id) == batch_id for job_id, batch_id in pairs)
    assert all(check.passed for check in verify_migrations(empty_db))


def test_migrated_schema_equals_the_table_definitions(empty_db):
    """Alembic finds no difference between the migrated database and `batchport.schema`."""
    upgrade(empty_db)
    declared = metadata
    if empty_db.dialect.name == "sqlite":
        declared = sa.MetaData(naming_convention=metadata.naming_convention)
        for table in metadata.tables.values():
            table.to_metadata(
                declared, schema=None, referred_schema_fn=lambda *_: sa.schema.BLANK_SCHEMA
            )
    with empty_db.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "compare_type": True,
                # The job queue's tables are procrastinate's, as its own schema makes them.
                "include_name": lambda name, kind, _parent: (
                    name in {None, "inventory", "public"}
                    if kind == "schema"
                    else not (kind == "table" and str(name).startswith("procrastinate_"))
                ),
            },
        )
        differences = compare_metadata(context, declared)
    assert differences == []


def test_link_rows_written_before_stamps_get_the_batch_that_wrote_them(empty_db):
    """Upgrading a database that holds batches: a link written by its user's import gets that
    batch; one an update batch wrote when it replaced the user's links gets the update's; one
    added by hand later stays unstamped. Users' row versions stay as they were; SQLite stops
    reusing ids, keeping the rows it has."""
    upgrade(empty_db, SERVICE)
    prefix = "inventory." if empty_db.dialect.name == "postgresql" else ""
    statements = [
        f"INSERT INTO {prefix}departments (id, code, name) VALUES (1, 'HQ', 'H'), (2, 'FIN', 'F')",
        "INSERT INTO import_history (job_id, batch_id, import_type, status, started_at, "
        "completed_at) VALUES "
        "('00000000-0000-4000-8000-000000000001', 'A', 'users', 'completed', "
        "'2026-01-01 10:00:00', '2026-01-01 10:00:05'), "
        "('00000000-0000-4000-8000-000000000002', 'U', 'users', 'completed', "
        "'2026-01-02 10:00:00', '2026-01-02 10:00:05')",
        "INSERT INTO users (id, email, first_name, last_name, import_batch_id, row_version) "
        "VALUES (1, 'ann@x.org', 'A', 'L', 'A', 0), (2, 'bob@x.org', 'B', 'R', 'A', 1)",
        "INSERT INTO user_departments (user_id, department_id, created_at) VALUES "
        "(1, 1, '2026-01-01 10:00:05'), (1, 2, '2026-01-03 09:00:00'), "
        "(2, 2, '2026-01-02 10:00:05')",
        "INSERT INTO import_changes (batch_id, table_name, row_id, prior, prior_links, "
        "version_before, version_after) VALUES ('U', 'users', 2, '{}', "
        '\'{"user_departments": [{"user_id": 2, "department_id": 1}]}\', 0, 1)',
    ]
    if empty_db.dialect.name == "postgresql":  # ids given by hand: move the identity on
        statements.append("SELECT setval(pg_get_serial_sequence('users', 'id'), 2)")
    with empty_db.connect() as conn, conn.begin():
        for statement in statements:
            conn.exec_driver_sql(statement)
    upgrade(empty_db)
    with empty_db.connect() as conn:
        stamps = conn.exec_driver_sql(
            "SELECT user_id, department_id, import_batch_id FROM user_departments "
            "ORDER BY user_id, department_id"
        ).all()
        versions = conn.exec_driver_sql("SELECT id, row_version FROM users ORDER BY id").all()
    assert [tuple(s) for s in stamps] == [(1, 1, "A"), (1, 2, None), (2, 2, "U")]
    assert [tuple(v) for v in versions] == [(1, 0), (2, 1)]
    with empty_db.connect() as conn, conn.begin():
        conn.exec_driver_sql("DELETE FROM user_departments WHERE user_id = 2")
        conn.exec_driver_sql("DELETE FROM users WHERE id = 2")
        conn.exec_driver_sql(
            "INSERT INTO users (email, first_name, last_name) VALUES ('new@x.org', 'N', 'X')"
        )
        [new_id] = conn.exec_driver_sql("SELECT id FROM users WHERE email = 'new@x.org'").one()
    assert new_id == 3


def test_verify_fails_before_batch_tracking(empty_db):
    """At the pre-batch revision db verify reports the missing columns as failed checks."""
    upgrade(empty_db, BASE)
    failed = {c.name for c in verify_migrations(empty_db) if not c.passed}
    assert "import_history.batch_id exists" in failed
    assert "users.import_batch_id exists" in failed


def test_manual_rows_need_only_their_key_and_name(empty_db):
    """Other software can insert with plain SQL; ids, timestamps and flags have defaults."""
    upgrade(empty_db)
    prefix = "inventory." if empty_db.dialect.name == "postgresql" else ""
    with empty_db.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"insert into {prefix}departments (code, name) values ('M', 'Manual')")
        conn.exec_driver_sql(
            "insert into users (email, first_name, last_name) values ('m@x.org', 'M', 'X')"
        )
        department = conn.exec_driver_sql(
            "select id, is_active, created_at, updated_at, import_batch_id "
            f"from {prefix}departments"
        ).one()
        user = conn.exec_driver_sql("select id, is_active, import_batch_id from users").one()
    assert department.id is not None and department.created_at is not None
    assert bool(department.is_active) is True and department.import_batch_id is None
    assert user.id is not None and bool(user.is_active) is True and user.import_batch_id is None


def batch_revisions_sql() -> str:
    """The SQL the two batch revisions emit for PostgreSQL (`alembic upgrade --sql`)."""
    buffer = io.StringIO()
    config = migrations.alembic_config(url="postgresql+psycopg://")
    config.output_buffer = buffer
    command.upgrade(config, f"{BASE}:head", sql=True)
    return buffer.getvalue()


def test_batch_revisions_are_safe_for_a_live_postgresql_table():
    """The emitted SQL sets a lock timeout, builds indexes concurrently, validates NOT VALID."""
    sql = batch_revisions_sql()
    assert "SET lock_timeout" in sql
    assert "CREATE UNIQUE INDEX CONCURRENTLY" in sql
    assert sql.count("CREATE INDEX CONCURRENTLY") == 3  # two batch indexes, the history's order
    assert "CHECK (batch_id IS NOT NULL) NOT VALID" in sql
    assert "VALIDATE CONSTRAINT" in sql
    assert "LIMIT 5000" in sql and "COMMIT;\n    END LOOP" in sql


def test_squawk_finds_nothing_but_the_accepted_rules(tmp_path):
    """squawk lints the batch revisions' SQL clean, apart from the rules accepted above."""
    squawk = shutil.which("squawk")
    assert squawk is not None, (
        "squawk-cli is a dev dependency; install with pip install -e '.[dev]'"
    )
    path = tmp_path / "batch_revisions.sql"
    path.write_text(batch_revisions_sql())
    excluded = ",".join(sorted(ACCEPTED_SQUAWK_RULES))
    result = subprocess.run(
        [squawk, "--exclude", excluded, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    without_exclusions = subprocess.run(
        [squawk, str(path)], capture_output=True, text=True, check=False
    )
    found = {rule for rule in ACCEPTED_SQUAWK_RULES if rule in without_exclusions.stdout}
    assert found == set(ACCEPTED_SQUAWK_RULES), "an accepted rule no longer fires; drop it"


def test_head_constant_is_the_newest_script():
    """The HEAD that everyday commands compare against is the scripts' own head."""
    assert migrations.script().get_current_head() == migrations.HEAD == HEAD


def test_session_errors_move_to_rows_and_back(empty_db):
    """A session validated before errors were rows keeps its errors, in order, both ways."""
    upgrade(empty_db, STAMPS)
    errors = [
        {"row": 3, "column": "code", "value": "X", "message": "repeated", "sheet": None},
        {"row": 2, "column": None, "value": None, "message": "too short", "sheet": "users"},
    ]
    with empty_db.connect() as conn, conn.begin():
        conn.execute(
            sa.text(
                "INSERT INTO import_sessions (id, owner, import_type, file_name, file_sha256, "
                "content, status, expires_at, errors) VALUES ('s1', 'alice', 'departments', "
                "'d.csv', 'x', :content, 'invalid', '2030-01-01 00:00:00', :errors)"
            ),
            {"content": b"code\n", "errors": json.dumps(errors)},
        )
    upgrade(empty_db)
    with empty_db.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT position, row, column_name, value, message, sheet "
            "FROM import_session_errors ORDER BY position"
        ).all()
    assert [tuple(r) for r in rows] == [
        (0, 3, "code", "X", "repeated", None),
        (1, 2, None, None, "too short", "users"),
    ]
    with empty_db.connect() as conn, conn.begin():
        conn.exec_driver_sql("UPDATE import_sessions SET errors = NULL")
    downgrade(empty_db, STAMPS)
    with empty_db.connect() as conn:
        text = conn.exec_driver_sql("SELECT errors FROM import_sessions").scalar_one()
    assert json.loads(text) == errors
