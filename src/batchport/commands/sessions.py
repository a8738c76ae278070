"""The use cases of import sessions: upload a file, read it back with its errors, commit it
(the worker's steps that validate and import it are `steps.py`). Uploads and commits are
audited, and their steps queued, in the transaction that makes them."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from batchport import audit, queueing
from batchport.columns.mapping import map_header
from batchport.columns.rows import parse_chunks
from batchport.commands.imports import (
    check_on_existing,
    export_errors,
)
from batchport.database import Database
from batchport.errors import (
    BatchportError,
    RowError,
    SourceError,
    TooManyRows,
)
from batchport.importing import ReadOptions
from batchport.sessions import Session, states, storage
from batchport.sessions.storage import ErrorFilter
from batchport.sources import Limits
from batchport.vocabulary import WORKBOOK, OnExisting, Via


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
        queueing.enqueue(conn, session_id, owner)
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
