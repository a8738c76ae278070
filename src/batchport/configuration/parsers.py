"""Parsers by the names a types file gives them, each made for its field and column; a
Python package adds its own through the entry point group `batchport.types` (a callable
taking the field's `FieldSpec` and its `sqlalchemy.Column`, or None, and returning a parser:
any callable from a cell's stripped, non-empty text to the value stored, raising ValueError
with what was expected)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import sqlalchemy as sa

from batchport.columns.numbers import Decimal, Integer
from batchport.columns.parsers import Boolean, CellInvalid, Email, KeyList, Parser, Text
from batchport.columns.times import Date, DateTime
from batchport.columns.values import Enum, Json, Uuid
from batchport.configuration.spec import FieldSpec
from batchport.errors import ConfigurationError

#: Makes a field's parser from its declaration and its column (None for a reference's or a
#: link's field, which stores no cell as it is).
Factory = Callable[[FieldSpec, "sa.Column[object] | None"], Parser]
#: The entry point group where packages register parsers of their own.
ENTRY_POINTS = "batchport.types"
#: The longest text a field takes when neither it nor its column says.
LONGEST_TEXT = 1 << 20


def _length(spec: FieldSpec, column: sa.Column[object] | None) -> int:
    """The field's `max_length`, else its column's length, else `LONGEST_TEXT`."""
    if spec.max_length:
        return spec.max_length
    length = getattr(column.type, "length", None) if column is not None else None
    return length or LONGEST_TEXT


BUILTIN: dict[str, Factory] = {
    "text": lambda spec, column: Text(_length(spec, column)),
    "email": lambda spec, column: Email(_length(spec, column)),
    "boolean": lambda _spec, column: Boolean.for_column(column),
    "integer": lambda spec, column: Integer.for_column(column, spec.decimal_separator),
    "decimal": lambda spec, column: Decimal.for_column(column, spec.decimal_separator),
    "date": lambda spec, column: Date.for_column(column, spec.formats),
    "datetime": lambda spec, column: DateTime.for_column(column, spec.formats),
    "uuid": lambda _spec, column: Uuid.for_column(column),
    "enum": lambda spec, column: Enum.for_column(column, spec.values),
    "json": lambda _spec, column: Json.for_column(column),
}

#: What each parser's values may be stored in: a column of one of these types.
STORES: dict[str, tuple[type[sa.types.TypeEngine[Any]], ...]] = {
    "text": (sa.String,),
    "email": (sa.String,),
    "boolean": (sa.Boolean, sa.Integer),
    "integer": (sa.Integer, sa.Numeric),
    "decimal": (sa.Numeric, sa.Float),
    "date": (sa.Date, sa.String),
    "datetime": (sa.DateTime, sa.String),
    "uuid": (sa.Uuid, sa.String),
    "enum": (sa.Enum, sa.String),
    "json": (sa.JSON, sa.String),
}


def parser_for(spec: FieldSpec, column: sa.Column[object] | None, *, where: str) -> Parser:
    """The field's parser, checked to store into `column`'s type; a link's field reads keys."""
    if spec.link is not None:
        return KeyList(spec.max_length or LONGEST_TEXT, spec.link.separator)
    factory = BUILTIN.get(spec.parser) or _cellwise(spec.parser, registered().get(spec.parser))
    if factory is None:
        known = ", ".join(sorted({*BUILTIN, *registered()}))
        raise ConfigurationError(f"{where}: no parser named {spec.parser!r} (known: {known})")
    stores = STORES.get(spec.parser)
    if column is not None and stores and not isinstance(column.type, stores):
        raise ConfigurationError(
            f"{where}: a {spec.parser} value cannot be stored in column {column.name} of "
            f"type {column.type}"
        )
    try:
        return factory(spec, column)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


@cache
def registered() -> dict[str, Factory]:
    """The parsers installed packages register, by name."""
    return {point.name: point.load() for point in entry_points(group=ENTRY_POINTS)}


@dataclass(frozen=True, slots=True)
class _Registered:
    """A registered parser as the engine calls one: its ValueError a cell's error, a column
    parsed cell by cell unless it parses whole columns itself."""

    name: str
    parse: Callable[[str], object]

    def __call__(self, text: str) -> object:
        try:
            return self.parse(text)
        except CellInvalid:
            raise
        except ValueError as exc:
            raise CellInvalid(str(exc) or "is not valid") from None

    def column(self, texts: list[str]) -> list[object]:
        """Each text parsed (the parser's own `column`, if it has one)."""
        whole = getattr(self.parse, "column", None)
        if whole is None:
            return [self(text) for text in texts]
        try:
            return list(whole(texts))
        except ValueError as exc:  # each cell is then parsed alone, to say which
            raise CellInvalid(str(exc)) from None


def _cellwise(name: str, factory: Factory | None) -> Factory | None:
    if factory is None:
        return None
    return lambda spec, column: _Registered(name, factory(spec, column))
