"""The API's request and response bodies, typed, so that the OpenAPI document describes every
one and a response that strays from its shape is an error in the tests, never a surprise for a
client. Response models forbid fields they do not declare: a record that gains a field must be
declared here too.

Times are ISO 8601 text in UTC with its offset (`2026-12-01T21:40:00.123456+00:00`), as the
CLI's `--json` prints them, on every database (`reports.iso_time`).
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from batchport.accounts import name_pattern
from batchport.audit import AuditFilter
from batchport.history import JobFilter
from batchport.vocabulary import OnExisting, Role, Via

#: Text without NUL characters (no database stores one); the middleware refuses them in
#: paths and queries too.
NO_NUL = r"^[^\x00]*$"

#: A path's id: any text but a NUL character.
Key = Annotated[str, PathParam(pattern=NO_NUL)]
#: A time as ISO 8601 text in UTC, with its offset (a time without one would be a 500).
Time = Annotated[
    str,
    Field(
        description="ISO 8601, UTC, with its offset",
        pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
        json_schema_extra={"format": "date-time"},
    ),
]
#: A key or id of a row of any table (a number, text, or `a=1, b=2` for several columns).
AnyKey = Annotated[Any, Field(description="the row's key or id, as its table stores it")]


def _iso(value: object) -> object:
    """Only ISO 8601 text is a time here (not a number of seconds)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise ValueError("expected an ISO 8601 date-time")


IsoTime = Annotated[dt.datetime | None, BeforeValidator(_iso)]
#: A filter on a name.
Filter = Annotated[str | None, Field(max_length=100, pattern=NO_NUL)]


class Strict(BaseModel):
    """Unknown fields (server-owned ones included) are refused."""

    model_config = ConfigDict(extra="forbid")


# Requests


class RollbackOptions(Strict):
    reason: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)
    force_edited: bool = False


#: How long a token stays valid: 30d, 12h or 90m.
Duration = Annotated[str | None, Field(pattern=r"^[1-9][0-9]{0,5}[dhm]$")]


class AccountRequest(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=name_pattern())
    role: Role
    expires_in: Duration = None


class RotateRequest(Strict):
    expires_in: Duration = None


class Page(BaseModel):
    """A page of a long list (unknown query parameters are ignored, as everywhere)."""

    offset: int = Field(default=0, ge=0, le=10**9)
    limit: int = Field(default=100, ge=1, le=1000)


class JobQuery(Page):
    """Which jobs: the history's filters, and a page."""

    import_type: Annotated[str | None, Field(max_length=50, pattern=NO_NUL)] = None
    status: Annotated[str | None, Field(max_length=20, pattern=NO_NUL)] = None
    imported_by: Filter = None
    since: IsoTime = None
    until: IsoTime = None
    limit: int = Field(default=50, ge=1, le=500)

    def where(self) -> JobFilter:
        return JobFilter(**self.model_dump(exclude={"offset", "limit"}))


class AuditQuery(Page):
    """Which audit rows: by who and what, and a page."""

    actor: Filter = None
    action: Annotated[str | None, Field(max_length=50, pattern=NO_NUL)] = None

    def where(self) -> AuditFilter:
        return AuditFilter(actor=self.actor, action=self.action)


class BatchQuery(Page):
    """Which of a batch's tables to show a page of (none: the counts only)."""

    table: Filter = None


JobQueryParams = Annotated[JobQuery, Query()]
BatchQueryParams = Annotated[BatchQuery, Query()]
AuditQueryParams = Annotated[AuditQuery, Query()]
PageParams = Annotated[Page, Query()]


# Responses


class Health(Strict):
    status: str


class TypeColumn(Strict):
    """A column of an import type's file."""

    name: str
    #: The parser, as a types file names it (`link` for a link's keys).
    parser: str
    #: Where the value goes: a column, a reference's column, or a link table's rows.
    target: str
    required: bool
    #: The value of an empty cell (None: the column's own default).
    default: Any = None
    #: What a cell must keep to beyond its parser's form: lengths, values, formats.
    rules: str


class ImportType(Strict):
    """An import type: the table its rows go to, its key, its file's columns."""

    import_type: str
    table: str
    description: str
    key: str
    columns: list[TypeColumn]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Job(Strict):
    """An import job (one row of `import_history`)."""

    job_id: str
    batch_id: str
    import_type: str
    status: str
    file_name: str | None
    file_sha256: str | None
    rows_total: int
    rows_imported: int
    rows_failed: int
    rows_updated: int
    rows_skipped: int
    rows_unchanged: int
    on_existing: OnExisting
    error_summary: str | None
    imported_by: str | None
    worker: str | None
    started_at: Time | None
    completed_at: Time | None
    rolled_back_at: Time | None
    rolled_back_by: str | None
    rollback_reason: str | None
    rollback_forced: bool
    imported_via: Via | None
    rolled_back_via: Via | None


class Jobs(Strict):
    offset: int
    limit: int
    jobs: list[Job]


class Batch(Job):
    """A batch's job and how many rows each table holds; with `table`, a page of them."""

    rows: dict[str, int]
    #: Rows of each table the batch updated (a rollback restores them).
    updated: dict[str, int] = {}
    records: list[dict[str, Any]] | None = None


class ReferencingRow(Strict):
    """A row outside the batch that points at a row the rollback would delete."""

    table: str
    row_id: AnyKey
    column: str
    referenced_table: str
    referenced_id: AnyKey
    referenced_key: AnyKey
    batch_id: str | None
    on_delete: str


class EditedRow(Strict):
    """A row of the batch changed (or, `gone`, deleted) by someone else since."""

    table: str
    row_id: AnyKey
    key: AnyKey
    version: int | None
    created: bool
    gone: bool


class RestoreConflict(Strict):
    """A row the batch updated whose prior values cannot be put back as they were."""

    table: str
    row_id: AnyKey
    key: AnyKey
    problem: str


class RollbackPreview(Strict):
    """What a rollback would delete and restore, and what stops it."""

    batch_id: str
    job_id: str
    status: str
    possible: bool
    refusal: str | None
    would_delete: dict[str, int]
    would_restore: dict[str, int]
    blockers: list[ReferencingRow]
    conflicts: list[RestoreConflict]
    edited: list[EditedRow]
    force_edited: bool


class RollbackReport(Strict):
    """What a rollback deleted and restored."""

    batch_id: str
    job_id: str
    status: str
    deleted: dict[str, int]
    rolled_back_by: str
    reason: str | None
    restored: dict[str, int]
    forced: bool


class RollbackJob(Strict):
    """A rollback asked for through the API, as a worker takes it: `queued`, `rolling_back`,
    then `rolled_back` (with its report) or `failed` (with its error; nothing changed)."""

    id: str
    job_id: str
    batch_id: str
    owner: str
    reason: str | None
    force_edited: bool
    status: str
    report: RollbackReport | None
    error: ErrorBody | None
    created_at: Time
    updated_at: Time


class Session(Strict):
    """An uploaded file on its way to an import job."""

    id: str
    owner: str
    import_type: str
    file_name: str
    file_sha256: str
    on_existing: OnExisting
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    status: str
    rows_read: int
    #: An import report's counts, with its names: what the import would do, then what it did.
    rows_total: int | None
    rows_imported: int
    created: dict[str, int] | None
    updated: int
    skipped: int
    unchanged: int
    error_count: int
    message: str | None
    job_id: str | None
    created_at: Time
    updated_at: Time
    expires_at: Time
    batch_id: str | None
    job_status: str | None
    progress: int = Field(ge=0, le=100)


class RowError(Strict):
    """One problem with one cell (or row) of the file."""

    row: int
    column: str | None
    value: str | None
    message: str
    sheet: str | None


class RowErrors(Strict):
    total: int
    offset: int
    limit: int
    errors: list[RowError]


class Account(Strict):
    name: str
    role: Role
    created_at: Time
    created_by: str | None
    disabled_at: Time | None
    token_expires_at: Time | None


class NewAccount(Strict):
    """A new account, with its token: shown in this response only."""

    name: str
    role: Role
    token: str


class NewToken(Strict):
    """An account's new token: shown in this response only."""

    name: str
    token: str


class AuditEntry(Strict):
    id: int
    at: Time
    actor: str | None
    via: Via | None
    action: str
    outcome: str
    remote: str | None
    batch_id: str | None
    file_sha256: str | None
    detail: str | None


class AuditEntries(Strict):
    offset: int
    limit: int
    entries: list[AuditEntry]
