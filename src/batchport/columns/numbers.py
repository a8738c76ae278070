"""Cell parsers for numbers: whole numbers and exact decimals as a file writes them, with the
file's decimal separator, checked against what the column can hold.

The field's decimal separator (`.` or `,`) decides how a number reads; the other of the two
groups thousands, as do spaces (plain, no-break, narrow, thin) and the apostrophe, always in
groups of three (`1,234,567.5`, `1.234,5`, `1 234`). So `1,234` is 1234 where the separator
is `.` and 1.234 where it is `,`: the declaration settles it. A file declared with the wrong
separator shows it at once, and a file with any bad cell is never loaded.

The separator is for numbers written as text: every cell of a CSV file, and a workbook's
text cell (`"1,5"` typed into a cell formatted as text is read as a CSV's would be). A
workbook's numeric cell is a number already (`NumberCell`, written with a point by the
reader): it is read as the number it is, never reinterpreted by the separator.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa

from batchport.columns.parsers import CellInvalid
from batchport.columns.values import column_text, made_of
from batchport.sources.workbook import NumberCell

#: Grouping characters besides the other separator: never a decimal separator anywhere.
_GROUPS = " \u00a0\u202f\u2009'"
#: The other separator, which groups thousands.
_OTHER = {".": ",", ",": "."}
#: Bits of each integer type, most specific first: the same on every database, so that a
#: declaration means the same on SQLite (whose INTEGER holds 64) as on PostgreSQL.
_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))
#: The most digits a whole number may have: Python converts no more than 4300 at once.
_MOST_DIGITS = 4000
_PLAIN_INTEGER = re.compile(r"[-+]?[0-9]+", re.ASCII)
#: What a column of plain numbers is made of; `int` and `decimal.Decimal` check the order.
_DIGITS = b"0123456789+-\n"
_DIGITS_AND_POINT = b"0123456789.+-\n"


@cache
def _grammar(separator: str) -> re.Pattern[str]:
    """Any number with this decimal separator: sign, digits (grouped or not), fraction,
    exponent."""
    groups = re.escape(_GROUPS + _OTHER[separator])
    point = re.escape(separator)
    return re.compile(
        rf"(?P<sign>[-+]?)"
        rf"(?P<whole>[1-9][0-9]{{0,2}}(?P<group>[{groups}])[0-9]{{3}}(?:(?P=group)[0-9]{{3}})*"
        rf"|[0-9]*)"
        rf"(?:{point}(?P<fraction>[0-9]*))?"
        rf"(?:[eE](?P<exponent>[-+]?[0-9]{{1,3}}))?",
        re.ASCII,
    )


@cache
def _finer(scale: int) -> re.Pattern[str]:
    """Finds a plain number with more than `scale` decimals (or as many, ending in zeros)."""
    return re.compile(rf"\.[0-9]{{{scale + 1}}}")


def _read(text: str, separator: str) -> re.Match[str] | None:
    """The parts of `text` as a number, or None if it is not one."""
    found = _grammar(separator).fullmatch(text)
    if found is None or not (found["whole"] or found["fraction"]):
        return None
    return found


def _separator(text: str, declared: str) -> str:
    """The decimal separator `text` is written with: a point for a workbook's numeric cell,
    else the field's."""
    return "." if type(text) is NumberCell else declared


def reads_number_cells(parse: object) -> bool:
    """Whether `parse` reads a workbook's numeric cell otherwise than its text (its decimal
    separator is not a point): its cells must reach it as they came, `NumberCell`s kept."""
    return isinstance(parse, Integer | Decimal) and parse.separator != "."


def _type_name(column: sa.Column[Any]) -> str:
    return f"column {column.name} ({column.type})"


@dataclass(frozen=True, slots=True)
class Integer:
    """A whole number: `42`, `-5`, `+7`, grouped (`1,234` where the decimal separator is `.`),
    or with a fraction of zeros (`12.0`, as some exports write whole numbers). A number in
    scientific notation is refused: spreadsheets write one when a number is too wide to show,
    having dropped digits. A workbook's numeric cell is read as its number, whatever the
    separator (see the module)."""

    separator: str = "."
    minimum: int | None = None
    maximum: int | None = None
    #: The column the limits are its, for messages.
    holder: str = ""

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None, separator: str = ".") -> Integer:
        """Whole numbers in the range `column`'s type holds (any, without a column)."""
        if column is None:
            return cls(separator)
        kind = column.type
        if isinstance(kind, sa.Integer):
            bits = next(bits for integer, bits in _BITS if isinstance(kind, integer))
            top = 1 << (bits - 1)
            return cls(separator, -top, top - 1, _type_name(column))
        if isinstance(kind, sa.Numeric) and kind.precision is not None:
            top = 10 ** (kind.precision - (kind.scale or 0))
            return cls(separator, 1 - top, top - 1, _type_name(column))
        return cls(separator)

    def __call__(self, text: str) -> int:
        plain = len(text) <= _MOST_DIGITS and _PLAIN_INTEGER.fullmatch(text) is not None
        value = int(text) if plain else self._whole(text, _separator(text, self.separator))
        if self.maximum is not None and value > self.maximum:
            raise CellInvalid(f"is too large: {self.holder} holds at most {self.maximum}")
        if self.minimum is not None and value < self.minimum:
            raise CellInvalid(f"is too small: {self.holder} holds at least {self.minimum}")
        return value

    def column(self, texts: list[str]) -> list[object]:
        """The numbers, read a column at a time when all are plain digits within range."""
        joined = column_text(texts)
        if joined is not None and made_of(joined, _DIGITS):
            try:
                values = list(map(int, texts))
            except ValueError:  # a sign out of place, or digits beyond Python's limit
                return list(map(self, texts))
            if self._within(values):
                return list(values)
        return list(map(self, texts))

    def _within(self, values: list[int]) -> bool:
        return (self.minimum is None or min(values) >= self.minimum) and (
            self.maximum is None or max(values) <= self.maximum
        )

    def _whole(self, text: str, separator: str) -> int:
        found = _read(text, separator)
        if found is None:
            raise CellInvalid("is not a whole number (expected digits like 42)")
        if found["exponent"] is not None:
            raise CellInvalid(
                "is in scientific notation, which a spreadsheet shows when a number is too "
                "wide for its cell and may have dropped digits (expected every digit, like "
                "1234567890123)"
            )
        if (found["fraction"] or "0").strip("0"):
            raise CellInvalid("has a fraction (expected a whole number like 42)")
        digits = re.sub("[^0-9]", "", found["whole"]) or "0"
        if len(digits) > _MOST_DIGITS:
            raise CellInvalid(f"has {len(digits)} digits; at most {_MOST_DIGITS} are read")
        return int(found["sign"] + digits)


@dataclass(frozen=True, slots=True)
class Decimal:
    """An exact number (`decimal.Decimal`, never a float): `1234.56`, `-0.5`, `.5`, grouped
    (`1,234.56`; `1.234,56` where the separator is `,`), or in scientific notation (`5e-05`,
    as a workbook writes its smallest and largest numbers). A column's precision and scale
    limit its digits; a value with more decimals than the scale is refused, not rounded.

    The separator applies to text (a CSV's cells, a workbook's text cells); a workbook's
    numeric cell is read as the number it holds, never reinterpreted: 1.234 in a numeric
    cell is 1.234 (and too fine for two decimals) where the separator is a comma, not 1234.
    On SQLite, NUMERIC holds a float: 15 significant digits are exact."""

    separator: str = "."
    #: Digits the column holds before the decimal point and after it (None: any).
    whole_digits: int | None = None
    scale: int | None = None
    holder: str = ""

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None, separator: str = ".") -> Decimal:
        """Decimals as `column`'s precision and scale allow (any, without them)."""
        kind = column.type if column is not None else None
        if column is None or not isinstance(kind, sa.Numeric) or kind.precision is None:
            return cls(separator)
        scale = kind.scale or 0  # NUMERIC(p) is NUMERIC(p, 0)
        return cls(separator, kind.precision - scale, scale, _type_name(column))

    def __call__(self, text: str) -> decimal.Decimal:
        separator = _separator(text, self.separator)
        if _plain_number(separator).fullmatch(text):
            value = decimal.Decimal(text.replace(separator, "."))
        else:
            value = self._number(text, separator)
        self._check(value)
        return value

    def column(self, texts: list[str]) -> list[object]:
        """The numbers, read a column at a time when all are plain and within the limits."""
        joined = column_text(texts)
        # Where the separator is a comma, a point groups thousands: the cells read it.
        if joined is None or (self.separator != "." and "." in joined):
            return list(map(self, texts))
        joined = joined.replace(self.separator, ".")
        if not made_of(joined, _DIGITS_AND_POINT) or (
            self.scale is not None and _finer(self.scale).search(joined)
        ):
            return list(map(self, texts))
        try:
            values = list(map(decimal.Decimal, joined.split("\n")))
        except decimal.InvalidOperation:  # a sign or a point out of place
            return list(map(self, texts))
        if self._within(values):
            return list(values)
        return list(map(self, texts))

    def _within(self, values: list[decimal.Decimal]) -> bool:
        if self.whole_digits is None:
            return True
        top = decimal.Decimal(10) ** self.whole_digits
        return max(values) < top and min(values) > -top

    def _number(self, text: str, separator: str) -> decimal.Decimal:
        found = _read(text, separator)
        if found is None:
            raise CellInvalid(f"is not a number (expected digits like 1234{separator}56)")
        whole = re.sub("[^0-9]", "", found["whole"])
        exponent = f"e{found['exponent']}" if found["exponent"] is not None else ""
        return decimal.Decimal(f"{found['sign']}{whole}.{found['fraction'] or ''}{exponent}")

    def _check(self, value: decimal.Decimal) -> None:
        if self.scale is not None and _EXACT.quantize(value, _step(self.scale)) != value:
            decimals = -int(_EXACT.normalize(value).as_tuple().exponent)
            raise CellInvalid(
                f"has {decimals} decimals; at most {self.scale} allowed ({self.holder})"
            )
        if self.whole_digits is not None and value and value.adjusted() >= self.whole_digits:
            raise CellInvalid(
                f"has {value.adjusted() + 1} digits before the decimal point; at most "
                f"{self.whole_digits} allowed ({self.holder})"
            )


#: Arithmetic that never rounds, for checking a number against a column's scale.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


@cache
def _step(scale: int) -> decimal.Decimal:
    """The smallest step of a number with `scale` decimals (0.01 for 2)."""
    return decimal.Decimal(1).scaleb(-scale)


@cache
def _plain_number(separator: str) -> re.Pattern[str]:
    """Digits with a fraction or none, as most cells hold a number."""
    return re.compile(rf"[-+]?[0-9]+(?:{re.escape(separator)}[0-9]+)?", re.ASCII)
