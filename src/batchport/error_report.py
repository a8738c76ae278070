"""A rejected file's errors as a CSV a user can open and fix in a spreadsheet.

One line per error — sheet (for a workbook), row, column, value, problem — followed by the
row's original cells under the file's own column names (a cell longer than a spreadsheet
cell holds, 32,767 characters, cut as `errors.cut` says: the report names a huge cell, it
does not copy it). Every cell is written through
`neutralised`, so that a spreadsheet opening the report shows each cell and runs none, as
OWASP's guidance on CSV injection says; see there for the rule.

The original rows are found by reading the file once more, side by side with the errors in
row order, so the report costs no more memory than the import did.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path

from batchport.errors import RowError, cut
from batchport.sources.base import Source

#: The most characters a spreadsheet cell holds (Excel's limit; LibreOffice's is larger).
SPREADSHEET_CELL = 32_767
#: What a cell's first visible character folds to (NFKC) when a spreadsheet may read the cell
#: as a formula: `=`, `+`, `-`, `@`, `|` (a DDE link) and the minus sign U+2212. Folding makes
#: the full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20, U+FF5C (read as formulas in Japanese
#: locales) and the small, superscript and subscript forms count too.
FORMULA_STARTS = frozenset("=+-@|\u2212")

#: The Unicode categories of characters that show nothing, yet are there, which a spreadsheet
#: may skip before the first one it reads: white space (spaces, line and paragraph separators,
#: and the control characters, tab, line feed and carriage return among them), format
#: characters (the zero-width U+200B..U+200D, the word joiner U+2060, the byte-order mark
#: U+FEFF, bidirectional controls, the soft hyphen), combining marks, unassigned and
#: private-use code points; and, whatever their category, the fillers below.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Cn", "Co", "Zs", "Zl", "Zp"})
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # Hangul fillers, Braille blank

#: A cell left alone although it starts with `-`: a plain negative decimal number, nothing
#: before or after it, ASCII digits only, no exponent, no thousands separator.
_PLAIN_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")


def neutralised(text: str | None) -> str:
    """The text as a spreadsheet will show it, never run it.

    As OWASP's CSV injection guidance says, the text is prefixed with a single quote `'` and
    otherwise kept as it is when a spreadsheet may run it, which is when it

    - starts with a control character (OWASP names tab, carriage return and line feed; ASVS
      the null character), or
    - has, as its first character that is neither white space nor invisible (see
      `_INVISIBLE_CATEGORIES`), one of `FORMULA_STARTS`, full-width forms included:
      `=cmd`, `  =cmd` and U+200B then `@SUM(1)` become `'=cmd`, `'  =cmd`, `'` U+200B `@SUM(1)`.

    The one exception is a plain negative number, the whole cell matching
    `-[0-9]+(.[0-9]+)?`: `-5` and `-1.5` are kept as they are, since a spreadsheet reads them
    as numbers and runs nothing. No other number is exempt: `-`, `-5 `, ` -5`, `+5`, `-1e5`,
    `-1,5`, `-5+1` and a full-width or U+2212 minus before digits are prefixed. Any other text,
    leading spaces and invisible characters included, is kept as it is; `None` is an empty cell.
    """
    if text is None:
        return ""
    return "'" + text if _may_run(text) else text


def _may_run(text: str) -> bool:
    if not text or _PLAIN_NEGATIVE_NUMBER.fullmatch(text):
        return False
    if unicodedata.category(text[0]) == "Cc":
        return True
    for char in text:
        if not _invisible(char):
            return unicodedata.normalize("NFKC", char)[:1] in FORMULA_STARTS
    return False


def _invisible(char: str) -> bool:
    return char in _BLANK_LOOKING or unicodedata.category(char) in _INVISIBLE_CATEGORIES


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
        *([neutralised(error.sheet)] if with_sheet else []),
        str(error.row),
        neutralised(error.column),
        neutralised(error.value),
        neutralised(error.message),
        *(neutralised(cell if len(cell) <= SPREADSHEET_CELL else cut(cell)) for cell in cells),
    ]


def _with_rows(errors: list[RowError], source: Source) -> Iterator[tuple[RowError, list[str]]]:
    """Each error with the cells of its row, read from `source` in step with the errors."""
    current: tuple[int, list[str]] = (1, source.header())
    rows = source.rows()
    for error in errors:
        while current[0] < error.row:
            current = next(rows, (error.row + 1, []))
        yield error, current[1] if current[0] == error.row else []
