"""CSV files, read as a stream in strict mode."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

from batchport.errors import SourceError
from batchport.sources.base import Row, Source

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
        self._row = 0
        self._header: list[str] | None = None

    def header(self) -> list[str]:
        if self._header is None:
            first = next(self._records(), None)
            if first is None or not any(cell.strip() for cell in first[1]):
                raise SourceError(self.name, "the file is empty; row 1 must hold the column names")
            self._header = first[1]
        return self._header

    def rows(self) -> Iterator[Row]:
        self.header()
        for number, cells in self._records():
            if cells and (cells[0].strip() or any(map(str.strip, cells))):
                yield number, cells

    def _records(self) -> Iterator[Row]:
        try:
            for self._row, cells in enumerate(self._reader, start=self._row + 1):  # noqa: B020
                yield self._row, cells
        except UnicodeDecodeError as exc:
            raise SourceError(
                self.name,
                f"the bytes are not valid {self.encoding} ({exc.reason}); "
                "name the file's encoding with --encoding, e.g. --encoding cp1252",
                row=self._row + 1,
            ) from exc
        except csv.Error as exc:
            raise SourceError(self.name, f"malformed CSV: {exc}", row=self._row + 1) from exc

    def close(self) -> None:
        self._stream.close()


def _checked_encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise SourceError("--encoding", f"unknown encoding {name!r}") from exc
    return name
