"""Rollback: its preview, and the rollback itself, with the CLI's rules and states."""

from fastapi import APIRouter

from batchport import commands
from batchport.service import models
from batchport.service.dependencies import Who
from batchport.vocabulary import Via

router = APIRouter(prefix="/batches/{batch_id}/rollback", tags=["rollback"])


@router.get("", response_model=models.RollbackPreview)
def preview(who: Who, batch_id: models.Key, force_edited: bool = False) -> dict[str, object]:
    """What a rollback would delete and restore, and what blocks it; changes nothing."""
    return commands.preview_rollback(who.db, batch_id, force_edited=force_edited).to_json()


@router.post("", response_model=models.RollbackReport)
def rollback(
    who: Who, batch_id: models.Key, body: models.RollbackRequest | None = None
) -> dict[str, object]:
    """Rolls the batch back, with the CLI's rules and states; the body (`reason`,
    `force_edited`) may be left out."""
    body = body or models.RollbackRequest()
    who.must_import("rollback")
    who.own_batch(commands.get_batch(who.db, batch_id).job, "rollback")
    report = commands.rollback_batch(
        who.db,
        batch_id,
        actor=who.name,
        via=Via.api,
        reason=body.reason,
        force_edited=body.force_edited,
        remote=who.remote,
    )
    return report.to_json()
