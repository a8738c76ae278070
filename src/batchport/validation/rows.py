"""Parses each row's cells into typed values, collecting every problem with its row and column."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from batchport.errors import RowError
from batchport.mapping import Mapping
from batchport.sources.base import Row
from batchport.validation.fields import CellInvalid


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row: its number and one value per field of the import type (None when empty or invalid)."""

    number: int
    values: tuple[object, ...]


def parse_rows(
    mapping: Mapping, rows: Iterable[Row], errors: list[RowError]
) -> Iterator[ParsedRow]:
    """Yields every row, appending its problems to `errors`.

    Rows with problems are yielded too (their bad cells as None), so that the file-wide checks
    see every key the file holds; a file with any error is never loaded.
    """
    import_type = mapping.import_type
    fields = import_type.fields
    plan = [(f, mapping.positions[i]) for i, f in enumerate(fields)]
    for number, cells in rows:
        row_errors = _shape_errors(mapping, number, cells)
        values: list[object] = []
        for field, position in plan:
            text = cells[position].strip() if position is not None and position < len(cells) else ""
            if not text:
                if field.required:
                    row_errors.append(RowError(number, field.name, "", "is required"))
                values.append(None)
                continue
            try:
                values.append(field.parse(text))
            except CellInvalid as exc:
                row_errors.append(RowError(number, field.name, text, str(exc)))
                values.append(None)
        errors.extend(row_errors)
        yield ParsedRow(number, tuple(values))


def _shape_errors(mapping: Mapping, number: int, cells: list[str]) -> list[RowError]:
    errors: list[RowError] = []
    if len(cells) < mapping.width:
        errors.append(
            RowError(
                number, None, None, f"row has {len(cells)} cells, the header has {mapping.width}"
            )
        )
    for index in range(mapping.width, len(cells)):
        if cells[index].strip():
            errors.append(
                RowError(
                    number, f"#{index + 1}", cells[index], "value beyond the last named column"
                )
            )
            break
    errors += [
        RowError(number, f"#{index + 1}", cells[index], "value in a column with no name")
        for index in mapping.unnamed
        if index < len(cells) and cells[index].strip()
    ]
    return errors
