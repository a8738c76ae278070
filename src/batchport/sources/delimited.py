"""CSV files, read as a stream in strict mode, a block of records at a time.

The encoding is the byte-order mark's, else the one given, else UTF-8, else a confident guess
(see `sources.encoding`). The delimiter is the one given, else the one of `,` `;` and tab that
the header line holds most of (outside quotes). Nothing malformed is repaired: an unclosed
quote, a NUL character or an over-long cell is an error naming the line.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from batchport.errors import SourceError
from batchport.sources.base import Block, Limits, Source, non_blank
from batchport.sources.detection import display_name
from batchport.sources.encoding import (
    SAMPLE_BYTES,
    codec_for,
    nul_line,
    nul_refusal,
    undecodable,
)

DELIMITERS = (",", ";", "\t")


class DelimitedSource(Source):
    """A delimited text file. `encoding` names the encoding it is read in (`utf-8`,
    `windows-1251`, `utf-16`...), given or detected, for the import's report."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(path, limits or Limits())
        try:
            with path.open("rb") as raw:
                sample = raw.read(SAMPLE_BYTES)
        except OSError as exc:
            raise SourceError(self.name, f"cannot open the file: {exc.strerror}") from exc
        self._codec = codec_for(self.name, sample, encoding)
        self.encoding = display_name(self._codec)
        try:
            self.delimiter = (
                _checked_delimiter(delimiter) if delimiter else _sniffed(sample, self._codec)
            )
        except UnicodeError as exc:  # a codec that refuses the file whole (UTF-16 without BOM)
            raise _unreadable(self, exc) from exc
        if line := nul_line(path, self._codec):
            raise nul_refusal(self.name, line)
        self._stream = path.open(encoding=self._codec, newline="")
        csv.field_size_limit(self.limits.max_cell_chars)
        self._reader = csv.reader(self._stream, strict=True, delimiter=self.delimiter)
        self._records = 0
        self._header: list[str] | None = None

    def header(self) -> list[str]:
        if self._header is None:
            self._header = self._header_row()
        return self._header

    def _header_row(self) -> list[str]:
        """Row 1's cells. A blank row 1 is an error naming the first line that is not: taking
        that line for the header would number every row differently from the spreadsheet."""
        first = self._read(1)
        if first and _filled(first[0]):
            return first[0]
        while True:
            line = self._reader.line_num + 1
            records = self._read(1)
            if not records:
                break
            if _filled(records[0]):
                raise SourceError(
                    self.name,
                    f"row 1, the header row, is blank; the first non-blank line is line {line}: "
                    "remove the lines above it",
                )
        what = ": it holds only blank lines or delimiters" if self._reader.line_num else ""
        raise SourceError(self.name, f"the file is empty{what}; row 1 must hold the column names")

    def _blocks(self, size: int) -> Iterator[Block]:
        self.header()
        while records := self._read(size):
            block = non_blank(self._records - len(records) + 1, records)
            if block.rows:
                yield block

    def _read(self, count: int) -> list[list[str]]:
        """The next `count` records (fewer at the end), each counted as a spreadsheet row."""
        after = self._reader.line_num
        try:
            records = list(islice(self._reader, count))
        except UnicodeDecodeError as exc:
            raise undecodable(self.path, self._codec) from exc
        except UnicodeError as exc:  # a codec that refuses the file whole (UTF-16 without BOM)
            raise _unreadable(self, exc) from exc
        except csv.Error as exc:
            raise self._malformed(exc, after) from exc
        self._records += len(records)
        return records

    def _malformed(self, exc: csv.Error, after: int) -> SourceError:
        """The error for a record that csv refused; the record starts after line `after`."""
        message, line = str(exc), self._reader.line_num
        limit = self.limits.max_cell_chars
        if "unexpected end of data" in message:
            opened = self._quote_opened(after)
            return SourceError(
                self.name,
                f"malformed CSV: a quoted cell opened at line {opened} is never closed (its "
                "closing quote is missing)",
            )
        if "field larger than field limit" in message:
            opened = self._quote_opened(after)
            quoted = f"the quoted cell opened at line {opened}" if opened < line else "a cell"
            return SourceError(
                self.name,
                f"malformed CSV at line {line}: {quoted} is longer than {limit:,} characters, "
                "the limit" + ("; is its closing quote missing?" if opened < line else ""),
                hint="raise the limit with --max-cell-size if the cell is really that long",
            )
        return SourceError(self.name, f"malformed CSV at line {line}: {message}")

    def _quote_opened(self, after: int) -> int:
        """The line where the quoted cell left open in the failing record opens.

        Read again (an error is rare; keeping every record's first line would slow every
        read): the record starts where csv's parse of the lines after `after` fails.
        """
        seen: list[str] = []
        with self.path.open(encoding=self._codec, newline="") as stream:
            for _ in islice(stream, after):
                pass
            reader = csv.reader(_kept(stream, seen), strict=True, delimiter=self.delimiter)
            start = 0
            try:
                while True:
                    start = reader.line_num
                    next(reader)
            except (csv.Error, StopIteration):
                pass
        return after + start + 1 + _opening_line(seen[start:])

    def close(self) -> None:
        self._stream.close()


def _filled(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _opening_line(lines: list[str]) -> int:
    """The index of the line where the quote still open after `lines` opens (0 if none):
    each quote opens or closes a cell, but two in a row inside one are a quote character."""
    inside, opened = False, 0
    for number, text in enumerate(lines):
        at = text.find('"')
        while at >= 0:
            if inside and text.startswith('""', at):
                at = text.find('"', at + 2)
                continue
            inside = not inside
            opened = number if inside else opened
            at = text.find('"', at + 1)
    return opened


def _kept(lines: Iterable[str], seen: list[str]) -> Iterator[str]:
    for line in lines:
        seen.append(line)
        yield line


def _unreadable(source: DelimitedSource, exc: UnicodeError) -> SourceError:
    return SourceError(
        source.name,
        f"the file cannot be read as {source.encoding}: {exc}",
        hint="name the file's encoding with --encoding",
    )


def _sniffed(sample: bytes, codec: str) -> str:
    """The delimiter the header line holds most of, outside quotes (`,` if none)."""
    text = codecs.getincrementaldecoder(codec)(errors="replace").decode(sample)
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            break
        elif char in counts and not quoted:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _checked_delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}
    delimiter = named.get(text.lower(), text)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise SourceError("--delimiter", f"{text!r} cannot separate cells; use , ; tab or |")
    return delimiter
