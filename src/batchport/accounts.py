"""Accounts with a role and an API token; the token is shown once and stored hashed.

A token reads `bp_<token id>_<secret>`: the id finds the account, the secret is checked
against its argon2 hash. Secrets are 256 random bits, so the hash's cost can stay low.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from batchport.database import Database
from batchport.errors import AccountExists, AccountNotFound, ConfigurationError
from batchport.history import now
from batchport.schema import accounts
from batchport.vocabulary import Role

if TYPE_CHECKING:
    from argon2 import PasswordHasher

#: Unicode categories an account name may not hold: control, format (zero-width characters,
#: bidirectional controls, the byte-order mark), line and paragraph separators.
HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


@functools.cache
def _hidden_ranges() -> str:
    """The characters of `HIDDEN`, as the inside of a regular expression's class."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x110000):
        if unicodedata.category(chr(code)) in HIDDEN:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(
        f"\\U{first:08X}" + (f"-\\U{last:08X}" if last != first else "") for first, last in ranges
    )


def name_pattern() -> str:
    """A valid account name as a regular expression (for the API's schema): no character of
    `HIDDEN`, and something besides spaces."""
    hidden = _hidden_ranges()
    return f"^[^{hidden}]*[^\\s{hidden}][^{hidden}]*$"


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


def create_account(
    conn: sa.Connection,
    name: str,
    role: str,
    *,
    created_by: str | None,
    expires_in: dt.timedelta | None = None,
) -> str:
    """Creates the account in the caller's transaction; returns its API token (the only
    time it is seen), valid for `expires_in` (None: until rotated or disabled)."""
    name = checked_name(name)
    if role not in {str(r) for r in Role}:
        raise ConfigurationError(f"role must be one of {', '.join(Role)}, not {role!r}")
    token_id, secret = _new_secret()
    try:
        with conn.begin_nested():
            conn.execute(
                accounts.insert().values(
                    name=name,
                    role=role,
                    token_id=token_id,
                    token_hash=_hasher().hash(secret),
                    token_expires_at=_expiry(expires_in),
                    created_at=now(),
                    created_by=created_by,
                )
            )
    except sa.exc.IntegrityError as exc:
        raise AccountExists(f"an account named {name!r} exists already") from exc
    return _token(token_id, secret)


def checked_name(name: str) -> str:
    """The name, trimmed, if it can name an account: 1 to 100 characters, none of them one
    that shows nothing or turns text around (zero-width, bidirectional controls, other
    control or format characters), so that no two names look alike."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigurationError("an account name has 1 to 100 characters")
    hidden = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in HIDDEN})
    if hidden:
        raise ConfigurationError(
            f"an account name may not hold invisible or direction characters ({', '.join(hidden)})"
        )
    return name


def parse_duration(text: str) -> dt.timedelta:
    """`30d`, `12h` or `90m` as a time span."""
    found = re.fullmatch(r"([1-9][0-9]{0,5})([dhm])", text.strip())
    if found is None:
        raise ConfigurationError(f"a duration reads like 30d, 12h or 90m, not {text!r}")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[found[2]]
    return dt.timedelta(**{unit: int(found[1])})


def rotate(conn: sa.Connection, name: str, *, expires_in: dt.timedelta | None = None) -> str:
    """Gives the account a new token (returned, the only time it is seen); the old one stops
    working at once."""
    token_id, secret = _new_secret()
    _change(
        conn,
        name,
        token_id=token_id,
        token_hash=_hasher().hash(secret),
        token_expires_at=_expiry(expires_in),
    )
    return _token(token_id, secret)


def set_disabled(conn: sa.Connection, name: str, disabled: bool) -> None:
    """Disables the account (its token is refused from now on) or enables it again."""
    _change(conn, name, disabled_at=now() if disabled else None)


def _change(conn: sa.Connection, name: str, **values: object) -> None:
    changed = conn.execute(accounts.update().where(accounts.c.name == name).values(**values))
    if not changed.rowcount:
        raise AccountNotFound(f"no account is named {name!r}")


def authenticate(db: Database, token: str) -> Account | None:
    """The account the token belongs to, or None if it is no valid token (unknown, wrong,
    expired, or its account disabled). The check costs the same whether the token's id
    exists or not, so its time tells a caller nothing."""
    token_id, secret = split_token(token)
    row = None
    if token_id:
        with db.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.token_id == token_id)).first()
    valid = _verify(row.token_hash if row is not None else _decoy(), secret or "-")
    if row is None or not valid or row.disabled_at is not None or _expired(row):
        return None
    return Account(row.name, row.role)


def split_token(token: str) -> tuple[str | None, str | None]:
    """A token's id and secret (None, None if it does not read `bp_<id>_<secret>`)."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "bp" or not token_id or not secret:
        return None, None
    return token_id, secret


def list_accounts(conn: sa.Connection) -> list[dict[str, object]]:
    """Every account: name, role, when and by whom it was made, whether it is disabled and
    when its token expires (never a token)."""
    rows = conn.execute(
        sa.select(
            accounts.c.name,
            accounts.c.role,
            accounts.c.created_at,
            accounts.c.created_by,
            accounts.c.disabled_at,
            accounts.c.token_expires_at,
        ).order_by(accounts.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def _new_secret() -> tuple[str, str]:
    return secrets.token_hex(8), secrets.token_urlsafe(32)


def _token(token_id: str, secret: str) -> str:
    return f"bp_{token_id}_{secret}"


def _expiry(expires_in: dt.timedelta | None) -> dt.datetime | None:
    return now() + expires_in if expires_in is not None else None


def _expired(row: sa.Row[Any]) -> bool:
    expires = row.token_expires_at
    if expires is None:
        return False
    if expires.tzinfo is None:  # SQLite keeps no offset: its times are UTC
        expires = expires.replace(tzinfo=dt.UTC)
    return bool(expires <= now())


def _verify(token_hash: str, secret: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError  # noqa: PLC0415

    try:
        return bool(_hasher().verify(token_hash, secret))
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _decoy() -> str:
    """A hash no secret matches, checked when a token's id is unknown (as long as a real one)."""
    return _hasher().hash(secrets.token_urlsafe(32))
