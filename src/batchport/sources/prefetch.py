"""Forking safely, for the processes that read ahead (`sources.spool`) and run the service's
steps: only from a process with one thread, with a child that dies with its parent, and
errors that survive the trip back.

Parsing and writing then run on two cores. A thread would not do: both need the GIL nearly
all the time (sqlite3 even drops and retakes it for every row), so they would take turns.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import threading

_PR_SET_PDEATHSIG = 1  # Linux prctl(2): the signal a child gets when its parent dies

#: Whether this platform can fork; elsewhere chunks are parsed in place.
CAN_FORK = "fork" in multiprocessing.get_all_start_methods()


def may_fork() -> bool:
    """Whether reading ahead may fork now: only in a process with one thread (the CLI).

    A fork copies every lock as it is at that moment; with other threads running (a server's
    worker, a thread pool), one may be held mid-use and never released in the child.
    """
    return CAN_FORK and threading.active_count() == 1


def die_with(parent: int) -> None:
    """Ends this child the moment its parent dies.

    The child holds copies of the parent's database sockets: were it to outlive a killed
    parent, the server would keep the dead import's transaction and job lock open.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def picklable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one that carries its message."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made a line earlier
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
