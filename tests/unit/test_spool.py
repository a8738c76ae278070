"""The spooled reader runs ahead of its consumer: every item once, in order, errors in their
place, a flagged item known before the consumer gets there, the child gone when it is done."""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Iterator

import pytest

from batchport.collecting import YOUNGEST
from batchport.errors import SourceError
from batchport.sources.spool import NICENESS, Spooled


def _flag_none(_item: object) -> bool:
    return False


def test_items_arrive_in_order_whatever_their_kind():
    """Plain values (marshalled) and others (pickled) come back equal, in order."""
    items = [(i, [f"row {i}", None, True]) for i in range(300)]
    items[7] = ({"a set"}, SourceError("f.csv", "odd"))  # type: ignore[assignment]
    with Spooled(iter(items), _flag_none) as spool:
        got = list(spool)
    assert got[:7] + got[8:] == items[:7] + items[8:]
    assert got[7][0] == {"a set"} and str(got[7][1]) == "f.csv: odd"


def test_a_flagged_item_is_known_before_it_is_taken():
    """The child does not wait for the consumer: the last item's flag is seen while nothing
    has been taken yet."""
    with Spooled(iter(range(1000)), lambda n: n == 999) as spool:
        deadline = time.monotonic() + 30
        while not spool.flagged_ahead and time.monotonic() < deadline:
            time.sleep(0.01)
        assert spool.flagged_ahead
        assert next(spool) == 0
        taken = list(spool)
        assert not spool.flagged_ahead
    assert taken[-1] == 999 and len(taken) == 999


def _niceness() -> Iterator[int]:
    yield os.nice(0)


def test_the_child_reads_ahead_at_a_lower_priority():
    """The child yields the CPU to the process it reads for (and to the database's backend)."""
    with Spooled(_niceness(), _flag_none) as spool:
        [child] = list(spool)
    assert child == min(os.nice(0) + NICENESS, 19) > os.nice(0)


def _collector() -> Iterator[tuple[int, int]]:
    yield gc.get_threshold()[0], gc.get_freeze_count()


def test_the_childs_collector_is_set_for_rows():
    """The child reads rows by the million: its collector runs a chunk at a time, and never
    over what it inherited (see `batchport.collecting`)."""
    with Spooled(_collector(), _flag_none) as spool:
        [(youngest, frozen)] = list(spool)
    assert youngest >= YOUNGEST
    assert frozen > 0


def test_nothing_is_flagged_when_no_item_is():
    with Spooled(iter(range(50)), _flag_none) as spool:
        assert list(spool) == list(range(50))
        assert not spool.flagged_ahead


def test_an_error_arrives_in_its_place():
    """What the reading raises is raised after the items before it, with its file and row."""

    def broken():
        yield 1
        yield 2
        raise SourceError("data.csv", "bad bytes", row=7)

    seen = []
    with Spooled(broken(), _flag_none) as spool, pytest.raises(SourceError) as caught:
        seen.extend(spool)
    assert seen == [1, 2]
    assert str(caught.value) == "data.csv, row 7: bad bytes"


def test_leaving_early_ends_the_child_process():
    def endless():
        n = 0
        while True:
            yield n
            n += 1

    with Spooled(endless(), _flag_none) as spool:
        assert next(spool) == 0
    assert multiprocessing.active_children() == []


def test_a_reader_that_dies_is_an_error_not_a_wait():
    """A child that ends without a word (killed, out of memory) is reported, not waited for
    forever while the import holds its locks."""

    def dying():
        yield 1
        time.sleep(0.5)  # the message about item 1 leaves before the end
        os._exit(3)

    seen = []
    with (
        Spooled(dying(), _flag_none) as spool,
        pytest.raises(ChildProcessError, match="exit code 3"),
    ):
        seen.extend(spool)
    assert seen == [1]


def test_an_error_that_cannot_travel_still_says_what_happened():
    """An exception that does not survive pickling arrives as a stand-in with its message."""

    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    def broken():
        raise Odd("x", "y")
        yield  # pragma: no cover

    with Spooled(broken(), _flag_none) as spool, pytest.raises(RuntimeError, match="Odd: x/y"):
        list(spool)


def _summary(item: tuple[int, list[str]]) -> int:
    return item[0]


def _made_here(item: tuple[int, list[str]]) -> str:
    return f"{item[0]} here"


def test_items_left_may_be_taken_as_their_summaries():
    """With a summary, the items not taken yet can be taken as their summaries alone (each in
    its place, what the child raises after them), and the summaries of the items taken read
    once more, in order."""

    def items():
        for i in range(6):
            yield i, [f"row {i}"] * 1000
        raise SourceError("data.csv", "bad bytes", row=7)

    with Spooled(items(), _flag_none, summary=_summary) as spool:
        assert [next(spool)[0] for _ in range(2)] == [0, 1]
        left = spool.summaries(_made_here)
        assert [next(left), next(left)] == [2, 3]
        assert list(spool.taken_summaries()) == [0, 1, 2, 3]
        assert next(spool) == (4, ["row 4"] * 1000)
        with pytest.raises(SourceError, match="row 7"):
            list(left)
        assert list(spool.taken_summaries()) == [0, 1, 2, 3, 4, 5]


def test_past_the_first_flagged_item_the_consumer_makes_the_summaries():
    """The child summarises items up to the first flagged one; the items after it, which a
    consumer stopping there takes alongside the child, are summarised by the consumer."""
    items = [(i, ["row"]) for i in range(6)]
    with Spooled(iter(items), lambda item: item[0] in {2, 4}, summary=_summary) as spool:
        assert list(spool.summaries(_made_here)) == [0, 1, 2, "3 here", "4 here", "5 here"]


def test_summaries_end_where_the_items_do():
    with Spooled(iter([(7, [])]), _flag_none, summary=_summary) as spool:
        assert list(spool.summaries(_made_here)) == [7]
        assert list(spool.summaries(_made_here)) == []
