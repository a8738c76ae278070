"""What every reader offers: a header and a stream of numbered rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

#: A data row: its number as a spreadsheet shows it (the header is row 1) and its cells as text.
Row = tuple[int, list[str]]


class Source(ABC):
    """An open input file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)

    @abstractmethod
    def header(self) -> list[str]:
        """The header row's cells; raises `SourceError` if the file has none."""

    @abstractmethod
    def rows(self) -> Iterator[Row]:
        """The non-blank data rows after the header, in file order."""

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
