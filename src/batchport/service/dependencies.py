"""What the routes depend on: the database, the limits, and the caller with the rules of what
each role may do (a refusal is audited, through the use cases, before it is answered).

Roles: `admin` may do everything, accounts included; `importer` uploads, commits and rolls
back its own sessions and batches and reads everything but others' sessions and the audit
log; `viewer` reads jobs and batches only.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from batchport import commands
from batchport.accounts import Account
from batchport.database import Database
from batchport.reports import Job
from batchport.service.problems import Problem
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
    """What an app serves: its database and its limits on uploads."""

    db: Database
    read_limits: Limits
    max_upload_bytes: int = MAX_UPLOAD_BYTES


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

    def own_batch(self, job: Job, action: str) -> None:
        """Whether the caller imported the batch: its account, through the API (an operating-
        system user of the same name who imported from the CLI is someone else)."""
        mine = job.imported_by == self.name and job.imported_via == Via.api
        if not self.account.is_admin and not mine:
            raise self.deny(action, f"batch {job.batch_id} was imported by another account")


def caller(
    db: Db,
    address: Annotated[str | None, Depends(remote)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Caller:
    """The caller its token names; 401 (audited) without a valid one."""
    token = credentials.credentials if credentials else ""
    account = commands.authenticate(db, token, remote=address)
    if account is None:
        raise Problem(401, "unauthenticated", "send a valid API token as `Authorization: Bearer`")
    return Caller(account, db, address)


Who = Annotated[Caller, Depends(caller)]
