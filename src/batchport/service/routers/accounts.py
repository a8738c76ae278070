"""Accounts of the service and the audit log (admin only)."""

import datetime as dt

from fastapi import APIRouter

from batchport import commands
from batchport.accounts import parse_duration
from batchport.reports import json_values
from batchport.service import models
from batchport.service.dependencies import Caller, Who
from batchport.vocabulary import Via

router = APIRouter(tags=["accounts"])


@router.get("/accounts", response_model=list[models.Account])
def account_list(who: Who) -> list[dict[str, object]]:
    """Every account (admin only)."""
    who.must_be_admin("list accounts", "only an admin may list accounts")
    return [json_values(a) for a in commands.list_accounts(who.db)]


@router.post("/accounts", status_code=201, response_model=models.NewAccount)
def account_create(who: Who, body: models.AccountRequest) -> dict[str, object]:
    """Creates an account; its token is in this response only (admin only)."""
    who.must_be_admin("create account", "only an admin may create accounts")
    token = commands.create_account(
        who.db,
        body.name,
        body.role,
        actor=who.name,
        remote=who.remote,
        via=Via.api,
        expires_in=_duration(body.expires_in),
    )
    return {"name": body.name.strip(), "role": body.role, "token": token}


@router.post("/accounts/{name}/rotate", response_model=models.NewToken)
def account_rotate(
    who: Who, name: models.Key, body: models.RotateRequest | None = None
) -> dict[str, object]:
    """Gives the account a new token, in this response only; the old one stops working. The
    body (`expires_in`) may be left out."""
    body = body or models.RotateRequest()
    who.must_be_admin("rotate token", "only an admin may rotate tokens")
    token = commands.rotate_token(
        who.db,
        name,
        actor=who.name,
        remote=who.remote,
        via=Via.api,
        expires_in=_duration(body.expires_in),
    )
    return {"name": name, "token": token}


@router.post("/accounts/{name}/disable", status_code=204)
def account_disable(who: Who, name: models.Key) -> None:
    """Disables the account: its token is refused from now on (admin only)."""
    _set_disabled(who, name, True)


@router.post("/accounts/{name}/enable", status_code=204)
def account_enable(who: Who, name: models.Key) -> None:
    """Enables a disabled account again (admin only)."""
    _set_disabled(who, name, False)


def _set_disabled(who: Caller, name: str, disabled: bool) -> None:
    action = "disable account" if disabled else "enable account"
    who.must_be_admin(action, "only an admin may disable or enable accounts")
    commands.set_account_disabled(
        who.db, name, disabled, actor=who.name, remote=who.remote, via=Via.api
    )


def _duration(text: str | None) -> dt.timedelta | None:
    return parse_duration(text) if text else None


@router.get("/audit", response_model=models.AuditEntries)
def audit_entries(who: Who, query: models.AuditQueryParams) -> dict[str, object]:
    """The audit log, newest first (admin only)."""
    who.must_be_admin("read audit", "only an admin may read the audit log")
    found = commands.audit_log(who.db, query.where(), offset=query.offset, limit=query.limit)
    return {
        "offset": query.offset,
        "limit": query.limit,
        "entries": [json_values(e) for e in found],
    }
