"""Readers that stream an input file's rows as text cells, each with its spreadsheet row number."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from batchport import lazy_exports
from batchport.sources.base import Limits, Source

if TYPE_CHECKING:
    from batchport.sources.delimited import DelimitedSource
    from batchport.sources.encoding import DEFAULT_ENCODING, text_codec
    from batchport.sources.workbook import WorkbookSource

__all__ = [
    "DEFAULT_ENCODING",
    "DelimitedSource",
    "Limits",
    "Source",
    "WorkbookSource",
    "file_sha256",
    "is_workbook",
    "open_source",
    "text_codec",
]

_WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})


def is_workbook(path: Path) -> bool:
    """Whether the file's suffix names a spreadsheet workbook (else it is read as CSV)."""
    return path.suffix.lower() in _WORKBOOK_SUFFIXES


def open_source(
    path: Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    limits: Limits | None = None,
) -> Source:
    """Opens `path` with the reader its suffix calls for."""
    if is_workbook(path):
        from batchport.sources.workbook import WorkbookSource  # noqa: PLC0415 - see _EXPORTS

        return WorkbookSource(path, sheet=sheet, limits=limits)
    from batchport.sources.delimited import DelimitedSource  # noqa: PLC0415 - see _EXPORTS

    return DelimitedSource(path, encoding=encoding, delimiter=delimiter, limits=limits)


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: The readers (charset-normalizer, calamine) are imported when first used: `Limits` is read by
#: every command's options at start-up.
_EXPORTS = {
    "batchport.sources.delimited": ("DelimitedSource",),
    "batchport.sources.encoding": ("DEFAULT_ENCODING", "text_codec"),
    "batchport.sources.workbook": ("WorkbookSource",),
}

if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute
    __getattr__ = lazy_exports(__name__, _EXPORTS)
