"""Signed-in browsers: a server-side session per sign-in, found by the SHA-256 of the random
value its cookie holds (the value itself is stored nowhere), with its account, a token
against cross-site request forgery, and an expiry."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from batchport.history import now
from batchport.schema import accounts, web_sessions

#: How long a browser stays signed in.
LIFETIME = dt.timedelta(hours=8)


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: whose, and the token its forms must send back."""

    account: str
    role: str
    csrf: str

    def forged(self, sent: str | None) -> bool:
        """Whether a form's token is not this session's."""
        return not hmac.compare_digest(self.csrf, sent or "")


def open_session(conn: sa.Connection, account: str) -> str:
    """Starts a session for `account`; returns the cookie's value (the only time it is seen)."""
    cookie = secrets.token_urlsafe(32)
    stamp = now()
    conn.execute(
        web_sessions.insert().values(
            id_sha256=_digest(cookie),
            account=account,
            csrf=secrets.token_urlsafe(32),
            created_at=stamp,
            expires_at=stamp + LIFETIME,
        )
    )
    return cookie


def find(conn: sa.Connection, cookie: str) -> WebSession | None:
    """The live session the cookie belongs to, if its account is still enabled."""
    row = conn.execute(
        sa.select(web_sessions.c.account, web_sessions.c.csrf, accounts.c.role)
        .join(accounts, accounts.c.name == web_sessions.c.account)
        .where(
            web_sessions.c.id_sha256 == _digest(cookie),
            web_sessions.c.expires_at > now(),
            accounts.c.disabled_at.is_(None),
        )
    ).first()
    return WebSession(row.account, row.role, row.csrf) if row is not None else None


def close(conn: sa.Connection, cookie: str) -> None:
    """Ends the cookie's session (and every expired one)."""
    conn.execute(
        web_sessions.delete().where(
            (web_sessions.c.id_sha256 == _digest(cookie)) | (web_sessions.c.expires_at <= now())
        )
    )


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()
