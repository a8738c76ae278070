"""Reading ahead in a thread keeps order, raises the reader's errors and stops when told."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from batchport.errors import SourceError
from batchport.sources.prefetch import prefetch, prefetch_in_process


def test_items_arrive_in_order():
    """Every item comes through once, in the order produced."""
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_while_producing_is_raised_to_the_consumer():
    """The reader's exception surfaces at the item where it happened."""

    def broken():
        yield 1
        raise ValueError("bad byte at row 3")

    seen = []
    with pytest.raises(ValueError, match="row 3"):
        seen.extend(prefetch(broken()))
    assert seen == [1]


def test_leaving_early_stops_the_reader():
    """Breaking out of the loop ends the background thread; nothing keeps reading."""
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in prefetch(endless(), depth=2):
        if item == 5:
            break
    assert not any(t.name == "batchport-read-ahead" for t in threading.enumerate())
    assert len(produced) <= 5 + 1 + 2 + 1


def test_a_child_process_reads_ahead_in_order():
    """The forked reader hands over every item, in order."""
    assert list(prefetch_in_process(iter(range(500)), depth=3)) == list(range(500))


def test_the_child_process_errors_reach_the_parent_intact():
    """A SourceError raised while reading in the child arrives with its file, row and text."""

    def broken():
        yield 1
        raise SourceError("data.csv", "bad bytes", row=7)

    seen = []
    with pytest.raises(SourceError) as caught:
        seen.extend(prefetch_in_process(broken()))
    assert seen == [1]
    assert (caught.value.file, caught.value.row) == ("data.csv", 7)
    assert str(caught.value) == "data.csv, row 7: bad bytes"


def test_leaving_early_ends_the_child_process():
    """Breaking out of the loop stops the reading process."""

    def endless():
        n = 0
        while True:
            yield n
            n += 1

    for item in prefetch_in_process(endless()):
        if item == 3:
            break
    assert multiprocessing.active_children() == []
