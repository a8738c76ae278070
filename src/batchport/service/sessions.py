"""Import sessions: an uploaded file, kept in the database with its options and owner, that
a background worker validates and, once committed by its owner, imports as a job.

    uploaded -> validating -> valid | invalid | failed
    valid -> queued -> committing -> committed | failed

Every step is claimed with a conditional UPDATE (from the state it expects), so that any
number of server processes can share the work and a session is never processed twice.
A worker that dies mid-step leaves its claim behind: `validating` goes back to `uploaded`
when its process is gone, and `committing` follows its import job, which the sweep marks
`failed: interrupted`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from batchport import commands, history
from batchport.database import Database
from batchport.errors import (
    BatchNotFound,
    BatchportError,
    FileRejected,
    RowError,
    SessionConflict,
    SessionNotFound,
    first_line,
)
from batchport.importing import Progress
from batchport.liveness import process_alive, sweep
from batchport.process import this_worker
from batchport.reports import Job
from batchport.schema import import_sessions
from batchport.sources import Limits
from batchport.vocabulary import SessionStatus

#: How long an uncommitted session is kept.
LIFETIME = dt.timedelta(hours=24)
#: Progress is written to the session at most this often (seconds).
PROGRESS_EVERY = 0.5
#: Statuses in which a session has done its work for good.
FINAL = (
    SessionStatus.committed,
    SessionStatus.invalid,
    SessionStatus.failed,
    SessionStatus.expired,
)


def create(
    db: Database,
    *,
    owner: str,
    import_type: str,
    file_name: str,
    content: bytes,
    on_existing: str,
    rows_total: int | None = None,
) -> dict[str, Any]:
    """Stores an uploaded file as a new session, `uploaded`, for the worker to validate
    (`rows_total`, when counted, makes its progress a percentage)."""
    db.catalog[import_type]  # an unknown type is a ConfigurationError now, not later
    commands.check_on_existing(on_existing)
    session_id = str(uuid.uuid4())
    stamp = history.now()
    with db.connect() as conn, conn.begin():
        conn.execute(
            import_sessions.insert().values(
                id=session_id,
                owner=owner,
                import_type=import_type,
                file_name=safe_name(file_name),
                file_sha256=hashlib.sha256(content).hexdigest(),
                content=content,
                on_existing=on_existing,
                status="uploaded",
                rows_total=rows_total,
                created_at=stamp,
                updated_at=stamp,
                expires_at=stamp + LIFETIME,
            )
        )
    return get(db, session_id)


def safe_name(file_name: str) -> str:
    """The upload's base name, printable, never `.` or `..` (the worker writes the file under
    this name); its suffix, which picks the reader, is kept."""
    name = "".join(c for c in Path(file_name.replace("\\", "/")).name if c.isprintable())
    if not name.strip(". "):
        return "upload.csv"
    stem, suffix = Path(name).stem, Path(name).suffix[:20]
    while len((stem + suffix).encode()) > 200:  # file systems allow 255 bytes
        stem = stem[:-1]
    return (stem or "upload") + suffix


def get(db: Database, session_id: str) -> dict[str, Any]:
    """The session as the API shows it (without its file or its errors)."""
    shown = [c for c in import_sessions.c if c.name not in {"content", "errors", "worker"}]
    with db.connect() as conn:
        row = (
            conn.execute(sa.select(*shown).where(import_sessions.c.id == session_id))
            .mappings()
            .first()
        )
        job = _job_of(conn, session_id) if row is not None and row["job_id"] else None
    if row is None:
        raise SessionNotFound(f"no import session {session_id}")
    found = dict(row)
    found["batch_id"] = job.batch_id if job else None
    found["job_status"] = job.status if job else None
    found["created"] = json.loads(found["created"]) if found["created"] else None
    total = found["rows_total"]
    found["progress"] = (
        100
        if found["status"] in {*FINAL, "valid"}
        else (min(99, int(100 * found["rows_read"] / total)) if total else 0)
    )
    return found


def errors(db: Database, session_id: str) -> list[RowError]:
    """The session's validation errors (empty until validated)."""
    with db.connect() as conn:
        text = conn.execute(
            sa.select(import_sessions.c.errors).where(import_sessions.c.id == session_id)
        ).scalar()
    return [RowError(**e) for e in json.loads(text or "[]")]


@contextmanager
def file_of(db: Database, session_id: str) -> Iterator[Path]:
    """The session's uploaded file, written to a temporary file for the readers."""
    with db.connect() as conn:
        row = conn.execute(
            sa.select(import_sessions.c.file_name, import_sessions.c.content).where(
                import_sessions.c.id == session_id
            )
        ).first()
    if row is None:
        raise SessionNotFound(f"no import session {session_id}")
    with tempfile.TemporaryDirectory(prefix="batchport-") as folder:
        path = Path(folder) / row.file_name
        path.write_bytes(row.content)
        yield path


def commit(db: Database, session_id: str) -> dict[str, Any]:
    """Queues a `valid` session's import; returns the session with its job id. Committing
    again (also concurrently) gives the same job: only one UPDATE moves it from `valid`."""
    job_id = str(uuid.uuid4())
    with db.connect() as conn, conn.begin():
        conn.execute(
            import_sessions.update()
            .where(import_sessions.c.id == session_id, import_sessions.c.status == "valid")
            .values(status="queued", job_id=job_id, updated_at=history.now())
        )
    found = get(db, session_id)
    if found["job_id"] is None:
        raise SessionConflict(
            f"import session {session_id} is {found['status']}; only a valid session can be "
            "committed"
        )
    return found


def expire(db: Database) -> int:
    """Deletes sessions past their lifetime that hold no job; returns how many."""
    with db.connect() as conn, conn.begin():
        result = conn.execute(
            import_sessions.delete().where(
                import_sessions.c.expires_at < history.now(),
                import_sessions.c.job_id.is_(None),
            )
        )
    return result.rowcount


def work_once(db: Database, limits: Limits) -> bool:
    """Does one piece of waiting work (a validation, then a commit); False if there was none."""
    _recover(db)
    for waiting, working, run in (
        ("uploaded", "validating", _validate),
        ("queued", "committing", _import),
    ):
        session_id = _claim(db, waiting, working)
        if session_id is not None:
            run(db, session_id, limits)
            return True
    return False


def _claim(db: Database, waiting: str, working: str) -> str | None:
    with db.connect() as conn:
        candidates = (
            conn.execute(
                sa.select(import_sessions.c.id)
                .where(import_sessions.c.status == waiting)
                .order_by(import_sessions.c.created_at)
                .limit(5)
            )
            .scalars()
            .all()
        )
        conn.rollback()
        for session_id in candidates:
            with conn.begin():
                claimed = conn.execute(
                    import_sessions.update()
                    .where(import_sessions.c.id == session_id, import_sessions.c.status == waiting)
                    .values(status=working, worker=this_worker(), updated_at=history.now())
                ).rowcount
            if claimed:
                return str(session_id)
    return None


def _update(db: Database, session_id: str, **values: object) -> None:
    with db.connect() as conn, conn.begin():
        conn.execute(
            import_sessions.update()
            .where(import_sessions.c.id == session_id)
            .values(**values, updated_at=history.now())
        )


def _progress(db: Database, session_id: str) -> Progress:
    last = [0.0]

    def report(_phase: str, rows: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            _update(db, session_id, rows_read=rows)

    return report


def _validate(db: Database, session_id: str, limits: Limits) -> None:
    _run(db, session_id, limits, dry_run=True)


def _import(db: Database, session_id: str, limits: Limits) -> None:
    _run(db, session_id, limits, dry_run=False)


def _run(db: Database, session_id: str, limits: Limits, *, dry_run: bool) -> None:
    """Validates (`dry_run`) or imports the session's file and records the outcome; the
    session never stays claimed, whatever goes wrong."""
    session = get(db, session_id)
    # SQLite has one writer: an import holds it, so its progress cannot be written.
    quiet = not dry_run and db.dialect.name == "sqlite"
    try:
        with file_of(db, session_id) as path:
            report = commands.run_import(
                db,
                session["import_type"],
                path,
                actor=session["owner"],
                dry_run=dry_run,
                on_existing=session["on_existing"],
                limits=limits,
                job_id=None if dry_run else session["job_id"],
                progress=None if quiet else _progress(db, session_id),
            )
    except FileRejected as exc:  # on commit: the database changed since the validation
        rows = {"rows_read": exc.report.rows_total, "rows_total": exc.report.rows_total}
        _update(
            db,
            session_id,
            status="invalid" if dry_run else "failed",
            error_count=len(exc.errors),
            errors=json.dumps([error_json(e) for e in exc.errors]),
            message=str(exc),
            **(rows if dry_run else {}),
        )
    except BatchportError as exc:
        _update(db, session_id, status="failed", message=str(exc))
    except Exception as exc:  # never leave the session claimed: fail it, say why
        _update(db, session_id, status="failed", message=_unexpected(exc))
    else:
        if dry_run:
            counts = {
                **report.created,
                "updated": report.updated,
                "skipped": report.skipped,
                "unchanged": report.unchanged,
            }
            done = {"status": "valid", "rows_total": report.rows_total, "message": None}
        else:
            counts = report.created
            done = {"status": "committed", "message": f"batch {report.batch_id}"}
        _update(db, session_id, rows_read=report.rows_total, created=json.dumps(counts), **done)


def _recover(db: Database) -> None:
    """Puts right what dead workers left: a validation goes back in the queue; a commit takes
    the outcome of its job (which the sweep has marked failed if its worker died)."""
    with db.connect() as conn:
        stuck = conn.execute(
            sa.select(
                import_sessions.c.id, import_sessions.c.status, import_sessions.c.worker
            ).where(import_sessions.c.status.in_(("validating", "committing")))
        ).all()
        conn.rollback()
        dead = [(i, status) for i, status, worker in stuck if not process_alive(worker)]
        if any(status == "committing" for _, status in dead):
            sweep(db)  # the dead worker's import job: `failed: interrupted`
        for session_id, status in dead:
            with conn.begin():
                if status == "validating":
                    conn.execute(
                        import_sessions.update()
                        .where(
                            import_sessions.c.id == session_id,
                            import_sessions.c.status == "validating",
                        )
                        .values(status="uploaded", worker=None)
                    )
                    continue
                job = _job_of(conn, session_id)
                if job is not None and job.status == "running":
                    continue  # the sweep decides first
                done = job is not None and job.status == "completed"
                conn.execute(
                    import_sessions.update()
                    .where(
                        import_sessions.c.id == session_id,
                        import_sessions.c.status == "committing",
                    )
                    .values(
                        status="committed" if done else "failed",
                        message=f"batch {job.batch_id}" if done and job else "interrupted",
                    )
                )


def _job_of(conn: sa.Connection, session_id: str) -> Job | None:
    """The import job a session was committed as, if it has started."""
    job_id = conn.execute(
        sa.select(import_sessions.c.job_id).where(import_sessions.c.id == session_id)
    ).scalar()
    try:
        return history.find_job(conn, job_id) if job_id else None
    except BatchNotFound:
        return None


def _unexpected(exc: Exception) -> str:
    return f"internal error: {type(exc).__name__}: {first_line(exc)}"[:2000]


def error_json(error: RowError) -> dict[str, Any]:
    """A row error as the API shows it."""
    return {
        "row": error.row,
        "column": error.column,
        "value": error.value,
        "message": error.message,
        "sheet": error.sheet,
    }
