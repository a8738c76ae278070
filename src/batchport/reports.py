"""What the use cases return: plain records the CLI, the API and library users all read."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from batchport.errors import (
    BatchportError,
    RollbackBlocked,
    RowError,
    RowsEdited,
    code_of,
    internal_error,
)


@dataclass(frozen=True)
class Job:
    """One row of `import_history`: an import job and what became of it."""

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
    on_existing: str
    error_summary: str | None
    imported_by: str | None
    worker: str | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    rolled_back_at: dt.datetime | None
    rolled_back_by: str | None
    rollback_reason: str | None
    rollback_forced: bool = False
    #: Where `imported_by` and `rolled_back_by` acted from (`Via`; None: before it was kept).
    imported_via: str | None = None
    rolled_back_via: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The job as JSON-ready values."""
        return json_values(asdict(self))


@dataclass(frozen=True)
class ImportReport:
    """The outcome of one import (or dry run) of one file."""

    import_type: str
    file_name: str
    status: str
    rows_total: int
    rows_imported: int
    job_id: str | None = None
    batch_id: str | None = None
    dry_run: bool = False
    created: dict[str, int] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    #: What happened to rows whose key was already in the database (see `on_existing`).
    on_existing: str = "error"
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    #: The encoding a CSV file was read in (detected or given); None for a workbook.
    encoding: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values.

        Each error becomes one dict, made once: 100,000 errors are not copied twice over
        (by `asdict`, then by `json_values`) before a single line is printed.
        """
        found = json_values({name: getattr(self, name) for name in _REPORT_FIELDS})
        found["errors"] = [
            {
                "row": e.row,
                "column": e.column,
                "value": e.value,
                "message": e.message,
                "sheet": e.sheet,
            }
            for e in self.errors
        ]
        return {name: found[name] for name in _FIELD_ORDER}


@dataclass(frozen=True)
class ReferencingRow:
    """A row outside a batch that points at a row of the batch, in any table of the database.

    `row_id` is the row's primary key (`a=1, b=2` for several columns; None if its table has
    none), `column` the referencing column(s), `batch_id` the row's own batch if its table
    carries one, `on_delete` what the foreign key would do to the row if the batch's row were
    deleted.
    """

    table: str
    row_id: object
    column: str
    referenced_table: str
    referenced_id: object
    referenced_key: object
    batch_id: str | None = None
    on_delete: str = "NO ACTION"

    def __str__(self) -> str:
        row = f"row {self.row_id}" if self.row_id is not None else "a row"
        text = (
            f"{self.table} {row} ({self.column}) references "
            f"{self.referenced_table} {self.referenced_key!r} (id {self.referenced_id})"
        )
        if self.batch_id:
            text += f"; it belongs to batch {self.batch_id}"
        if self.on_delete in _SILENT:
            text += f"; ON DELETE {self.on_delete} would {_SILENT[self.on_delete]} it"
        return text


#: What a foreign key's action does, unasked, to a referencing row.
_SILENT = {"CASCADE": "delete", "SET NULL": "blank", "SET DEFAULT": "reset"}


@dataclass(frozen=True)
class EditedRow:
    """A row of a batch (created or updated by it) changed by someone else since, or (`gone`)
    a row it updated that was deleted since."""

    table: str
    row_id: object
    key: object
    version: int | None
    created: bool
    gone: bool = False

    def __str__(self) -> str:
        what = "created" if self.created else "updated"
        if self.gone:
            return f"{self.table} row {self.row_id} ({what} by the batch) was deleted since"
        return (
            f"{self.table} row {self.row_id} ({self.key!r}, {what} by the batch) was edited "
            f"since (version {self.version})"
        )


@dataclass(frozen=True)
class RestoreConflict:
    """A row the batch updated whose prior values cannot be put back as they were."""

    table: str
    row_id: object
    key: object
    problem: str

    def __str__(self) -> str:
        key = f" ({self.key!r})" if self.key is not None else ""
        return f"{self.table} row {self.row_id}{key}: {self.problem}"


@dataclass(frozen=True)
class BatchReport:
    """One batch: its job, how many of the rows it created each table holds, and how many
    rows of each table it updated (their prior values logged for a rollback to restore)."""

    job: Job
    rows: dict[str, int]
    updated: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The batch as JSON-ready values."""
        return {**self.job.to_json(), "rows": dict(self.rows), "updated": dict(self.updated)}


@dataclass(frozen=True)
class RollbackPreview:
    """What a rollback of one batch would delete, and what (if anything) stops it."""

    job: Job
    rows: dict[str, int]
    references: list[ReferencingRow]
    refusal: str | None
    #: Rows per table whose values from before the import would be put back.
    restores: dict[str, int] = field(default_factory=dict)
    edited: list[EditedRow] = field(default_factory=list)
    force_edited: bool = False
    conflicts: list[RestoreConflict] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        """Whether the rollback would go ahead."""
        blocked_by_edits = bool(self.edited) and not self.force_edited
        blocked = bool(self.references or self.conflicts) or blocked_by_edits
        return self.refusal is None and not blocked

    def to_json(self) -> dict[str, Any]:
        """The preview as JSON-ready values."""
        return {
            "batch_id": self.job.batch_id,
            "job_id": self.job.job_id,
            "status": self.job.status,
            "possible": self.possible,
            "refusal": self.refusal,
            "would_delete": dict(self.rows),
            "would_restore": dict(self.restores),
            "blockers": [to_json(r) for r in self.references],
            "conflicts": [to_json(c) for c in self.conflicts],
            "edited": [to_json(e) for e in self.edited],
            "force_edited": self.force_edited,
        }


@dataclass(frozen=True)
class RollbackReport:
    """The outcome of a rollback: the rows deleted per table."""

    batch_id: str
    job_id: str
    status: str
    deleted: dict[str, int]
    rolled_back_by: str
    reason: str | None
    restored: dict[str, int] = field(default_factory=dict)
    forced: bool = False

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return json_values(asdict(self))


#: The fields of an import report but its errors, in their order.
_FIELD_ORDER = [f.name for f in fields(ImportReport)]
_REPORT_FIELDS = [name for name in _FIELD_ORDER if name != "errors"]


def to_json(record: Any) -> dict[str, Any]:
    """A record (a dataclass) as JSON-ready values."""
    return json_values(asdict(record))


def json_values(value: dict[str, Any]) -> dict[str, Any]:
    """A mapping (a row, say) as JSON-ready values: times as ISO 8601 text in UTC with its
    offset (`iso_time`), keys of other programs' tables (UUIDs, decimals ...) as text."""
    return {key: _json(item) for key, item in value.items()}


def utc(value: dt.datetime) -> dt.datetime:
    """The time in UTC. A time without a zone is taken to be in UTC: batchport writes every
    time in UTC, and SQLite hands them back without a zone."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def iso_time(value: dt.datetime) -> str:
    """The time as ISO 8601 text in UTC, with its offset: `2026-12-01T21:40:00.123456+00:00`,
    on every database alike."""
    return utc(value).isoformat()


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return iso_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # a key of another program's table: a UUID, a decimal, bytes ...


def error_body(exc: BaseException) -> dict[str, Any]:
    """The error as the API tells it: its `code`, its `message` and its `details`."""
    message = str(exc) if isinstance(exc, BatchportError) else internal_error(exc)
    return {"code": code_of(exc), "message": message, "details": error_details(exc)}


def error_details(exc: BaseException) -> dict[str, Any] | None:
    """What stops a refused rollback, row by row, as the preview lists it."""
    if isinstance(exc, RollbackBlocked):
        return {
            "references": [to_json(r) for r in exc.references],
            "conflicts": [to_json(c) for c in exc.conflicts],
        }
    if isinstance(exc, RowsEdited):
        return {"edited": [to_json(e) for e in exc.edited]}
    return None
