"""Header matching ignores case, spaces, underscores and hyphens, and reports what does not fit."""

from __future__ import annotations

from batchport.builtin_types import DEPARTMENTS, USERS
from batchport.columns.mapping import map_header, normalise


def test_normalise_ignores_case_spaces_and_underscores():
    """'Parent Code', 'parent_code' and 'PARENTCODE' are one name."""
    assert normalise("Parent Code") == normalise("parent_code") == normalise(" PARENTCODE ")


def test_columns_may_come_in_any_order():
    """Each field is found wherever its column stands; absent optional fields map to None."""
    mapping, errors = map_header(DEPARTMENTS, ["Name", "CODE"])
    assert errors == []
    assert dict(zip(mapping.names, mapping.positions, strict=True)) == {
        "code": 1,
        "name": 0,
        "parent_code": None,
        "is_active": None,
    }


def test_missing_unknown_and_repeated_columns_are_row_1_errors():
    """Each header problem is one error at row 1 naming the column."""
    _, errors = map_header(USERS, ["email", "E-Mail", "first name", "surname"])
    assert [(e.row, e.column) for e in errors] == [
        (1, "E-Mail"),
        (1, "surname"),
        (1, "last_name"),
        (1, "department_codes"),
    ]
    assert "appears twice" in errors[0].message
    assert "expected columns: email, first_name" in errors[1].message


def test_empty_header_cells_are_allowed():
    """A column without a name (often a trailing empty one) is not an error by itself."""
    mapping, errors = map_header(DEPARTMENTS, ["code", "", "name", " "])
    assert errors == []
    assert mapping.unnamed == (1, 3)
