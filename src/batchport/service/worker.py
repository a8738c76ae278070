"""SQLite's background worker for the service: a thread that validates and imports waiting
sessions (through the use case `commands.work_once`) until told to stop; each step runs in a
process of its own when the server could start the helper that forks them
(`batchport.workers.steps`). On PostgreSQL the queue's worker does this
(`batchport.workers.queue`)."""

import logging
import threading

from batchport import commands
from batchport.commands.steps import Step
from batchport.database import Database
from batchport.sources import Limits

LOG = logging.getLogger("batchport.service")
#: How often an idle worker looks for waiting sessions (seconds).
POLL_SECONDS = 0.2


def work(
    db: Database,
    limits: Limits,
    stop: threading.Event,
    wake: threading.Event,
    step: Step | None = None,
) -> None:
    """Works until `stop` is set (`wake` too, to end a pause), pausing while there is nothing
    to do until `wake` is set or `POLL_SECONDS` have passed (a session may come from another
    server); `step` runs each validation and import (by default in this thread)."""
    while not stop.is_set():
        try:
            busy = commands.work_once(db, limits, step)
        except Exception:  # the worker must outlive any one failure: log it, go on
            LOG.exception("the background worker failed; trying again shortly")
            busy = False
        if not busy:
            wake.wait(POLL_SECONDS)
            wake.clear()
