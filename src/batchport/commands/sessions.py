"""The use cases of import sessions: upload a file, read it back with its errors, commit it,
and the worker's step that validates or imports the oldest waiting session. Uploads and
commits are audited in the transaction that makes them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from batchport import audit
from batchport.columns.mapping import map_header
from batchport.columns.rows import parse_chunks
from batchport.commands.imports import (
    check_on_existing,
    export_errors,
    run_import,
    run_workbook_import,
)
from batchport.database import Database
from batchport.errors import (
    BatchportError,
    FileRejected,
    RowError,
    SourceError,
    TooManyRows,
    first_line,
)
from batchport.importing import Progress, ReadOptions
from batchport.reports import ImportReport
from batchport.sessions import Session, states, storage
from batchport.sessions.progress import ProgressWriter
from batchport.sessions.record import stored_counts
from batchport.sessions.storage import ErrorFilter
from batchport.sources import Limits
from batchport.vocabulary import WORKBOOK, OnExisting, SessionStatus, Via

#: Progress is written to the session at most this often (seconds).
PROGRESS_EVERY = 0.5


def upload_session(
    db: Database,
    *,
    owner: str,
    import_type: str,
    file_name: str,
    content: bytes,
    on_existing: str = OnExisting.error,
    limits: Limits | None = None,
    remote: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> Session:
    """Keeps an uploaded file as a new session for the worker to validate: one import type's
    file, or (`WORKBOOK`) a workbook whose sheets are named after import types; a CSV is read
    with `encoding` and `delimiter`, a workbook for one type at its `sheet`, when given (as
    `run_import` reads them). The session and its audit row commit together. A file's rows
    are counted (so that its progress can be a percentage) while it is stored, in the same
    transaction: more than `limits` allow is `TooManyRows`, and nothing is kept."""
    if import_type != WORKBOOK:
        db.catalog[import_type]  # an unknown type is a ConfigurationError now, not later
    choice = OnExisting(check_on_existing(on_existing))
    name = storage.safe_name(file_name)
    read = ReadOptions(encoding, sheet, delimiter=delimiter, limits=limits or Limits())
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="count") as counter,
        db.connect() as conn,
        conn.begin(),
    ):
        counted = (
            None if import_type == WORKBOOK else counter.submit(_count_rows, content, name, read)
        )
        session_id = storage.insert(
            conn,
            owner=owner,
            import_type=import_type,
            file_name=file_name,
            content=content,
            on_existing=choice,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
        )
        if counted is not None:
            storage.update(conn, session_id, rows_total=counted.result())
        found = storage.read(conn, session_id)
        audit.write(
            conn,
            actor=owner,
            via=Via.api,
            action="upload",
            outcome="ok",
            remote=remote,
            file_sha256=found.file_sha256,
            detail=f"session {session_id}",
        )
    return found


def _count_rows(content: bytes, name: str, read: ReadOptions) -> int | None:
    """The file's data rows, read as a stream; None for a file that cannot be read (the
    validation reports every problem it has)."""
    with tempfile.TemporaryDirectory(prefix="batchport-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            with read.open(path) as source:
                return sum(len(block.numbers) for block in source.blocks(10_000))
        except TooManyRows as exc:  # named by the upload's name, not the server's copy
            raise TooManyRows(name, exc.limit, exc.row or 0) from None
        except SourceError:
            return None


def get_session(db: Database, session_id: str) -> Session:
    """A session's status, progress and counts."""
    return storage.get(db, session_id)


def session_errors(
    db: Database,
    session_id: str,
    *,
    offset: int = 0,
    limit: int | None = None,
    where: ErrorFilter | None = None,
) -> list[RowError]:
    """A page of a session's validation errors (all without `limit`; none until validated),
    filtered by column and problem."""
    storage.get(db, session_id)  # an unknown session is SessionNotFound, not "no errors"
    return storage.errors(db, session_id, offset=offset, limit=limit, where=where)


def sample_rows(db: Database, session_id: str, *, count: int = 10) -> list[dict[str, object]]:
    """The first rows of a session's file as they would be stored (each field parsed: text
    trimmed, e-mails as read, yes/no as true/false, codes split); none for a workbook."""
    session = storage.get(db, session_id)
    if session.import_type == WORKBOOK:
        return []
    import_type = db.catalog[session.import_type]
    read = ReadOptions(session.encoding, session.sheet, delimiter=session.delimiter)
    with storage.file_of(db, session_id) as path, read.open(path) as source:
        mapping, problems = map_header(import_type, source.header())
        if problems:
            return []
        chunk = next(parse_chunks(mapping, source.blocks(count), []), None)
    if chunk is None:
        return []
    return [
        {name: column[i] for name, column in zip(mapping.names, chunk.columns, strict=True)}
        for i in range(len(chunk))
    ]


def session_error_kinds(db: Database, session_id: str) -> list[tuple[str | None, str, int]]:
    """The most frequent kinds of a session's errors (column, problem) and their counts."""
    return storage.error_kinds(db, session_id)


def count_session_errors(db: Database, session_id: str, where: ErrorFilter) -> int:
    """How many of a session's errors a filter keeps."""
    return storage.error_count(db, session_id, where)


def export_session_errors(db: Database, session_id: str, out: Path, *, limits: Limits) -> int:
    """Writes a session's errors with their rows' cells to the CSV `out`; returns its lines."""
    session = storage.get(db, session_id)  # SessionNotFound for an unknown one
    found = storage.errors(db, session_id)
    with storage.file_of(db, session_id) as path:
        return export_errors(
            found,
            path,
            out,
            encoding=session.encoding,
            sheet=session.sheet,
            delimiter=session.delimiter,
            limits=limits,
        )


def commit_session(
    db: Database, session_id: str, *, actor: str, remote: str | None = None
) -> Session:
    """Queues the import of a valid session; committing again gives the same job. Audited
    with the commit, or (refused) on its own."""
    try:
        with db.connect() as conn, conn.begin():
            queued = states.queue(conn, session_id)
            audit.write(
                conn,
                actor=actor,
                via=Via.api,
                action="commit",
                outcome="ok",
                remote=remote,
                file_sha256=queued.file_sha256,
                detail=f"job {queued.job_id}",
            )
    except BatchportError as exc:
        refused = storage.get(db, session_id)
        audit.record(
            db,
            actor=actor,
            via=Via.api,
            action="commit",
            outcome="refused",
            remote=remote,
            file_sha256=refused.file_sha256,
            detail=str(exc),
        )
        raise
    return queued


#: A session's step, validation (`dry_run`) or import, run in this process or another:
#: (session, progress, dry_run) -> what the import would do, or did.
Step = Callable[[Session, Progress | None, bool], ImportReport]


class StepCrashed(Exception):
    """A step failed in another process, for a reason its text gives as a user sees it."""


def work_once(db: Database, limits: Limits, step: Step | None = None) -> bool:
    """The worker's step: puts right what dead workers left, deletes expired sessions, then
    validates or imports one waiting session (with `step`, by default `run_step` here); False
    if none waited."""
    storage.expire(db)
    states.recover(db)
    for waiting, working in states.STEPS:
        session_id = states.claim(db, waiting, working)
        if session_id is not None:
            chosen = step or _here(db, limits)
            _run(db, session_id, chosen, dry_run=waiting == SessionStatus.uploaded)
            return True
    return False


def _here(db: Database, limits: Limits) -> Step:
    """`run_step` in this process."""

    def step(session: Session, progress: Progress | None, dry_run: bool) -> ImportReport:
        return run_step(db, session, limits, progress=progress, dry_run=dry_run)

    return step


def _run(db: Database, session_id: str, step: Step, *, dry_run: bool) -> None:
    """Validates (`dry_run`) or imports the session's file and records the outcome; the
    session never stays claimed, whatever goes wrong."""
    session = storage.get(db, session_id)
    # SQLite has one writer: an import holds it to its end, so its progress would be written
    # only after it.
    quiet = not dry_run and db.dialect.name == "sqlite"
    writer = nullcontext(None) if quiet else ProgressWriter(db, session_id, every=PROGRESS_EVERY)
    try:  # the writer stops before the outcome is written
        with writer as progress:
            report = step(session, progress, dry_run)
    except FileRejected as exc:  # on commit: the database changed since the validation
        _rejected(db, session_id, exc, dry_run=dry_run)
    except (BatchportError, StepCrashed) as exc:
        storage.save(db, session_id, status=SessionStatus.failed, message=str(exc))
    except Exception as exc:  # never leave the session claimed: fail it, say why
        storage.save(db, session_id, status=SessionStatus.failed, message=internal_error(exc))
    else:
        _done(db, session_id, report, dry_run=dry_run)


def run_step(
    db: Database,
    session: Session,
    limits: Limits,
    *,
    progress: Progress | None,
    dry_run: bool,
) -> ImportReport:
    """Validates or imports the session's file, from a copy this process makes of it; what it
    raises names the upload, never the copy (`StepCrashed` for what is no BatchportError)."""
    copy = ""
    try:
        with storage.file_of(db, session.id) as path:
            copy = str(path)
            return _imported(db, session, path, limits, progress=progress, dry_run=dry_run)
    except FileRejected:
        raise
    except BatchportError as exc:
        if not copy or copy not in str(exc):
            raise
        raise BatchportError(str(exc).replace(copy, session.file_name)) from exc
    except Exception as exc:
        text = internal_error(exc)
        raise StepCrashed(text.replace(copy, session.file_name) if copy else text) from exc


def internal_error(exc: BaseException) -> str:
    """How a session shows a failure that is a bug (no BatchportError)."""
    return f"internal error: {type(exc).__name__}: {first_line(exc)}"[:2000]


def _imported(
    db: Database,
    session: Session,
    path: Path,
    limits: Limits,
    *,
    progress: Progress | None,
    dry_run: bool,
) -> ImportReport:
    """The session's file validated or imported: one type's file, or a workbook's sheets
    (their reports summed into one)."""
    common: dict[str, Any] = {
        "actor": session.owner,
        "via": Via.api,
        "dry_run": dry_run,
        "on_existing": session.on_existing,
        "limits": limits,
        "job_id": None if dry_run else session.job_id,
        "progress": progress,
    }
    if session.import_type != WORKBOOK:
        return run_import(
            db,
            session.import_type,
            path,
            encoding=session.encoding,
            sheet=session.sheet,
            delimiter=session.delimiter,
            **common,
        )
    sheets = run_workbook_import(db, path, **common)
    created: dict[str, int] = {}
    for sheet in sheets:
        for table, count in sheet.created.items():
            created[table] = created.get(table, 0) + count
    return ImportReport(
        import_type=WORKBOOK,
        file_name=path.name,
        status=sheets[0].status if sheets else "valid",
        rows_total=sum(r.rows_total for r in sheets),
        rows_imported=sum(r.rows_imported for r in sheets),
        batch_id=sheets[0].batch_id if sheets else None,
        dry_run=dry_run,
        created=created,
        updated=sum(r.updated for r in sheets),
        skipped=sum(r.skipped for r in sheets),
        unchanged=sum(r.unchanged for r in sheets),
    )


def _rejected(db: Database, session_id: str, exc: FileRejected, *, dry_run: bool) -> None:
    rows = {"rows_read": exc.report.rows_total, "rows_total": exc.report.rows_total}
    storage.reject(
        db,
        session_id,
        exc.errors,
        status=SessionStatus.invalid if dry_run else SessionStatus.failed,
        message=str(exc),
        **(rows if dry_run else {}),
    )


def _done(db: Database, session_id: str, report: ImportReport, *, dry_run: bool) -> None:
    """Keeps the report's counts as the session's: what the import would do, or did."""
    done: dict[str, object] = (
        {"status": SessionStatus.valid, "message": None}
        if dry_run
        else {"status": SessionStatus.committed, "message": f"batch {report.batch_id}"}
    )
    storage.save(
        db,
        session_id,
        rows_read=report.rows_total,
        rows_total=report.rows_total,
        created=stored_counts(report),
        **done,
    )
