"""What the routes depend on: the database, the limits, and the caller with the rules of what
each role may do (a refusal is audited, through the use cases, before it is answered).

Roles: `admin` may do everything, accounts included; `importer` uploads, commits and rolls
back its own sessions and batches and reads everything but others' sessions and the audit
log; `viewer` reads jobs and batches only.
"""

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from batchport import commands
from batchport.accounts import Account, split_token
from batchport.database import Database
from batchport.reports import Job
from batchport.rollback.requests import Request as RollbackJob
from batchport.service.problems import Problem
from batchport.service.throttle import Throttle
from batchport.sessions import Session
from batchport.sources import Limits
from batchport.vocabulary import Via

#: Upload limits by default: the file's bytes and its data rows.
MAX_UPLOAD_BYTES = 50 << 20
MAX_UPLOAD_ROWS = 1_000_000

#: Declares the API token in the OpenAPI schema; `caller` answers a missing one with 401.
BEARER = HTTPBearer(auto_error=False, description="An API token from `batchport accounts create`.")


@dataclass(frozen=True)
class Settings:
    """What an app serves: its database, its limits on uploads, the throttle of failed
    authentications and refused uploads, and the signal that wakes its worker (set when a
    session is uploaded or committed, so that its step starts at once)."""

    db: Database
    read_limits: Limits
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    throttle: Throttle = field(default_factory=Throttle)
    wake: threading.Event = field(default_factory=threading.Event)


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


Config = Annotated[Settings, Depends(settings)]


def database(config: Config) -> Database:
    return config.db


Db = Annotated[Database, Depends(database)]


def remote(request: Request) -> str | None:
    """The caller's address, as the connection says."""
    return request.client.host if request.client else None


@dataclass(frozen=True)
class Caller:
    """An authenticated caller, and what it may do."""

    account: Account
    db: Database
    remote: str | None

    @property
    def name(self) -> str:
        return self.account.name

    def deny(self, action: str, why: str) -> Problem:
        """Audits the refusal of `action`; the 403 to raise."""
        commands.record_denial(self.db, actor=self.name, action=action, why=why, remote=self.remote)
        return Problem(403, "forbidden", why)

    def must_import(self, action: str) -> None:
        if not self.account.can_import:
            raise self.deny(action, f"role {self.account.role} may not {action}")

    def must_be_admin(self, action: str, why: str) -> None:
        if not self.account.is_admin:
            raise self.deny(action, why)

    def own_session(self, session_id: str, action: str) -> Session:
        """The session, if the caller owns it (or is an admin)."""
        found = commands.get_session(self.db, session_id)
        if not self.account.is_admin and found.owner != self.name:
            raise self.deny(action, f"session {session_id} belongs to another account")
        return found

    def own_rollback(self, request_id: str, action: str) -> RollbackJob:
        """The rollback job, if the caller asked for it (or is an admin)."""
        found = commands.get_rollback_request(self.db, request_id)
        if not self.account.is_admin and found.owner != self.name:
            raise self.deny(action, f"rollback {request_id} belongs to another account")
        return found

    def owns(self, job: Job) -> bool:
        """Whether the caller may act on the job's batch: an admin, or the account that
        imported it through the API (an operating-system user of the same name who imported
        from the CLI is someone else)."""
        mine = job.imported_by == self.name and job.imported_via == Via.api
        return self.account.is_admin or mine

    def own_batch(self, job: Job, action: str) -> None:
        if not self.owns(job):
            raise self.deny(action, f"batch {job.batch_id} was imported by another account")


def caller(
    request: Request,
    config: Config,
    address: Annotated[str | None, Depends(remote)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Caller:
    """The caller its token names; 401 without a valid one (audited, as often as the throttle
    lets it), 429 once its address or its token id has failed too often."""
    token = credentials.credentials.strip() if credentials else ""
    token_id, _ = split_token(token)
    keys = [f"address:{address}", *([f"token:{token_id}"] if token_id else [])]
    throttled(config.throttle, keys)
    account = commands.authenticate(config.db, token)
    if account is None:
        refused(config, request, keys, "authenticate", "no valid API token", outcome="denied")
        raise Problem(401, "unauthenticated", "send a valid API token as `Authorization: Bearer`")
    return Caller(account, config.db, address)


def throttled(throttle: Throttle, keys: list[str]) -> None:
    """429 if any of `keys` has failed too often."""
    wait = throttle.retry_after(*keys)
    if wait is not None:
        raise Problem(
            429,
            "too_many_requests",
            f"too many failed requests; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def refused(
    config: Settings,
    request: Request,
    keys: list[str],
    action: str,
    why: str,
    *,
    outcome: str = "refused",
    actor: str | None = None,
) -> None:
    """Counts a failed request against `keys` and audits it (method, path, why) while they
    are within the throttle's limit; the one that reaches it says so."""
    failures = config.throttle.failed(*keys)
    if failures > config.throttle.limit:
        return
    if failures == config.throttle.limit:
        why += f"; further failures are refused for {config.throttle.window:.0f} s"
    commands.record_denial(
        config.db,
        actor=actor,
        action=action,
        why=f"{request.method} {request.url.path}: {why}",
        remote=remote(request),
        outcome=outcome,
    )


Who = Annotated[Caller, Depends(caller)]
