"""How the API answers what it will not do: `{"error": {"code", "message", "details"}}` with
the status the error's kind calls for. A request never gets a 500 for bad input."""

from collections.abc import Callable
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
    RollbackBlocked,
    RollbackRefused,
    RowsEdited,
    SessionConflict,
    SessionNotFound,
    SourceError,
)
from batchport.reports import to_json
from batchport.service.models import ErrorResponse

#: The status of each kind of refusal (any other BatchportError: 400).
STATUS = {
    ConfigurationError: 400,
    SourceError: 400,
    BatchNotFound: 404,
    AccountNotFound: 404,
    SessionNotFound: 404,
    SessionConflict: 409,
    RollbackRefused: 409,
    JobMoved: 409,
    AccountExists: 409,
}

#: The error statuses every route may answer, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422, 429)
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
    return _answer(request, status, type(exc).__name__, str(exc), _blockers(exc))


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return _answer(request, 422, "invalid_request", "the request is not valid", details)


async def _http(request: Request, exc: HTTPException) -> Response:
    answer = _answer(request, exc.status_code, "http_error", str(exc.detail))
    answer.headers.update(exc.headers or {})
    if exc.status_code == 405:  # every method the path has, not just one route's
        answer.headers["Allow"] = ", ".join(sorted(_methods(request)))
    return answer


def _blockers(exc: BatchportError) -> dict[str, Any] | None:
    """What stops a refused rollback, row by row, as the preview lists it."""
    if isinstance(exc, RollbackBlocked):
        return {
            "references": [to_json(r) for r in exc.references],
            "conflicts": [to_json(c) for c in exc.conflicts],
        }
    if isinstance(exc, RowsEdited):
        return {"edited": [to_json(e) for e in exc.edited]}
    return None


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
