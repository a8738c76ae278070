"""The pages of an upload: the form (a file picker that also takes a dropped file), then the
session's page, which follows the validation live and, once it is done, shows what would be
imported or every error (paged, filtered by column and problem, counted by kind), a download
of the error CSV, and the button that commits it."""

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from batchport import commands
from batchport.service import models
from batchport.service.dependencies import Config
from batchport.service.problems import Problem
from batchport.service.uploads import DELIMITERS, ENCODINGS, keep, read_upload
from batchport.service.web.render import page
from batchport.service.web.signin import Visiting, form_of
from batchport.sessions.storage import ErrorFilter

router = APIRouter(prefix="/ui", include_in_schema=False)

#: Errors per page of a session's review.
PAGE = 100


@router.get("/upload")
def upload_page(request: Request, who: Visiting) -> Response:
    who.caller.must_import("upload")
    return page(
        request,
        "upload.html",
        types=[*who.caller.db.catalog, commands.WORKBOOK],
        encodings=ENCODINGS,
        delimiters=DELIMITERS,
    )


@router.post("/upload")
async def upload(request: Request, who: Visiting, config: Config) -> Response:
    """Keeps the file as a session, as the API's upload does, then shows its page."""
    await run_in_threadpool(who.caller.must_import, "upload")
    form = await read_upload(
        request, config.max_upload_bytes, [*config.db.catalog, commands.WORKBOOK], page=True
    )
    if who.session.forged(form.csrf):
        raise Problem(403, "forbidden", "the form is not this session's (request forgery?)")
    created = await run_in_threadpool(keep, config, who.caller, form)
    return RedirectResponse(f"/ui/sessions/{created.id}", status_code=303)


@router.get("/sessions/{session_id}")
def session_page(
    request: Request,
    who: Visiting,
    session_id: models.Key,
    column: Annotated[str | None, Query(max_length=200, pattern=models.NO_NUL)] = None,
    problem: Annotated[str | None, Query(max_length=200, pattern=models.NO_NUL)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """The session: its progress while it is worked on, then its review."""
    found = who.caller.own_session(session_id, "read session")
    db = who.caller.db
    where = ErrorFilter(column or None, problem or None)
    errors = commands.session_errors(db, session_id, offset=offset, limit=PAGE, where=where)
    return page(
        request,
        "session.html",
        session=found,
        errors=errors,
        kinds=commands.session_error_kinds(db, session_id) if found.error_count else [],
        shown=commands.count_session_errors(db, session_id, where) if found.error_count else 0,
        where=where,
        offset=offset,
        limit=PAGE,
        may_commit=found.status == "valid" and who.caller.account.can_import,
        sample=commands.sample_rows(db, session_id) if found.status == "valid" else [],
    )


@router.get("/sessions/{session_id}/progress")
def progress(who: Visiting, session_id: models.Key) -> dict[str, object]:
    """The session's status and progress, for the page to follow without reloading."""
    found = who.caller.own_session(session_id, "read session")
    return {
        "status": found.status,
        "rows_read": found.rows_read,
        "rows_total": found.rows_total,
        "progress": found.progress,
        "working": found.working,
    }


@router.get("/sessions/{session_id}/errors.csv")
def errors_csv(who: Visiting, config: Config, session_id: models.Key) -> FileResponse:
    """Every error with its row's cells, as a spreadsheet-safe CSV."""
    who.caller.own_session(session_id, "read session")
    out = Path(tempfile.mkdtemp(prefix="batchport-errors-")) / "errors.csv"
    commands.export_session_errors(config.db, session_id, out, limits=config.read_limits)
    return FileResponse(
        out, media_type="text/csv", filename="errors.csv", background=BackgroundTask(_remove, out)
    )


@router.post("/sessions/{session_id}/commit")
async def commit(
    request: Request, who: Visiting, config: Config, session_id: models.Key
) -> Response:
    """Queues the session's import; its page then follows the job."""
    await form_of(request, who.session)

    def run() -> None:
        who.caller.own_session(session_id, "commit")
        who.caller.must_import("commit")
        commands.commit_session(
            who.caller.db, session_id, actor=who.caller.name, remote=who.caller.remote
        )
        config.wake.set()

    await run_in_threadpool(run)
    return RedirectResponse(f"/ui/sessions/{session_id}", status_code=303)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()
