"""CSV files, read as a stream in strict mode, a block of records at a time.

The encoding is the one given, else detected from the first bytes: a byte-order mark (UTF-8
or UTF-16), else UTF-8 if those bytes are valid UTF-8, else Windows-1252 (a superset of
Latin-1 for text). The delimiter is the one given, else the one of `,` `;` and tab that the
header line holds most of (outside quotes). Nothing malformed is repaired: an unterminated
quote, a NUL byte or an over-long cell is an error naming the line.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from batchport.errors import SourceError
from batchport.sources.base import Block, Limits, Source, non_blank

#: How much of the file is looked at to detect its encoding and delimiter.
SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: How archives and other binary files start; none of them is CSV.
_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip archive (an .xlsx workbook? give the file its .xlsx name)",
    b"\xd0\xcf\x11\xe0": "an old Office document (an .xls workbook? save it as .xlsx or CSV)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\x1f\x8b": "a gzip archive",
}


class DelimitedSource(Source):
    """A delimited text file."""

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
        self.encoding = _checked_encoding(encoding) if encoding else self._detected(sample)
        try:
            self.delimiter = _checked_delimiter(delimiter) if delimiter else _sniffed(sample, self)
        except UnicodeError as exc:  # a codec that refuses the file whole (UTF-16 without BOM)
            raise _unreadable(self, exc) from exc
        self._stream = path.open(encoding=self.encoding, newline="")
        csv.field_size_limit(self.limits.max_cell_chars)
        self._reader = csv.reader(self._stream, strict=True, delimiter=self.delimiter)
        self._records = 0
        self._header: list[str] | None = None

    def header(self) -> list[str]:
        if self._header is None:
            first = self._read(1)
            if not first or not any(cell.strip() for cell in first[0]):
                raise SourceError(self.name, "the file is empty; row 1 must hold the column names")
            self._header = first[0]
        return self._header

    def _blocks(self, size: int) -> Iterator[Block]:
        self.header()
        while records := self._read(size):
            block = non_blank(self._records - len(records) + 1, records)
            if block.rows:
                yield block

    def _read(self, count: int) -> list[list[str]]:
        """The next `count` records (fewer at the end), each counted as a spreadsheet row."""
        try:
            records = list(islice(self._reader, count))
        except UnicodeDecodeError as exc:
            line, byte = _first_undecodable(self.path, self.encoding)
            raise SourceError(
                self.name,
                f"the bytes are not valid {self.encoding.removesuffix('-sig')} (byte "
                f"0x{byte:02x}, {exc.reason}) at line {line}",
                hint="name the file's encoding with --encoding, e.g. --encoding cp1252",
            ) from exc
        except UnicodeError as exc:  # a codec that refuses the file whole (UTF-16 without BOM)
            raise _unreadable(self, exc) from exc
        except csv.Error as exc:
            too_long = "field larger than field limit" in str(exc)
            raise SourceError(
                self.name,
                f"malformed CSV at line {self._reader.line_num}: {_explained(exc, self)}",
                hint="raise it with --max-cell-size" if too_long else None,
            ) from exc
        self._records += len(records)
        return records

    def _detected(self, sample: bytes) -> str:
        for bom, encoding in _BOMS:
            if sample.startswith(bom):
                return encoding
        for magic, what in _BINARY_MAGIC.items():
            if sample.startswith(magic):
                raise SourceError(self.name, f"this is {what}, not a CSV file")
        if b"\x00" in sample:
            raise SourceError(
                self.name,
                "this looks like a binary file, not a CSV file (it holds NUL bytes); a CSV "
                "file saved as UTF-16 needs its byte-order mark",
                hint="name its encoding with --encoding utf-16",
            )
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        except UnicodeDecodeError:
            return "cp1252"
        return "utf-8-sig"

    def close(self) -> None:
        self._stream.close()


def _unreadable(source: DelimitedSource, exc: UnicodeError) -> SourceError:
    return SourceError(
        source.name,
        f"the file cannot be read as {source.encoding}: {exc}",
        hint="name the file's encoding with --encoding",
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int]:
    """The line (counted in newlines) and value of the first byte `encoding` cannot decode;
    read again in binary, as the error shows in the text layer only a buffer later."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as raw:
        while block := raw.read(SAMPLE_BYTES):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0]) if hasattr(decoder, "getstate") else 0
                good = block[: max(exc.start - pending, 0)]
                return line + good.count(b"\n"), exc.object[exc.start]
            line += block.count(b"\n")
    return line, 0


def _sniffed(sample: bytes, source: DelimitedSource) -> str:
    """The delimiter the header line holds most of, outside quotes (`,` if none)."""
    text = codecs.getincrementaldecoder(source.encoding)(errors="replace").decode(sample)
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


def _explained(exc: csv.Error, source: DelimitedSource) -> str:
    message = str(exc)
    if "field larger than field limit" in message:
        return f"a cell is longer than {source.limits.max_cell_chars:,} characters, the limit"
    if "unexpected end of data" in message:
        return "a quoted cell is never closed (its closing quote is missing)"
    if "NUL" in message:
        return "the line holds a NUL byte; is this a binary file or a CSV file in UTF-16?"
    return message


def _checked_encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise SourceError("--encoding", f"unknown encoding {name!r}") from exc
    return name


def _checked_delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}
    delimiter = named.get(text.lower(), text)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise SourceError("--delimiter", f"{text!r} cannot separate cells; use , ; tab or |")
    return delimiter
