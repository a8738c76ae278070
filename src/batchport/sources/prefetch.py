"""Reading ahead: a thread reads and parses the next chunks while the database loads this one.

The database driver releases the GIL while it waits for the server, so parsing the file and
the server's work on the rows (index and foreign-key maintenance) overlap instead of adding up.
At most `depth` chunks wait in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yields `items`, produced by a background thread up to `depth` items ahead.

    An exception raised while producing is raised here, at the item it stopped at. Leaving the
    loop early (or failing in it) stops the thread.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(ready, item, stop):
                    return
        except BaseException as exc:  # handed to the consumer, who raises it
            _put(ready, exc, stop)
            return
        _put(ready, _DONE, stop)

    worker = threading.Thread(target=produce, name="batchport-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
        except queue.Full:
            continue
        return True
    return False
