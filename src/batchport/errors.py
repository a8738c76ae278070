"""The exceptions batchport raises; each maps to one CLI exit code and one HTTP status.

BatchportError
├── ConfigurationError        the settings cannot work (bad URL, unknown import type)
├── DatabaseError             the database cannot be used as it is
│   └── DatabaseNotMigrated   the schema is not at the head revision
├── SourceError               a file cannot be read at all (encoding, format, sheet)
│   └── TooManyRows           the file holds more data rows than the limit
├── FileRejected              a file was read but has invalid rows; carries every error
├── ImportFailed              loading a valid file failed; the batch was rolled back
├── ImportConflict            data written meanwhile stops a valid file; nothing was imported
│   ├── UpdateMakesCycle      an update would make a row its own ancestor
│   ├── RowsGone              rows the file names were deleted while it was imported
│   └── LinksReferenced       an update would delete link rows other rows point at
├── JobMoved                  a job was no longer in the status its worker left it in
├── BatchNotFound             no import job has this batch id or job id
├── RollbackRefused           a rollback was not done; nothing changed
│   ├── BatchNotRollbackable  the job's status does not allow a rollback
│   ├── TypeNotDeclared       the batch's import type is not among the types in use
│   ├── RollbackBlocked       rows outside the batch reference its rows, or a restore conflicts
│   └── RowsEdited            rows of the batch were edited after the import
├── AccountExists             (service) an account of that name exists already
├── AccountNotFound           (service) no account has this name
├── SessionNotFound           (service) no import session has this id
└── SessionConflict           (service) the session's status does not allow this

Interrupted (a KeyboardInterrupt, not a BatchportError): Ctrl-C stopped an import or a
rollback; it says what became of the job and its data.

NotLoadable (not a BatchportError, never reaches a user): a fast path cannot prove the rows
valid and hands over to the staged path, which reports exactly why. A parser's `CellInvalid`
(in `columns.parsers`) likewise becomes a `RowError` before anyone sees it. The API's
`service.problems.Problem` is an HTTP answer, not an error of batchport's: no valid token, no
right, a request too large or malformed (the BatchportErrors above get their status there too).

`first_line` gives any exception's text as a user sees it; `code_of` its code in JSON
(`file_rejected`), the same for the API and the CLI's `--json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchport.reports import EditedRow, ImportReport, Job, ReferencingRow, RestoreConflict


class BatchportError(Exception):
    """batchport could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGINT) stopped the work; the message says what became of the job.

    A KeyboardInterrupt still, so that a library caller's own handling of Ctrl-C works as
    before."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ConfigurationError(BatchportError):
    """The configuration cannot work."""


class DatabaseError(BatchportError):
    """The database cannot be used."""


class DatabaseNotMigrated(DatabaseError):
    """The database schema is not up to date; run `batchport db migrate`."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"the database is at revision {current or 'none (empty)'}, batchport needs {head}; "
            "run `batchport db migrate`"
        )


class SourceError(BatchportError):
    """The file cannot be read. `hint` says what a user of the command line can do about it
    (an option to pass); the CLI prints it, the API does not."""

    def __init__(
        self, file: str, message: str, *, row: int | None = None, hint: str | None = None
    ) -> None:
        self.file = file
        self.message = message
        self.row = row
        self.hint = hint
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        # Raised in the read-ahead process too, and sent to the parent pickled.
        return (_source_error, (self.file, self.message, self.row, self.hint))


def _source_error(file: str, message: str, row: int | None, hint: str | None) -> SourceError:
    return SourceError(file, message, row=row, hint=hint)


class TooManyRows(SourceError):
    """The file holds more data rows than the limit."""

    def __init__(self, file: str, limit: int, row: int) -> None:
        self.limit = limit
        super().__init__(
            file,
            f"the file has more than {limit:,} data rows, the limit",
            row=row,
            hint="raise it with --max-rows",
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (TooManyRows, (self.file, self.limit, self.row))


#: The characters of a long value (or message) that a row error keeps and shows.
SHOWN_CHARACTERS = 200
#: From this length up a value is cut; a cut value is shorter, so cutting it again keeps it.
_CUT_FROM = SHOWN_CHARACTERS + 40


def cut(text: str) -> str:
    """The text as an error shows it: whole, or, when long, its first characters and its length
    (`'xxx… (2,097,152 characters)'`), so that a huge bad cell is named, not echoed."""
    if len(text) < _CUT_FROM:
        return text
    return f"{text[:SHOWN_CHARACTERS]}… ({len(text):,} characters)"


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one cell (or row) of an input file.

    A long value or message is kept cut (see `cut`): every report, table, JSON answer and
    error file shows it so, and 100,000 errors hold no more than their first characters.
    """

    row: int
    column: str | None
    value: str | None
    message: str
    #: The workbook sheet the row is on, when one import reads several sheets.
    sheet: str | None = None

    def __post_init__(self) -> None:
        if self.value is not None and len(self.value) >= _CUT_FROM:
            object.__setattr__(self, "value", cut(self.value))
        if len(self.message) >= _CUT_FROM * 2:
            object.__setattr__(self, "message", cut(self.message))

    def __str__(self) -> str:
        sheet = f"sheet {self.sheet}, " if self.sheet else ""
        column = f", column {self.column}" if self.column else ""
        value = f" (value {self.value!r})" if self.value is not None else ""
        return f"{sheet}row {self.row}{column}{value}: {self.message}"


class FileRejected(BatchportError):
    """The file has invalid rows; nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.errors = report.errors
        count = len(report.errors)
        super().__init__(
            f"{report.file_name}: {count:,} error{'s' if count != 1 else ''}; nothing was imported"
        )
        existing = sum(_KEY_EXISTS in error.message for error in self.errors)
        self.hint = (
            f"{existing:,} of the rows are already in the database: --on-existing skip leaves "
            "them as they are, --on-existing update updates them (a rollback restores them)"
            if existing
            else None
        )


#: How a row error says its key is in the database already (checks.staged words it so).
_KEY_EXISTS = "already exists in the database"


class ImportFailed(BatchportError):
    """The import failed while loading; none of its rows were kept."""

    def __init__(self, message: str, *, job_id: str, batch_id: str) -> None:
        self.job_id = job_id
        self.batch_id = batch_id
        super().__init__(message)


class ImportConflict(BatchportError):
    """Data in the database stops this file from being imported as it is; nothing was
    imported."""


class UpdateMakesCycle(ImportConflict):
    """Updating a row's parent would make the row its own ancestor."""


class RowsGone(ImportConflict):
    """Rows the file names were deleted while it was being imported."""

    def __init__(self, table: str, keys: list[object]) -> None:
        self.table = table
        self.keys = keys
        shown = ", ".join(repr(k) for k in keys)
        super().__init__(
            f"{table} {shown} named by the file were deleted while it was being imported; "
            "nothing was imported — try again"
        )


class LinksReferenced(ImportConflict):
    """The update would remove link rows that other rows point at."""

    def __init__(self, references: list[ReferencingRow]) -> None:
        self.references = references
        shown = "; ".join(str(r) for r in references[:5])
        more = f"; and {len(references) - 5} more" if len(references) > 5 else ""
        super().__init__(
            f"the file removes links that other rows point at ({shown}{more}); remove those "
            "references first; nothing was imported"
        )


class JobMoved(BatchportError):
    """The job's status changed under its worker (a sweep took the worker for dead); what the
    worker was doing is undone."""

    def __init__(self, job: Job, expected: str, status: str | None) -> None:
        self.job_id = job.job_id
        self.batch_id = job.batch_id
        super().__init__(
            f"job {job.job_id} was {status} when its worker expected it {expected} (taken for "
            "interrupted while it ran); nothing it did was kept"
        )


class BatchNotFound(BatchportError):
    """No import job has this batch id or job id."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"no import job has batch id or job id {batch_id!r}")


class RollbackRefused(BatchportError):
    """The rollback was refused; nothing was changed."""

    def __init__(self, message: str, *, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(message)


class BatchNotRollbackable(RollbackRefused):
    """The batch cannot be rolled back in its current status."""

    def __init__(self, batch_id: str, status: str) -> None:
        self.status = status
        reasons = {
            "rolled_back": "it was already rolled back",
            "rolling_back": "it is already being rolled back",
            "failed": "its import failed, so it has no rows",
            "running": "its import is still running",
            "pending": "its import has not started",
        }
        reason = reasons.get(status, f"its status is {status}")
        super().__init__(f"batch {batch_id} cannot be rolled back: {reason}", batch_id=batch_id)


class EmptyBatch(RollbackRefused):
    """No row carries the batch id, so a rollback would delete nothing."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(
            f"batch {batch_id} matches no rows (its job may predate batch tracking, or its rows "
            "were deleted by other means); it is left as it is, not marked rolled back",
            batch_id=batch_id,
        )


class TypeNotDeclared(RollbackRefused):
    """The batch imported a type that the types in use do not declare, so its rows cannot be
    found: it is rolled back with the types file that declares it."""

    def __init__(self, batch_id: str, import_type: str) -> None:
        self.import_type = import_type
        super().__init__(
            f"batch {batch_id} imported {import_type}, which the import types in use do not "
            "declare (see `batchport types`); nothing was changed",
            batch_id=batch_id,
        )
        self.hint = f"roll it back with the types file that declares {import_type} (--config)"


class RollbackBlocked(RollbackRefused):
    """Rows outside the batch still reference rows of the batch, or rows it updated cannot
    get their prior values back; `--force-edited` does not override either."""

    def __init__(
        self,
        batch_id: str,
        references: list[ReferencingRow],
        conflicts: list[RestoreConflict] | None = None,
    ) -> None:
        self.references = references
        self.conflicts = conflicts or []
        reasons = []
        if references:
            verb = "references" if len(references) == 1 else "reference"
            reasons.append(f"{_rows(len(references))} outside the batch {verb} its rows")
        if self.conflicts:
            reasons.append(f"{_rows(len(self.conflicts))} it updated cannot be restored")
        super().__init__(
            f"batch {batch_id} cannot be rolled back: {' and '.join(reasons)}; nothing was changed",
            batch_id=batch_id,
        )
        self.hint = unblocking(batch_id, references)


def unblocking(batch_id: str, references: list[ReferencingRow]) -> str | None:
    """What to do first: roll back the batches whose rows hold on to this one's (naming
    them), and take away the rows no batch imported."""
    batches = list(dict.fromkeys(r.batch_id for r in references if r.batch_id))
    steps = []
    if len(batches) == 1:
        steps.append(f"roll back batch {batches[0]}: batchport rollback {batches[0]}")
    elif batches:
        steps.append(f"roll back batches {', '.join(batches)}, newest first")
    if any(r.batch_id is None for r in references):
        steps.append("delete or repoint the rows no import made (entered by hand or elsewhere)")
    if not steps:
        return None
    return f"first {'; and '.join(steps)}; then roll back this batch {batch_id}"


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


class RowsEdited(RollbackRefused):
    """Rows of the batch were edited after the import; `--force-edited` overrides."""

    def __init__(self, batch_id: str, edited: list[EditedRow]) -> None:
        self.edited = edited
        super().__init__(
            f"batch {batch_id} cannot be rolled back: {_rows(len(edited))} of it "
            f"{'was' if len(edited) == 1 else 'were'} edited after the import (roll back "
            "anyway, losing those edits, with --force-edited); nothing was changed",
            batch_id=batch_id,
        )


class AccountExists(BatchportError):
    """An account of that name exists already."""


class AccountNotFound(BatchportError):
    """No account has this name."""


class SessionNotFound(BatchportError):
    """No import session has this id."""


class RequestNotFound(BatchportError):
    """No rollback request has this id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no rollback request {request_id}")


class SessionConflict(BatchportError):
    """The session is not in a state that allows this."""


class NotLoadable(Exception):
    """The rows cannot be loaded as they are; the staged path will say exactly why."""


def internal_error(exc: BaseException) -> str:
    """How a failure that is a bug (no BatchportError) is told, in one line."""
    return f"internal error: {type(exc).__name__}: {first_line(exc)}"[:2000]


def code_of(error: BaseException) -> str:
    """The error's code for machine-readable output (the API's and the CLI's `--json`):
    its class name in snake_case (`FileRejected` is `file_rejected`), or `internal_error`
    for an exception that is not batchport's."""
    if not isinstance(error, BatchportError):
        return "internal_error"
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def first_line(error: object) -> str:
    """An exception's (or a driver error's) text as a user sees it: its first line, or its
    type's name when it has no text."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
