"""Reading ahead in a forked process keeps order, raises the reader's errors and stops when told."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from batchport.errors import SourceError
from batchport.sources.prefetch import CAN_FORK, may_fork, read_ahead


def test_items_arrive_in_order():
    """The forked reader hands over every item once, in order."""
    assert list(read_ahead(iter(range(500)), depth=3)) == list(range(500))


def test_errors_reach_the_parent_intact():
    """A SourceError raised while reading in the child arrives with its file, row and text."""

    def broken():
        yield 1
        raise SourceError("data.csv", "bad bytes", row=7)

    seen = []
    with pytest.raises(SourceError) as caught:
        seen.extend(read_ahead(broken()))
    assert seen == [1]
    assert (caught.value.file, caught.value.row) == ("data.csv", 7)
    assert str(caught.value) == "data.csv, row 7: bad bytes"


def test_an_error_that_cannot_travel_still_says_what_happened():
    """An exception that does not survive pickling arrives as a stand-in with its message."""

    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    def broken():
        raise Odd("x", "y")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="Odd: x/y"):
        list(read_ahead(broken()))


def test_leaving_early_ends_the_child_process():
    """Breaking out of the loop stops the reading process."""

    def endless():
        n = 0
        while True:
            yield n
            n += 1

    for item in read_ahead(endless()):
        if item == 3:
            break
    assert multiprocessing.active_children() == []


def test_values_of_any_kind_arrive_equal():
    """Plain values travel as marshal bytes, others pickled: both arrive equal to what was sent."""
    items = [
        ([1, 2], [["a", None], [True, ("x", "y")]]),
        {"set"},
        SourceError("f.csv", "odd"),
        b"raw",
    ]
    got = list(read_ahead(iter(items)))
    assert got[:2] == items[:2] and got[3] == b"raw"
    assert str(got[2]) == "f.csv: odd"


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
