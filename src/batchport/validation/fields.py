"""Cell parsers: each turns the text of one cell into the value stored, or says why it cannot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


class CellInvalid(ValueError):
    """The cell's text is not a valid value for its column."""


class Parser(Protocol):
    """Turns stripped, non-empty cell text into a value; raises `CellInvalid`."""

    def __call__(self, text: str) -> object: ...


@dataclass(frozen=True, slots=True)
class Text:
    """Free text up to `max_length` characters."""

    max_length: int

    def __call__(self, text: str) -> str:
        if len(text) > self.max_length:
            raise CellInvalid(f"is {len(text)} characters long; at most {self.max_length} allowed")
        return text


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Email:
    """An e-mail address, stored in lower case so that keys compare as people expect."""

    max_length: int

    def __call__(self, text: str) -> str:
        if len(text) > self.max_length:
            raise CellInvalid(f"is {len(text)} characters long; at most {self.max_length} allowed")
        if not _EMAIL.match(text):
            raise CellInvalid("is not an e-mail address")
        return text.lower()


_TRUE = frozenset({"true", "t", "yes", "y", "1", "active"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "inactive"})


@dataclass(frozen=True, slots=True)
class Boolean:
    """A yes/no flag: true/false, yes/no, y/n, 1/0 in any case."""

    def __call__(self, text: str) -> bool:
        folded = text.lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise CellInvalid("is not a yes/no value (use true/false, yes/no or 1/0)")


@dataclass(frozen=True, slots=True)
class KeyList:
    """One or more keys of another import type separated by `separator`; order is kept."""

    max_length: int
    separator: str = ";"

    def __call__(self, text: str) -> tuple[str, ...]:
        keys = tuple(part.strip() for part in text.split(self.separator) if part.strip())
        if not keys:
            raise CellInvalid("names no code")
        seen: set[str] = set()
        for key in keys:
            if len(key) > self.max_length:
                raise CellInvalid(f"{key!r} is longer than {self.max_length} characters")
            if key in seen:
                raise CellInvalid(f"names {key!r} twice")
            seen.add(key)
        return keys
