"""A worker on the job queue (PostgreSQL): procrastinate's worker, running batchport's two
tasks (`queueing.postgresql.ADVANCE`: take a session one step on; `ROLLBACK`: run a rollback
request, in the worker's own process).

    run(db, ...)        `batchport worker`: until SIGINT or SIGTERM
    alongside(db, ...)  `batchport serve`: in the server's own event loop

Each step runs in a process of its own (`steps.py`), so `concurrency` steps run at once on
as many cores. Beside the steps, every third of the heartbeat timeout, the upkeep:
- sweeps dead workers' jobs and puts their sessions right, and gives a job to any waiting
  session that lacks one (`commands.upkeep`);
- closes the queue's stalled jobs (of workers procrastinate saw stop beating) whose session
  no live batchport worker is at, first: a stalled job holds its account's lock, and so the
  account's next jobs. The session's own state decides what is left to do (its step is
  deferred again by the upkeep, at the end of the account's line). A worker that is only
  paused keeps its session: its own beats (`batchport.heartbeat`) come from a process that
  was not paused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import procrastinate

from batchport import commands, heartbeat
from batchport.database import Database
from batchport.dialects.postgresql import application_name
from batchport.process import this_worker
from batchport.queueing.postgresql import ADVANCE, QUEUE, ROLLBACK
from batchport.sources import Limits
from batchport.workers.steps import StepPool

LOG = logging.getLogger("batchport.worker")
#: Finished jobs (and their events: when each was deferred, started, ended) are kept this
#: long for whoever looks into the queue (`procrastinate shell`), then deleted (hours).
KEEP_JOBS_HOURS = 7 * 24
#: How often the upkeep deletes them (seconds).
CLEAN_EVERY = 3600.0
#: How long a cancelled task is given to end before it is cancelled again (seconds).
CANCEL_WAIT = 5.0


def run(
    db: Database,
    limits: Limits,
    *,
    concurrency: int = 1,
    queues: Sequence[str] = (),
    name: str | None = None,
    timeout: float | None = None,
) -> None:
    """Works on the queue's steps, `concurrency` at once, until SIGINT or SIGTERM (then it
    takes no new step and finishes those under way: procrastinate's graceful stop)."""
    timeout = timeout or heartbeat.configured_timeout()
    db.catalog  # noqa: B018 - read once, here: every step's process inherits it
    # Forked first, while this process has one thread: the beats, then the steps' zygotes.
    with heartbeat.beating(db, timeout):
        pool = StepPool.start(db, limits, concurrency)
        try:
            asyncio.run(_work(db, limits, pool, concurrency, queues, name, timeout, signals=True))
        finally:
            if pool is not None:
                pool.close()


async def alongside(db: Database, limits: Limits, pool: StepPool | None, timeout: float) -> None:
    """Works on the queue's steps, one at a time, in the running event loop (a server's)
    until cancelled."""
    await _work(db, limits, pool, 1, (), None, timeout, signals=False)


async def _work(  # noqa: PLR0917 - the worker's options, passed on
    db: Database,
    limits: Limits,
    pool: StepPool | None,
    concurrency: int,
    queues: Sequence[str],
    name: str | None,
    timeout: float,
    *,
    signals: bool,
) -> None:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(db),
            min_size=1,
            max_size=concurrency + 4,
            # Named as batchport's own sessions are: the queue's count as this worker's.
            kwargs={"application_name": application_name(this_worker())},
        )
    )

    @app.task(name=ADVANCE, queue=QUEUE)
    def advance(session_id: str) -> None:
        commands.advance_session(db, session_id, limits, pool.step if pool else None)

    @app.task(name=ROLLBACK, queue=QUEUE)
    def rollback(request_id: str) -> None:
        commands.run_rollback_request(db, request_id)

    async with app.open_async():
        upkeep = asyncio.create_task(_upkeep(app, db, timeout))
        try:
            await app.run_worker_async(
                queues=list(queues) or [QUEUE],
                concurrency=concurrency,
                name=name or this_worker(),
                install_signal_handlers=signals,
                update_heartbeat_interval=timeout / heartbeat.BEATS_PER_TIMEOUT,
                stalled_worker_timeout=timeout,
                delete_jobs="never",
            )
        finally:
            await stopped(upkeep)


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancels the task and waits until it has ended, cancelling it again every
    `CANCEL_WAIT` seconds: a cancellation that lands as a task takes a step inside the
    connection pool can be lost (procrastinate#1591), and a shutdown would wait forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_WAIT)
    if not task.cancelled() and (error := task.exception()) is not None:
        LOG.error("the worker ended with an error", exc_info=error)


async def _upkeep(app: procrastinate.App, db: Database, timeout: float) -> None:
    """Looks after what dead workers left, every third of the heartbeat timeout, and deletes
    old finished jobs every `CLEAN_EVERY` seconds."""
    cleaned = -CLEAN_EVERY
    while True:
        try:
            await _close_stalled(app, db, timeout)
            await asyncio.to_thread(commands.upkeep, db)
            if time.monotonic() - cleaned >= CLEAN_EVERY:
                await app.job_manager.delete_old_jobs(
                    KEEP_JOBS_HOURS, queue=QUEUE, include_failed=True
                )
                cleaned = time.monotonic()
        except Exception:  # the upkeep must outlive any one failure: log it, go on
            LOG.exception("the worker's upkeep failed; trying again shortly")
        await asyncio.sleep(timeout / heartbeat.BEATS_PER_TIMEOUT)


#: Whether no live worker is at what a task's job works on, by its task and its argument.
ABANDONED = {
    ADVANCE: ("session_id", commands.abandoned),
    ROLLBACK: ("request_id", commands.request_abandoned),
}


async def _close_stalled(app: procrastinate.App, db: Database, timeout: float) -> None:
    """Marks failed each stalled job whose session (or rollback request) no live worker is
    at."""
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=timeout)
    for job in stalled:
        if job.task_name not in ABANDONED:
            continue
        argument, abandoned = ABANDONED[job.task_name]
        waiting_id = str(job.task_kwargs.get(argument))
        if not await asyncio.to_thread(abandoned, db, waiting_id):
            continue
        try:
            await app.job_manager.finish_job(job, procrastinate.jobs.Status.FAILED, False)
        except procrastinate.exceptions.ConnectorException:  # another worker's upkeep was first
            continue
        LOG.warning("job %s (%s %s) stalled: closed as failed", job.id, argument, waiting_id)


def conninfo(db: Database) -> str:
    """The database's URL as libpq reads it."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
