"""A process forks to read ahead only while it has a single thread."""

from __future__ import annotations

import threading

from batchport.sources.prefetch import CAN_FORK, may_fork


def test_no_fork_while_other_threads_run(monkeypatch):
    """A process with a second thread (a server's worker) does not fork to read ahead."""
    with monkeypatch.context() as alone:
        alone.setattr(threading, "active_count", lambda: 1)
        assert may_fork() is CAN_FORK
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert may_fork() is False
    finally:
        stop.set()
        other.join()
