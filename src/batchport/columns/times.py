"""Cell parsers for dates and times: ISO 8601, a spreadsheet's serial numbers, and the
formats a field declares.

A workbook's date cells arrive as ISO 8601 text already; a serial number (days since
1899-12-30, Excel's 1900 date system, a fraction of a day for the time) comes from a cell that
holds a date but is not formatted as one. Day/month orders such as `03/04/2025` are read only
in the formats a field declares (`formats = ["%d/%m/%Y"]`): 3 April and 4 March are both
right somewhere.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import sqlalchemy as sa

from batchport.columns.parsers import CellInvalid
from batchport.columns.values import column_length, column_text, made_of

_EPOCH = dt.datetime(1899, 12, 30)
#: Serial numbers read as dates: from 1927-05-18, so that a year (2025) or a small count in a
#: date column is refused rather than read as a day of 1905; to 9999-12-31.
_SERIALS = range(10_000, 2_958_466)
_SERIAL = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_CLOCK = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?"
_ISO_DATE = re.compile(_DAY, re.ASCII)
_ZONE = r"Z|[+-][0-9]{2}(?::?[0-9]{2})?"
_ISO_DATETIME = re.compile(rf"{_DAY}(?:[T ]{_CLOCK}(?:{_ZONE})?)?", re.ASCII)
#: The shapes of a column of days, and of dates and times without a zone by their length, that
#: `column` checks at once: 0 is a digit, T is T or a space, the rest stands for itself.
_DAY_SHAPE = "0000-00-00"
_MOMENT_SHAPES = {
    len(shape): shape
    for shape in (
        "0000-00-00T00:00",
        "0000-00-00T00:00:00",
        "0000-00-00T00:00:00.000",
        "0000-00-00T00:00:00.000000",
    )
}
#: Day and month in some order, with the year last: ambiguous without a declared format.
_DAY_MONTH = re.compile(r"[0-9]{1,2}([/.-])[0-9]{1,2}\1[0-9]{2,4}", re.ASCII)
_EXAMPLE = dt.datetime(2025, 12, 13, 10, 30)
_MILLISECONDS_A_DAY = 86_400_000
_Read = TypeVar("_Read")
#: How a date and time is stored: aware in UTC (a column with a time zone), naive (one
#: without: a value with a zone is refused), ISO 8601 text as written (a text column), or as
#: read (no column: a reference's key).
Storage = Literal["utc", "naive", "text", "read"]


def checked_formats(formats: list[str] | None) -> tuple[str, ...]:
    """`formats`, each checked to read back what it writes (a typo such as `%Q` does not)."""
    for given in formats or ():
        example = _EXAMPLE.strftime(given)
        try:
            dt.datetime.strptime(example, given)
        except ValueError as exc:
            raise ValueError(f"the format {given!r} cannot read {example!r}: {exc}") from None
    return tuple(formats or ())


@dataclass(frozen=True, slots=True)
class Date:
    """A day: `2025-12-13`, a serial number (`46004`), or one of the field's `formats`; a
    date and time at midnight is its day. Stored as a `datetime.date`, or as ISO text."""

    formats: tuple[str, ...] = ()
    as_text: bool = False

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None, formats: list[str] | None) -> Date:
        """Dates into `column`: ISO text into a text column, else `datetime.date`s."""
        length = column_length(column)
        if column is not None and length is not None and length < len("2025-12-13"):
            raise ValueError(f"column {column.name} holds {length} characters; a date takes 10")
        as_text = column is not None and isinstance(column.type, sa.String)
        return cls(checked_formats(formats), as_text)

    def __call__(self, text: str) -> object:
        day = self._day(text)
        return day.isoformat() if self.as_text else day

    def column(self, texts: list[str]) -> list[object]:
        """The dates, read a column at a time when all are ISO 8601 days."""
        joined = column_text(texts)
        if joined is None or not _shaped(joined, len(texts), _DAY_SHAPE):
            return list(map(self, texts))
        try:
            days = list(map(dt.date.fromisoformat, texts))
        except ValueError:  # 2025-02-30
            return list(map(self, texts))
        return list(texts) if self.as_text else list(days)

    def _day(self, text: str) -> dt.date:
        if _ISO_DATE.fullmatch(text):
            return _calendar(dt.date.fromisoformat, text)
        moment = _moment(text, self.formats)
        if moment is None:
            raise CellInvalid(_unknown("a date", text, self.formats, _EXAMPLE.date()))
        if moment.tzinfo is not None or moment.time() != dt.time(0):
            raise CellInvalid(
                "has a time of day or a time zone; a date takes the day alone (like 2025-12-13)"
            )
        return moment.date()


@dataclass(frozen=True, slots=True)
class DateTime:
    """A date and time in ISO 8601 (`2025-12-13T10:30:00`, `2025-12-13 10:30`, with a zone
    `Z` or `+02:00` or none, a day alone for its midnight), a serial number with a fraction
    (`46004.4375`, to the millisecond), or one of the field's `formats`.

    A column with a time zone gets aware values in UTC, a value without a zone taken as UTC.
    A column without one gets the time as written, and refuses a value with a zone: which
    zone its times are in is the table's convention, unknown here. A text column gets ISO
    text, zone as written."""

    formats: tuple[str, ...] = ()
    storage: Storage = "read"
    max_length: int | None = None

    @classmethod
    def for_column(cls, column: sa.Column[Any] | None, formats: list[str] | None) -> DateTime:
        """Dates and times stored as `column` holds them (see the class)."""
        kind = column.type if column is not None else None
        storage: Storage = "read"
        if isinstance(kind, sa.DateTime):
            storage = "utc" if kind.timezone else "naive"
        elif isinstance(kind, sa.String):
            storage = "text"
        return cls(checked_formats(formats), storage, column_length(column))

    def __call__(self, text: str) -> object:
        moment = _moment(text, self.formats)
        if moment is None:
            raise CellInvalid(_unknown("a date and time", text, self.formats, _EXAMPLE))
        return self._stored(moment)

    def column(self, texts: list[str]) -> list[object]:
        """The dates and times, read a column at a time when all have one shape and no zone."""
        joined = column_text(texts)
        shape = _MOMENT_SHAPES.get(len(texts[0])) if texts else None
        if self.storage == "text" or joined is None or shape is None:
            return list(map(self, texts))
        if not _shaped(joined, len(texts), shape):
            return list(map(self, texts))
        read = texts
        if self.storage == "utc":  # each text given the zone it is taken in
            read = "+00:00\n".join([*texts, ""]).removesuffix("\n").split("\n")
        try:
            return list(map(dt.datetime.fromisoformat, read))
        except ValueError:  # 2025-02-30, 25:00
            return list(map(self, texts))

    def _stored(self, moment: dt.datetime) -> object:
        if self.storage == "utc":
            return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        if self.storage == "naive" and moment.tzinfo is not None:
            raise CellInvalid(
                f"has a time zone ({moment.isoformat()[-6:]}); the column stores times "
                "without one (expected the time as the table keeps it, like 2025-12-13 10:30)"
            )
        if self.storage != "text":
            return moment
        written = moment.isoformat()
        if self.max_length is not None and len(written) > self.max_length:
            raise CellInvalid(
                f"is {len(written)} characters long as stored ({written}); at most "
                f"{self.max_length} allowed"
            )
        return written


def _shaped(joined: str, count: int, shape: str) -> bool:
    """Whether the `column_text` of `count` texts has every text shaped like `shape` (see
    `_MOMENT_SHAPES`), checked at C speed a position at a time: a slice of the joined text
    takes one position of every text."""
    width = len(shape) + 1
    if len(joined) != width * count - 1 or not made_of(joined, b"0123456789-:.T \n"):
        return False
    marks = [(place, mark) for place, mark in enumerate(shape) if mark != "0"]
    for place, mark in marks:
        found = joined[place::width]
        if not (made_of(found, b"T ") if mark == "T" else found == mark * count):
            return False
    # Every mark is in its place; if there are no more of them, the rest are digits.
    return sum(map(joined.count, "-:.T ")) == len(marks) * count


def _calendar(read: Callable[[str], _Read], text: str) -> _Read:
    """`read(text)`, a day or time that does not exist (2025-02-30, 25:00) said as such."""
    try:
        return read(text)
    except ValueError as exc:
        raise CellInvalid(f"is not a real date or time ({exc})") from None


def _moment(text: str, formats: tuple[str, ...]) -> dt.datetime | None:
    """`text` as a date and time read from an ISO day and time, a serial number or one of
    `formats`; None if it is none of them."""
    if _ISO_DATETIME.fullmatch(text):
        return _calendar(dt.datetime.fromisoformat, text)
    if _SERIAL.fullmatch(text):
        return _serial(text)
    for given in formats:
        try:
            return dt.datetime.strptime(text, given)
        except ValueError:
            continue
    return None


def _serial(text: str) -> dt.datetime:
    """The moment a spreadsheet serial number stands for, to the millisecond (the most a
    spreadsheet keeps; the float it was written from has noise beyond)."""
    days = decimal.Decimal(text) * _MILLISECONDS_A_DAY
    milliseconds = int(days.to_integral_value(decimal.ROUND_HALF_EVEN))
    if milliseconds // _MILLISECONDS_A_DAY not in _SERIALS:
        raise CellInvalid(
            "is not a date: a number is read as a spreadsheet's serial date (46004 is "
            f"2025-12-13) from {_SERIALS.start} on, 1927-05-18 (expected YYYY-MM-DD like "
            "2025-12-13)"
        )
    return _EPOCH + dt.timedelta(milliseconds=milliseconds)


def _unknown(what: str, text: str, formats: tuple[str, ...], example: dt.date) -> str:
    """Why `text` is not `what`, and the forms that are."""
    expected = [f"{'YYYY-MM-DD' if what == 'a date' else 'ISO 8601'} like {example.isoformat()}"]
    expected += [f"{example.strftime(given)} ({given})" for given in formats]
    if not formats and _DAY_MONTH.fullmatch(text):
        return (
            f"is not {what}: dates written like {text} are day/month in some files and "
            f"month/day in others (expected {expected[0]}, or declare the field's formats, "
            'like formats = ["%d/%m/%Y"])'
        )
    return f"is not {what} (expected {' or '.join(expected)})"
