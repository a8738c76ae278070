"""Import sessions: upload a file, follow its validation, read its errors, commit it."""

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from batchport import commands
from batchport.reports import to_json
from batchport.service import models
from batchport.service.dependencies import (
    Caller,
    Config,
    Settings,
    Who,
    refused,
    throttled,
)
from batchport.service.problems import Problem
from batchport.service.uploads import keep, read_upload, schema

router = APIRouter(prefix="/sessions", tags=["sessions"])


def upload_router(import_types: list[str]) -> APIRouter:
    """The upload route, its `import_type` one of `import_types` (the app's catalog)."""
    uploads = APIRouter(tags=["sessions"])

    @uploads.post(
        "/sessions",
        status_code=201,
        response_model=models.Session,
        openapi_extra={"requestBody": schema(import_types)},
    )
    async def upload(request: Request, who: Who, config: Config) -> dict[str, object]:
        """Uploads a file (multipart: `import_type`, `file`, `on_existing`) for an import
        type; it is validated in the background. The caller's token and role are checked
        before the body is read."""
        await run_in_threadpool(who.must_import, "upload")
        keys = [f"upload:{who.remote}"]
        throttled(config.throttle, keys)
        try:
            form = await read_upload(request, config.max_upload_bytes, import_types)
            created = await run_in_threadpool(keep, config, who, form)
        except Problem as exc:
            await run_in_threadpool(_refused, config, request, keys, who, exc)
            raise
        return created.to_json()

    return uploads


def _refused(
    config: Settings, request: Request, keys: list[str], who: Caller, exc: Problem
) -> None:
    refused(config, request, keys, "upload", f"{exc.status} {exc}", actor=who.name)


@router.get("/{session_id}", response_model=models.Session)
def session(who: Who, session_id: models.Key) -> dict[str, object]:
    """A session's status, progress and counts."""
    return who.own_session(session_id, "read session").to_json()


@router.get("/{session_id}/errors", response_model=models.RowErrors)
def session_errors(who: Who, session_id: models.Key, page: models.PageParams) -> dict[str, object]:
    """A page of the validation errors."""
    found = who.own_session(session_id, "read session")
    page_of = commands.session_errors(who.db, session_id, offset=page.offset, limit=page.limit)
    return {
        "total": found.error_count,
        "offset": page.offset,
        "limit": page.limit,
        "errors": [to_json(e) for e in page_of],
    }


@router.get("/{session_id}/errors.csv", response_class=FileResponse)
def session_errors_csv(who: Who, config: Config, session_id: models.Key) -> FileResponse:
    """Every error with its row's cells, as a spreadsheet-safe CSV."""
    who.own_session(session_id, "read session")
    out = Path(tempfile.mkdtemp(prefix="batchport-errors-")) / "errors.csv"
    commands.export_session_errors(who.db, session_id, out, limits=config.read_limits)
    return FileResponse(
        out, media_type="text/csv", filename="errors.csv", background=BackgroundTask(_remove, out)
    )


@router.post("/{session_id}/commit", status_code=202, response_model=models.Session)
def commit(who: Who, config: Config, session_id: models.Key) -> dict[str, object]:
    """Queues the import of a valid session; committing twice gives the same job."""
    who.own_session(session_id, "commit")
    who.must_import("commit")
    queued = commands.commit_session(who.db, session_id, actor=who.name, remote=who.remote)
    config.wake.set()
    return queued.to_json()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()
