"""The `rollback_requests` table: a rollback asked for through the API, from its wait for a
worker to its outcome, which the client follows.

    queued -> rolling_back -> rolled_back | failed

Every move is a conditional UPDATE from the status it expects, so a request is run once
however many workers are handed it. At most one request of an import job is open (queued
or rolling back), which a unique index holds to: asking again while one is open gives that
one. A worker that dies mid-rollback leaves its request `rolling_back`; `recover` gives it
the outcome of the import job's rollback (`rolled_back`, or `failed: interrupted`, nothing
changed).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from batchport import history, queueing
from batchport.database import Database
from batchport.liveness import INTERRUPTED, sweep, worker_alive
from batchport.process import this_worker
from batchport.reports import Job, json_values, utc
from batchport.schema import import_history, rollback_requests
from batchport.vocabulary import OPEN_REQUESTS, JobStatus, RequestStatus

_REQUESTS = rollback_requests.c


@dataclass(frozen=True)
class Request:
    """A rollback asked for through the API. `outcome` is the rollback's report once
    `rolled_back`, the error (`code`, `message`, `details`) once `failed`; None before."""

    id: str
    job_id: str
    batch_id: str
    owner: str
    remote: str | None
    reason: str | None
    force_edited: bool
    status: str
    outcome: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def working(self) -> bool:
        """Whether it is open: waiting for a worker, or being rolled back."""
        return self.status in OPEN_REQUESTS

    def to_json(self) -> dict[str, Any]:
        """The request as the API shows it: its outcome as `report` or `error` (the
        caller's address is for the audit log only)."""
        values = json_values(asdict(self))
        outcome = values.pop("outcome")
        del values["remote"]
        done = self.status == RequestStatus.rolled_back
        return {**values, "report": outcome if done else None, "error": None if done else outcome}


def open_request(
    conn: sa.Connection,
    job: Job,
    *,
    owner: str,
    remote: str | None,
    reason: str | None,
    force_edited: bool,
) -> tuple[Request, bool]:
    """Opens a request for the job's rollback and puts it on the queue, in the caller's
    transaction; or, if one is open already (also one opened concurrently), that one. The
    request, and whether it is new."""
    request_id = str(uuid.uuid4())
    stamp = history.now()
    try:
        with conn.begin_nested():
            conn.execute(
                rollback_requests.insert().values(
                    id=request_id,
                    job_id=job.job_id,
                    owner=owner,
                    remote=remote,
                    reason=reason,
                    force_edited=force_edited,
                    status=RequestStatus.queued,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
    except sa.exc.IntegrityError:  # one is open: the unique index keeps it the only one
        found = open_of(conn, job)
        assert found is not None
        return found, False
    queueing.enqueue_rollback(conn, request_id, owner)
    return get(conn, request_id), True


def open_of(conn: sa.Connection, job: Job) -> Request | None:
    """The job's open request (queued or rolling back), if it has one."""
    found = _select().where(_REQUESTS.job_id == job.job_id, _REQUESTS.status.in_(OPEN_REQUESTS))
    row = conn.execute(found).mappings().first()
    return None if row is None else _request(row)


def latest(conn: sa.Connection, job_id: str) -> Request | None:
    """The job's latest rollback request, if it has any."""
    found = _select().where(_REQUESTS.job_id == job_id).order_by(_REQUESTS.created_at.desc())
    row = conn.execute(found.limit(1)).mappings().first()
    return None if row is None else _request(row)


def get(conn: sa.Connection, request_id: str) -> Request:
    """The request (KeyError if there is none)."""
    row = conn.execute(_select().where(_REQUESTS.id == request_id)).mappings().first()
    if row is None:
        raise KeyError(request_id)
    return _request(row)


def claim(db: Database, request_id: str | None = None) -> Request | None:
    """Claims the request (by default the oldest queued) for this process, moving it to
    `rolling_back`; None if it is not queued (run already, or taken by another worker)."""
    with db.connect() as conn:
        if request_id is None:
            waiting = sa.select(_REQUESTS.id).where(_REQUESTS.status == RequestStatus.queued)
            request_id = conn.execute(waiting.order_by(_REQUESTS.created_at).limit(1)).scalar()
            conn.rollback()
            if request_id is None:
                return None
        with conn.begin():
            moved = _move(
                conn,
                request_id,
                RequestStatus.queued,
                status=RequestStatus.rolling_back,
                worker=this_worker(),
            )
            return get(conn, request_id) if moved else None


def finish(db: Database, request_id: str, status: RequestStatus, outcome: Any) -> None:
    """Records the outcome of a request this process is rolling back, while it is still in
    its hands (not if it was taken for dead meanwhile)."""
    with db.connect() as conn, conn.begin():
        _move(
            conn,
            request_id,
            RequestStatus.rolling_back,
            by=this_worker(),
            status=status,
            outcome=json.dumps(outcome, default=str),
        )


def abandoned(db: Database, request_id: str) -> bool:
    """Whether no live worker is at the request (a live one that is rolling it back keeps
    it)."""
    with db.connect() as conn:
        row = conn.execute(
            sa.select(_REQUESTS.status, _REQUESTS.worker).where(_REQUESTS.id == request_id)
        ).first()
        if row is None or row.status != RequestStatus.rolling_back:
            return True
        return not worker_alive(db, conn, row.worker)


def recover(db: Database) -> None:
    """Gives each request whose worker died mid-rollback the outcome of its job's rollback:
    `rolled_back` if the rollback committed, else `failed: interrupted` (its job is swept
    first, from `rolling_back` to `rollback_failed`)."""
    dead = list(_dead(db))
    if not dead:
        return
    sweep(db)
    with db.connect() as conn:
        for request_id, job_id in dead:
            with conn.begin():
                status = conn.execute(
                    sa.select(import_history.c.status).where(import_history.c.job_id == job_id)
                ).scalar_one()
                done = status == JobStatus.rolled_back
                outcome = {"code": "interrupted", "message": INTERRUPTED}
                _move(
                    conn,
                    request_id,
                    RequestStatus.rolling_back,
                    status=RequestStatus.rolled_back if done else RequestStatus.failed,
                    outcome=None if done else json.dumps(outcome),
                )


def _dead(db: Database) -> Iterator[tuple[str, str]]:
    """The requests being rolled back by workers that are gone: (id, job id)."""
    with db.connect() as conn:
        working = conn.execute(
            sa.select(_REQUESTS.id, _REQUESTS.job_id, _REQUESTS.worker).where(
                _REQUESTS.status == RequestStatus.rolling_back
            )
        ).all()
        conn.rollback()
        for request_id, job_id, worker in working:
            if not worker_alive(db, conn, worker):
                yield request_id, str(job_id)


def _move(
    conn: sa.Connection,
    request_id: str,
    expected: str,
    *,
    by: str | None = None,
    **values: object,
) -> bool:
    """Moves the request from `expected` only (and, with `by`, only from that worker's
    hands)."""
    statement = rollback_requests.update().where(
        _REQUESTS.id == request_id, _REQUESTS.status == expected
    )
    if by is not None:
        statement = statement.where(_REQUESTS.worker == by)
    moved = conn.execute(statement.values(**values, updated_at=history.now()))
    return bool(moved.rowcount)


def _select() -> sa.Select[Any]:
    return sa.select(
        *(c for c in rollback_requests.c if c.name != "worker"), import_history.c.batch_id
    ).join_from(rollback_requests, import_history, _REQUESTS.job_id == import_history.c.job_id)


def _request(row: sa.RowMapping) -> Request:
    values = {name: row[name] for name in Request.__dataclass_fields__}
    values.update(
        job_id=str(values["job_id"]),
        batch_id=str(values["batch_id"]),
        outcome=json.loads(values["outcome"]) if values["outcome"] else None,
        created_at=utc(values["created_at"]),
        updated_at=utc(values["updated_at"]),
    )
    return Request(**values)
