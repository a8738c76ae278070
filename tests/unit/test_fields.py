"""Cell parsers accept what people type and explain what they reject."""

from __future__ import annotations

import pytest

from batchport.columns.parsers import Boolean, CellInvalid, KeyList, Text


def test_text_keeps_text_up_to_its_length():
    """Text at the limit passes unchanged; one character more says how long it is."""
    assert Text(3)("abc") == "abc"
    with pytest.raises(CellInvalid, match="4 characters long; at most 3"):
        Text(3)("abcd")


@pytest.mark.parametrize(
    ("text", "value"),
    [("TRUE", True), ("yes", True), ("1", True), ("n", False), ("False", False), ("0", False)],
)
def test_boolean_accepts_common_spellings(text, value):
    """true/false, yes/no, y/n and 1/0 in any case are flags."""
    assert Boolean()(text) is value


def test_boolean_rejects_anything_else():
    """Anything else is an error that lists the accepted spellings."""
    with pytest.raises(CellInvalid, match="true/false"):
        Boolean()("maybe")


def test_key_list_splits_trims_and_keeps_order():
    """'A; B ;C' is three keys in that order; empty parts are ignored."""
    assert KeyList(10)("A; B ;C;") == ("A", "B", "C")


@pytest.mark.parametrize(
    ("text", "message"),
    [(";;", "names no code"), ("A;A", "twice"), ("A;" + "X" * 11, "longer than 10")],
)
def test_key_list_rejects_empty_repeated_and_long_keys(text, message):
    """No key, a repeated key or an over-long key is an error."""
    with pytest.raises(CellInvalid, match=message):
        KeyList(10)(text)
