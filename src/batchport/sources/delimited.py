"""CSV files, read as a stream in strict mode, a block of records at a time."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from batchport.errors import SourceError
from batchport.sources.base import Block, Source, non_blank

DEFAULT_ENCODING = "utf-8-sig"


class DelimitedSource(Source):
    """A comma-separated file; a UTF-8 byte-order mark is dropped."""

    def __init__(self, path: Path, *, encoding: str | None = None) -> None:
        super().__init__(path)
        self.encoding = _checked_encoding(encoding or DEFAULT_ENCODING)
        try:
            self._stream = path.open(encoding=self.encoding, newline="")
        except OSError as exc:
            raise SourceError(self.name, f"cannot open the file: {exc.strerror}") from exc
        self._reader = csv.reader(self._stream, strict=True)
        self._records = 0
        self._header: list[str] | None = None

    def header(self) -> list[str]:
        if self._header is None:
            first = self._read(1)
            if not first or not any(cell.strip() for cell in first[0]):
                raise SourceError(self.name, "the file is empty; row 1 must hold the column names")
            self._header = first[0]
        return self._header

    def blocks(self, size: int) -> Iterator[Block]:
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
            raise SourceError(
                self.name,
                f"the bytes are not valid {self.encoding} ({exc.reason}) near line "
                f"{self._reader.line_num + 1}; name the file's encoding with --encoding, "
                "e.g. --encoding cp1252",
            ) from exc
        except csv.Error as exc:
            raise SourceError(
                self.name, f"malformed CSV at line {self._reader.line_num}: {exc}"
            ) from exc
        self._records += len(records)
        return records

    def close(self) -> None:
        self._stream.close()


def _checked_encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise SourceError("--encoding", f"unknown encoding {name!r}") from exc
    return name
