"""A least-privileged PostgreSQL role for the service: it may read and write what imports,
rollbacks and sessions need, add to the history and the audit log but not delete from them,
and owns nothing, so it can neither disable nor drop the triggers that guard them."""

from __future__ import annotations

import sqlalchemy as sa

from batchport.declarations import Catalog
from batchport.errors import ConfigurationError
from batchport.schema import metadata

#: Tables whose rows the service only adds to (and, for the history, moves forward).
NARROW = {"audit_log": "SELECT, INSERT", "import_history": "SELECT, INSERT, UPDATE"}
#: Tables the service reads and never writes (`db track` is an administrator's command).
READ_ONLY = {"alembic_version": "SELECT", "tracked_tables": "SELECT"}
FULL = "SELECT, INSERT, UPDATE, DELETE"


def grant(conn: sa.Connection, role: str, catalog: Catalog) -> list[str]:
    """Creates `role` (LOGIN, no password) unless it exists, and grants it what the service
    needs on this database; returns the statements run. Refuses a role that owns tables here
    (it could drop their triggers) or is a superuser."""
    quote = conn.dialect.identifier_preparer.quote
    found = conn.execute(
        sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if found is not None and found.rolsuper:
        raise ConfigurationError(f"role {role} is a superuser: the service needs one that is not")
    owned = (
        conn.execute(
            sa.text(
                "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tableowner = :role"
            ),
            {"role": role},
        )
        .scalars()
        .all()
    )
    if owned:
        raise ConfigurationError(
            f"role {role} owns {', '.join(sorted(owned))}: the service's role must own nothing "
            "(an owner can disable or drop the triggers that guard the history and the audit log)"
        )
    statements = [] if found is not None else [f"CREATE ROLE {quote(role)} LOGIN"]
    statements += _grants(conn, quote(role), catalog)
    for statement in statements:
        conn.exec_driver_sql(statement)
    return statements


def _grants(conn: sa.Connection, role: str, catalog: Catalog) -> list[str]:
    database = conn.exec_driver_sql("SELECT current_database()").scalar_one()
    quote = conn.dialect.identifier_preparer.quote
    tables = {_name(t): t.schema for t in metadata.tables.values()}
    for import_type in catalog.types:
        for table in (import_type.table, *(link.table for link in import_type.links)):
            tables[_name(table)] = table.schema
    schemas = sorted({schema or "public" for schema in tables.values()})
    statements = [f"GRANT CONNECT, TEMPORARY ON DATABASE {quote(database)} TO {role}"]
    statements += [f"GRANT USAGE ON SCHEMA {quote(s)} TO {role}" for s in schemas]
    statements += [
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(s)} TO {role}" for s in schemas
    ]
    for name in sorted(tables):
        plain = name.rpartition(".")[2]
        rights = NARROW.get(plain) or READ_ONLY.get(plain) or FULL
        statements.append(f"GRANT {rights} ON {_quoted(conn, name)} TO {role}")
    statements.append(f"GRANT SELECT ON alembic_version TO {role}")
    return statements


def _name(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _quoted(conn: sa.Connection, name: str) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return ".".join(quote(part) for part in name.split("."))
