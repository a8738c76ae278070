"""Import sessions: upload a file, follow its validation, read its errors, commit it."""

import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from batchport import commands
from batchport.errors import TooManyRows
from batchport.reports import to_json
from batchport.service import models
from batchport.service.dependencies import Config, Who
from batchport.service.problems import Problem
from batchport.vocabulary import OnExisting

#: The form fields an upload may have.
UPLOAD_FIELDS = frozenset({"import_type", "file", "on_existing"})

router = APIRouter(prefix="/sessions", tags=["sessions"])


async def only_upload_fields(request: Request, config: Config) -> None:
    """Refuses an upload whose body is over the limit (before reading it, when it says its
    length), form fields the upload does not declare (owner, status, batch id...),
    repeated fields and empty ones."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > config.max_upload_bytes + (1 << 16):
        raise Problem(
            413, "too_large", f"the upload is over the limit of {config.max_upload_bytes:,} bytes"
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


def upload_router(import_types: list[str]) -> APIRouter:
    """The upload route, its `import_type` one of `import_types` (the app's catalog)."""
    type_name = Enum("TypeName", {n: n for n in import_types}, type=str)  # type: ignore[misc]
    uploads = APIRouter(tags=["sessions"])

    @uploads.post(
        "/sessions",
        status_code=201,
        dependencies=[Depends(only_upload_fields)],
        response_model=models.Session,
    )
    def upload(
        who: Who,
        config: Config,
        import_type: Annotated[type_name, Form()],
        file: Annotated[UploadFile, File()],
        on_existing: Annotated[OnExisting, Form()] = OnExisting.error,
    ) -> dict[str, object]:
        """Uploads a file for an import type; it is validated in the background."""
        who.must_import("upload")
        try:
            created = commands.upload_session(
                who.db,
                owner=who.name,
                import_type=import_type.value,
                file_name=file.filename or "upload.csv",
                content=_read_upload(file, config.max_upload_bytes),
                on_existing=on_existing,
                limits=config.read_limits,
                remote=who.remote,
            )
        except TooManyRows as exc:
            raise Problem(413, "too_many_rows", str(exc)) from exc
        return created.to_json()

    return uploads


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
def commit(who: Who, session_id: models.Key) -> dict[str, object]:
    """Queues the import of a valid session; committing twice gives the same job."""
    who.own_session(session_id, "commit")
    who.must_import("commit")
    return commands.commit_session(who.db, session_id, actor=who.name, remote=who.remote).to_json()


def _read_upload(file: UploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := file.file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise Problem(413, "too_large", f"the file is over the upload limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()
