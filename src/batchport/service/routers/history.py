"""The history: import jobs, and batches with their rows."""

from fastapi import APIRouter

from batchport import commands
from batchport.reports import json_values
from batchport.service import models
from batchport.service.dependencies import Caller, Who

router = APIRouter(tags=["history"])


@router.get("/jobs", response_model=models.Jobs)
def jobs(who: Who, query: models.JobQueryParams) -> dict[str, object]:
    """Import jobs, newest first, filtered and paginated."""
    found = commands.list_history(who.db, query.where(), offset=query.offset, limit=query.limit)
    return {
        "offset": query.offset,
        "limit": query.limit,
        "jobs": [shown(who, job.to_json()) for job in found],
    }


@router.get("/jobs/{job_id}", response_model=models.Job)
def job(who: Who, job_id: models.Key) -> dict[str, object]:
    """One job (by job id or batch id)."""
    return shown(who, commands.get_batch(who.db, job_id).job.to_json())


@router.get("/batches/{batch_id}", response_model=models.Batch, response_model_exclude_unset=True)
def batch(who: Who, batch_id: models.Key, query: models.BatchQueryParams) -> dict[str, object]:
    """A batch with its rows per table; with `table`, a page of that table's records."""
    body = shown(who, commands.get_batch(who.db, batch_id).to_json())
    if query.table is not None:
        records = commands.batch_records(
            who.db, batch_id, query.table, offset=query.offset, limit=query.limit
        )
        body["records"] = [json_values(r) for r in records]
    return body


def shown(who: Caller, job: dict[str, object]) -> dict[str, object]:
    """The job as `who` may see it: where it ran (host and process) is for admins only."""
    return job if who.account.is_admin else {**job, "worker": None}
