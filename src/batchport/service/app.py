"""The REST API: a FastAPI app of routers over the use cases, with accounts, roles and an
audit row for everything that changes something or is refused.

    dependencies.py  the database, the limits, the caller and its rights
    models.py        request and response bodies
    problems.py      the error shape and the status of each refusal
    routers/         sessions, history, rollback, accounts
    worker.py        SQLite's background thread that validates and imports sessions
                     (on PostgreSQL, procrastinate's worker: `batchport.workers.queue`)

(No `from __future__ import annotations` in the service: FastAPI reads the handlers'
annotations at run time.)
"""

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from batchport import heartbeat
from batchport.commands import WORKBOOK
from batchport.database import Database
from batchport.queueing import uses_job_queue
from batchport.service import headers, models, problems, web
from batchport.service.dependencies import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS, Settings
from batchport.service.routers import accounts, history, rollback, sessions, types
from batchport.service.throttle import Throttle
from batchport.service.worker import work
from batchport.sources import Limits
from batchport.workers.steps import StepPool


def create_app(
    db: Database,
    *,
    worker: bool = True,
    limits: Limits | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    throttle: Throttle | None = None,
) -> FastAPI:
    """The API over `db` (its catalog is the import types offered); with `worker`, a
    background thread validates and imports. `limits` bound what a file may hold,
    `max_upload_bytes` its size; `throttle` counts failed requests (see `throttle.py`)."""
    config = Settings(
        db, limits or Limits(max_rows=MAX_UPLOAD_ROWS), max_upload_bytes, throttle or Throttle()
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db.ensure_ready()
        if not worker:
            yield
            return
        # Forked first, while this process still has one thread (see workers/steps.py).
        with heartbeat.beating(db):
            pool = StepPool.start(db, config.read_limits, 1)
            try:
                async with _worker(db, config, pool):
                    yield
            finally:
                if pool is not None:
                    pool.close()

    app = FastAPI(
        title="batchport",
        version="1",
        description="Import spreadsheets so that every import can be taken back exactly.",
        lifespan=lifespan,
        responses=problems.ERRORS,
        docs_url=None,  # served from the package instead, below: no CDN
        redoc_url=None,
    )
    app.state.settings = config
    problems.install(app, pages=(web.PREFIX, web.error_page))
    headers.install(app)
    web.install(app)
    app.get("/health", tags=["service"], response_model=models.Health)(health)
    app.include_router(sessions.upload_router([*db.catalog, WORKBOOK]))
    routers = (sessions.router, history.router, rollback.router, types.router, accounts.router)
    for router in routers:
        app.include_router(router)
    return app


@asynccontextmanager
async def _worker(db: Database, config: Settings, pool: StepPool | None) -> AsyncIterator[None]:
    """The server's own worker while the block runs: procrastinate's in the server's event
    loop on PostgreSQL, a thread reading the sessions table on SQLite."""
    if uses_job_queue(db.dialect.name):
        from batchport.workers.queue import alongside, stopped  # noqa: PLC0415 - PostgreSQL

        task = asyncio.create_task(
            alongside(db, config.read_limits, pool, heartbeat.configured_timeout())
        )
        try:
            yield
        finally:
            await stopped(task)
        return
    stop = threading.Event()
    step = pool.step if pool else None
    thread = threading.Thread(
        target=work, args=(db, config.read_limits, stop, config.wake, step), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        config.wake.set()
        thread.join(timeout=30)


def health() -> dict[str, str]:
    """Whether the service runs (no token needed)."""
    return {"status": "ok"}
