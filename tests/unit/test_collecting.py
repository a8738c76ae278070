"""The collector of a process that reads rows runs less often; a forked reader's keeps what
it inherited out of every run."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from batchport import collecting


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def test_the_youngest_are_collected_a_chunk_at_a_time_not_every_700_objects():
    gc.set_threshold(700, 10, 10)
    collecting.for_rows()
    assert gc.get_threshold() == (collecting.YOUNGEST, 10, 10)


def test_a_higher_threshold_set_before_is_kept():
    gc.set_threshold(collecting.YOUNGEST * 2, 5, 5)
    collecting.for_rows()
    assert gc.get_threshold() == (collecting.YOUNGEST * 2, 5, 5)


def test_a_collector_turned_off_stays_off():
    gc.set_threshold(0, 10, 10)
    collecting.for_rows()
    assert gc.get_threshold()[0] == 0


def test_a_forked_child_keeps_what_it_inherited_out_of_every_run():
    gc.set_threshold(700, 10, 10)
    collecting.for_forked_child()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == collecting.YOUNGEST
