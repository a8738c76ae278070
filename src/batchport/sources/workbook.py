"""XLSX (and other spreadsheet) workbooks, read with calamine, which expands no XML entities."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import python_calamine

from batchport.errors import SourceError
from batchport.sources.base import Block, Limits, Row, Source, non_blank

#: Workbook formats that are zip archives of XML parts.
_ZIPPED = frozenset({".xlsx", ".xlsm", ".xlsb", ".ods"})
#: How far into each XML part a DOCTYPE could be (it must come before the root element).
_PROLOGUE_BYTES = 4096


def _check_archive(path: Path, name: str, limits: Limits) -> None:
    """Refuses, before anything is parsed, an archive that is no zip, that unpacks to more
    than the limits allow (a zip bomb), or whose XML declares a DTD or entities (billion
    laughs, external entities): a spreadsheet never needs one. What is no zip archive at all
    (an encrypted workbook, a stray file) is left to calamine to name."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > limits.max_zip_entries:
                raise SourceError(
                    name,
                    f"the workbook's archive has {len(entries):,} entries; the limit is "
                    f"{limits.max_zip_entries:,}",
                )
            unpacked = sum(entry.file_size for entry in entries)
            if unpacked > limits.max_unpacked_bytes:
                raise SourceError(
                    name,
                    f"the workbook unpacks to {unpacked:,} bytes; the limit is "
                    f"{limits.max_unpacked_bytes:,} (raise it with --max-file-size)",
                )
            for entry in entries:
                if entry.filename.startswith("xl/worksheets/") and entry.filename.endswith(".xml"):
                    _check_span(archive, entry, name, limits)
                if entry.filename.endswith((".xml", ".rels", ".vml")) and _declares_dtd(
                    archive, entry
                ):
                    raise SourceError(
                        name,
                        f"the workbook part {entry.filename} declares a DTD or XML entities, "
                        "which no spreadsheet needs; refusing it (an XML bomb or an "
                        "external-entity attack?)",
                    )
    except zipfile.BadZipFile as exc:
        raise SourceError(name, f"not a readable workbook: not a zip archive ({exc})") from exc
    except (OSError, RuntimeError, NotImplementedError) as exc:
        raise SourceError(name, f"not a readable workbook ({exc})") from exc


#: A cell's reference attribute (rows carry digits only; ranges use `ref=`).
_CELL = re.compile(rb' r="([A-Z]{1,3})([0-9]{1,7})"')


def _check_span(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str, limits: Limits
) -> None:
    """Refuses a worksheet whose cells span more than `max_sheet_cells` (two cells far apart
    make a reader allocate the whole grid between them), read as a stream."""
    low_row = low_column = 1 << 30
    high_row = high_column = 0
    tail = b""
    with archive.open(entry) as stream:
        while block := stream.read(1 << 20):
            text = tail + block
            found = _CELL.findall(text)
            if found:
                rows = [int(row) for _, row in found]
                columns = {column for column, _ in found}
                low_row, high_row = min(low_row, *rows), max(high_row, *rows)
                numbers = [_column_number(column) for column in columns]
                low_column, high_column = min(low_column, *numbers), max(high_column, *numbers)
            tail = text[-64:]
    if high_row:
        span = (high_row - low_row + 1) * (high_column - low_column + 1)
        if span > limits.max_sheet_cells:
            raise SourceError(
                name,
                f"the worksheet {entry.filename} spans {span:,} cells, the limit is "
                f"{limits.max_sheet_cells:,} (its cells lie far apart)",
            )


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _declares_dtd(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bool:
    with archive.open(entry) as stream:
        prologue = stream.read(_PROLOGUE_BYTES)
    return b"<!DOCTYPE" in prologue.upper() or b"<!ENTITY" in prologue.upper()


class WorkbookSource(Source):
    """One sheet of a workbook: the one named `sheet`, else the first."""

    def __init__(
        self, path: Path, *, sheet: str | None = None, limits: Limits | None = None
    ) -> None:
        super().__init__(path, limits or Limits())
        if path.suffix.lower() in _ZIPPED:
            _check_archive(path, self.name, self.limits)
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
