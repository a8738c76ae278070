"""The package's public face and its declarations."""

from __future__ import annotations

import pytest

import batchport
from batchport.builtin_types import BUILTIN_TYPES, DEPARTMENTS
from batchport.checks.cycles import has_cycle
from batchport.columns.parsers import Text
from batchport.declarations import Catalog, Field, ImportType
from batchport.errors import ConfigurationError
from batchport.schema import departments


def test_all_is_sorted_and_complete():
    """__all__ is sorted as ruff sorts it (constants, classes, functions) and every name in
    it exists."""
    order = sorted(batchport.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert batchport.__all__ == order
    assert all(hasattr(batchport, name) for name in batchport.__all__)


def test_catalog_orders_parents_before_children():
    """Users depend on departments, so departments come first and are deleted last."""
    assert list(BUILTIN_TYPES) == ["departments", "users"]
    assert [t.name for t in BUILTIN_TYPES.children_first()] == ["users", "departments"]
    assert list(Catalog((BUILTIN_TYPES["users"], DEPARTMENTS))) == ["departments", "users"]


def test_unknown_type_lists_the_known_ones():
    """Asking for a type that is not declared names the ones that are."""
    with pytest.raises(ConfigurationError, match="known types: departments, users"):
        BUILTIN_TYPES["widgets"]


def test_declarations_are_checked_when_made():
    """A key that is not a field, or a reference to an unknown type, fails at declaration."""
    with pytest.raises(ConfigurationError, match="no field named 'nope'"):
        ImportType(name="x", table=departments, key="nope", fields=(Field("code", Text(5)),))
    with pytest.raises(ConfigurationError, match="users refers to unknown type 'departments'"):
        Catalog((BUILTIN_TYPES["users"],))


def test_cycles_are_found_through_any_path():
    """A chain that loops back is a cycle; a chain that ends, or leaves the file, is not."""
    assert has_cycle({"A": ["B"], "B": ["C"], "C": ["A"]})
    assert has_cycle({"A": ["A"]})
    assert not has_cycle({"A": ["B"], "B": ["C"], "D": ["B"]})
    assert not has_cycle({"A": ["OUTSIDE"], "B": ["A"]})
