"""The service's background worker: a thread that validates and imports waiting sessions
(through the use case `commands.work_once`) until told to stop."""

import logging
import threading

from batchport import commands
from batchport.database import Database
from batchport.sources import Limits

LOG = logging.getLogger("batchport.service")
#: How often an idle worker looks for waiting sessions (seconds).
POLL_SECONDS = 0.2


def work(db: Database, limits: Limits, stop: threading.Event) -> None:
    """Works until `stop` is set, pausing while there is nothing to do."""
    while not stop.is_set():
        try:
            busy = commands.work_once(db, limits)
        except Exception:  # the worker must outlive any one failure: log it, go on
            LOG.exception("the background worker failed; trying again shortly")
            busy = False
        if not busy:
            stop.wait(POLL_SECONDS)
