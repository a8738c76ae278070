"""The byte length of each of a workbook's shared strings, as calamine reads its table (which it
holds whole, copying a string into each cell that refers to it), walked piece by piece."""

from __future__ import annotations

import re
from array import array

#: Shared strings' tags: plain ones, and any the reader accepts (a prefix before a colon).
_PLAIN_STRING = re.compile(rb"</?si>")
_STRING = re.compile(rb"""<(/?)((?:[^\s/>:<]+:)?si)(?=[\s/>])((?:[^<>"']|"[^"]*"|'[^']*')*)>""")
_TABLE = re.compile(rb"""<(?:[^\s/>:<]+:)?sst(?=[\s/>])(?:[^<>"']|"[^"]*"|'[^']*')*>""")


class StringTable:
    """The shared strings' byte lengths, read piece by piece as calamine reads the table: from
    its `<sst>` on, each string from its `<si>` to the first end tag of the same name. While
    a string is open, its length so far is the last one."""

    def __init__(self) -> None:
        self.lengths: array[int] = array("Q")
        self.started, self.inside, self.start, self.offset = False, b"", 0, 0

    def add(self, piece: bytes) -> None:
        if not self.started:
            table = _TABLE.search(piece)  # calamine skips all before it
            skipped = table.end() if table else len(piece)
            self.started, self.offset = table is not None, self.offset + skipped
            piece = piece[skipped:]
        if not self._split(piece):
            self._walk(piece)
        self.offset += len(piece)

    def _split(self, piece: bytes) -> bool:
        """Adds a piece whose strings are plain `<si>`, closed in turn by `</si>`, by splitting
        it at each `<si>`; False, adding nothing, for any other."""
        marks = _PLAIN_STRING.findall(piece)
        first, then = (b"</si>", b"<si>") if self.inside else (b"<si>", b"</si>")
        if (
            piece.count(b"<si") + piece.count(b"</si") != len(marks)
            or b":si" in piece
            or marks[0::2].count(first) != len(marks[0::2])
            or marks[1::2].count(then) != len(marks[1::2])
        ):
            return False
        segments = piece.split(b"<si>")
        if self.lengths:
            self.lengths[-1] += len(segments[0])
        self.lengths.extend(map(len, segments[1:]))
        if marks:
            self.inside = b"si" if marks[-1] == b"<si>" else b""
        self.start = self.offset + len(piece) - self.lengths[-1] if self.inside else 0
        return True

    def _walk(self, piece: bytes) -> None:
        for found in _STRING.finditer(piece):
            closing, qualified, attributes = found.groups()
            if self.inside:
                if closing and qualified == self.inside:
                    self.lengths[-1] = self.offset + found.end() - self.start
                    self.inside = b""
            elif not closing:
                self.lengths.append(found.end() - found.start())
                if not attributes.endswith(b"/"):
                    self.inside, self.start = qualified, self.offset + found.start()
        if self.inside:
            self.lengths[-1] = self.offset + len(piece) - self.start
