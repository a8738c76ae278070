"""Matches a file's header to the fields of an import type."""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchport.declarations import ImportType
from batchport.errors import RowError

_IGNORED = re.compile(r"[\s_\-]+")


def normalise(name: str) -> str:
    """The header name as compared: case, spaces, underscores and hyphens do not count."""
    return _IGNORED.sub("", name).casefold()


@dataclass(frozen=True)
class Mapping:
    """Which cell of a row holds each field; `positions[i]` is the cell index of field i or None."""

    import_type: ImportType
    positions: tuple[int | None, ...]
    width: int
    unnamed: tuple[int, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The field names, in the order of `positions`."""
        return tuple(f.name for f in self.import_type.fields)

    @property
    def present(self) -> frozenset[str]:
        """The fields the file has a column for."""
        return frozenset(
            n for n, p in zip(self.names, self.positions, strict=True) if p is not None
        )


def map_header(
    import_type: ImportType, header: list[str], *, updating: bool = False
) -> tuple[Mapping, list[RowError]]:
    """Maps `header` (row 1) to the type's fields; returns the mapping and header errors.

    A file `updating` rows may leave out required columns other than the key: an update
    sets the columns a file has, and a new row without them is refused row by row."""
    errors: list[RowError] = []
    wanted = {normalise(f.name): f.name for f in import_type.fields}
    found: dict[str, int] = {}
    unnamed: list[int] = []
    for index, cell in enumerate(header):
        key = normalise(cell)
        if not key:
            unnamed.append(index)
            continue
        name = wanted.get(key)
        if name is None:
            errors.append(
                RowError(
                    1,
                    cell,
                    cell,
                    f"unknown column for {import_type.name}; expected columns: "
                    + ", ".join(f.name for f in import_type.fields),
                )
            )
        elif name in found:
            errors.append(
                RowError(
                    1,
                    cell,
                    cell,
                    f"column {name} appears twice (cells {found[name] + 1} and {index + 1})",
                )
            )
        else:
            found[name] = index
    errors += [
        RowError(1, field.name, None, "required column is missing")
        for field in import_type.fields
        if field.required
        and field.name not in found
        and (not updating or field.name == import_type.key)
    ]
    positions = tuple(found.get(f.name) for f in import_type.fields)
    return Mapping(import_type, positions, len(header), tuple(unnamed)), errors
