"""How the API answers what it will not do: `{"error": {"code", "message", "details"}}` with
the status the error's kind calls for. A request never gets a 500 for bad input.

Every code is snake_case: a BatchportError's is its class name (`errors.code_of`:
`FileRejected` is `file_rejected`), the CLI's `--json` says the same; the service's own are
`CODES` below; an HTTP error no route raised (an unknown path, a method the path has not)
gets `HTTP_CODES`' code for its status.
"""

from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from batchport.errors import (
    AccountExists,
    AccountNotFound,
    BatchNotFound,
    BatchportError,
    ConfigurationError,
    JobMoved,
    RequestNotFound,
    RollbackRefused,
    SessionConflict,
    SessionNotFound,
    SourceError,
    code_of,
)
from batchport.reports import error_details
from batchport.service import headers
from batchport.service.models import ErrorResponse

#: The status of each kind of refusal (any other BatchportError: 400).
STATUS = {
    ConfigurationError: 400,
    SourceError: 400,
    BatchNotFound: 404,
    AccountNotFound: 404,
    SessionNotFound: 404,
    RequestNotFound: 404,
    SessionConflict: 409,
    RollbackRefused: 409,
    JobMoved: 409,
    AccountExists: 409,
}

#: The codes of the service's own refusals (`Problem`), besides those of BatchportErrors.
CODES = frozenset(
    {
        "invalid_request",  # 400/422: a malformed request, a field missing, unknown or wrong
        "unauthenticated",  # 401: no valid API token
        "forbidden",  # 403: the caller's role or ownership does not allow it
        "not_found",  # 404: no such path
        "method_not_allowed",  # 405: the path does not take this method
        "too_large",  # 413: the upload is over the byte limit
        "too_many_rows",  # 413: the file is over the row limit (TooManyRows)
        "too_many_requests",  # 429: too many failures; Retry-After says when to try again
        "internal_error",  # 500: a bug; the message says no more than that
    }
)

#: The code of an HTTP error no route raised, by status (any other: its phrase in snake_case).
HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid_request",
}

#: The error statuses every route may answer, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422, 429, 500)
}


class Problem(Exception):
    """An HTTP error with a stable code (and headers to send with it)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details
        self.headers = headers or {}


#: Renders an error as a page, for the web UI's paths: (request, status, message) -> response.
ErrorPage = Callable[[Request, int, str], Response]


def install(app: FastAPI, *, pages: tuple[str, ErrorPage] | None = None) -> None:
    """Makes `app` answer every refusal in the error shape; with `pages` (a path prefix and
    a renderer), requests under that prefix get their errors as a page instead."""
    app.state.error_pages = pages
    app.middleware("http")(_no_nul)
    app.exception_handler(Problem)(_problem)
    app.exception_handler(BatchportError)(_refused)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(HTTPException)(_http)
    app.exception_handler(Exception)(_internal)


async def _no_nul(request: Request, call_next: Any) -> Any:
    """Refuses a path or query holding a NUL character (400): no database stores one."""
    if "\x00" in request.url.path or "\x00" in unquote(request.url.query):
        return error(400, "invalid_request", "the request holds a NUL character")
    return await call_next(request)


def _answer(
    request: Request, status: int, code: str, message: str, details: Any = None
) -> Response:
    pages: tuple[str, ErrorPage] | None = request.app.state.error_pages
    if pages is not None and request.url.path.startswith(pages[0]):
        return pages[1](request, status, message)
    return error(status, code, message, details)


async def _problem(request: Request, exc: Problem) -> Response:
    answer = _answer(request, exc.status, exc.code, str(exc), exc.details)
    answer.headers.update(exc.headers)
    if exc.status == 401:
        answer.headers["WWW-Authenticate"] = "Bearer"
    return answer


async def _refused(request: Request, exc: BatchportError) -> Response:
    status = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), 400)
    return _answer(request, status, code_of(exc), str(exc), error_details(exc))


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return _answer(request, 422, "invalid_request", "the request is not valid", details)


async def _http(request: Request, exc: HTTPException) -> Response:
    answer = _answer(request, exc.status_code, http_code(exc.status_code), str(exc.detail))
    answer.headers.update(exc.headers or {})
    if exc.status_code == 405:  # every method the path has, not just one route's
        answer.headers["Allow"] = ", ".join(sorted(_methods(request)))
    return answer


async def _internal(request: Request, _exc: Exception) -> Response:
    """A bug: the error shape, never the exception's text (the server logs its traceback:
    Starlette raises it again once this answer is sent, past the headers' middleware)."""
    answer = _answer(request, 500, "internal_error", "internal error")
    answer.headers.update(headers.of(request.url.path))
    return answer


def http_code(status: int) -> str:
    """The code of an HTTP error of `status`."""
    if status in HTTP_CODES:
        return HTTP_CODES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "http_error"
    return "".join(c if c.isalnum() else "_" for c in phrase.lower())


def _methods(request: Request) -> set[str]:
    """The methods some route of the app answers at the request's path."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return methods


def error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """An error answer."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )
