"""The use cases that look after the database and the service: migrations, the sweep of dead
jobs, accounts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from batchport import accounts, audit, grants, migrations
from batchport.commands.support import ready
from batchport.database import Database
from batchport.errors import ConfigurationError
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


def grant_service_role(db: Database, role: str) -> list[str]:
    """Sets up `role` on PostgreSQL as the least-privileged role to run the service as (see
    `grants`); returns the statements run."""
    if db.dialect.name != "postgresql":
        raise ConfigurationError("database roles are PostgreSQL's; SQLite has none")
    ready(db)
    with db.connect() as conn, conn.begin():
        return grants.grant(conn, role, db.catalog)


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
    expires_in: dt.timedelta | None = None,
) -> str:
    """Creates an account of the service with `role`; returns its API token, shown this once
    (only its hash is kept), valid for `expires_in` (None: until rotated or disabled). The
    creation and its audit row commit together."""
    ready(db)
    with db.connect() as conn, conn.begin():
        token = accounts.create_account(conn, name, role, created_by=actor, expires_in=expires_in)
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


def rotate_token(
    db: Database,
    name: str,
    *,
    actor: str,
    remote: str | None = None,
    via: Via = Via.library,
    expires_in: dt.timedelta | None = None,
) -> str:
    """Gives the account a new API token (returned, shown this once); its old token is refused
    from the moment this commits, together with its audit row."""
    ready(db)
    with db.connect() as conn, conn.begin():
        token = accounts.rotate(conn, name, expires_in=expires_in)
        audit.write(
            conn,
            actor=actor,
            via=via,
            action="rotate token",
            outcome="ok",
            remote=remote,
            detail=name,
        )
    return token


def set_account_disabled(
    db: Database,
    name: str,
    disabled: bool,
    *,
    actor: str,
    remote: str | None = None,
    via: Via = Via.library,
) -> None:
    """Disables an account (its token is refused at once) or enables it again; audited in the
    same transaction."""
    ready(db)
    with db.connect() as conn, conn.begin():
        accounts.set_disabled(conn, name, disabled)
        audit.write(
            conn,
            actor=actor,
            via=via,
            action="disable account" if disabled else "enable account",
            outcome="ok",
            remote=remote,
            detail=name,
        )


def list_accounts(db: Database) -> list[dict[str, Any]]:
    """The service's accounts: name, role, when and by whom made (never a token)."""
    ready(db)
    with db.connect() as conn:
        return accounts.list_accounts(conn)


def authenticate(db: Database, token: str) -> accounts.Account | None:
    """The account an API token belongs to; None if it is no valid token (unknown, wrong,
    expired, or its account disabled). The caller audits a failure (`record_denial`), as
    often as its throttle lets it."""
    return accounts.authenticate(db, token.strip()) if token.strip() else None


def record_denial(
    db: Database,
    *,
    actor: str | None,
    action: str,
    why: str,
    remote: str | None = None,
    outcome: str = "denied",
) -> None:
    """Audits a request of the service refused (for want of a valid token or a right, or as
    too large or malformed: `outcome` says which); the caller then answers it."""
    audit.record(
        db, actor=actor, via=Via.api, action=action, outcome=outcome, remote=remote, detail=why
    )
