"""The browser session: an API token exchanged for a server-side session held by an
HttpOnly, SameSite=Strict cookie (`Secure` over HTTPS); every form that changes something
sends the session's token against cross-site request forgery, checked before anything is
done."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from batchport import commands
from batchport.accounts import Account
from batchport.service.dependencies import Caller, Config, refused, remote, throttled
from batchport.service.problems import Problem
from batchport.service.uploads import limited
from batchport.service.web.render import page
from batchport.web_sessions import LIFETIME, WebSession

COOKIE = "bp_session"
#: Bytes a page's form may have.
FORM_BYTES = 1 << 16

router = APIRouter(prefix="/ui", include_in_schema=False)


class SignInNeeded(Exception):
    """The browser is not signed in: it is sent to the sign-in page."""


@dataclass(frozen=True)
class Visitor:
    """A signed-in browser: its caller (with the API's rules) and its session."""

    caller: Caller
    session: WebSession


def visitor(request: Request, config: Config) -> Visitor:
    """The signed-in browser, or a redirect to the sign-in page."""
    cookie = request.cookies.get(COOKIE, "")
    found = commands.signed_in(config.db, cookie) if cookie else None
    if found is None:
        raise SignInNeeded
    request.state.signed = found
    caller = Caller(Account(found.account, found.role), config.db, remote(request))
    return Visitor(caller, found)


Visiting = Annotated[Visitor, Depends(visitor)]


async def form_of(request: Request, session: WebSession | None = None) -> FormData:
    """The page's form (at most `FORM_BYTES`); with `session`, only if it carries the
    session's token against request forgery (403 otherwise, audited)."""
    bounded = Request(request.scope, receive=limited(request.receive, FORM_BYTES))
    form = await bounded.form(max_files=0, max_fields=20)
    if session is not None:
        sent = form.get("csrf")
        if session.forged(sent if isinstance(sent, str) else None):
            raise Problem(403, "forbidden", "the form is not this session's (request forgery?)")
    return form


@router.get("/signin")
def signin_page(request: Request) -> Response:
    return page(request, "signin.html")


@router.post("/signin")
async def signin(request: Request, config: Config) -> Response:
    """Exchanges an API token for a browser session."""
    address = remote(request)
    keys = [f"address:{address}"]
    throttled(config.throttle, keys)
    form = await form_of(request)
    token = form.get("token")
    cookie = await run_in_threadpool(
        commands.sign_in, config.db, token if isinstance(token, str) else "", remote=address
    )
    if cookie is None:
        await run_in_threadpool(refused, config, request, keys, "sign in", "no valid API token")
        return page(request, "signin.html", status=401, failed=True)
    answer = RedirectResponse("/ui/", status_code=303)
    answer.set_cookie(
        COOKIE,
        cookie,
        max_age=int(LIFETIME.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/signout")
async def signout(request: Request, config: Config, who: Visiting) -> Response:
    await form_of(request, who.session)
    await run_in_threadpool(commands.sign_out, config.db, request.cookies.get(COOKIE, ""))
    answer = RedirectResponse("/ui/signin", status_code=303)
    answer.delete_cookie(COOKIE, path="/ui")
    return answer
