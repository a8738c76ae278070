"""Reading ahead: a forked process reads and parses the next chunks while this one loads.

Parsing and writing then run on two cores. A thread would not do: both need the GIL nearly
all the time (sqlite3 even drops and retakes it for every row), so they would take turns.
At most `depth` chunks wait in memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import marshal
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


_PR_SET_PDEATHSIG = 1  # Linux prctl(2): the signal a child gets when its parent dies
#: How often a child blocked on a full queue checks that its parent still lives.
_PARENT_CHECK_SECONDS = 0.2

#: Whether this platform can fork; elsewhere chunks are parsed in place.
CAN_FORK = "fork" in multiprocessing.get_all_start_methods()


def may_fork() -> bool:
    """Whether reading ahead may fork now: only in a process with one thread (the CLI).

    A fork copies every lock as it is at that moment; with other threads running (a server's
    worker, a thread pool), one may be held mid-use and never released in the child.
    """
    return CAN_FORK and threading.active_count() == 1


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yields `items`, produced by a forked child process up to `depth` items ahead.

    The child starts from this process's state (open files included) and must be the only one
    to go on reading them. What it raises is raised here; leaving the loop ends the child.
    Items of plain values (lists, tuples, strings, numbers, None) travel as `marshal` bytes,
    several times faster to make and to read than pickles; others are pickled.
    """
    context = multiprocessing.get_context("fork")
    ready: Any = context.Queue(maxsize=depth)
    parent = os.getpid()

    def produce() -> None:
        die_with(parent)
        # Ctrl-C reaches the whole process group: the parent stops (and kills) this child.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for item in items:
                _put(ready, _packed(item), parent)
        except BaseException as exc:  # handed to the parent, who raises it
            _put(ready, (False, picklable(exc)), parent)
            return
        _put(ready, (False, None), parent)

    child = context.Process(target=produce, name="batchport-read-ahead", daemon=True)
    child.start()
    try:
        while True:
            more, item = ready.get()
            if more:
                yield _unpacked(item)
            elif item is None:
                return
            else:
                raise item
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        ready.close()


def _packed(item: Any) -> tuple[bool, Any]:
    try:
        return True, marshal.dumps(item)
    except ValueError:  # holds a value marshal cannot write
        return True, item


def _unpacked(item: Any) -> Any:
    return marshal.loads(item) if type(item) is bytes else item  # noqa: S302 - bytes our own child made


def die_with(parent: int) -> None:
    """Ends this child the moment its parent dies.

    The child holds copies of the parent's database sockets: were it to outlive a killed
    parent, the server would keep the dead import's transaction and job lock open.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _put(ready: Any, item: object, parent: int) -> None:
    """Hands `item` over, giving up (and exiting) if the parent is gone meanwhile."""
    while True:
        try:
            ready.put(item, timeout=_PARENT_CHECK_SECONDS)
        except queue.Full:
            if os.getppid() != parent:
                os._exit(1)
        else:
            return


def picklable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one that carries its message."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made a line earlier
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
