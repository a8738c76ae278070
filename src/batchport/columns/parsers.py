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

    def column(self, texts: list[str]) -> list[object]:
        """Parses a whole column of non-empty texts; raises `CellInvalid` if any is invalid."""
        ...


@dataclass(frozen=True, slots=True)
class Text:
    """Free text up to `max_length` characters."""

    max_length: int

    def __call__(self, text: str) -> str:
        if len(text) > self.max_length:
            raise CellInvalid(f"is {len(text)} characters long; at most {self.max_length} allowed")
        return text

    def column(self, texts: list[str]) -> list[object]:
        """The texts themselves, if none is too long."""
        if max(map(len, texts), default=0) > self.max_length:
            raise CellInvalid("too long")
        return list(texts)


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

    def column(self, texts: list[str]) -> list[object]:
        """The addresses in lower case, if all are valid."""
        if max(map(len, texts), default=0) > self.max_length or not all(map(_EMAIL.match, texts)):
            raise CellInvalid("invalid")
        return list(map(str.lower, texts))


_TRUE = frozenset({"true", "t", "yes", "y", "1", "active"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "inactive"})
_FLAGS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


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

    def column(self, texts: list[str]) -> list[object]:
        """The flags, if every text is one."""
        values: list[object] = list(map(_FLAGS.get, map(str.lower, texts)))
        if None in values:
            raise CellInvalid("invalid")
        return values


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

    def column(self, texts: list[str]) -> list[object]:
        """Each text's keys, if no text has spaces, empty parts, repeats or over-long keys."""
        separator = self.separator
        joined = separator.join(texts)
        if (
            " " in joined
            or separator * 2 in joined
            or joined.startswith(separator)
            or joined.endswith(separator)
            or max(map(len, joined.split(separator))) > self.max_length
        ):
            raise CellInvalid("needs a closer look")
        values = [tuple(text.split(separator)) for text in texts]
        if any(len(set(keys)) != len(keys) for keys in values if len(keys) > 1):
            raise CellInvalid("repeats a key")
        return list(values)
