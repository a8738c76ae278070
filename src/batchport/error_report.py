"""A rejected file's errors as a CSV a user can open and fix in a spreadsheet.

One line per error — sheet (for a workbook), row, column, value, problem — followed by the
row's original cells under the file's own column names. Every cell that came from the file
and that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
carriage return) is prefixed with `'`, as OWASP's guidance on CSV injection says.

The original rows are found by reading the file once more, side by side with the errors in
row order, so the report costs no more memory than the import did.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path

from batchport.errors import RowError
from batchport.sources.base import Source

#: The first characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str | None) -> str:
    """The text as a spreadsheet will show it, never run it."""
    if text is None:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_error_report(
    out: Path, errors: list[RowError], open_sheet: Callable[[str | None], Source]
) -> int:
    """Writes `errors` to `out` (CSV, UTF-8 with a byte-order mark so Excel reads it right);
    `open_sheet(sheet)` opens the rejected file (that sheet of it). Returns the lines written.
    """
    ordered = sorted(errors, key=lambda e: (e.sheet or "", e.row))
    groups = [(sheet, list(found)) for sheet, found in groupby(ordered, key=lambda e: e.sheet)]
    with_sheet = any(sheet for sheet, _ in groups)
    headers = {}
    for sheet, _ in groups:
        with open_sheet(sheet) as source:
            headers[sheet] = source.header()
    if len(headers) == 1:
        columns = next(iter(headers.values()))
    else:  # sheets of a workbook, each with its own columns
        columns = [f"cell {i + 1}" for i in range(max(map(len, headers.values()), default=0))]
    written = 0
    with out.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            (["sheet"] if with_sheet else [])
            + ["row", "column", "value", "problem"]
            + list(map(neutralised, columns))
        )
        for sheet, found in groups:
            with open_sheet(sheet) as source:
                for error, cells in _with_rows(found, source):
                    writer.writerow(_line(error, cells, with_sheet))
                    written += 1
    return written


def _line(error: RowError, cells: list[str], with_sheet: bool) -> list[str]:
    return [
        *([error.sheet or ""] if with_sheet else []),
        str(error.row),
        neutralised(error.column),
        neutralised(error.value),
        error.message,
        *map(neutralised, cells),
    ]


def _with_rows(errors: list[RowError], source: Source) -> Iterator[tuple[RowError, list[str]]]:
    """Each error with the cells of its row, read from `source` in step with the errors."""
    current: tuple[int, list[str]] = (1, source.header())
    rows = source.rows()
    for error in errors:
        while current[0] < error.row:
            current = next(rows, (error.row + 1, []))
        yield error, current[1] if current[0] == error.row else []
