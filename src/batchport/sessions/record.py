"""The import session as the use cases return it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batchport.reports import ImportReport, Job, to_json, utc
from batchport.vocabulary import SessionStatus

#: Statuses in which a session has done its work for good.
FINAL = frozenset(
    {SessionStatus.committed, SessionStatus.invalid, SessionStatus.failed, SessionStatus.expired}
)


@dataclass(frozen=True)
class Session:
    """An uploaded file on its way to becoming an import job (without its bytes or errors).

    Its counts are an import report's, with the same names (`ImportReport`: `rows_total`,
    `rows_imported`, `created` per table, `updated`, `skipped`, `unchanged`): once validated,
    what the import would do, as a dry run's report counts it; once committed, what it did.
    `created` is None until then. `batch_id` and `job_status` are its job's, once committed.
    Times are in UTC.
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
    #: The sheet to read of a workbook uploaded for one import type (None: the first).
    sheet: str | None
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
    rows_imported: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    batch_id: str | None = None
    job_status: str | None = None

    @classmethod
    def from_row(cls, row: sa.RowMapping, job: Job | None) -> Session:
        """The session from its row (less its file, errors and worker) and its job."""
        values = {**dict(row), **counts(row["created"])}
        for name in ("created_at", "updated_at", "expires_at"):
            values[name] = utc(values[name])
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


#: An import report's counts besides `rows_total` and `created` (the rows per table), which
#: the column `created` keeps with them.
COUNTS = ("rows_imported", "updated", "skipped", "unchanged")


def stored_counts(report: ImportReport) -> str:
    """The report's counts (but `rows_total`, a column of its own) as the column `created`
    keeps them: JSON."""
    return json.dumps(
        {"created": report.created, **{name: getattr(report, name) for name in COUNTS}}
    )


def counts(text: str | None) -> dict[str, Any]:
    """The counts the column `created` keeps: `created` (rows per table) and `COUNTS`. A row
    written before the counts had their own keys holds the rows per table alone, or (once
    validated) with `updated`, `skipped` and `unchanged` among them."""
    found = json.loads(text) if text else None
    if found is None:
        return {"created": None}
    if not isinstance(found.get("created"), dict):
        found = {
            "created": {k: v for k, v in found.items() if k not in COUNTS},
            **{k: v for k, v in found.items() if k in COUNTS},
        }
    return {"created": found["created"], **{name: int(found.get(name, 0)) for name in COUNTS}}


#: The columns a `Session` is read from.
FIELDS = tuple(
    name for name in Session.__dataclass_fields__ if name not in {"batch_id", "job_status", *COUNTS}
)
