"""Reading ahead: the next chunks are read and parsed while the database loads this one.

In a thread, where the database driver waits on the server with the GIL released (psycopg):
parsing and the server's work (index and foreign-key maintenance) overlap. In a forked
process, where the driver drops and retakes the GIL for every row (sqlite3): a thread there
would make the two take turns, a process lets them run on two cores. At most `depth` chunks
wait in memory either way.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

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


def prefetch_in_process(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yields `items`, produced by a forked child process up to `depth` items ahead.

    The child starts from this process's state (open files included) and must be the only one
    to go on reading them. What it raises is raised here; leaving the loop ends the child.
    """
    context = multiprocessing.get_context("fork")
    ready: Any = context.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for item in items:
                ready.put((True, item))
        except BaseException as exc:  # handed to the parent, who raises it
            ready.put((False, _picklable(exc)))
            return
        ready.put((False, None))

    child = context.Process(target=produce, name="batchport-read-ahead", daemon=True)
    child.start()
    try:
        while True:
            more, item = ready.get()
            if more:
                yield item
            elif item is None:
                return
            else:
                raise item
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        ready.close()


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one that carries its message."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made a line earlier
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
