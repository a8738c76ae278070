"""Accounts with a role and an API token; the token is shown once and stored hashed.

A token reads `bp_<token id>_<secret>`: the id finds the account, the secret is checked
against its argon2 hash. Secrets are 256 random bits, so the hash's cost can stay low.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from batchport.database import Database
from batchport.errors import AccountExists, ConfigurationError
from batchport.history import now
from batchport.schema import accounts
from batchport.vocabulary import Role

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2 with cheap parameters, loaded when a token is first made or checked (everyday
    commands never need it)."""
    from argon2 import PasswordHasher  # noqa: PLC0415

    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@dataclass(frozen=True)
class Account:
    """Who is calling, and what they may do."""

    name: str
    role: str

    @property
    def can_import(self) -> bool:
        return self.role in {"admin", "importer"}

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def create_account(conn: sa.Connection, name: str, role: str, *, created_by: str | None) -> str:
    """Creates the account in the caller's transaction; returns its API token (the only
    time it is seen)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigurationError("an account name has 1 to 100 characters")
    if role not in {str(r) for r in Role}:
        raise ConfigurationError(f"role must be one of {', '.join(Role)}, not {role!r}")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            conn.execute(
                accounts.insert().values(
                    name=name,
                    role=role,
                    token_id=token_id,
                    token_hash=_hasher().hash(secret),
                    created_at=now(),
                    created_by=created_by,
                )
            )
    except sa.exc.IntegrityError as exc:
        raise AccountExists(f"an account named {name!r} exists already") from exc
    return f"bp_{token_id}_{secret}"


def authenticate(db: Database, token: str) -> Account | None:
    """The account the token belongs to, or None if it is no valid token."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "bp" or not token_id or not secret:
        return None
    with db.connect() as conn:
        row = (
            conn.execute(
                sa.select(accounts).where(
                    accounts.c.token_id == token_id, accounts.c.disabled_at.is_(None)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    from argon2.exceptions import InvalidHashError, VerificationError  # noqa: PLC0415

    try:
        _hasher().verify(row["token_hash"], secret)
    except (VerificationError, InvalidHashError):
        return None
    return Account(row["name"], row["role"])


def list_accounts(conn: sa.Connection) -> list[dict[str, object]]:
    """Every account: name, role, when and by whom it was made (never a token)."""
    rows = conn.execute(
        sa.select(
            accounts.c.name, accounts.c.role, accounts.c.created_at, accounts.c.created_by
        ).order_by(accounts.c.id)
    ).mappings()
    return [dict(row) for row in rows]
