"""The pages: the history of import jobs, a batch, and its rollback (a preview, then a
confirmation that asks for a reason; a worker then rolls it back, and the batch's page
follows it). Every page calls the use cases the API calls, and what a role may not do is
neither offered nor, if posted anyway, done."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from batchport import commands
from batchport.errors import RollbackRefused
from batchport.reports import Job
from batchport.service import models
from batchport.service.problems import Problem
from batchport.service.web.render import page, said
from batchport.service.web.signin import Visiting, Visitor, form_of
from batchport.vocabulary import JobStatus

router = APIRouter(prefix="/ui", include_in_schema=False)

#: Jobs per page of the history.
PAGE = 50


@router.get("/")
def home() -> Response:
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/jobs")
def history(request: Request, who: Visiting) -> Response:
    """Every job, newest first, filtered and paged in the database (a filter left empty in
    the form filters nothing)."""
    given = {k: v for k, v in request.query_params.items() if v.strip()}
    try:
        query = models.JobQuery.model_validate(given)
    except ValidationError as exc:
        raise Problem(422, "invalid_request", said(exc)) from exc
    limit = min(query.limit, PAGE)
    jobs = commands.list_history(who.caller.db, query.where(), offset=query.offset, limit=limit + 1)
    return page(
        request,
        "history.html",
        jobs=jobs[:limit],
        more=len(jobs) > limit,
        query=query,
        limit=limit,
        statuses=list(JobStatus),
        types=[*who.caller.db.catalog, commands.WORKBOOK],
    )


@router.get("/batches/{batch_id}")
def batch(
    request: Request,
    who: Visiting,
    batch_id: models.Key,
    table: Annotated[str | None, Query(max_length=100, pattern=models.NO_NUL)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """A batch's job, its rows per table and a page of one table's records; the rollback
    asked for is read first (a rollback ending between the two reads is then either
    followed or shown done, never missed)."""
    asked = commands.latest_rollback_request(who.caller.db, batch_id)
    report = commands.get_batch(who.caller.db, batch_id)
    browsable = {t.table.name for t in who.caller.db.catalog.types}  # link tables are not
    shown = table or next((t for t, n in report.rows.items() if n and t in browsable), None)
    records = (
        commands.batch_records(who.caller.db, batch_id, shown, offset=offset, limit=PAGE)
        if shown
        else []
    )
    return page(
        request,
        "batch.html",
        report=report,
        asked=asked,
        table=shown,
        browsable=browsable,
        records=records,
        offset=offset,
        limit=PAGE,
        may_roll_back=_may_roll_back(who, report.job),
    )


@router.get("/batches/{batch_id}/rollback")
def rollback_preview(request: Request, who: Visiting, batch_id: models.Key) -> Response:
    """What a rollback would delete and restore, what blocks it, and the form to confirm."""
    preview = commands.preview_rollback(who.caller.db, batch_id)
    return page(
        request,
        "rollback.html",
        preview=preview,
        may_roll_back=_may_roll_back(who, preview.job),
    )


@router.post("/batches/{batch_id}/rollback")
async def rollback(request: Request, who: Visiting, batch_id: models.Key) -> Response:
    """Rolls the batch back with the reason given (and past edited rows only if asked)."""
    form = await form_of(request, who.session)
    reason = str(form.get("reason") or "").strip()
    force = form.get("force_edited") == "yes"
    return await run_in_threadpool(_roll_back, request, who, batch_id, reason, force)


def _roll_back(request: Request, who: Visitor, batch_id: str, reason: str, force: bool) -> Response:
    caller = who.caller
    caller.must_import("rollback")
    caller.own_batch(commands.get_job(caller.db, batch_id), "rollback")
    if not reason:
        return _refused(request, who, batch_id, 422, "Say why: a rollback needs a reason.")
    try:
        asked, _ = commands.request_rollback(
            caller.db,
            batch_id,
            actor=caller.name,
            reason=reason,
            force_edited=force,
            remote=caller.remote,
        )
    except RollbackRefused as exc:
        return _refused(request, who, batch_id, 409, str(exc))
    request.app.state.settings.wake.set()
    return RedirectResponse(f"/ui/batches/{asked.batch_id}", status_code=303)


@router.get("/rollbacks/{request_id}/progress")
def rollback_progress(who: Visiting, request_id: models.Key) -> dict[str, object]:
    """Where a rollback asked for stands, for the batch's page to follow without reloading."""
    found = who.caller.own_rollback(request_id, "read")
    return {"status": found.status, "working": found.working}


def _refused(request: Request, who: Visitor, batch_id: str, status: int, why: str) -> Response:
    """The rollback's page again, saying why it was not done."""
    preview = commands.preview_rollback(who.caller.db, batch_id)
    return page(
        request, "rollback.html", status=status, preview=preview, may_roll_back=True, problem=why
    )


def _may_roll_back(who: Visitor, job: Job) -> bool:
    """Whether to offer a rollback: by the API's own rules."""
    return who.caller.account.can_import and who.caller.owns(job)
