"""The REST API: a thin FastAPI layer over the use cases, with accounts, roles and an audit
row for everything that changes something or is refused.

Roles: `admin` may do everything, accounts included; `importer` uploads, commits and rolls
back its own sessions and batches and reads everything but others' sessions and the audit
log; `viewer` reads jobs and batches only. Errors are `{"error": {"code", "message",
"details"}}` with the status their kind calls for; a request never gets a 500 for bad input.

(No `from __future__ import annotations` here: FastAPI reads the handlers' annotations, some
of them local to the app factory, at run time.)
"""

import datetime as dt
import logging
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from batchport import audit, commands
from batchport.accounts import Account
from batchport.database import Database
from batchport.errors import (
    AccountExists,
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
from batchport.service import sessions
from batchport.sources import Limits, open_source
from batchport.vocabulary import OnExisting, Role

LOG = logging.getLogger("batchport.service")
#: Upload limits: the file's bytes and its data rows.
MAX_UPLOAD_BYTES = 50 << 20
MAX_UPLOAD_ROWS = 1_000_000
#: The form fields an upload may have.
UPLOAD_FIELDS = frozenset({"import_type", "file", "on_existing"})
#: How often an idle worker looks for waiting sessions (seconds).
POLL_SECONDS = 0.2

#: Declares the API token in the OpenAPI schema; `caller` answers a missing one with 401.
BEARER = HTTPBearer(auto_error=False, description="An API token from `batchport accounts create`.")

STATUS = {
    ConfigurationError: 400,
    SourceError: 400,
    BatchNotFound: 404,
    SessionNotFound: 404,
    SessionConflict: 409,
    RollbackRefused: 409,
    JobMoved: 409,
    AccountExists: 409,
}


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


class Problem(Exception):
    """An HTTP error with a stable code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


#: Text without NUL characters (no database stores one); the middleware refuses them in
#: paths and queries too.
NO_NUL = r"^[^\x00]*$"


#: A path's id: any text but a NUL character.
Key = Annotated[str, PathParam(pattern=NO_NUL)]


class Strict(BaseModel):
    """Request bodies: unknown fields (server-owned ones included) are refused."""

    model_config = ConfigDict(extra="forbid")


class RollbackRequest(Strict):
    reason: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)
    force_edited: bool = False


#: Text with something in it besides spaces (a name is trimmed), and no NUL character.
NAMED = r"^[^\x00]*[^\s\x00][^\x00]*$"


class AccountRequest(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=NAMED)
    role: Role


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422)
}


def create_app(db: Database, *, worker: bool = True, limits: Limits | None = None) -> FastAPI:
    """The API over `db`; with `worker`, a background thread validates and imports."""
    read_limits = limits or Limits(max_rows=MAX_UPLOAD_ROWS)
    TypeName = Enum("TypeName", {n: n for n in db.catalog}, type=str)  # type: ignore[misc]  # noqa: N806

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db.ensure_ready()
        stop = threading.Event()
        thread = threading.Thread(target=_work, args=(db, read_limits, stop), daemon=True)
        if worker:
            thread.start()
        yield
        stop.set()
        if worker:
            thread.join(timeout=30)

    app = FastAPI(
        title="batchport",
        version="1",
        description="Import spreadsheets so that every import can be taken back exactly.",
        lifespan=lifespan,
        responses=ERRORS,
    )

    @app.middleware("http")
    async def no_nul(request: Request, call_next: Any) -> Any:
        """Refuses a path or query holding a NUL character (400): no database stores one."""
        if "\x00" in request.url.path or "\x00" in unquote(request.url.query):
            return _error(400, "invalid_request", "the request holds a NUL character")
        return await call_next(request)

    @app.exception_handler(Problem)
    async def problem(_request: Request, exc: Problem) -> JSONResponse:
        answer = _error(exc.status, exc.code, str(exc), exc.details)
        if exc.status == 401:
            answer.headers["WWW-Authenticate"] = "Bearer"
        return answer

    @app.exception_handler(BatchportError)
    async def refused(_request: Request, exc: BatchportError) -> JSONResponse:
        status = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), 400)
        return _error(status, type(exc).__name__, str(exc), _blockers(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return _error(422, "invalid_request", "the request is not valid", details)

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        answer = _error(exc.status_code, "http_error", str(exc.detail))
        answer.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method the path has, not just one route's
            answer.headers["Allow"] = ", ".join(sorted(_methods(request)))
        return answer

    def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> Account:
        token = credentials.credentials if credentials else ""
        account = commands.authenticate(db, token.strip()) if token else None
        if account is None:
            audit.record(
                db, actor=None, action="authenticate", outcome="denied", remote=_remote(request)
            )
            raise Problem(
                401, "unauthenticated", "send a valid API token as `Authorization: Bearer`"
            )
        return account

    Caller = Annotated[Account, Depends(caller)]  # noqa: N806 - a type alias

    def deny(request: Request, account: Account, action: str, why: str) -> Problem:
        audit.record(
            db,
            actor=account.name,
            action=action,
            outcome="denied",
            remote=_remote(request),
            detail=why,
        )
        return Problem(403, "forbidden", why)

    def importer(request: Request, account: Account, action: str) -> None:
        if not account.can_import:
            raise deny(request, account, action, f"role {account.role} may not {action}")

    def own_session(
        request: Request, account: Account, session_id: str, action: str
    ) -> dict[str, Any]:
        found = sessions.get(db, session_id)
        if not account.is_admin and found["owner"] != account.name:
            raise deny(request, account, action, f"session {session_id} belongs to another account")
        return found

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Whether the service runs (no token needed)."""
        return {"status": "ok"}

    async def only_upload_fields(request: Request) -> None:
        """Refuses an upload whose body is over the limit (before reading it, when it says its
        length), form fields the upload does not declare (owner, status, batch id...),
        repeated fields and empty ones."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_UPLOAD_BYTES + (1 << 16):
            raise Problem(
                413, "too_large", f"the upload is over the limit of {MAX_UPLOAD_BYTES:,} bytes"
            )
        form = await request.form()
        repeated = sorted({k for k in form if len(form.getlist(k)) > 1})
        if repeated:
            raise Problem(422, "invalid_request", "repeated form fields", repeated)
        unknown = sorted(set(form.keys()) - UPLOAD_FIELDS)
        if unknown:
            raise Problem(422, "invalid_request", "unknown form fields", unknown)
        empty = sorted(key for key, value in form.multi_items() if value == "")
        if empty:  # FastAPI would read an empty field as absent, and take its default
            raise Problem(422, "invalid_request", "empty form fields", empty)

    @app.post(
        "/sessions",
        status_code=201,
        tags=["sessions"],
        dependencies=[Depends(only_upload_fields)],
    )
    def upload(
        request: Request,
        account: Caller,
        import_type: Annotated[TypeName, Form()],
        file: Annotated[UploadFile, File()],
        on_existing: Annotated[OnExisting, Form()] = OnExisting.error,
    ) -> dict[str, Any]:
        """Uploads a file for an import type; it is validated in the background."""
        importer(request, account, "upload")
        content = _read_upload(file)
        rows = _count_rows(content, sessions.safe_name(file.filename or ""), read_limits)
        created = sessions.create(
            db,
            owner=account.name,
            import_type=import_type.value,
            file_name=file.filename or "upload.csv",
            content=content,
            on_existing=on_existing,
            rows_total=rows,
        )
        audit.record(
            db,
            actor=account.name,
            action="upload",
            outcome="ok",
            remote=_remote(request),
            file_sha256=created["file_sha256"],
            detail=f"session {created['id']}",
        )
        return _jsonable(created)

    @app.get("/sessions/{session_id}", tags=["sessions"])
    def session(request: Request, account: Caller, session_id: Key) -> dict[str, Any]:
        """A session's status, progress and counts."""
        return _jsonable(own_session(request, account, session_id, "read session"))

    @app.get("/sessions/{session_id}/errors", tags=["sessions"])
    def session_errors(
        request: Request,
        account: Caller,
        session_id: Key,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """A page of the validation errors."""
        own_session(request, account, session_id, "read session")
        found = sessions.errors(db, session_id)
        page = found[offset : offset + limit]
        return {
            "total": len(found),
            "offset": offset,
            "limit": limit,
            "errors": [sessions.error_json(e) for e in page],
        }

    @app.get("/sessions/{session_id}/errors.csv", tags=["sessions"], response_class=FileResponse)
    def session_errors_csv(request: Request, account: Caller, session_id: Key) -> FileResponse:
        """Every error with its row's cells, as a spreadsheet-safe CSV."""
        own_session(request, account, session_id, "read session")
        found = sessions.errors(db, session_id)
        folder = tempfile.mkdtemp(prefix="batchport-errors-")
        out = Path(folder) / "errors.csv"
        with sessions.file_of(db, session_id) as path:
            commands.export_errors(found, path, out, limits=read_limits)
        return FileResponse(
            out,
            media_type="text/csv",
            filename="errors.csv",
            background=BackgroundTask(_remove, out),
        )

    @app.post("/sessions/{session_id}/commit", status_code=202, tags=["sessions"])
    def commit(request: Request, account: Caller, session_id: Key) -> dict[str, Any]:
        """Queues the import of a valid session; committing twice gives the same job."""
        found = own_session(request, account, session_id, "commit")
        importer(request, account, "commit")
        try:
            queued = sessions.commit(db, session_id)
        except BatchportError as exc:
            audit.record(
                db,
                actor=account.name,
                action="commit",
                outcome="refused",
                remote=_remote(request),
                file_sha256=found["file_sha256"],
                detail=str(exc),
            )
            raise
        audit.record(
            db,
            actor=account.name,
            action="commit",
            outcome="ok",
            remote=_remote(request),
            file_sha256=found["file_sha256"],
            detail=f"job {queued['job_id']}",
        )
        return _jsonable(queued)

    @app.get("/jobs", tags=["history"])
    def jobs(
        account: Caller,
        import_type: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
        status: Annotated[str | None, Query(max_length=20, pattern=NO_NUL)] = None,
        imported_by: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
        since: IsoTime = None,
        until: IsoTime = None,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Import jobs, newest first, filtered and paginated."""
        found = commands.list_history(
            db,
            import_type=import_type,
            status=status,
            imported_by=imported_by,
            since=since,
            until=until,
            offset=offset,
            limit=limit,
        )
        return {"offset": offset, "limit": limit, "jobs": [job.to_json() for job in found]}

    @app.get("/jobs/{job_id}", tags=["history"])
    def job(account: Caller, job_id: Key) -> dict[str, Any]:
        """One job (by job id or batch id)."""
        return commands.get_batch(db, job_id).job.to_json()

    @app.get("/batches/{batch_id}", tags=["history"])
    def batch(
        account: Caller,
        batch_id: Key,
        table: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """A batch with its rows per table; with `table`, a page of that table's records."""
        report = commands.get_batch(db, batch_id)
        body = report.to_json()
        if table is not None:
            records = commands.batch_records(db, batch_id, table, offset=offset, limit=limit)
            body["records"] = [_jsonable(r) for r in records]
        return body

    @app.get("/batches/{batch_id}/rollback", tags=["rollback"])
    def preview(account: Caller, batch_id: Key, force_edited: bool = False) -> dict[str, Any]:
        """What a rollback would delete and restore, and what blocks it; changes nothing."""
        return commands.preview_rollback(db, batch_id, force_edited=force_edited).to_json()

    @app.post("/batches/{batch_id}/rollback", tags=["rollback"])
    def rollback(
        request: Request, account: Caller, batch_id: Key, body: RollbackRequest
    ) -> dict[str, Any]:
        """Rolls the batch back, with the CLI's rules and states."""
        importer(request, account, "rollback")
        target = commands.get_batch(db, batch_id).job
        if not account.is_admin and target.imported_by != account.name:
            raise deny(
                request,
                account,
                "rollback",
                f"batch {target.batch_id} was imported by another account",
            )
        report = commands.rollback_batch(
            db,
            batch_id,
            actor=account.name,
            reason=body.reason,
            force_edited=body.force_edited,
            remote=_remote(request),
        )
        return report.to_json()

    @app.get("/accounts", tags=["accounts"])
    def account_list(request: Request, account: Caller) -> list[dict[str, Any]]:
        """Every account (admin only)."""
        if not account.is_admin:
            raise deny(request, account, "list accounts", "only an admin may list accounts")
        return [_jsonable(a) for a in commands.list_accounts(db)]

    @app.post("/accounts", status_code=201, tags=["accounts"])
    def account_create(request: Request, account: Caller, body: AccountRequest) -> dict[str, Any]:
        """Creates an account; its token is in this response only (admin only)."""
        if not account.is_admin:
            raise deny(request, account, "create account", "only an admin may create accounts")
        token = commands.create_account(
            db, body.name, body.role, actor=account.name, remote=_remote(request)
        )
        return {"name": body.name.strip(), "role": body.role, "token": token}

    @app.get("/audit", tags=["accounts"])
    def audit_entries(
        request: Request,
        account: Caller,
        actor: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
        action: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The audit log, newest first (admin only)."""
        if not account.is_admin:
            raise deny(request, account, "read audit", "only an admin may read the audit log")
        found = commands.audit_log(db, actor=actor, action=action, offset=offset, limit=limit)
        return {"offset": offset, "limit": limit, "entries": [_jsonable(e) for e in found]}

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated schema, saying also that an upload takes no other form fields."""
        schema = generate()
        body = schema["components"]["schemas"].get("Body_upload_sessions_post", {})
        body["additionalProperties"] = False
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _work(db: Database, limits: Limits, stop: threading.Event) -> None:
    """The background worker: validates and imports waiting sessions until told to stop."""
    while not stop.is_set():
        try:
            sessions.expire(db)
            busy = sessions.work_once(db, limits)
        except Exception:  # the worker must outlive any one failure: log it, go on
            LOG.exception("the background worker failed; trying again shortly")
            busy = False
        if not busy:
            stop.wait(POLL_SECONDS)


def _read_upload(file: UploadFile) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := file.file.read(1 << 20):
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise Problem(
                413, "too_large", f"the file is over the upload limit of {MAX_UPLOAD_BYTES:,} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _count_rows(content: bytes, name: str, limits: Limits) -> int | None:
    """The file's data rows, read as a stream (so progress can be a percentage); more than
    the limit is refused with 413. A file that cannot be read is left to the validation,
    which reports every problem (None then)."""
    with tempfile.TemporaryDirectory(prefix="batchport-upload-") as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(content)
        try:
            with open_source(path, limits=limits) as source:
                return sum(len(block.numbers) for block in source.blocks(10_000))
        except SourceError as exc:
            if "data rows, the limit" in str(exc):
                raise Problem(413, "too_many_rows", str(exc)) from exc
            return None


def _methods(request: Request) -> set[str]:
    """The methods some route of the app answers at the request's path."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return methods


def _iso(value: object) -> object:
    """Only ISO 8601 text is a time here (not a number of seconds)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise ValueError("expected an ISO 8601 date-time")


IsoTime = Annotated[dt.datetime | None, BeforeValidator(_iso)]


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in value.items()}


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()
