"""XLSX (and other spreadsheet) workbooks, read with calamine, which expands no XML entities.

calamine holds a whole sheet in memory, so a zipped workbook's archive is checked first, as a
stream (`archive`), against the limits: all of it but the sheets' own parts once per file read,
however many of its sheets are read (`Workbook`), and each sheet's own part as that sheet is
first read. A hidden sheet (hidden or very hidden) is read only when it is named: its author
hid it from whoever fills in the workbook, so it is no data of theirs.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import python_calamine

from batchport.errors import SourceError
from batchport.sources.archive import Later, check_archive
from batchport.sources.base import Block, Limits, Source, non_blank

#: Workbook formats that are zip archives of XML parts.
_ZIPPED = frozenset({".xlsx", ".xlsm", ".xlsb", ".ods"})


class WorkbookSource(Source):
    """One sheet of a workbook: the one named `sheet` (hidden or not), else the first visible.

    Each source has its own reader of the file (so that each may be read in a process of its
    own); from a `book`, whose archive passed the checks, the file is not checked again. The
    sheet's own part is checked as the sheet is first read (`archive.Later`), by as many
    processes as there are cores, or, `alongside` another sheet's reading, by its reader alone.
    """

    def __init__(
        self,
        path: Path,
        *,
        sheet: str | None = None,
        limits: Limits | None = None,
        book: Workbook | None = None,
        alongside: bool = False,
    ) -> None:
        super().__init__(path, limits or Limits())
        if book is None:
            _, self._later, self._workbook = _opened(path, self.name, self.limits)
        else:
            self._later, self._workbook = book.later, book.reader()
        self._share = not alongside
        try:
            self.sheet = self._chosen(sheet)
        except SourceError:
            self._workbook.close()
            raise
        self.name = f"{path}[{self.sheet}]"
        #: The spreadsheet number of the sheet's first row, known once it is read.
        self._first = 1
        self._rows = self._sheet_rows()
        self._header: list[str] | None = None

    def _chosen(self, sheet: str | None) -> str:
        """The sheet to read: `sheet`, which the workbook must have, else the first visible."""
        names = self._workbook.sheet_names
        if not names:
            raise SourceError(self.name, "the workbook has no sheets")
        if sheet is not None:
            if sheet not in names:
                raise SourceError(
                    self.name,
                    f"the workbook has no sheet {sheet!r}; its sheets: {', '.join(names)}",
                )
            return sheet
        visible = _visible(self._workbook)
        if not visible:
            raise SourceError(
                self.name,
                f"the workbook has no visible sheet (its sheets: {', '.join(names)}); "
                "a hidden sheet is read only when it is named",
                hint="name the sheet to read with --sheet",
            )
        return visible[0]

    def header(self) -> list[str]:
        if self._header is None:
            first = next(self._rows, None)
            if first is None or self._first != 1 or not any(first):
                raise SourceError(self.name, "row 1 must hold the column names")
            self._header = _texts([first])[0]
        return self._header

    def _blocks(self, size: int) -> Iterator[Block]:
        self.header()
        number = self._first + 1
        while rows := list(islice(self._rows, size)):
            block = non_blank(number, _texts(rows))
            number += len(rows)
            if block.rows:
                yield block

    def _sheet_rows(self) -> Iterator[list[Any]]:
        """The sheet's rows as calamine hands them over (cells of any type)."""
        self._later.check(self.sheet, share=self._share)
        try:
            sheet = self._workbook.get_sheet_by_name(self.sheet)
            # calamine starts the range at the first used cell; keep spreadsheet numbering.
            self._first = sheet.start[0] + 1 if sheet.start else 1
            yield from sheet.iter_rows()
        except python_calamine.CalamineError as exc:
            raise SourceError(self.name, f"cannot read the sheet ({exc})") from exc

    def close(self) -> None:
        self._workbook.close()


def visible_sheets(path: Path, limits: Limits) -> list[str]:
    """The names of the sheets a user sees in the workbook, in order (none if all are hidden)."""
    with Workbook(path, limits) as book:
        return book.visible_sheets()


class Workbook(Source):
    """A workbook whose archive passed the checks once, for reading several of its sheets.

    Checking the archive reads all of it, which costs more than reading a sheet: a sheet's own
    part is checked only when that sheet is read (where the workbook's layout tells which part
    it is: `archive.Later`), once. Each sheet (`sheet`) is then read by a reader of its own,
    opened on the same file: one that has changed since (replaced, rewritten) is refused
    rather than read unchecked.
    """

    def __init__(self, path: Path, limits: Limits) -> None:
        super().__init__(path, limits)
        self._identity, self.later, self.workbook = _opened(path, self.name, limits)

    def visible_sheets(self) -> list[str]:
        """The names of the sheets a user sees, in order (none if all are hidden)."""
        return _visible(self.workbook)

    def sheet(self, name: str, *, alongside: bool = False) -> WorkbookSource:
        """The sheet named `name`, with a reader of its own. Its part of the archive is checked
        now, by as many processes as there are cores, or, `alongside` another sheet's reading,
        just before it is read, by the process that reads it, alone (the cores are busy)."""
        if not alongside:
            self.later.check(name, share=True)
        return WorkbookSource(
            self.path, sheet=name, limits=self.limits, book=self, alongside=alongside
        )

    def reader(self) -> python_calamine.CalamineWorkbook:
        """A new reader of the file, which must be the one checked."""
        workbook = _calamine(self.path, self.name)
        try:
            _unchanged(self.path, self.name, self._identity)
        except SourceError:
            workbook.close()
            raise
        return workbook

    def header(self) -> list[str]:
        raise NotImplementedError

    def _blocks(self, size: int) -> Iterator[Block]:
        raise NotImplementedError

    def close(self) -> None:
        self.workbook.close()

    def __enter__(self) -> Workbook:
        return self


def _identity(path: Path, name: str) -> tuple[int, ...]:
    """What tells the file apart from another one put in its place, or from itself rewritten."""
    try:
        found = os.stat(path)
    except OSError as exc:
        raise SourceError(name, f"cannot open the file: {exc.strerror}") from exc
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _unchanged(path: Path, name: str, identity: tuple[int, ...]) -> None:
    """Refuses the file if it is no longer the one whose `identity` was taken (checked)."""
    if _identity(path, name) != identity:
        raise SourceError(name, "the file changed while it was being read")


def _visible(workbook: python_calamine.CalamineWorkbook) -> list[str]:
    """The visible worksheets' names: a hidden sheet is no data of whoever fills in the
    workbook, and a chart sheet holds no cells."""
    return [
        sheet.name
        for sheet in workbook.sheets_metadata
        if sheet.visible == python_calamine.SheetVisibleEnum.Visible
        and sheet.typ == python_calamine.SheetTypeEnum.WorkSheet
    ]


def _opened(
    path: Path, name: str, limits: Limits
) -> tuple[tuple[int, ...], Later, python_calamine.CalamineWorkbook]:
    """What tells the file apart from another put in its place, its archive checked (but for
    the sheets' own parts, left for later), and the workbook opened by calamine: the file
    checked, unless it changed meanwhile."""
    identity = _identity(path, name)
    later = _check(path, name, limits)
    workbook = _calamine(path, name)
    try:
        _unchanged(path, name, identity)
        later.expect(workbook.sheet_names)
    except SourceError:
        workbook.close()
        raise
    return identity, later, workbook


def _check(path: Path, name: str, limits: Limits) -> Later:
    """The zipped workbook's archive checked but for its sheets' own parts, left for later
    (`check_archive`); other formats have no archive."""
    if path.suffix.lower() not in _ZIPPED:
        return Later(path, {})
    return check_archive(path, name, limits, later=True)


def _calamine(path: Path, name: str) -> python_calamine.CalamineWorkbook:
    """The workbook opened by calamine; what it cannot open, named as the file's error."""
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except FileNotFoundError as exc:
        raise SourceError(name, "cannot open the file: no such file") from exc
    except python_calamine.PasswordError as exc:
        raise SourceError(name, "the workbook is password-protected") from exc
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise SourceError(name, f"not a readable workbook ({exc})") from exc


class NumberCell(str):
    """The text of a cell that holds a number, not text: written as Python writes numbers (a
    point before the fraction), so that a number parser reads it as the number it is, whatever
    decimal separator the field declares for text."""

    __slots__ = ()


def _texts(rows: list[list[Any]]) -> list[list[str]]:
    """The rows' cells as text: a block of text cells only (the most common) as it is."""
    if set(map(type, chain.from_iterable(rows))) <= {str}:
        return rows
    return [[cell if type(cell) is str else _text(cell) for cell in cells] for cells in rows]


def _text(cell: object) -> str:
    """The cell as a user typed it: 12.0 is 12, dates are ISO 8601."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float | int):
        return NumberCell(int(cell) if isinstance(cell, float) and cell.is_integer() else cell)
    if isinstance(cell, dt.datetime) and cell.time() == dt.time(0):
        return cell.date().isoformat()
    if isinstance(cell, dt.date | dt.time | dt.datetime):
        return cell.isoformat()
    return str(cell)
