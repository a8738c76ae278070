"""Cell parsers: each turns the text of one cell into the value stored, or says why it cannot."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

if TYPE_CHECKING:
    from email_validator import EmailNotValidError


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


#: The shape of a plain ASCII address: a dot-atom local part, then hostname labels, the last
#: ending with a letter and not a special-use name. With `_EDGES` and `_LONG_DOMAIN` it picks
#: out addresses that email-validator accepts unchanged but for the case of the domain,
#: in a fraction of a microsecond (email-validator takes ~10); anything else goes to it.
_SHAPE = re.compile(
    r"[\w!#$%&'*+\-/=?^`{|}~]+(?:\.[\w!#$%&'*+\-/=?^`{|}~]+)*"
    r"@(?:[a-zA-Z0-9-]++\.)++"
    r"(?!(?i:arpa|invalid|local|localhost|onion|test)\Z)[a-zA-Z0-9-]*+(?<=[a-zA-Z])",
    re.ASCII,
)
#: Hyphens that begin or end a label, and "--" (Punycode's "xn--", or a reserved label).
_EDGES = ("@-", ".-", "-.", "--")
#: The longest domain of a plain address: no label in it can be longer than 63 characters.
_PLAIN_DOMAIN = 63
_LONG_DOMAIN = re.compile(rf"@[^\n]{{{_PLAIN_DOMAIN + 1}}}")
#: email-validator's limit on a whole address (RFC 5321).
_ADDRESS_LENGTH = 254
_EXPECTED = "expected a bare address like name@example.com"


@dataclass(frozen=True, slots=True)
class Email:
    """An e-mail address as email-validator accepts it without any network lookup, stored
    normalised (Unicode NFC, the domain as email-validator spells it) and in lower case: the
    address is a natural key, and people type the same one in different cases."""

    max_length: int

    def __call__(self, text: str) -> str:
        if len(text) > self.max_length:
            raise CellInvalid(f"is {len(text)} characters long; at most {self.max_length} allowed")
        if len(text) <= _ADDRESS_LENGTH and _plain(text):
            return text.lower()
        # Imported here: plain addresses never need it, and importing it takes ~30 ms.
        from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

        try:
            found = validate_email(text, check_deliverability=False)
        except EmailNotValidError as exc:
            raise CellInvalid(
                f"is not an e-mail address: {_reason(text, exc)}; {_EXPECTED}"
            ) from None
        address = unicodedata.normalize("NFC", found.normalized.lower())
        if len(address) > self.max_length:
            raise CellInvalid(
                f"is {len(address)} characters long as stored; at most {self.max_length}"
            )
        return address

    def column(self, texts: list[str]) -> list[object]:
        """The addresses normalised, if all are valid (plain ones checked in one pass)."""
        longest = min(self.max_length, _ADDRESS_LENGTH)
        if max(map(len, texts), default=0) <= longest and _all_plain(texts):
            return list(map(str.lower, texts))
        return list(map(self, texts))


def _plain(text: str) -> bool:
    """Whether `text` is a plain address: `_SHAPE`, no `_EDGES`, a domain of at most 63."""
    return (
        _SHAPE.fullmatch(text) is not None
        and not any(map(text.__contains__, _EDGES))
        and len(text) - text.index("@") <= _PLAIN_DOMAIN + 1
    )


def _all_plain(texts: list[str]) -> bool:
    """Whether every text is a plain address, checked a column at a time (no text holds a
    line break: `_SHAPE` has none)."""
    if not all(map(_SHAPE.fullmatch, texts)):
        return False
    lines = "\n".join(texts)
    return not any(map(lines.__contains__, _EDGES)) and _LONG_DOMAIN.search(lines) is None


def _reason(text: str, exc: EmailNotValidError) -> str:
    """email-validator's reason, phrased as the rest of the message (or plainer still)."""
    if text[:7].lower() == "mailto:":
        return "a mailto: prefix is not part of the address"
    sentences = str(exc).rstrip(".").replace("The email address ", "The address ").split(". ")
    return ": ".join(sentence[:1].lower() + sentence[1:] for sentence in sentences)


_TRUE = frozenset({"true", "t", "yes", "y", "1", "active"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "inactive"})
_FLAGS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_BITS = {text: int(flag) for text, flag in _FLAGS.items()}


@dataclass(frozen=True, slots=True)
class Boolean:
    """A yes/no flag: true/false, yes/no, y/n, 1/0 in any case; stored as True or False, or
    (`as_integer`) as 1 or 0 in a column of integers, which PostgreSQL's COPY takes no flag
    for."""

    as_integer: bool = False

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None) -> Boolean:
        """Flags stored as `column` holds them: 1 and 0 in a column of integers."""
        return cls(as_integer=column is not None and isinstance(column.type, sa.Integer))

    def __call__(self, text: str) -> bool | int:
        folded = text.lower()
        if folded in _TRUE:
            return 1 if self.as_integer else True
        if folded in _FALSE:
            return 0 if self.as_integer else False
        raise CellInvalid("is not a yes/no value (use true/false, yes/no or 1/0)")

    def column(self, texts: list[str]) -> list[object]:
        """The flags, if every text is one."""
        flags = _BITS if self.as_integer else _FLAGS
        values: list[object] = list(map(flags.get, map(str.lower, texts)))
        if None in values:
            raise CellInvalid("invalid")
        return values


@dataclass(frozen=True, slots=True)
class KeyOf:
    """A key of another import type, read as that type reads its key (a number, a UUID, an
    address normalised), so that it is the key as stored: a cell `007` finds the row whose
    integer key is 7. `stored_as` is the type of that key's column, which holds the keys
    wherever they are staged."""

    parse: Parser
    stored_as: sa.types.TypeEngine[Any]

    def __call__(self, text: str) -> object:
        return self.parse(text)

    def column(self, texts: list[str]) -> list[object]:
        """The keys, as the key's own parser reads a column."""
        return self.parse.column(texts)


def stored_type(parse: Parser) -> sa.types.TypeEngine[Any] | None:
    """The column type the keys `parse` reads are stored as (a `KeyOf`'s, or a `KeyList`'s
    with one); None for keys that are plain text."""
    stored: sa.types.TypeEngine[Any] | None = getattr(parse, "stored_as", None)
    return stored


@dataclass(frozen=True, slots=True)
class KeyList:
    """One or more keys of another import type separated by `separator`; order is kept.

    Each key is text, or with `key`, read as its type reads its key (so `1; 01` names one
    integer key twice)."""

    max_length: int
    separator: str = ";"
    key: KeyOf | None = None

    @property
    def stored_as(self) -> sa.types.TypeEngine[Any] | None:
        """The type of the keys' column, when they are not plain text."""
        return self.key.stored_as if self.key is not None else None

    def __call__(self, text: str) -> tuple[object, ...]:
        keys = tuple(part.strip() for part in text.split(self.separator) if part.strip())
        if not keys:
            raise CellInvalid("names no code")
        for key in keys:
            if len(key) > self.max_length:
                raise CellInvalid(f"{key!r} is longer than {self.max_length} characters")
        values = keys if self.key is None else tuple(map(self._one, keys))
        seen: set[object] = set()
        for key, value in zip(keys, values, strict=True):
            if value in seen:
                raise CellInvalid(f"names {key!r} twice")
            seen.add(value)
        return values

    def _one(self, key: str) -> object:
        assert self.key is not None
        try:
            return self.key(key)
        except CellInvalid as exc:
            raise CellInvalid(f"{key!r} {exc}") from None

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
        values: list[tuple[object, ...]] = [tuple(text.split(separator)) for text in texts]
        if self.key is not None:
            flat = [str(key) for keys in values for key in keys]
            values = _regrouped(values, self.key.column(flat))
        if any(len(set(keys)) != len(keys) for keys in values if len(keys) > 1):
            raise CellInvalid("repeats a key")
        return list(values)


def _regrouped(groups: list[tuple[object, ...]], flat: list[object]) -> list[tuple[object, ...]]:
    """`flat` cut into tuples as long as `groups`' in turn."""
    found: list[tuple[object, ...]] = []
    start = 0
    for group in groups:
        found.append(tuple(flat[start : start + len(group)]))
        start += len(group)
    return found
