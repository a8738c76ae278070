"""The import session as the use cases return it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batchport.reports import Job, to_json
from batchport.vocabulary import SessionStatus

#: Statuses in which a session has done its work for good.
FINAL = frozenset(
    {SessionStatus.committed, SessionStatus.invalid, SessionStatus.failed, SessionStatus.expired}
)


@dataclass(frozen=True)
class Session:
    """An uploaded file on its way to becoming an import job (without its bytes or errors).

    `created` holds what the validation found would be created, updated, skipped and left
    unchanged (or, once committed, the rows created per table); `batch_id` and `job_status`
    are its job's, once committed.
    """

    id: str
    owner: str
    import_type: str
    file_name: str
    file_sha256: str
    on_existing: str
    #: How to read an uploaded CSV (None: detected).
    encoding: str | None
    delimiter: str | None
    status: str
    rows_read: int
    rows_total: int | None
    error_count: int
    created: dict[str, int] | None
    message: str | None
    job_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime
    batch_id: str | None = None
    job_status: str | None = None

    @classmethod
    def from_row(cls, row: sa.RowMapping, job: Job | None) -> Session:
        """The session from its row (less its file, errors and worker) and its job."""
        values = dict(row)
        values["created"] = json.loads(values["created"]) if values["created"] else None
        values["batch_id"] = job.batch_id if job else None
        values["job_status"] = job.status if job else None
        return cls(**values)

    @property
    def working(self) -> bool:
        """Whether a step is under way or waiting (a page follows it until it is done)."""
        return self.status not in FINAL and self.status != SessionStatus.valid

    @property
    def progress(self) -> int:
        """How far its current step is, in percent (never 100 before the step is done)."""
        if not self.working:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_read / self.rows_total))

    def to_json(self) -> dict[str, Any]:
        """The session as JSON-ready values, its progress included."""
        return {**to_json(self), "progress": self.progress}


#: The columns a `Session` is read from.
FIELDS = tuple(
    name for name in Session.__dataclass_fields__ if name not in {"batch_id", "job_status"}
)
