"""The REST API: a FastAPI app of routers over the use cases, with accounts, roles and an
audit row for everything that changes something or is refused.

    dependencies.py  the database, the limits, the caller and its rights
    models.py        request and response bodies
    problems.py      the error shape and the status of each refusal
    routers/         sessions, history, rollback, accounts
    worker.py        the background thread that validates and imports sessions
    steps.py         each validation and import in a process of its own

(No `from __future__ import annotations` in the service: FastAPI reads the handlers'
annotations at run time.)
"""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from batchport.commands import WORKBOOK
from batchport.database import Database
from batchport.service import headers, models, problems, web
from batchport.service.dependencies import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS, Settings
from batchport.service.routers import accounts, history, rollback, sessions, types
from batchport.service.steps import Zygote
from batchport.service.throttle import Throttle
from batchport.service.worker import work
from batchport.sources import Limits


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
        stop = threading.Event()
        # Forked first, while this process still has one thread (see steps.py).
        zygote = Zygote.start(db, config.read_limits) if worker else None
        step = zygote.step if zygote else None
        thread = threading.Thread(
            target=work, args=(db, config.read_limits, stop, config.wake, step), daemon=True
        )
        if worker:
            thread.start()
        yield
        stop.set()
        config.wake.set()
        if worker:
            thread.join(timeout=30)
        if zygote:
            zygote.close()

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


def health() -> dict[str, str]:
    """Whether the service runs (no token needed)."""
    return {"status": "ok"}
