"""Reading ahead in a thread keeps order, raises the reader's errors and stops when told."""

from __future__ import annotations

import threading

import pytest

from batchport.sources.prefetch import prefetch


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
