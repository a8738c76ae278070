"""Deep parent chains: a department hierarchy thousands of levels deep, listed children first,
imports, updates, is checked for cycles and rolls back on every path, on both databases.

Following every row's chain to its end costs the chain's length per row, so a deep chain
listed children first made these paths quadratic (a 10,000-level chain took minutes); these
tests use a few thousand levels, which that approach took tens of seconds over and the set-based
one takes about a second.
"""

from __future__ import annotations

import random

import pytest

from batchport import BatchportError, FileRejected, rollback_batch, run_import
from tests.helpers import per_table

pytestmark = pytest.mark.types("shipped", "declared")

HEADER = ["code", "name", "parent_code"]
LEVELS = 3000


def chain(levels: int, name: str = "Level") -> list[list[str]]:
    """A chain of departments, deepest first: row 2 is the deepest, its parent the next row,
    and so on up to the root on the last row."""
    return [
        [f"D{level}", f"{name} {level}", f"D{level - 1}" if level > 1 else ""]
        for level in range(levels, 0, -1)
    ]


def parent_codes(rows) -> dict[str, str | None]:
    """Each department's code and its parent's code, as a user would read them."""
    departments = rows("departments")
    codes = {d["id"]: d["code"] for d in departments}
    return {d["code"]: codes.get(d["parent_id"]) for d in departments}


def upwards(levels: int) -> dict[str, str | None]:
    """Each level's code and its parent's, as `chain` lists them."""
    return {f"D{level}": f"D{level - 1}" if level > 1 else None for level in range(1, levels + 1)}


def names(name: str, levels: int) -> set[str]:
    return {f"{name} {level}" for level in range(1, levels + 1)}


def cycle_errors(rejection: FileRejected) -> list[tuple[int, str]]:
    return [(e.row, e.value) for e in rejection.errors if "own ancestor" in e.message]


def test_a_deep_chain_listed_children_first_imports_and_rolls_back(db, csv_file, rows):
    """A dry run counts every level and writes nothing; the import puts every level under
    its parent; its rollback removes every level."""
    path = csv_file([HEADER, *chain(LEVELS)])

    dry = run_import(db, "departments", path, actor="a", dry_run=True)
    assert (dry.status, dry.created) == ("valid", per_table(db, departments=LEVELS))
    assert rows("departments") == []

    report = run_import(db, "departments", path, actor="a")
    assert report.created == per_table(db, departments=LEVELS)
    assert parent_codes(rows) == upwards(LEVELS)

    rollback_batch(db, report.batch_id, actor="a")
    assert rows("departments") == []


def test_a_deep_chain_updates_and_the_update_rolls_back(db, csv_file, rows):
    """Updating every level of a deep chain keeps each parent; rolling the update back
    restores every name and still each parent (fewer levels: a restore writes row by row)."""
    levels = LEVELS // 2
    run_import(db, "departments", csv_file([HEADER, *chain(levels)], name="a.csv"), actor="a")
    renamed = csv_file([HEADER, *chain(levels, "Renamed")], name="renamed.csv")
    update = run_import(db, "departments", renamed, actor="b", on_existing="update")
    assert update.updated == levels
    assert parent_codes(rows) == upwards(levels)
    assert {d["name"] for d in rows("departments")} == names("Renamed", levels)

    rollback_batch(db, update.batch_id, actor="b")
    assert {d["name"] for d in rows("departments")} == names("Level", levels)
    assert parent_codes(rows) == upwards(levels)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_loop_at_the_top_of_a_deep_chain_names_its_rows_only(db, csv_file, rows, dry_run):
    """The root pointing back down the chain closes a loop over the top levels: each of its
    rows is an error naming its parent, the levels merely hanging below it are not, and
    nothing is written."""
    levels = chain(LEVELS)
    levels[-1][2] = "D1000"  # D1's parent: the loop is D1 -> D1000 -> D999 -> ... -> D1
    with pytest.raises(FileRejected) as caught:
        run_import(db, "departments", csv_file([HEADER, *levels]), actor="a", dry_run=dry_run)
    on_loop = [(LEVELS + 2 - level, f"D{level - 1}") for level in range(1000, 1, -1)]
    assert cycle_errors(caught.value) == [*on_loop, (LEVELS + 1, "D1000")]
    assert rows("departments") == []


def test_an_update_closing_a_loop_through_a_deep_chain_is_refused(db, csv_file, rows):
    """Making the root the child of the deepest level, through thousands of rows already in
    the database, is refused whole and changes nothing."""
    run_import(db, "departments", csv_file([HEADER, *chain(LEVELS)], name="chain.csv"), actor="a")
    before = rows("departments")
    loop = csv_file([HEADER, ["D1", "Root", f"D{LEVELS}"]], name="loop.csv")
    with pytest.raises(BatchportError, match="'D1' would make it its own ancestor"):
        run_import(db, "departments", loop, actor="b", on_existing="update")
    assert rows("departments") == before


def forest_with_loops(seed: int, size: int = 300) -> tuple[list[list[str]], set[int]]:
    """Rows of random trees and loops in random order, and the file rows on a loop."""
    chooser = random.Random(seed)  # noqa: S311 - test data, not a secret
    codes = [f"N{n}" for n in range(size)]
    parent: dict[str, str | None] = {}
    for index, code in enumerate(codes):
        roll = chooser.random()
        if roll < 0.1:
            parent[code] = None
        elif roll < 0.9:  # a parent earlier in the list: trees, never a loop
            parent[code] = codes[chooser.randrange(index)] if index else None
        else:  # any row, itself included: may close a loop
            parent[code] = chooser.choice(codes)
    order = chooser.sample(codes, size)
    on_loop = set()
    for code in codes:
        seen, step = set(), parent[code]
        while step is not None and step not in seen and step != code:
            seen.add(step)
            step = parent[step]
        if step == code:
            on_loop.add(order.index(code) + 2)
    rows = [[code, code.lower(), parent[code] or ""] for code in order]
    return rows, on_loop


@pytest.mark.parametrize("seed", range(6))
def test_random_forests_report_exactly_the_rows_on_their_loops(db, csv_file, rows, seed):
    """Trees and loops in any order: the rows on a loop, and no others, are the cycle errors;
    a file whose loops are broken imports with every parent in place."""
    lines, on_loop = forest_with_loops(seed)
    if on_loop:
        with pytest.raises(FileRejected) as caught:
            run_import(db, "departments", csv_file([HEADER, *lines]), actor="a")
        assert {row for row, _ in cycle_errors(caught.value)} == on_loop
        assert rows("departments") == []
        for row in on_loop:
            lines[row - 2][2] = ""
    report = run_import(db, "departments", csv_file([HEADER, *lines], name="fixed.csv"), actor="a")
    assert report.created == per_table(db, departments=len(lines))
    assert parent_codes(rows) == {code: parent or None for code, _, parent in lines}
