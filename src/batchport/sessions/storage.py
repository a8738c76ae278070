"""The `import_sessions` table: a session's row, its file and its errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from batchport import history
from batchport.database import Database
from batchport.errors import BatchNotFound, RowError, SessionNotFound
from batchport.reports import Job
from batchport.schema import import_session_errors, import_sessions
from batchport.sessions.record import FIELDS, Session
from batchport.vocabulary import OnExisting, SessionStatus

#: How long an uncommitted session is kept.
LIFETIME = dt.timedelta(hours=24)
#: Errors written per INSERT (a file may have hundreds of thousands).
ERRORS_PER_INSERT = 5_000
#: Bytes of an upload read from the database at a time.
READ_BYTES = 32 << 20


def insert(
    conn: sa.Connection,
    *,
    owner: str,
    import_type: str,
    file_name: str,
    content: bytes,
    on_existing: OnExisting,
    rows_total: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> str:
    """Stores an uploaded file as a new session, `uploaded`, in the caller's transaction;
    returns its id."""
    session_id = str(uuid.uuid4())
    stamp = history.now()
    conn.execute(
        import_sessions.insert().values(
            id=session_id,
            owner=owner,
            import_type=import_type,
            file_name=safe_name(file_name),
            file_sha256=hashlib.sha256(content).hexdigest(),
            content=content,
            on_existing=on_existing,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
            status=SessionStatus.uploaded,
            rows_total=rows_total,
            created_at=stamp,
            updated_at=stamp,
            expires_at=stamp + LIFETIME,
        )
    )
    return session_id


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


def read(conn: sa.Connection, session_id: str) -> Session:
    """The session (without its file or its errors), with its job's batch and status."""
    row = (
        conn.execute(
            sa.select(*(import_sessions.c[name] for name in FIELDS)).where(
                import_sessions.c.id == session_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise SessionNotFound(f"no import session {session_id}")
    return Session.from_row(row, _job(conn, row["job_id"]))


def get(db: Database, session_id: str) -> Session:
    """`read` in a connection of its own."""
    with db.connect() as conn:
        return read(conn, session_id)


@dataclass(frozen=True)
class ErrorFilter:
    """Which of a session's errors: of one column, and whose problem holds some text."""

    column: str | None = None
    problem: str | None = None

    def apply(self, statement: sa.Select[Any]) -> sa.Select[Any]:
        if self.column:
            statement = statement.where(import_session_errors.c.column_name == self.column)
        if self.problem:
            statement = statement.where(
                import_session_errors.c.message.contains(self.problem, autoescape=True)
            )
        return statement


def errors(
    db: Database,
    session_id: str,
    *,
    offset: int = 0,
    limit: int | None = None,
    where: ErrorFilter | None = None,
) -> list[RowError]:
    """A page of the session's validation errors, in the order they were found (all of them
    without `limit`), filtered."""
    statement = (where or ErrorFilter()).apply(
        sa.select(import_session_errors).where(import_session_errors.c.session_id == session_id)
    )
    statement = statement.order_by(import_session_errors.c.position).offset(offset).limit(limit)
    with db.connect() as conn:
        return [
            RowError(row.row, row.column_name, row.value, row.message, row.sheet)
            for row in conn.execute(statement)
        ]


def error_kinds(
    db: Database, session_id: str, *, most: int = 20
) -> list[tuple[str | None, str, int]]:
    """The most frequent (column, problem) pairs of the session's errors, with their counts."""
    count = sa.func.count().label("count")
    statement = (
        sa.select(import_session_errors.c.column_name, import_session_errors.c.message, count)
        .where(import_session_errors.c.session_id == session_id)
        .group_by(import_session_errors.c.column_name, import_session_errors.c.message)
        .order_by(count.desc(), import_session_errors.c.column_name)
        .limit(most)
    )
    with db.connect() as conn:
        return [(row.column_name, row.message, int(row[2])) for row in conn.execute(statement)]


def error_count(db: Database, session_id: str, where: ErrorFilter) -> int:
    """How many of the session's errors the filter keeps."""
    statement = where.apply(
        sa.select(sa.func.count())
        .select_from(import_session_errors)
        .where(import_session_errors.c.session_id == session_id)
    )
    with db.connect() as conn:
        return int(conn.execute(statement).scalar_one())


def reject(
    db: Database,
    session_id: str,
    found: list[RowError],
    *,
    claimed: Claim | None = None,
    **values: object,
) -> None:
    """Stores the session's errors and writes `values` to it, in one transaction (with
    `claimed`, only while the claim holds)."""
    with db.connect() as conn, conn.begin():
        if not update(conn, session_id, claimed=claimed, error_count=len(found), **values):
            return
        conn.execute(
            import_session_errors.delete().where(import_session_errors.c.session_id == session_id)
        )
        for start in range(0, len(found), ERRORS_PER_INSERT):
            conn.execute(
                import_session_errors.insert(),
                [
                    {
                        "session_id": session_id,
                        "position": start + i,
                        "row": e.row,
                        "column_name": e.column,
                        "value": e.value,
                        "message": e.message,
                        "sheet": e.sheet,
                    }
                    for i, e in enumerate(found[start : start + ERRORS_PER_INSERT])
                ],
            )


@contextmanager
def file_of(db: Database, session_id: str) -> Iterator[Path]:
    """The session's uploaded file, written to a temporary file for the readers, a piece at a
    time: a 50 MB upload read whole would cost three times its size (its text on the wire,
    then its bytes) wherever it is read."""
    content = import_sessions.c.content
    mine = import_sessions.c.id == session_id
    with tempfile.TemporaryDirectory(prefix="batchport-") as folder:
        with db.connect() as conn:
            row = conn.execute(
                sa.select(import_sessions.c.file_name, sa.func.length(content)).where(mine)
            ).first()
            if row is None:
                raise SessionNotFound(f"no import session {session_id}")
            path = Path(folder) / row[0]
            with path.open("wb") as out:
                for start in range(1, row[1] + 1, READ_BYTES):
                    piece = sa.func.substr(content, start, READ_BYTES, type_=sa.LargeBinary)
                    out.write(conn.execute(sa.select(piece).where(mine)).scalar_one())
        yield path


#: A worker's claim on a session: the status it moved the session to, and the worker's name.
Claim = tuple[str, str]


def save(db: Database, session_id: str, *, claimed: Claim | None = None, **values: object) -> bool:
    """Writes `values` to the session, in a transaction of its own (see `update`)."""
    with db.connect() as conn, conn.begin():
        return update(conn, session_id, claimed=claimed, **values)


def update(
    conn: sa.Connection, session_id: str, *, claimed: Claim | None = None, **values: object
) -> bool:
    """Writes `values` to the session, in the caller's transaction; with `claimed`, only
    while the session is still in that worker's hands (a worker taken for dead, that comes
    back after another finished the step, changes nothing). Whether it wrote."""
    statement = import_sessions.update().where(import_sessions.c.id == session_id)
    if claimed is not None:
        status, worker = claimed
        mine = (import_sessions.c.status == status, import_sessions.c.worker == worker)
        statement = statement.where(*mine)
    return bool(conn.execute(statement.values(**values, updated_at=history.now())).rowcount)


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


def job_of(conn: sa.Connection, session_id: str) -> Job | None:
    """The import job a session was committed as, if it has started."""
    job_id = conn.execute(
        sa.select(import_sessions.c.job_id).where(import_sessions.c.id == session_id)
    ).scalar()
    return _job(conn, job_id)


def _job(conn: sa.Connection, job_id: str | None) -> Job | None:
    """The job of this id, if it has started."""
    try:
        return history.find_job(conn, job_id) if job_id else None
    except BatchNotFound:
        return None
