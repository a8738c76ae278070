"""The admin pages: the accounts (create one, its token shown once; rotate a token; disable or
enable an account) and the audit log, filtered by who and what."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from batchport import commands
from batchport.accounts import parse_duration
from batchport.errors import BatchportError
from batchport.service import models
from batchport.service.web.render import page, said
from batchport.service.web.signin import Visiting, Visitor, form_of
from batchport.vocabulary import Role, Via

router = APIRouter(prefix="/ui/admin", include_in_schema=False)

#: Audit rows per page.
PAGE = 100


@router.get("/accounts")
def accounts(request: Request, who: Visiting) -> Response:
    who.caller.must_be_admin("list accounts", "only an admin may list accounts")
    return _accounts(request, who)


def _accounts(request: Request, who: Visitor, status: int = 200, **shown: object) -> Response:
    return page(
        request,
        "accounts.html",
        status=status,
        accounts=commands.list_accounts(who.caller.db),
        roles=list(Role),
        **shown,
    )


@router.post("/accounts")
async def create(request: Request, who: Visiting) -> Response:
    """Creates an account and shows its token, this once."""
    form = await form_of(request, who.session)
    fields = {k: str(v).strip() for k, v in form.items() if k != "csrf" and str(v).strip()}
    return await run_in_threadpool(_create, request, who, fields)


def _create(request: Request, who: Visitor, fields: dict[str, str]) -> Response:
    caller = who.caller
    caller.must_be_admin("create account", "only an admin may create accounts")
    try:
        wanted = models.AccountRequest.model_validate(fields)
        token = commands.create_account(
            caller.db,
            wanted.name,
            wanted.role,
            actor=caller.name,
            remote=caller.remote,
            via=Via.api,
            expires_in=parse_duration(wanted.expires_in) if wanted.expires_in else None,
        )
    except (ValidationError, BatchportError) as exc:
        return _accounts(request, who, status=422, problem=said(exc))
    return _accounts(request, who, token=token, token_of=wanted.name.strip())


@router.post("/accounts/{name}/{change}")
async def change(request: Request, who: Visiting, name: models.Key, change: str) -> Response:
    """Rotates an account's token (shown once), or disables or enables the account."""
    await form_of(request, who.session)
    return await run_in_threadpool(_change, request, who, name, change)


def _change(request: Request, who: Visitor, name: str, change: str) -> Response:
    caller = who.caller
    action = {"rotate": "rotate token", "disable": "disable account", "enable": "enable account"}
    if change not in action:
        return page(request, "error.html", status=404, status_code=404, message="no such change")
    caller.must_be_admin(action[change], f"only an admin may {action[change]}")
    if change == "rotate":
        token = commands.rotate_token(
            caller.db, name, actor=caller.name, remote=caller.remote, via=Via.api
        )
        return _accounts(request, who, token=token, token_of=name)
    commands.set_account_disabled(
        caller.db, name, change == "disable", actor=caller.name, remote=caller.remote, via=Via.api
    )
    return RedirectResponse("/ui/admin/accounts", status_code=303)


@router.get("/audit")
def audit(request: Request, who: Visiting) -> Response:
    """The audit log, newest first, filtered by who and what."""
    who.caller.must_be_admin("read audit", "only an admin may read the audit log")
    given = {k: v for k, v in request.query_params.items() if v.strip()}
    query = models.AuditQuery.model_validate({**given, "limit": PAGE})
    entries = commands.audit_log(who.caller.db, query.where(), offset=query.offset, limit=PAGE)
    return page(request, "audit.html", entries=entries, query=query, limit=PAGE)
