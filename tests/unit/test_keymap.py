"""The direct path's compact map of keys written to their ids, and of rows waiting."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from batchport.loading.keymap import LOOKUP_BATCH, KeyMap


def test_keys_of_any_type_are_found_with_their_ids_and_unknown_ones_are_not():
    """Text, numbers, dates, decimals and UUIDs come back as given; a key never added does not."""
    keys = ["A", 7, 2.5, datetime.date(2024, 1, 31), Decimal("1.50"), uuid.UUID(int=5)]
    found = KeyMap()
    found.add(keys, range(1, len(keys) + 1))
    wanted = [*keys, "B", 8, datetime.date(2024, 2, 1), None]
    assert found.ids(wanted) == {key: n for n, key in enumerate(keys, start=1)}


def test_more_keys_than_one_query_takes_are_all_found():
    """Lookups past one batch of parameters find every key."""
    keys = [f"K{n}" for n in range(LOOKUP_BATCH * 2 + 3)]
    found = KeyMap()
    found.add(keys, range(len(keys)))
    assert found.ids(keys) == {key: n for n, key in enumerate(keys)}


def test_rows_held_come_back_with_their_keys_as_given():
    """Rows waiting for a parent keep the parent's key, whatever its type, or None."""
    held = [(1, "parent_id", "TOP"), (2, "parent_id", None), (3, "parent_id", Decimal("2.0"))]
    found = KeyMap()
    found.hold(held)
    assert list(found.held()) == held
