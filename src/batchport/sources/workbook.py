"""XLSX (and other spreadsheet) workbooks, read with calamine, which expands no XML entities.

calamine holds a whole sheet in memory, so a zipped workbook's archive is checked first, as a
stream (`archive`), against the limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import python_calamine

from batchport.errors import SourceError
from batchport.sources.archive import check_archive
from batchport.sources.base import Block, Limits, Row, Source, non_blank

#: Workbook formats that are zip archives of XML parts.
_ZIPPED = frozenset({".xlsx", ".xlsm", ".xlsb", ".ods"})


class WorkbookSource(Source):
    """One sheet of a workbook: the one named `sheet`, else the first."""

    def __init__(
        self, path: Path, *, sheet: str | None = None, limits: Limits | None = None
    ) -> None:
        super().__init__(path, limits or Limits())
        if path.suffix.lower() in _ZIPPED:
            check_archive(path, self.name, self.limits)
        try:
            self._workbook = python_calamine.CalamineWorkbook.from_path(str(path))
        except FileNotFoundError as exc:
            raise SourceError(self.name, "cannot open the file: no such file") from exc
        except python_calamine.PasswordError as exc:
            raise SourceError(self.name, "the workbook is password-protected") from exc
        except (python_calamine.CalamineError, OSError, ValueError) as exc:
            raise SourceError(self.name, f"not a readable workbook ({exc})") from exc
        names = self._workbook.sheet_names
        if sheet is not None and sheet not in names:
            raise SourceError(
                self.name, f"the workbook has no sheet {sheet!r}; its sheets: {', '.join(names)}"
            )
        if not names:
            raise SourceError(self.name, "the workbook has no sheets")
        self.sheet = sheet if sheet is not None else names[0]
        self.name = f"{path}[{self.sheet}]"
        self._rows = self._numbered_rows()
        self._header: list[str] | None = None

    @property
    def sheets(self) -> list[str]:
        """The names of all the workbook's sheets, in order."""
        return list(self._workbook.sheet_names)

    def header(self) -> list[str]:
        if self._header is None:
            first = next(self._rows, None)
            if first is None or first[0] != 1 or not any(first[1]):
                raise SourceError(self.name, "row 1 must hold the column names")
            self._header = first[1]
        return self._header

    def _blocks(self, size: int) -> Iterator[Block]:
        self.header()
        while rows := list(islice(self._rows, size)):
            block = non_blank(rows[0][0], [cells for _, cells in rows])
            if block.rows:
                yield block

    def _numbered_rows(self) -> Iterator[Row]:
        try:
            sheet = self._workbook.get_sheet_by_name(self.sheet)
            # calamine starts the range at the first used cell; keep spreadsheet numbering.
            first_row = sheet.start[0] + 1 if sheet.start else 1
            for offset, cells in enumerate(sheet.iter_rows()):
                yield (
                    first_row + offset,
                    [cell if type(cell) is str else _text(cell) for cell in cells],
                )
        except python_calamine.CalamineError as exc:
            raise SourceError(self.name, f"cannot read the sheet ({exc})") from exc

    def close(self) -> None:
        self._workbook.close()


def _text(cell: object) -> str:
    """The cell as a user typed it: 12.0 is 12, dates are ISO 8601."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.datetime) and cell.time() == dt.time(0):
        return cell.date().isoformat()
    if isinstance(cell, dt.date | dt.time | dt.datetime):
        return cell.isoformat()
    return str(cell)
