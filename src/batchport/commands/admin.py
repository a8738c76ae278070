"""The use cases that look after the database and the service: migrations, the sweep of dead
jobs, accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchport import accounts, audit, migrations
from batchport.commands.support import ready
from batchport.database import Database
from batchport.liveness import sweep
from batchport.reports import (
    Job,
)
from batchport.verify import Check, verify_schema
from batchport.vocabulary import Via


@dataclass(frozen=True)
class MigrationStatus:
    """Where the database's schema stands."""

    current: str | None
    head: str
    pending: list[str]


def migrate(db: Database, target: str = "head") -> MigrationStatus:
    """Upgrades the schema to `target` (default: the newest revision)."""
    with db.connect() as conn:
        migrations.upgrade(conn, target)
        conn.commit()
    return migration_status(db)


def rollback_migration(db: Database, target: str | None = None) -> MigrationStatus:
    """Undoes the last revision, or every revision after `target`."""
    with db.connect() as conn:
        migrations.downgrade(conn, target or "-1")
        conn.commit()
    return migration_status(db)


def migration_status(db: Database) -> MigrationStatus:
    """The current revision, the head and the revisions still to apply."""
    with db.connect() as conn:
        return MigrationStatus(
            current=migrations.current_revision(conn),
            head=migrations.head_revision(),
            pending=migrations.pending_revisions(conn),
        )


def verify_migrations(db: Database) -> list[Check]:
    """The seed's post-migration checks against the live schema and data."""
    with db.connect() as conn:
        return verify_schema(conn, db.dialect.schema("inventory"))


def recover(db: Database) -> list[Job]:
    """Marks jobs whose process died as interrupted (`failed` / `rollback_failed`).

    Runs at the start of every use case too; a job whose worker still lives is never touched.
    """
    db.ensure_ready()
    return sweep(db)


def create_account(
    db: Database,
    name: str,
    role: str,
    *,
    actor: str,
    remote: str | None = None,
    via: Via = Via.library,
) -> str:
    """Creates an account of the service with `role`; returns its API token, shown this once
    (only its hash is kept). The creation and its audit row commit together."""
    ready(db)
    with db.connect() as conn, conn.begin():
        token = accounts.create_account(conn, name, role, created_by=actor)
        audit.write(
            conn,
            actor=actor,
            via=via,
            action="create account",
            outcome="ok",
            remote=remote,
            detail=f"{name.strip()} ({role})",
        )
    return token


def list_accounts(db: Database) -> list[dict[str, Any]]:
    """The service's accounts: name, role, when and by whom made (never a token)."""
    ready(db)
    with db.connect() as conn:
        return accounts.list_accounts(conn)


def authenticate(db: Database, token: str, *, remote: str | None = None) -> accounts.Account | None:
    """The account an API token belongs to; None (and a `denied` audit row) if it is none."""
    account = accounts.authenticate(db, token.strip()) if token.strip() else None
    if account is None:
        audit.record(
            db, actor=None, via=Via.api, action="authenticate", outcome="denied", remote=remote
        )
    return account


def record_denial(
    db: Database, *, actor: str, action: str, why: str, remote: str | None = None
) -> None:
    """Audits a request refused for want of a right (the caller then answers it)."""
    audit.record(
        db, actor=actor, via=Via.api, action=action, outcome="denied", remote=remote, detail=why
    )
