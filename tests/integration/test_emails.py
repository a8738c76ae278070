"""E-mail addresses are users' natural key: one address is one user however it is typed, on
every path (direct, staged, dry run, update), and a cell holding more than an address is an
error naming its row, column and value."""

from __future__ import annotations

import pytest

from batchport import FileRejected, run_import
from tests.helpers import DEPARTMENTS, table_name, users_file

pytestmark = pytest.mark.types("shipped", "declared")


@pytest.fixture
def with_departments(db, csv_file):
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")


@pytest.mark.usefixtures("with_departments")
@pytest.mark.parametrize("dry_run", [False, True])
def test_display_names_and_mailto_are_errors_naming_the_cell(db, csv_file, rows, dry_run):
    """'<dave@...>', 'Dave <dave@...>' and 'mailto:erin@...' are rejected with why and what
    was expected; nothing is written."""
    path = users_file(
        csv_file,
        ["ann@example.com", "Ann", "Lee", "HQ"],
        ["<dave@example.com>", "Dave", "Ray", "HQ"],
        ["Dave Ray <dave@example.com>", "Dave", "Ray", "HQ"],
        ["mailto:erin@example.com", "Erin", "Poe", "HQ"],
    )
    with pytest.raises(FileRejected) as caught:
        run_import(db, "users", path, actor="a", dry_run=dry_run)
    errors = caught.value.errors
    assert [(e.row, e.column, e.value) for e in errors] == [
        (3, "email", "<dave@example.com>"),
        (4, "email", "Dave Ray <dave@example.com>"),
        (5, "email", "mailto:erin@example.com"),
    ]
    assert "display name and angle brackets" in errors[0].message
    assert "a mailto: prefix is not part of the address" in errors[2].message
    assert all(e.message.endswith("like name@example.com") for e in errors)
    assert rows("users") == []


@pytest.mark.usefixtures("with_departments")
def test_one_address_typed_two_ways_is_one_user_on_every_path(db, csv_file, rows):
    """Case and Punycode do not make a new user: the import stores one spelling, a file
    naming it twice repeats a key, a dry run and an import find it already there, and an
    update changes the user it names."""
    run_import(
        db,
        "users",
        users_file(
            csv_file,
            ["Ann.Lee@Example.ORG", "Ann", "Lee", "HQ"],
            ["jo@xn--bcher-kva.example", "Jo", "Ng", "FIN"],
        ),
        actor="a",
    )
    assert [u["email"] for u in rows("users")] == ["ann.lee@example.org", "jo@bücher.example"]

    twice = users_file(
        csv_file,
        ["JO@BÜCHER.example", "Jo", "Ng", "FIN"],
        ["jo@Xn--Bcher-Kva.Example", "Jo", "Ng", "FIN"],
        name="twice.csv",
    )
    with pytest.raises(FileRejected) as caught:
        run_import(db, "users", twice, actor="b", on_existing="update")
    assert [(e.row, e.value) for e in caught.value.errors] == [(3, "jo@bücher.example")]

    again = users_file(csv_file, ["ANN.LEE@example.org", "Ann", "Lee", "HQ"], name="again.csv")
    for dry_run in (True, False):
        with pytest.raises(FileRejected, match="1 error") as caught:
            run_import(db, "users", again, actor="b", dry_run=dry_run)
        assert "already exists" in caught.value.errors[0].message

    renamed = users_file(
        csv_file,
        ["ANN.LEE@EXAMPLE.ORG", "Annie", "Lee", "HQ"],
        ["Jo@Bücher.Example", "Joanna", "Ng", "FIN"],
        name="renamed.csv",
    )
    report = run_import(db, "users", renamed, actor="b", on_existing="update")
    assert (report.updated, report.created[table_name(db, "users")]) == (2, 0)
    assert [(u["email"], u["first_name"]) for u in rows("users")] == [
        ("ann.lee@example.org", "Annie"),
        ("jo@bücher.example", "Joanna"),
    ]
