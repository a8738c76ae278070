"""Rollback: its preview, and the rollback itself, with the CLI's rules and states, run by a
worker: the request answers 202 with the rollback job to follow."""

from fastapi import APIRouter, Response

from batchport import commands
from batchport.service import models
from batchport.service.dependencies import Config, Who

router = APIRouter(tags=["rollback"])


@router.get("/batches/{batch_id}/rollback", response_model=models.RollbackPreview)
def preview(who: Who, batch_id: models.Key, force_edited: bool = False) -> dict[str, object]:
    """What a rollback would delete and restore, and what blocks it; changes nothing."""
    return commands.preview_rollback(who.db, batch_id, force_edited=force_edited).to_json()


@router.post("/batches/{batch_id}/rollback", status_code=202, response_model=models.RollbackJob)
def rollback(
    who: Who,
    config: Config,
    response: Response,
    batch_id: models.Key,
    body: models.RollbackOptions | None = None,
) -> dict[str, object]:
    """Asks a worker to roll the batch back, with the CLI's rules and states; answers with
    the rollback job to follow (`Location`). Asking again while one waits or runs gives that
    one. The body (`reason`, `force_edited`) may be left out."""
    body = body or models.RollbackOptions()
    who.must_import("rollback")
    who.own_batch(commands.get_job(who.db, batch_id), "rollback")
    request, _ = commands.request_rollback(
        who.db,
        batch_id,
        actor=who.name,
        reason=body.reason,
        force_edited=body.force_edited,
        remote=who.remote,
    )
    config.wake.set()
    response.headers["Location"] = f"/rollbacks/{request.id}"
    return request.to_json()


@router.get("/rollbacks/{request_id}", response_model=models.RollbackJob)
def rollback_job(who: Who, request_id: models.Key) -> dict[str, object]:
    """A rollback job: where it stands, then its report or its error."""
    return who.own_rollback(request_id, "read").to_json()
