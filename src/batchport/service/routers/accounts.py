"""Accounts of the service and the audit log (admin only)."""

from fastapi import APIRouter

from batchport import commands
from batchport.reports import json_values
from batchport.service import models
from batchport.service.dependencies import Who
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
        who.db, body.name, body.role, actor=who.name, remote=who.remote, via=Via.api
    )
    return {"name": body.name.strip(), "role": body.role, "token": token}


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
