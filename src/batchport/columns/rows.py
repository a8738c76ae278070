"""Parses rows into typed values a chunk at a time, column by column, collecting every problem.

Each column of a chunk is first parsed as a whole (string methods and lookups mapped over the
column, which runs at C speed); only a column with a problem is parsed again cell by cell to
name each bad cell's row, column and value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from batchport.columns.mapping import Mapping
from batchport.columns.numbers import reads_number_cells
from batchport.columns.parsers import CellInvalid, Parser
from batchport.declarations import Field
from batchport.errors import RowError
from batchport.sources.base import Block
from batchport.sources.workbook import NumberCell


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive rows: their numbers and, per field of the import type, one value per row.

    A value is None where the cell was empty or invalid; rows with problems are kept, so that
    file-wide checks see every key the file holds (a file with any error is never loaded).
    """

    numbers: list[int]
    columns: list[list[object]]

    def __len__(self) -> int:
        return len(self.numbers)


def parse_chunks(
    mapping: Mapping, blocks: Iterable[Block], errors: list[RowError]
) -> Iterator[Chunk]:
    """Yields each block of rows parsed, appending every problem to `errors`."""
    for block in blocks:
        yield parse_texts(mapping, block.numbers, column_texts(mapping, block, errors), errors)


def column_texts(mapping: Mapping, block: Block, errors: list[RowError]) -> list[list[str] | None]:
    """The block's cells column by column, stripped, one list per field of the import type
    (None for a field the file has no column for); problems with a row's shape go to `errors`.
    """
    cells = block.rows
    width = mapping.width
    if mapping.unnamed or set(map(len, cells)) != {width}:
        cells = [
            _shaped(mapping, n, row, errors) for n, row in zip(block.numbers, cells, strict=True)
        ]
    texts = list(zip(*cells, strict=True)) if width else []
    return [
        None if position is None else _stripped(texts[position], field.parse)
        for position, field in zip(mapping.positions, mapping.import_type.fields, strict=True)
    ]


def _stripped(texts: Sequence[str], parse: Parser) -> list[str]:
    """The texts stripped; a workbook's numeric cells (which have no spaces) kept as they
    are for a parser that reads them otherwise than their text."""
    if reads_number_cells(parse):
        return [text if type(text) is NumberCell else text.strip() for text in texts]
    return list(map(str.strip, texts))


def parse_texts(
    mapping: Mapping, numbers: list[int], texts: list[list[str] | None], errors: list[RowError]
) -> Chunk:
    """Parses the columns `column_texts` gave into a chunk, appending every problem to `errors`."""
    columns: list[list[object]] = []
    for field, column in zip(mapping.import_type.fields, texts, strict=True):
        if column is None:
            columns.append([field.default] * len(numbers))
        else:
            columns.append(_parse_column(field, column, numbers, errors))
    return Chunk(numbers, columns)


def _parse_column(
    field: Field, texts: list[str], numbers: list[int], errors: list[RowError]
) -> list[object]:
    try:
        if "" not in texts:
            return field.parse.column(texts)
        if not field.required:
            return [field.parse(text) if text else field.default for text in texts]
    except CellInvalid:
        pass
    return [
        _parse_cell(field, text, number, errors)
        for text, number in zip(texts, numbers, strict=True)
    ]


def _parse_cell(field: Field, text: str, number: int, errors: list[RowError]) -> object:
    if not text:
        if field.required:
            errors.append(RowError(number, field.name, "", "is required"))
        return field.default
    try:
        return field.parse(text)
    except CellInvalid as exc:
        errors.append(RowError(number, field.name, text, str(exc)))
        return None


def _shaped(mapping: Mapping, number: int, cells: list[str], errors: list[RowError]) -> list[str]:
    """The row's cells cut or padded to the header's width, its shape problems recorded."""
    width = mapping.width
    if len(cells) < width:
        errors.append(
            RowError(number, None, None, f"row has {len(cells)} cells, the header has {width}")
        )
    errors.extend(
        RowError(number, f"#{index + 1}", cells[index], "value beyond the last named column")
        for index in range(width, len(cells))
        if cells[index].strip()
    )
    errors.extend(
        RowError(number, f"#{index + 1}", cells[index], "value in a column with no name")
        for index in mapping.unnamed
        if index < len(cells) and cells[index].strip()
    )
    return (cells + [""] * width)[:width]
