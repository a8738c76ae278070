"""The use cases of the worker's steps: validate or import a waiting session (the oldest,
for SQLite's in-process worker; the one a queue's job names, for `batchport worker`), run a
rollback request (`commands.rollbacks.run_rollback_request`), and look after what dead
workers left. A step is safe to run twice: the session moves only from the state it
expects."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from batchport.commands.imports import run_import, run_workbook_import
from batchport.commands.rollbacks import run_rollback_request
from batchport.database import Database
from batchport.errors import BatchportError, FileRejected, SessionNotFound, internal_error
from batchport.importing import Progress
from batchport.liveness import worker_alive
from batchport.process import this_worker
from batchport.queueing import uses_job_queue
from batchport.reports import ImportReport
from batchport.rollback import requests
from batchport.sessions import Session, states, storage
from batchport.sessions.progress import ProgressWriter
from batchport.sessions.record import stored_counts
from batchport.sources import Limits
from batchport.vocabulary import WORKBOOK, SessionStatus, Via

#: Progress is written to the session at most this often (seconds).
PROGRESS_EVERY = 0.5


#: A session's step, validation (`dry_run`) or import, run in this process or another:
#: (session, progress, dry_run) -> what the import would do, or did.
Step = Callable[[Session, Progress | None, bool], ImportReport]


class StepCrashed(Exception):
    """A step failed in another process, for a reason its text gives as a user sees it."""


def work_once(db: Database, limits: Limits, step: Step | None = None) -> bool:
    """The worker's step: puts right what dead workers left, deletes expired sessions, then
    validates or imports one waiting session (with `step`, by default `run_step` here), or
    else runs the oldest rollback request; False if nothing waited."""
    storage.expire(db)
    states.recover(db)
    requests.recover(db)
    for waiting, working in states.STEPS:
        session_id = states.claim(db, waiting, working)
        if session_id is not None:
            chosen = step or _here(db, limits)
            _run(db, session_id, chosen, dry_run=waiting == SessionStatus.uploaded)
            return True
    return run_rollback_request(db)


def advance_session(
    db: Database, session_id: str, limits: Limits, step: Step | None = None
) -> bool:
    """The step a queue's job asks for: validates the session if it is uploaded, imports it
    if it is queued (with `step`, by default `run_step` here); False if it waits for neither
    (done already, taken by another worker, expired)."""
    try:
        session = storage.get(db, session_id)
    except SessionNotFound:
        return False
    for waiting, working in states.STEPS:
        if session.status == waiting and states.claim_session(db, session_id, waiting, working):
            chosen = step or _here(db, limits)
            _run(db, session_id, chosen, dry_run=waiting == SessionStatus.uploaded)
            return True
    return False


def upkeep(db: Database) -> None:
    """What a worker does between steps: deletes expired sessions, sweeps dead workers' jobs,
    puts their sessions right, and gives a job to every waiting session that lacks one."""
    storage.expire(db)
    states.recover(db)
    requests.recover(db)
    if uses_job_queue(db.dialect.name):
        from batchport.queueing.postgresql import requeue_orphans  # noqa: PLC0415

        with db.connect() as conn, conn.begin():
            requeue_orphans(conn)


def abandoned(db: Database, session_id: str) -> bool:
    """Whether no live worker is at the session's step (a stalled job's session: one being
    validated or imported by a worker that still lives is left to it)."""
    with db.connect() as conn:
        found = states.worker_of(conn, session_id)
        if found is None or found[0] not in {SessionStatus.validating, SessionStatus.committing}:
            return True
        return not worker_alive(db, conn, found[1])


def request_abandoned(db: Database, request_id: str) -> bool:
    """Whether no live worker is at the rollback request (a stalled job's request)."""
    return requests.abandoned(db, request_id)


def _here(db: Database, limits: Limits) -> Step:
    """`run_step` in this process."""

    def step(session: Session, progress: Progress | None, dry_run: bool) -> ImportReport:
        return run_step(db, session, limits, progress=progress, dry_run=dry_run)

    return step


def _run(db: Database, session_id: str, step: Step, *, dry_run: bool) -> None:
    """Validates (`dry_run`) or imports the session's file and records the outcome, while
    this process's claim holds; the session never stays claimed, whatever goes wrong."""
    session = storage.get(db, session_id)
    working = SessionStatus.validating if dry_run else SessionStatus.committing
    claimed = (working, this_worker())
    # SQLite has one writer: an import holds it to its end, so its progress would be written
    # only after it.
    quiet = not dry_run and db.dialect.name == "sqlite"
    writer = nullcontext(None) if quiet else ProgressWriter(db, session_id, every=PROGRESS_EVERY)
    try:  # the writer stops before the outcome is written
        with writer as progress:
            report = step(session, progress, dry_run)
    except FileRejected as exc:  # on commit: the database changed since the validation
        _rejected(db, session_id, exc, claimed, dry_run=dry_run)
    except (BatchportError, StepCrashed) as exc:
        _failed(db, session_id, claimed, str(exc))
    except Exception as exc:  # never leave the session claimed: fail it, say why
        _failed(db, session_id, claimed, internal_error(exc))
    else:
        _done(db, session_id, report, claimed, dry_run=dry_run)


def _failed(db: Database, session_id: str, claimed: storage.Claim, message: str) -> None:
    storage.save(db, session_id, claimed=claimed, status=SessionStatus.failed, message=message)


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


def _rejected(
    db: Database, session_id: str, exc: FileRejected, claimed: storage.Claim, *, dry_run: bool
) -> None:
    rows = {"rows_read": exc.report.rows_total, "rows_total": exc.report.rows_total}
    storage.reject(
        db,
        session_id,
        exc.errors,
        claimed=claimed,
        status=SessionStatus.invalid if dry_run else SessionStatus.failed,
        message=str(exc),
        **(rows if dry_run else {}),
    )


def _done(
    db: Database,
    session_id: str,
    report: ImportReport,
    claimed: storage.Claim,
    *,
    dry_run: bool,
) -> None:
    """Keeps the report's counts as the session's: what the import would do, or did."""
    done: dict[str, object] = (
        {"status": SessionStatus.valid, "message": None}
        if dry_run
        else {"status": SessionStatus.committed, "message": f"batch {report.batch_id}"}
    )
    storage.save(
        db,
        session_id,
        claimed=claimed,
        rows_read=report.rows_total,
        rows_total=report.rows_total,
        created=stored_counts(report),
        **done,
    )
