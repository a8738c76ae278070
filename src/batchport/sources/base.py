"""What every reader offers: a header, then the data rows in numbered blocks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from batchport.errors import SourceError, TooManyRows

#: A data row: its number as a spreadsheet shows it (the header is row 1) and its cells as text.
Row = tuple[int, list[str]]


@dataclass(frozen=True)
class Limits:
    """How much a file may hold; beyond any of these it is refused with a clear error before
    (or as soon as) the excess is read, so memory stays bounded for any file."""

    #: Bytes of the file itself.
    max_file_bytes: int = 2 << 30
    #: Data rows below the header.
    max_rows: int = 10_000_000
    #: Characters in one cell.
    max_cell_chars: int = 1 << 20
    #: Bytes a workbook (a zip archive) unpacks to, summed over its entries.
    max_unpacked_bytes: int = 2 << 30
    #: Entries in a workbook's zip archive.
    max_zip_entries: int = 10_000
    #: Cells a worksheet spans (rows times columns between its first and last cell): a reader
    #: holds that grid in memory, however few cells are filled.
    max_sheet_cells: int = 10_000_000
    #: Bytes of memory reading a workbook may take, as estimated from its archive before it is
    #: read (its shared strings, then a sheet's grid, cells, long texts and the shared strings
    #: they copy; and no part may unpack to more): the reader holds a whole sheet at once,
    #: however small the file. 200 MiB keeps a reader's growth under 300 MB.
    max_workbook_memory: int = 200 << 20


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive non-blank data rows: their spreadsheet row numbers and their cells."""

    numbers: list[int]
    rows: list[list[str]]


class Source(ABC):
    """An open input file."""

    #: The text encoding the file is read in (a CSV's); None for a workbook.
    encoding: str | None = None

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = path
        self.name = str(path)
        self.limits = limits
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SourceError(self.name, f"cannot open the file: {exc.strerror}") from exc
        if size > limits.max_file_bytes:
            raise SourceError(
                self.name,
                f"the file has {size:,} bytes; the limit is {limits.max_file_bytes:,}",
                hint="raise it with --max-file-size",
            )

    @abstractmethod
    def header(self) -> list[str]:
        """The header row's cells; raises `SourceError` if the file has none."""

    def blocks(self, size: int) -> Iterator[Block]:
        """The non-blank data rows after the header, in file order, up to `size` at a time.

        A file with no data row, or with more than the row limit, is a `SourceError`.
        """
        rows = 0
        for block in self._blocks(size):
            rows += len(block.numbers)
            if rows > self.limits.max_rows:
                raise TooManyRows(self.name, self.limits.max_rows, block.numbers[-1])
            yield block
        if not rows:
            raise SourceError(self.name, "the file has no data rows below its header")

    @abstractmethod
    def _blocks(self, size: int) -> Iterator[Block]:
        """`blocks` without the limits."""

    def rows(self) -> Iterator[Row]:
        """The non-blank data rows one by one."""
        for block in self.blocks(1000):
            yield from zip(block.numbers, block.rows, strict=True)

    def close(self) -> None:  # noqa: B027 - a reader holding nothing open has nothing to do
        """Releases the file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def non_blank(first: int, rows: list[list[str]]) -> Block:
    """The rows numbered from `first`, without those whose cells are all empty."""
    if all(map(any, rows)):
        return Block(list(range(first, first + len(rows))), rows)
    kept = [(first + i, row) for i, row in enumerate(rows) if any(row)]
    return Block([n for n, _ in kept], [row for _, row in kept])
