"""The use cases of the web UI's sign-in: an API token exchanged for a browser session, the
session a cookie names, and signing out. Signing in is audited like any authentication."""

from __future__ import annotations

from batchport import accounts, audit, web_sessions
from batchport.commands.support import ready
from batchport.database import Database
from batchport.vocabulary import Via
from batchport.web_sessions import WebSession


def sign_in(db: Database, token: str, *, remote: str | None = None) -> str | None:
    """A new browser session's cookie value for the token's account; None if the token is no
    valid one (the caller audits the failure, as its throttle allows)."""
    ready(db)
    account = accounts.authenticate(db, token.strip()) if token.strip() else None
    if account is None:
        return None
    with db.connect() as conn, conn.begin():
        cookie = web_sessions.open_session(conn, account.name)
        audit.write(
            conn, actor=account.name, via=Via.api, action="sign in", outcome="ok", remote=remote
        )
    return cookie


def signed_in(db: Database, cookie: str) -> WebSession | None:
    """The browser session a cookie names, if it is live and its account enabled."""
    with db.connect() as conn:
        return web_sessions.find(conn, cookie)


def sign_out(db: Database, cookie: str) -> None:
    """Ends the browser session a cookie names."""
    with db.connect() as conn, conn.begin():
        web_sessions.close(conn, cookie)
