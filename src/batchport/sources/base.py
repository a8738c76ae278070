"""What every reader offers: a header, then the data rows in numbered blocks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

#: A data row: its number as a spreadsheet shows it (the header is row 1) and its cells as text.
Row = tuple[int, list[str]]


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive non-blank data rows: their spreadsheet row numbers and their cells."""

    numbers: list[int]
    rows: list[list[str]]


class Source(ABC):
    """An open input file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)

    @abstractmethod
    def header(self) -> list[str]:
        """The header row's cells; raises `SourceError` if the file has none."""

    @abstractmethod
    def blocks(self, size: int) -> Iterator[Block]:
        """The non-blank data rows after the header, in file order, up to `size` at a time."""

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
