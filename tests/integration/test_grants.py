"""`batchport db grant ROLE`: the service runs as a role that can do its work and cannot
erase or rewrite the history or the audit log, nor switch off their guards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from batchport import (
    BUILTIN_TYPES,
    ConfigurationError,
    Database,
    commands,
    configuration,
    rollback_batch,
    run_import,
)
from tests.helpers import DEPARTMENTS

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
    pytest.mark.types("shipped", reason="the history's and the audit log's guards"),
]

#: What the service's role tries, and must not be able to do.
ATTACKS = [
    "TRUNCATE audit_log",
    "TRUNCATE import_history CASCADE",
    "DELETE FROM audit_log",
    "DELETE FROM import_history",
    "UPDATE audit_log SET actor = 'nobody'",
    "UPDATE import_history SET imported_by = 'nobody'",
    "UPDATE import_history SET rows_imported = 0",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "ALTER TABLE import_history DISABLE TRIGGER import_history_forward_only",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "DROP TABLE audit_log",
    "ALTER TABLE import_history OWNER TO CURRENT_USER",
    "CREATE TABLE public.elsewhere (id int)",
    "DELETE FROM tracked_tables",  # which tables are tracked is `db track`'s to say
]


@pytest.fixture
def service_db(db, database_url, types_file) -> Iterator[Database]:
    """The database as the service sees it (its types read as that role too), connected as a
    role `db grant` set up."""
    role = f"bp_service_{uuid.uuid4().hex[:8]}"
    statements = commands.grant_service_role(db, role)
    assert statements[0] == f"CREATE ROLE {role} LOGIN"
    service = Database.from_url(
        sa.make_url(database_url).set(username=role).render_as_string(hide_password=False),
        catalog=BUILTIN_TYPES
        if types_file is None
        else lambda engine: configuration.find(types_file).catalog(engine),
    )
    yield service
    service.dispose()
    with db.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"DROP OWNED BY {role}")
        conn.exec_driver_sql(f"DROP ROLE {role}")


@pytest.mark.types("shipped", "declared")
def test_the_service_role_does_its_work(service_db, csv_file, rows):
    """Imports, rollbacks, accounts and the audit log work as the service's role."""
    earlier = [e["action"] for e in commands.audit_log(service_db)]  # the tables tracked
    report = run_import(service_db, "departments", csv_file(DEPARTMENTS), actor="alice")
    assert {d["code"] for d in rows("departments")} == {d[0] for d in DEPARTMENTS[1:]}
    rollback_batch(service_db, report.batch_id, actor="alice")
    assert rows("departments") == []
    token = commands.create_account(service_db, "alice", "importer", actor="root")
    assert commands.authenticate(service_db, token).name == "alice"
    actions = [e["action"] for e in commands.audit_log(service_db)]
    assert actions == ["create account", "rollback", "import", *earlier]


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_service_role_cannot_erase_or_rewrite_the_record(service_db, csv_file, attack):
    run_import(service_db, "departments", csv_file(DEPARTMENTS), actor="alice")
    before = (commands.list_history(service_db), commands.audit_log(service_db))
    with pytest.raises(sa.exc.DBAPIError), service_db.connect() as conn, conn.begin():
        conn.exec_driver_sql(attack)
    assert (commands.list_history(service_db), commands.audit_log(service_db)) == before


def test_a_role_that_could_undo_the_guards_is_refused(db):
    """A superuser (the tests' own role) or an owner of tables is not a service role."""
    with db.connect() as conn:
        superuser = conn.exec_driver_sql("SELECT current_user").scalar_one()
    with pytest.raises(ConfigurationError, match="is a superuser"):
        commands.grant_service_role(db, superuser)
    owner = f"bp_owner_{uuid.uuid4().hex[:8]}"
    with db.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"CREATE ROLE {owner}")
        conn.exec_driver_sql(f"ALTER TABLE audit_log OWNER TO {owner}")
    try:
        with pytest.raises(ConfigurationError, match=r"owns public\.audit_log"):
            commands.grant_service_role(db, owner)
    finally:
        with db.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"ALTER TABLE audit_log OWNER TO {superuser}")
            conn.exec_driver_sql(f"DROP ROLE {owner}")
