"""Cell parsers for identifiers and documents (UUIDs, a fixed list of values, JSON), and the
checks the typed parsers share to read a whole column at once."""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport.columns.parsers import CellInvalid

#: How many allowed values a message lists before it says how many more there are.
_LISTED = 10


def column_pattern(line: str) -> re.Pattern[str]:
    """A pattern that matches a `column_text` when each of its texts matches `line` (which
    must not match a line break): one C-speed scan checks a whole column."""
    return re.compile(rf"(?:{line})(?:\n(?:{line}))*", re.ASCII)


def column_text(texts: list[str]) -> str | None:
    """The texts joined by line breaks, to be checked at once; None if a text holds one."""
    joined = "\n".join(texts)
    return joined if joined.count("\n") == len(texts) - 1 else None


def made_of(lines: str, characters: bytes) -> bool:
    """Whether `lines` holds nothing but the ASCII `characters`: two C-speed passes, many
    times faster than a regular expression over the same text."""
    try:
        return not lines.encode("ascii").translate(None, characters)
    except UnicodeEncodeError:
        return False


def column_length(column: sa.Column[Any] | None) -> int | None:
    """The length of `column`'s text type, if it is text with a declared length."""
    if column is None or not isinstance(column.type, sa.String):
        return None
    return column.type.length


_HEX = "[0-9a-fA-F]"
#: With or without hyphens (all four or none), optionally in braces, in any case.
_UUID = re.compile(
    rf"(\{{)?(?:{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}|{_HEX}{{32}})(?(1)\}})",
    re.ASCII,
)
#: The form `str(uuid.UUID(...))` gives, which most exports already use.
_CANONICAL_UUIDS = column_pattern("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: The length of a UUID's canonical text.
UUID_LENGTH = 36


@dataclass(frozen=True, slots=True)
class Uuid:
    """A UUID as 32 hexadecimal digits, with or without its four hyphens, in braces or not,
    in any case; stored as a `uuid.UUID`, or (`as_text`) as the canonical lower-case text, so
    that the same UUID written two ways is one key."""

    as_text: bool = False

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None) -> Uuid:
        """A UUID parser storing into `column`: text unless it is a `Uuid` of `uuid.UUID`s."""
        length = column_length(column)
        if column is not None and length is not None and length < UUID_LENGTH:
            raise ValueError(
                f"column {column.name} holds {length} characters; a UUID takes {UUID_LENGTH}"
            )
        kind = column.type if column is not None else None
        return cls(as_text=not (isinstance(kind, sa.Uuid) and kind.as_uuid))

    def __call__(self, text: str) -> object:
        if _UUID.fullmatch(text) is None:
            raise CellInvalid(
                "is not a UUID (expected 32 hexadecimal digits like "
                "123e4567-e89b-12d3-a456-426614174000)"
            )
        value = uuid.UUID(text)
        return str(value) if self.as_text else value

    def column(self, texts: list[str]) -> list[object]:
        """The UUIDs, read a column at a time when all are hyphenated (in any case)."""
        joined = (column_text(texts) or "").lower()
        if _CANONICAL_UUIDS.fullmatch(joined) is None:
            return list(map(self, texts))
        if self.as_text:
            return list(joined.split("\n"))
        return list(map(uuid.UUID, texts))


@dataclass(frozen=True, slots=True)
class Enum:
    """One of a fixed list of values, matched regardless of case and stored as the list spells
    it: "ACTIVE" and "active" are one value to the person typing, and must be one in the
    table."""

    values: tuple[str, ...]
    _spelled: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("an enum needs at least one allowed value")
        spelled: dict[str, str] = {}
        for value in self.values:
            folded = value.casefold()
            if folded in spelled:
                raise ValueError(
                    f"the enum values {spelled[folded]!r} and {value!r} are one value: cells "
                    "are matched regardless of case"
                )
            spelled[folded] = value
        object.__setattr__(self, "_spelled", spelled)

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None, values: list[str] | None) -> Enum:
        """The enum of `values`, else of `column`'s own enum type, checked to fit the column."""
        kind = column.type if column is not None else None
        declared = tuple(kind.enums) if isinstance(kind, sa.Enum) else ()
        if values is None and not declared:
            raise ValueError("an enum field needs `values`, the list of values a cell may hold")
        chosen = tuple(values) if values is not None else declared
        for value in chosen:
            if declared and value not in declared:
                raise ValueError(
                    f"{value!r} is not a value of the column's enum type ({', '.join(declared)})"
                )
            length = column_length(column)
            if length is not None and len(value) > length:
                raise ValueError(f"{value!r} is longer than the column's {length} characters")
        return cls(chosen)

    def __call__(self, text: str) -> str:
        value = self._spelled.get(text.casefold())
        if value is None:
            raise CellInvalid(f"is not one of the allowed values: {self._listed()}")
        return value

    def column(self, texts: list[str]) -> list[object]:
        """The values as the list spells them, if every text is one."""
        values: list[object] = list(map(self._spelled.get, map(str.casefold, texts)))
        if None in values:
            raise CellInvalid("not an allowed value")
        return values

    def _listed(self) -> str:
        shown = ", ".join(self.values[:_LISTED])
        more = len(self.values) - _LISTED
        return f"{shown} and {more} more" if more > 0 else shown


def _no_constant(name: str) -> object:
    """Refuses NaN and Infinity, which Python's json reads but JSON (and the databases'
    JSON types) do not have."""
    raise CellInvalid(f"is not JSON: {name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_EXPECTED_JSON = 'expected a JSON document like {"size": 3} or [1, 2]'


@dataclass(frozen=True, slots=True)
class Json:
    """A JSON document: an object, an array or a scalar. A JSON column stores the parsed value
    (written to the database as a JSON document, a string as a JSON string); a text column
    (`as_text`) stores the text as written, once checked, since re-writing it would change
    what the person wrote (key order, spacing, 1.10 read as a float 1.1). A cell `null` is no
    value: stored as SQL NULL (or the column's default), as an empty cell is."""

    as_text: bool = False
    max_length: int | None = None

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None) -> Json:
        """A JSON parser storing into `column`: parsed for a JSON column, else as text."""
        kind = column.type if column is not None else None
        return cls(as_text=not isinstance(kind, sa.JSON), max_length=column_length(column))

    def __call__(self, text: str) -> object:
        if self.max_length is not None and len(text) > self.max_length:
            raise CellInvalid(f"is {len(text)} characters long; at most {self.max_length} allowed")
        value = _document(text)
        return text if self.as_text else value

    def column(self, texts: list[str]) -> list[object]:
        """The documents, if all are JSON (a bad one is named by the cell-by-cell pass)."""
        if self.max_length is not None and max(map(len, texts), default=0) > self.max_length:
            raise CellInvalid("too long")
        try:
            if self.as_text:  # checked, not kept: a column of parsed documents costs memory
                deque(map(_DECODER.decode, texts), maxlen=0)
                return list(texts)
            return list(map(_DECODER.decode, texts))
        except (ValueError, RecursionError):
            raise CellInvalid("not JSON") from None


def _document(text: str) -> object:
    """The JSON value of `text`; its error says where the text stops being JSON."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        where = f"character {exc.pos + 1}"
        if exc.lineno > 1:
            where = f"line {exc.lineno}, column {exc.colno}"
        raise CellInvalid(f"is not JSON: {exc.msg} at {where} ({_EXPECTED_JSON})") from None
    except RecursionError:
        raise CellInvalid("is not JSON this reader can take: it nests too deeply") from None
    except CellInvalid:
        raise
    except ValueError as exc:  # an integer of more digits than Python converts
        raise CellInvalid(f"is not JSON this reader can take: {exc}") from None
