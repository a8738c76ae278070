"""The error CSV shows every cell a spreadsheet could run as a formula as text, in the error
columns and in the file's own columns, and otherwise keeps each cell as the file had it."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchport.error_report import write_error_report
from batchport.errors import RowError
from batchport.sources.base import Block, Limits, Source

ZWSP, ZWNJ, ZWJ, WORD_JOINER, BOM = "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"
NBSP, IDEOGRAPHIC_SPACE, RLO, SOFT_HYPHEN, HANGUL_FILLER = (
    "\u00a0",
    "\u3000",
    "\u202e",
    "\u00ad",
    "\u3164",
)
#: Full-width = + - @ |, as a Japanese input method types them.
FW_EQ, FW_PLUS, FW_MINUS, FW_AT, FW_BAR = "\uff1d", "\uff0b", "\uff0d", "\uff20", "\uff5c"
MINUS_SIGN, SMALL_EQ, SUPERSCRIPT_PLUS = "\u2212", "\ufe66", "\u207a"

#: Each form of a formula start: the text in the rejected file, and the cell the report holds.
DANGEROUS = [
    ("=1+1", "'=1+1"),
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+1+1", "'+1+1"),
    ("-1+1", "'-1+1"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("|calc", "'|calc"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    (f"{FW_EQ}1+1", f"'{FW_EQ}1+1"),
    (f"{FW_PLUS}1+1", f"'{FW_PLUS}1+1"),
    (f"{FW_MINUS}1+1", f"'{FW_MINUS}1+1"),
    (f"{FW_AT}SUM(1)", f"'{FW_AT}SUM(1)"),
    (f"{FW_BAR}calc", f"'{FW_BAR}calc"),
    (f"{SMALL_EQ}1+1", f"'{SMALL_EQ}1+1"),
    (f"{SUPERSCRIPT_PLUS}1", f"'{SUPERSCRIPT_PLUS}1"),
    (f"{MINUS_SIGN}1+1", f"'{MINUS_SIGN}1+1"),
    # after white space
    (" =1+1", "' =1+1"),
    ("   @SUM(1)", "'   @SUM(1)"),
    (f"{NBSP}+1", f"'{NBSP}+1"),
    (f"{IDEOGRAPHIC_SPACE}{FW_EQ}1", f"'{IDEOGRAPHIC_SPACE}{FW_EQ}1"),
    # after line breaks and tabs, which are formula starts on their own too
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\n=1+1", "'\n=1+1"),
    ("\r\n-1+1", "'\r\n-1+1"),
    ("\tplain", "'\tplain"),
    ("\rplain", "'\rplain"),
    ("\nplain", "'\nplain"),
    ("\x00plain", "'\x00plain"),
    # after invisible characters
    (f"{ZWSP}=1+1", f"'{ZWSP}=1+1"),
    (f"{ZWNJ}+1", f"'{ZWNJ}+1"),
    (f"{ZWJ}-1+1", f"'{ZWJ}-1+1"),
    (f"{WORD_JOINER}@SUM(1)", f"'{WORD_JOINER}@SUM(1)"),
    (f"{BOM}=1+1", f"'{BOM}=1+1"),
    (f"{BOM}{FW_AT}SUM(1)", f"'{BOM}{FW_AT}SUM(1)"),
    (f"{RLO}|calc", f"'{RLO}|calc"),
    (f"{SOFT_HYPHEN}=1", f"'{SOFT_HYPHEN}=1"),
    (f"{HANGUL_FILLER}=1", f"'{HANGUL_FILLER}=1"),
    (f" {ZWSP}\t{BOM} =1+1", f"' {ZWSP}\t{BOM} =1+1"),
    # starts with "-" yet is not a plain negative number
    ("-", "'-"),
    ("-5 ", "'-5 "),
    (" -5", "' -5"),
    ("-1e5", "'-1e5"),
    ("-1,5", "'-1,5"),
    ("-.5", "'-.5"),
    ("-5.", "'-5."),
    ("--5", "'--5"),
    ("-5\n", "'-5\n"),
    ("-\u0663", "'-\u0663"),  # an Arabic-Indic digit
    (f"{FW_MINUS}5", f"'{FW_MINUS}5"),
    (f"{MINUS_SIGN}5", f"'{MINUS_SIGN}5"),
    ("+5", "'+5"),
]

#: Cells a spreadsheet shows as they are, so the report keeps them as they are.
ORDINARY = [
    "-5",
    "-1.5",
    "-0",
    "-007",
    "-123456789.000001",
    "5",
    "1+1",
    "a=b",
    "Finance",
    "O'Brien",
    "'=already quoted",
    "e-mail",
    "user@example.org",
    "50%",
    "(555) 123-4567",
    "x|y",
    " leading space",
    f"{ZWSP}hidden start",
    f"{BOM}text",
    "\u00e9t\u00e9",
    "",
]

FORMULA_STARTS = ["=", "+", "-", "@", "|", FW_EQ, FW_PLUS, FW_MINUS, FW_AT, FW_BAR]
LEADS = [
    "",
    " ",
    "  ",
    "\t",
    "\r",
    "\n",
    "\r\n",
    NBSP,
    IDEOGRAPHIC_SPACE,
    ZWSP,
    ZWNJ,
    ZWJ,
    WORD_JOINER,
    BOM,
    RLO,
    f" {BOM}{ZWSP} ",
]
HEADER = ["row", "column", "value", "problem"]


class InMemory(Source):
    """A rejected file's header and data rows (numbered from 2), held in memory."""

    def __init__(self, path: Path, header: list[str], rows: list[list[str]]) -> None:
        super().__init__(path, Limits())
        self._header = header
        self._rows = rows

    def header(self) -> list[str]:
        return self._header

    def _blocks(self, size: int) -> Iterator[Block]:
        yield Block(list(range(2, 2 + len(self._rows))), self._rows)


def report(
    tmp_path: Path, errors: list[RowError], sheets: dict[str | None, list[list[str]]]
) -> list[list[str]]:
    """Writes the report of `errors` against `sheets` (each a header then rows) and reads it
    back with the csv module."""
    (tmp_path / "rejected.csv").touch()
    out = tmp_path / "errors.csv"

    def open_sheet(sheet: str | None) -> Source:
        header, *rows = sheets[sheet]
        return InMemory(tmp_path / "rejected.csv", header, rows)

    assert write_error_report(out, errors, open_sheet) == len(errors)
    with out.open(newline="", encoding="utf-8-sig") as stream:
        return list(csv.reader(stream))


@pytest.mark.parametrize(("text", "written"), DANGEROUS, ids=[ascii(t) for t, _ in DANGEROUS])
def test_a_formula_start_is_written_behind_a_quote(tmp_path, text, written):
    """A cell that may run as a formula is written with a leading `'` and otherwise intact,
    as a column name, as the error's column and value, and as one of the row's cells."""
    lines = report(
        tmp_path,
        [RowError(2, text, text, "not a known code")],
        {None: [["code", text], ["C1", text]]},
    )
    assert lines[0] == [*HEADER, "code", written]
    assert lines[1] == ["2", written, written, "not a known code", "C1", written]


@pytest.mark.parametrize("text", ORDINARY, ids=ascii)
def test_an_ordinary_cell_is_written_as_it_is(tmp_path, text):
    """Text no spreadsheet runs, and a plain negative number such as -5 or -1.5, is written
    unchanged wherever it stands."""
    lines = report(
        tmp_path,
        [RowError(2, text, text, "not a known code")],
        {None: [["code", text or "name"], ["C1", text]]},
    )
    assert lines[0] == [*HEADER, "code", text or "name"]
    assert lines[1] == ["2", text, text, "not a known code", "C1", text]


def test_every_formula_start_after_every_lead_is_neutralised(tmp_path):
    """Each formula start, behind each run of white space, line breaks or invisible
    characters, reaches the report behind a `'`."""
    texts = [lead + start + "1+1" for lead, start in itertools.product(LEADS, FORMULA_STARTS)]
    lines = report(
        tmp_path,
        [RowError(row, None, text, "bad") for row, text in enumerate(texts, start=2)],
        {None: [["code"], *([text] for text in texts)]},
    )
    assert [line[2] for line in lines[1:]] == ["'" + text for text in texts]
    assert [line[4] for line in lines[1:]] == ["'" + text for text in texts]


def test_sheet_names_and_problems_that_may_run_are_neutralised(tmp_path):
    """A workbook's sheet names and the problem text are written behind a `'` when they
    could run, like every other cell."""
    lines = report(
        tmp_path,
        [
            RowError(2, "code", "A", "=problem", sheet="=sheet"),
            RowError(2, "name", "B", "plain problem", sheet="plain"),
        ],
        {"=sheet": [["code"], ["A"]], "plain": [["name", "-x"], ["B", "@y"]]},
    )
    assert lines == [
        ["sheet", *HEADER, "cell 1", "cell 2"],
        ["'=sheet", "2", "code", "A", "'=problem", "A"],
        ["plain", "2", "name", "B", "plain problem", "B", "'@y"],
    ]


def test_header_and_values_round_trip_through_the_csv_module(tmp_path):
    """Column names and cells holding the CSV's own delimiter, quotes, line breaks and
    non-ASCII text are read back by the csv module exactly as the file had them; a
    neutralised cell reads back as its text behind one `'`."""
    header = ["code", 'na,me "x"', "line\nbreak", "\u65e5\u672c", "-5"]
    rows = [
        ["A1", 'a, "quoted"', "two\r\nlines", "\u00e9\u00e8", "-1.5"],
        ["A2", "", "=2+3", " ", f"{BOM}@x"],
    ]
    lines = report(
        tmp_path,
        [RowError(2, 'na,me "x"', 'a, "quoted"', 'bad "quote", here'), RowError(3, None, None, "")],
        {None: [header, *rows]},
    )
    assert lines[0] == [*HEADER, *header]
    assert lines[1] == ["2", 'na,me "x"', 'a, "quoted"', 'bad "quote", here', *rows[0]]
    assert lines[2] == ["3", "", "", "", "A2", "", "'=2+3", " ", f"'{BOM}@x"]
