"""What reading one part of a workbook's archive as a sheet would make the reader hold in
memory, estimated from the part's XML read as a stream of pieces (`archive.pieces`).

calamine places each cell at its reference (`r="B7"`), or else after the cell before it in the
row, and allocates the whole grid between the first and last cells it places; it copies a
shared string into each cell that refers to it. A part in the form every common writer uses is
added up with byte counts; any other form tag by tag as calamine walks it, or, where a `<` hides
in a comment, a CDATA section or an attribute, bounded from above by whatever looks like cells,
rows and references. Every way errs on the side of more memory, never less.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Bytes the reader holds (python-calamine 0.9, measured): per cell of a sheet's grid, and per
#: cell written (calamine's list of cells or, as rows are handed over, their Python values).
#: A long text is held twice: by calamine and as a Python string.
GRID_CELL, FILLED_CELL = 32, 72
#: calamine's rows and columns are u32, and its arithmetic on them wraps.
_U32 = 0xFFFFFFFF

#: A namespace prefix: calamine compares local names (after the first colon).
_P = rb"(?:[^\s/>:<]+:)?"
#: A tag's attributes, a quoted value (which may hold `>`) taken whole.
_QA = rb"""(?:[^<>"']|"[^"]*"|'[^']*')*"""
# The form every common writer uses: cells as `<c r="A1"`, values as `<v>`, attributes as
# `name="value"` (told apart from any other by byte counts, in `SheetMemory.canonical`).
_CELL_START = re.compile(rb"<c[\s/>]")
#: Whitespace as XML has it, each made a space (`bytes.translate`).
_SPACES = bytes.maketrans(b"\t\r\n", b"   ")
_PREFIXED = re.compile(rb":(?:c|v|row)[\s/>]")
_ROW_NUMBERS = re.compile(rb'r="[A-Za-z]+([0-9]+)"')
_COLUMNS = re.compile(rb'r="([A-Za-z]+)[0-9]')
_PLAIN_VALUE = re.compile(rb"<v>\+?0*([0-9]{1,10})(?![0-9])")
_SHARED_VALUE = re.compile(rb't="s"><v>\+?0*([0-9]{1,10})</v></c>')
_LONG_TEXT = re.compile(rb">[^<]{64,}")
# Any form calamine reads. Markup holding no `<` is "clean": then every `<` opens a real tag.
_MARKUP = re.compile(
    rb"""<[^\s<>!?/](?:[^<>"']|"[^"<]*"|'[^'<]*')*>|</[^<>]*>|<!--[^<]*?-->|<\?[^<]*?\?>"""
)
_CDATA = re.compile(rb"<!\[CDATA\[[^<]*?\]\]>")
_TAG = re.compile(rb"<(/?)" + _P + rb"(row|c)(?=[\s/>])(" + _QA + rb")>")
_ATTRIBUTE = re.compile(rb"""([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_CELL = re.compile(rb"<" + _P + rb"c(?=[\s/>])")
_CELL_WITH_REF = re.compile(rb"<" + _P + rb"c\s" + _QA + rb"""(?<=[\s"'])r\s*=\s*["']""")
_ROW_TAG = re.compile(rb"</?" + _P + rb"row(?=[\s/>])")
_ANY_REF = re.compile(rb"""(?<=[\s"'])r\s*=\s*(["'])([A-Za-z]*)([0-9]+)\1""")
_VALUE = re.compile(rb"<" + _P + rb"v(?=[\s/>])" + _QA + rb">\+?0*([0-9]{1,10})(?![0-9])")
_LOOSE_VALUE = re.compile(rb">\+?0*([0-9]{1,10})(?![0-9])")
_REFERENCE = re.compile(rb"([A-Za-z]*)([0-9]+)")


def clean(piece: bytes) -> bool:
    """Whether every `<` of the piece opens a tag, comment, CDATA section or processing
    instruction holding no other `<`: then no tag hides in another's attribute or comment."""
    stripped, tags = _MARKUP.subn(b"", piece)
    return tags + len(_CDATA.findall(stripped)) == piece.count(b"<")


def _number(digits: bytes) -> int:
    """A row number as calamine's u32 arithmetic reads it (an absurdly long one: the most)."""
    return int(digits) & _U32 if len(digits) <= 12 else _U32


def _column_number(letters: bytes) -> int:
    if len(letters) > 12:
        return _U32
    number = 0
    for letter in letters.upper():
        number = (number * 26 + letter - 64) & _U32
    return number


#: What `SheetMemory.canonical` adds up, as plain values: cells, referenced, text, repeats,
#: and the lowest and highest rows and columns.
Tally = tuple[int, int, int, int, list[int], list[int]]


class SheetMemory:
    """What one part of the archive would make the reader hold if it were read as a sheet,
    added up piece by piece, in one of two ways: `canonical` or `robust`."""

    def __init__(self, strings: Sequence[int]) -> None:
        self.strings = strings
        self.cells = self.text = self.repeats = 0
        #: Lowest and highest row and column of the cells' references (1-based).
        self.low, self.high = [_U32, _U32], [0, 0]
        # Only `robust`: tags, whether every piece is clean, the reader's own walk (0-based).
        self.referenced = self.rows = 0
        self.walked, self.clean, self.at, self.reach = False, True, (0, 0), (-1, -1)

    def canonical(self, piece: bytes) -> bool:
        """Adds a piece in the form every common writer uses: each cell `<c r="A1"` (a cell
        without a reference is placed after the one before it, so each needs one here), each
        attribute `name="value"`, each value `<v>`. False, adding nothing, for any other."""
        cells = piece.count(b'<c r="')
        if (
            (piece.count(b"<c") != cells and len(_CELL_START.findall(piece)) != cells)
            or piece.count(b"=") != piece.count(b'="')
            or b" =" in piece.translate(_SPACES)  # any whitespace before a `=`
            or _PREFIXED.search(piece)
            or (values := self._values(piece)) is None
        ):
            return False
        self.cells += cells
        self.referenced += cells
        if digits := set(_ROW_NUMBERS.findall(piece)):
            short = max(map(len, digits)) <= 9  # below 2**32: no wrapping
            rows = list(map(int, digits)) if short else list(map(_number, digits))
            columns = [_column_number(letters) for letters in set(_COLUMNS.findall(piece))]
            self._widen((min(rows), min(columns)), (max(rows), max(columns)))
        self.text += sum(map(len, _LONG_TEXT.findall(piece)))
        self._repeat(values)
        return True

    def tally(self) -> Tally:
        """What `canonical` added up, for a reader of another share of the part to `join`."""
        return self.cells, self.referenced, self.text, self.repeats, self.low, self.high

    def join(self, tally: Tally) -> None:
        """Adds what `canonical` added up from another share of the same part."""
        cells, referenced, text, repeats, low, high = tally
        self.cells, self.referenced = self.cells + cells, self.referenced + referenced
        self.text, self.repeats = self.text + text, self.repeats + repeats
        self._widen((low[0], low[1]), (high[0], high[1]))

    def _values(self, piece: bytes) -> list[bytes] | None:
        """The shared strings' indices the piece's cells may hold: each cell of type "s" that
        holds just its index, else every plain `<v>`; None where values take another form."""
        if not self.strings:
            return []
        shared = _SHARED_VALUE.findall(piece)
        if len(shared) == piece.count(b't="s"'):
            return shared
        return _PLAIN_VALUE.findall(piece) if piece.count(b"<v") == piece.count(b"<v>") else None

    def robust(self, piece: bytes) -> None:
        """Adds a piece in any form: walked tag by tag as calamine walks it while every piece
        is clean; else bounded from above by what looks like cells, rows and references."""
        tidy = clean(piece)
        self.walked, self.clean = True, self.clean and tidy
        if self.clean:
            self._walk(piece)
        self.cells += len(_CELL.findall(piece))
        self.referenced += len(_CELL_WITH_REF.findall(piece))
        self.rows += len(_ROW_TAG.findall(piece))
        for _, letters, digits in _ANY_REF.findall(piece):
            row = _number(digits)
            if letters:
                column = _column_number(letters)
                self._widen((row, column), (row, column))
            else:  # a row's own number
                self._widen((row, self.low[1]), (row, self.high[1]))
        self.text += sum(map(len, _LONG_TEXT.findall(piece))) if tidy else len(piece)
        self._repeat((_VALUE if tidy else _LOOSE_VALUE).findall(piece))

    def span(self) -> int:
        """Cells in the grid calamine would allocate (an upper bound, but for a walk)."""
        if not self.cells:
            return 0
        if self.walked and self.clean:
            rows, columns = self.reach[0] + 1, self.reach[1] + 1
        elif self.referenced < self.cells:  # after the last reference, one more each
            rows, columns = self.high[0] + self.rows + 1, self.high[1] + self.cells + 1
        else:
            rows, columns = (self.high[i] - self.low[i] + 1 for i in (0, 1))
        return max(rows, 0) * max(columns, 0)

    def memory(self) -> int:
        """Bytes the reader would hold for this part as a sheet (see `FILLED_CELL`)."""
        cells = GRID_CELL * self.span() + FILLED_CELL * self.cells
        return cells + 2 * (self.text + self.repeats)

    def _widen(self, low: tuple[int, int], high: tuple[int, int]) -> None:
        self.low = [min(a, b) for a, b in zip(self.low, low, strict=True)]
        self.high = [max(a, b) for a, b in zip(self.high, high, strict=True)]

    def _repeat(self, indices: list[bytes]) -> None:
        if not (self.strings and indices):
            return
        numbers, count = list(map(int, indices)), len(self.strings)
        if max(numbers) >= count:  # no shared string has such an index: nothing is copied
            numbers = [number for number in numbers if number < count]
        self.repeats += sum(map(self.strings.__getitem__, numbers))

    def _walk(self, piece: bytes) -> None:
        """Places each cell as calamine does: at its reference, else after the cell before it
        in the row, a row at its own reference, else after the row before it."""
        row, column = self.at
        for closing, kind, attributes in _TAG.findall(piece):
            if closing:
                if kind == b"row":
                    row, column = (row + 1) & _U32, 0
                continue
            refs = [a or b for key, a, b in _ATTRIBUTE.findall(attributes) if key == b"r"]
            found = _REFERENCE.fullmatch(refs[-1]) if refs else None
            if refs and (found is None or not _number(found[2])):
                continue  # calamine fails on a bad reference, and reads nothing
            if kind == b"row":
                row = _number(found[2]) - 1 if found else row
                if attributes.endswith(b"/"):
                    row, column = (row + 1) & _U32, 0
                continue
            if found:
                if not found[1]:
                    continue
                place = (_number(found[2]) - 1, _column_number(found[1]) - 1)
            else:
                place = (row, column)
            self.reach = (max(self.reach[0], place[0]), max(self.reach[1], place[1]))
            column = (place[1] + 1) & _U32
        self.at = (row, column)
