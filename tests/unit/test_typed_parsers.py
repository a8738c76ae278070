"""Typed cells (integer, decimal, date, datetime, uuid, enum, json) accept what spreadsheets
and exports write, store it as their column holds it, refuse the rest saying what was expected,
and read a whole column as they read each cell. A workbook's numeric cell is a number, never
text to read with a decimal separator; keys of another type are read as that type reads its
key; typed values survive the change log."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from batchport import changes
from batchport.columns.mapping import map_header
from batchport.columns.numbers import Decimal, Integer
from batchport.columns.parsers import Boolean, CellInvalid, KeyList, KeyOf, Parser, Text
from batchport.columns.rows import column_texts
from batchport.columns.times import Date, DateTime
from batchport.columns.values import Enum, Json, Uuid
from batchport.configuration.parsers import parser_for
from batchport.configuration.spec import FieldSpec
from batchport.declarations import Field, ImportType
from batchport.errors import ConfigurationError
from batchport.sources.base import Block
from batchport.sources.workbook import NumberCell

UTC = dt.UTC
D = decimal.Decimal
AN_ID = "123e4567-e89b-12d3-a456-426614174000"


def column(kind: sa.types.TypeEngine[Any], name: str = "value") -> sa.Column[Any]:
    """A column of type `kind` in a table of its own."""
    made: sa.Column[Any] = sa.Column(name, kind)
    sa.Table("things", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), made)
    return made


def refusal(parse: Parser, text: str) -> str:
    """The message `parse` refuses `text` with (failing the test if it accepts it)."""
    with pytest.raises(CellInvalid) as caught:
        parse(text)
    return str(caught.value)


def assert_column_agrees(parse: Parser, texts: list[str]) -> None:
    """`column` gives what the cells give one by one (values and their types) when all are
    valid, and refuses the column when any is not."""
    cells: list[object] = []
    for text in texts:
        try:
            cells.append(parse(text))
        except CellInvalid:
            with pytest.raises(CellInvalid):
                parse.column(texts)
            return
    values = parse.column(texts)
    assert values == cells
    assert list(map(type, values)) == list(map(type, cells))


# Integer


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-5", -5),
        ("+7", 7),
        ("007", 7),
        ("1,234", 1234),
        ("1,234,567", 1234567),
        ("1 234", 1234),
        ("1\u00a0234", 1234),
        ("1\u202f234", 1234),
        ("1'234", 1234),
        ("12.0", 12),
        ("-12.000", -12),
    ],
)
def test_integer_reads_whole_numbers_as_people_write_them(text, value):
    """Signs, leading zeros, thousands in groups of three and a fraction of zeros are read."""
    assert Integer()(text) == value


def test_integer_follows_the_declared_decimal_separator():
    """Where the separator is a comma, a point groups thousands and a comma ends the number."""
    assert Integer(",")("1.234") == 1234
    assert Integer(",")("12,0") == 12
    assert "fraction" in refusal(Integer(","), "1,234")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12.5", "has a fraction (expected a whole number like 42)"),
        ("1.234", "has a fraction"),
        ("1.23457E+11", "scientific notation"),
        ("1e3", "scientific notation"),
        ("abc", "is not a whole number (expected digits like 42)"),
        ("1_000", "is not a whole number"),
        ("\u0661\u0662", "is not a whole number"),
        ("12,34", "is not a whole number"),
        ("0,123", "is not a whole number"),
        ("1,2345", "is not a whole number"),
        ("1,234 567", "is not a whole number"),
        ("--5", "is not a whole number"),
        ("5-", "is not a whole number"),
    ],
)
def test_integer_refuses_what_is_not_a_whole_number(text, message):
    """Fractions, scientific notation, odd groupings and non-ASCII digits are refused."""
    assert message in refusal(Integer(), text)


@pytest.mark.parametrize(
    ("kind", "lowest", "highest", "name"),
    [
        (sa.SmallInteger(), -(2**15), 2**15 - 1, "SMALLINT"),
        (sa.Integer(), -(2**31), 2**31 - 1, "INTEGER"),
        (sa.BigInteger(), -(2**63), 2**63 - 1, "BIGINT"),
        (sa.Numeric(5, 2), -999, 999, "NUMERIC(5, 2)"),
    ],
)
def test_integer_stays_in_its_column_range(kind, lowest, highest, name):
    """The column's type bounds the number; a message names the column, its type and the bound."""
    parse = Integer.for_column(column(kind))
    assert parse(str(highest)) == highest
    assert parse(str(lowest)) == lowest
    assert refusal(parse, str(highest + 1)) == (
        f"is too large: column value ({name}) holds at most {highest}"
    )
    assert refusal(parse, str(lowest - 1)) == (
        f"is too small: column value ({name}) holds at least {lowest}"
    )
    with pytest.raises(CellInvalid):
        parse.column(["1", str(highest + 1)])


def test_integer_without_a_bound_takes_any_size_but_not_endless_digits():
    """An unbounded column takes big numbers; thousands of digits are refused, not a crash."""
    assert Integer.for_column(column(sa.Numeric()))("9" * 40) == int("9" * 40)
    assert "at most 4000" in refusal(Integer(), "9" * 5000)
    assert_column_agrees(Integer(), ["1", "9" * 5000])


@pytest.mark.parametrize(
    "texts",
    [
        ["1", "-2", "+3", "0", "2147483647"],
        ["1", "1,234", "12.0", "7"],
        ["1", "2", "x"],
        ["1", "2147483648"],
        ["1", "1\n2"],
        ["1", "\u0661"],
        ["1", "1_0"],
        ["-", "1"],
    ],
)
def test_integer_column_agrees_with_its_cells(texts):
    """A column reads as its cells do, and is refused when one of them is."""
    assert_column_agrees(Integer.for_column(column(sa.Integer())), texts)


# Decimal


@pytest.mark.parametrize(
    ("separator", "text", "value"),
    [
        (".", "1234.56", "1234.56"),
        (".", "0.1", "0.1"),
        (".", "-.5", "-0.5"),
        (".", "+3", "3"),
        (".", "5.", "5"),
        (".", "1,234.56", "1234.56"),
        (".", "1 234 567.5", "1234567.5"),
        (".", "5e-05", "0.00005"),
        (".", "1.5E+3", "1500"),
        (".", "12345678901234567890.123456789012", "12345678901234567890.123456789012"),
        (",", "1234,56", "1234.56"),
        (",", "1.234,56", "1234.56"),
        (",", "1 234,5", "1234.5"),
        (",", "-0,5", "-0.5"),
    ],
)
def test_decimal_is_exact_with_the_declared_separator(separator, text, value):
    """A decimal is a `decimal.Decimal` of exactly the digits written, never a float."""
    parsed = Decimal(separator)(text)
    assert isinstance(parsed, decimal.Decimal)
    assert parsed == D(value)


@pytest.mark.parametrize(
    ("separator", "text"),
    [
        (".", "NaN"),
        (".", "Infinity"),
        (".", "1,5"),
        (".", "1.2.3"),
        (".", "."),
        (".", "1_000.5"),
        (".", "twelve"),
        (".", "12 %"),
        (",", "12.5"),
        (",", "1,2,3"),
    ],
)
def test_decimal_refuses_what_is_not_a_number(separator, text):
    """Anything else is refused with an example in the file's own separator."""
    assert refusal(Decimal(separator), text) == (
        f"is not a number (expected digits like 1234{separator}56)"
    )


def test_decimal_keeps_to_the_column_precision_and_scale():
    """NUMERIC(6, 2) takes 4 digits before the point and 2 after; trailing zeros are free."""
    parse = Decimal.for_column(column(sa.Numeric(6, 2)))
    assert parse("9999.99") == D("9999.99")
    assert parse("1.500") == D("1.5")
    assert (
        refusal(parse, "1.555")
        == "has 3 decimals; at most 2 allowed (column value (NUMERIC(6, 2)))"
    )
    assert refusal(parse, "12345.6") == (
        "has 5 digits before the decimal point; at most 4 allowed (column value (NUMERIC(6, 2)))"
    )
    assert "decimals" in refusal(parse, "5e-05")


def test_decimal_with_precision_alone_has_no_decimals():
    """NUMERIC(5) is NUMERIC(5, 0), as the databases read it."""
    parse = Decimal.for_column(column(sa.Numeric(5)))
    assert parse("99999") == 99999
    assert "at most 0 allowed" in refusal(parse, "1.5")


@pytest.mark.parametrize(
    ("separator", "texts"),
    [
        (".", ["1.5", "-2", "+3.25", "0.00", "9999.99"]),
        (".", ["1.5", "1,234.5", "5e-05"]),
        (".", ["1.5", "1.505"]),
        (".", ["1.5", "1.500"]),
        (".", ["1.5", "10000"]),
        (".", ["1.5", "1.2.3"]),
        (".", ["1.5", "1\n2"]),
        (".", ["1.5", "5."]),
        (".", ["1.5", ".5", "-.5"]),
        (",", ["1,5", "-2", "0,25"]),
        (",", ["1,5", "1.234"]),
        (",", ["1,5", "1.234,5"]),
        (",", ["1,5", "1.5"]),
    ],
)
def test_decimal_column_agrees_with_its_cells(separator, texts):
    """A column reads as its cells do, limits and separators included."""
    parse = Decimal.for_column(column(sa.Numeric(6, 2)), separator)
    assert_column_agrees(parse, texts)
    assert_column_agrees(Decimal(separator), texts)


# A workbook's numeric cells


@pytest.mark.parametrize(
    ("parse", "cell", "value"),
    [
        (Decimal(","), NumberCell(1.25), D("1.25")),
        (Decimal(","), NumberCell(1234), D(1234)),
        (Decimal(","), NumberCell(5e-05), D("0.00005")),
        (Decimal(","), "1.234,5", D("1234.5")),
        (Decimal(","), "1,5", D("1.5")),
        (Decimal("."), NumberCell(1.25), D("1.25")),
        (Integer(","), NumberCell(1234), 1234),
        (Integer(","), "1.234", 1234),
    ],
)
def test_a_numeric_cell_is_read_as_the_number_it_holds(parse, cell, value):
    """A numeric cell is its number whatever the separator; a text cell follows the field's."""
    assert parse(cell) == value
    assert parse.column([cell]) == [value]


@pytest.mark.parametrize(
    ("parse", "cell", "message"),
    [
        (Decimal.for_column(column(sa.Numeric(6, 2)), ","), NumberCell(1.234), "has 3 decimals"),
        (Integer(","), NumberCell(1.5), "has a fraction"),
        (Decimal(","), "1.5", "is not a number (expected digits like 1234,56)"),
    ],
)
def test_a_numeric_cell_is_never_reread_by_the_separator(parse, cell, message):
    """1.234 in a numeric cell is not 1234 where the separator is a comma, nor 1.5 a typo."""
    assert message in refusal(parse, cell)
    with pytest.raises(CellInvalid):
        parse.column([cell])


def test_numeric_cells_reach_only_the_parsers_that_read_them_otherwise():
    """Cells are stripped; a numeric cell reaches a comma-separated number field as such."""
    fields = (
        Field("price", Decimal(","), column="price"),
        Field("total", Decimal("."), column="total"),
        Field("name", Text(10), column="name"),
    )
    table = sa.Table(
        "goods",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("import_batch_id", sa.String(100)),
        *(sa.Column(f.name, sa.String()) for f in fields),
    )
    mapping, _ = map_header(ImportType("goods", table, "name", fields), ["price", "total", "name"])
    block = Block([2], [[NumberCell(1.5), NumberCell(2.5), NumberCell(3)]])
    texts = column_texts(mapping, block, [])
    assert [[type(text) for text in texts_of] for texts_of in texts if texts_of] == [
        [NumberCell],
        [str],
        [str],
    ]


# Keys of another type


def test_a_key_of_another_type_is_read_as_that_type_reads_its_key():
    """`007` is the integer key 7, a UUID in capitals its canonical self; the staging type is
    the key column's."""
    number = KeyOf(Integer(), sa.Integer())
    assert number("007") == 7
    assert number.column(["007", "8"]) == [7, 8]
    assert isinstance(number.stored_as, sa.Integer)
    assert KeyOf(Uuid(), sa.Uuid())(AN_ID.upper()) == uuid.UUID(AN_ID)


@pytest.mark.parametrize("texts", [["1;2", "3"], ["1", "1;01"], ["1; 2", "x"], ["4"]])
def test_a_typed_key_list_reads_each_key_as_its_type_does(texts):
    """Each key of a list is read by the key's parser; a column agrees with its cells."""
    parse = KeyList(20, ";", KeyOf(Integer(), sa.Integer()))
    assert parse("1; 02 ;3") == (1, 2, 3)
    assert "names '01' twice" in refusal(parse, "1;01")
    assert refusal(parse, "1;x").startswith("'x' is not a whole number")
    assert_column_agrees(parse, texts)


# Flags


def test_a_flag_in_a_column_of_integers_is_one_or_zero():
    """PostgreSQL's COPY takes no flag for an integer column: it gets 1 or 0."""
    parse = Boolean.for_column(column(sa.SmallInteger()))
    assert (parse("yes"), parse("N")) == (1, 0)
    assert parse.column(["y", "0"]) == [1, 0]
    assert Boolean.for_column(column(sa.Boolean())).column(["y", "0"]) == [True, False]


# The change log


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (sa.Numeric(12, 2), D("1234.50")),
        (sa.Numeric(30, 10), D("12345678901234567890.1234567891")),
        (sa.Uuid(), uuid.UUID(AN_ID)),
        (sa.Uuid(as_uuid=False), AN_ID),
        (sa.JSON(), {"size": [1, 2.5], "text": "2025-12-13"}),
        (sa.JSON(), "2025-12-13"),
        (sa.Date(), dt.date(2025, 12, 13)),
        (sa.DateTime(timezone=True), dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC)),
        (sa.String(10), "2025-12-13"),
        (sa.Float(), 0.5),
    ],
)
def test_a_typed_value_survives_the_change_log(kind, value):
    """A prior value is logged as JSON and read back exactly, as its column's type."""
    table = column(kind).table
    logged = changes.encode({"value": value})
    back = changes.decode(table, json.loads(logged))["value"]
    assert back == value
    assert type(back) is type(value)


# Date


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2025-12-13", dt.date(2025, 12, 13)),
        ("46004", dt.date(2025, 12, 13)),
        ("46004.0", dt.date(2025, 12, 13)),
        ("10000", dt.date(1927, 5, 18)),
        ("2958465", dt.date(9999, 12, 31)),
        ("2025-12-13T00:00:00", dt.date(2025, 12, 13)),
        ("2025-12-13 00:00", dt.date(2025, 12, 13)),
    ],
)
def test_date_reads_iso_days_and_serial_numbers(text, value):
    """ISO 8601 days, spreadsheet serials (1900 system) and midnight date-times are days."""
    assert Date()(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("03/04/2025", "are day/month in some files and month/day in others"),
        ("13.12.2025", 'declare the field\'s formats, like formats = ["%d/%m/%Y"]'),
        ("2025-02-30", "is not a real date or time (day is out of range for month)"),
        ("2025", "a number is read as a spreadsheet's serial date"),
        ("2958465.999999999", "serial date"),
        ("9" * 5000, "serial date"),
        ("20251213", "serial date"),
        ("46004.5", "has a time of day or a time zone"),
        ("2025-12-13 10:30", "has a time of day"),
        ("2025-12-13T00:00:00Z", "time zone"),
        ("2025-W50-6", "is not a date (expected YYYY-MM-DD like 2025-12-13)"),
        ("13 December 2025", "is not a date (expected YYYY-MM-DD like 2025-12-13)"),
    ],
)
def test_date_refuses_ambiguous_and_impossible_days(text, message):
    """Day/month orders, impossible days, years, times and other forms are refused."""
    assert message in refusal(Date(), text)


def test_date_reads_the_formats_a_field_declares():
    """Declared formats are tried after ISO 8601, which is always read; the message shows
    each one by example."""
    parse = Date.for_column(None, ["%d/%m/%Y"])
    assert parse("13/12/2025") == dt.date(2025, 12, 13)
    assert parse("2025-12-13") == dt.date(2025, 12, 13)
    assert refusal(parse, "12/13/2025") == (
        "is not a date (expected YYYY-MM-DD like 2025-12-13 or 13/12/2025 (%d/%m/%Y))"
    )


def test_date_into_a_text_column_is_iso_text():
    """A text column gets the day as ISO 8601, however the cell wrote it."""
    parse = Date.for_column(column(sa.String(10)), None)
    assert parse("46004") == "2025-12-13"
    assert parse.column(["2025-12-13"]) == ["2025-12-13"]


@pytest.mark.parametrize(
    "texts",
    [
        ["2025-12-13", "1999-01-31", "2000-02-29"],
        ["2025-12-13", "46004"],
        ["2025-12-13", "2025-02-30"],
        ["2025-12-13", "0000-01-01"],
        ["2025-12-13", "2025-1213-"],
        ["2025-12-13", "2025-12-1\n"],
        ["2025-12-13", "20251213xx"],
        ["2025-12-13", "2025-12-13T00:00"],
    ],
)
def test_date_column_agrees_with_its_cells(texts):
    """A column reads as its cells do."""
    assert_column_agrees(Date(), texts)
    assert_column_agrees(Date(as_text=True), texts)


# Datetime


AWARE = DateTime(storage="utc")
NAIVE = DateTime(storage="naive")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2025-12-13T10:30:00", dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC)),
        ("2025-12-13 10:30", dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC)),
        ("2025-12-13T10:30:00.250", dt.datetime(2025, 12, 13, 10, 30, 0, 250000, tzinfo=UTC)),
        ("2025-12-13T10:30:00Z", dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC)),
        ("2025-12-13T10:30:00+02:00", dt.datetime(2025, 12, 13, 8, 30, tzinfo=UTC)),
        ("2025-12-13T10:30-0130", dt.datetime(2025, 12, 13, 12, 0, tzinfo=UTC)),
        ("2025-12-13", dt.datetime(2025, 12, 13, tzinfo=UTC)),
        ("46004.4375", dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC)),
        ("46004.43819444445", dt.datetime(2025, 12, 13, 10, 31, tzinfo=UTC)),
        ("46004", dt.datetime(2025, 12, 13, tzinfo=UTC)),
    ],
)
def test_datetime_with_a_zone_stores_utc(text, value):
    """A column with a time zone gets UTC: zoned values converted, plain ones taken as UTC,
    serials to the millisecond."""
    parsed = AWARE(text)
    assert parsed == value
    assert parsed.tzinfo is UTC


def test_datetime_without_a_zone_keeps_the_time_and_refuses_a_zone():
    """A column without a time zone gets the time as written; an offset is refused, since
    the table's own zone is unknown."""
    assert NAIVE("2025-12-13 10:30") == dt.datetime(2025, 12, 13, 10, 30)
    assert NAIVE("46004.5") == dt.datetime(2025, 12, 13, 12, 0)
    assert refusal(NAIVE, "2025-12-13T10:30:00+02:00") == (
        "has a time zone (+02:00); the column stores times without one (expected the time as "
        "the table keeps it, like 2025-12-13 10:30)"
    )
    assert "(+00:00)" in refusal(NAIVE, "2025-12-13T10:30:00Z")


def test_datetime_into_a_text_column_is_iso_text_with_its_zone():
    """A text column gets ISO 8601 with the zone as written, within the column's length."""
    parse = DateTime.for_column(column(sa.String(25)), None)
    assert parse("2025-12-13 10:30") == "2025-12-13T10:30:00"
    assert parse("2025-12-13T10:30:00+02:00") == "2025-12-13T10:30:00+02:00"
    assert "as stored" in refusal(parse, "2025-12-13T10:30:00.5+02:00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-12-13T25:00", "is not a real date or time (hour must be in 0..23)"),
        ("13/12/2025 10:30", "is not a date and time (expected ISO 8601 like 2025-12-13T10:30:00)"),
        ("2025-12-13T10:30:00 +02:00", "is not a date and time"),
        ("20251213T1030", "is not a date and time"),
        ("2025-12-13T10", "is not a date and time"),
        ("now", "is not a date and time"),
    ],
)
def test_datetime_refuses_what_is_not_iso_8601(text, message):
    """Impossible times and other forms are refused, saying what is expected."""
    assert message in refusal(AWARE, text)


def test_datetime_reads_declared_formats():
    """A declared format is read, a zone in it included."""
    parse = DateTime.for_column(column(sa.DateTime(timezone=True)), ["%d/%m/%Y %H:%M"])
    assert parse("13/12/2025 10:30") == dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "texts",
    [
        ["2025-12-13T10:30:00", "2025-12-13 10:30", "2025-12-13T10:30:00.123456"],
        ["2025-12-13T10:30:00", "2025-12-13T10:30:00+02:00"],
        ["2025-12-13T10:30:00", "2025-12-13", "46004.25"],
        ["2025-12-13T10:30:00", "2025-12-13T24:00"],
        ["2025-12-13T10:30:00", "2025-12-13T10:30:00.1234567"],
        ["2025-12-13T10:30:00", "2025-12-13T10:30:00\n2025-12-13T10:30:00"],
        ["2025-12-13 10:30", "2025-12-13T10:31", "1999-01-01 00:00"],
        ["2025-12-13 10:30", "2025-12-13T10+02"],
        ["2025-12-13 10:30", "2025-12-13T10-02"],
        ["2025-12-13T10:30:00.250", "2025-12-13 10:30:00.999"],
        ["2025-12-13T10:30:00", "2025-12-13T10:30-01"],
        ["2025-12-13T10:30:00", "20251213T10:30:00:0"],
        ["2025-12-13T10:30:00", "2025-12-13T10:30:0 "],
        ["2025-12-13T10:30:00", "2025-12-13T10:30:00Z"],
    ],
)
@pytest.mark.parametrize("parse", [AWARE, NAIVE, DateTime(storage="text"), DateTime()])
def test_datetime_column_agrees_with_its_cells(parse, texts):
    """A column reads as its cells do, whichever way it is stored."""
    assert_column_agrees(parse, texts)


# UUID


@pytest.mark.parametrize(
    "text",
    [
        AN_ID,
        AN_ID.upper(),
        AN_ID.replace("-", ""),
        "{" + AN_ID + "}",
        "{" + AN_ID.replace("-", "").upper() + "}",
    ],
)
def test_uuid_reads_canonical_forms_as_one_value(text):
    """Hyphens or none, braces or none, any case: one UUID, stored as `uuid.UUID` or as the
    canonical lower-case text."""
    assert Uuid()(text) == uuid.UUID(AN_ID)
    assert Uuid(as_text=True)(text) == AN_ID


@pytest.mark.parametrize(
    "text",
    [
        AN_ID[:-1],
        AN_ID + "0",
        "{" + AN_ID,
        AN_ID.replace("-", "", 1),
        "123e4567-e89b12d3-a456-4266-14174000",
        AN_ID.replace("a", "g"),
        "urn:uuid:" + AN_ID,
    ],
)
def test_uuid_refuses_other_shapes(text):
    """A wrong length, stray hyphens or braces, or a non-hexadecimal digit is refused."""
    assert refusal(Uuid(), text) == (
        "is not a UUID (expected 32 hexadecimal digits like 123e4567-e89b-12d3-a456-426614174000)"
    )


@pytest.mark.parametrize(
    "texts",
    [
        [AN_ID, str(uuid.uuid4()), AN_ID.upper()],
        [AN_ID, "{" + AN_ID + "}"],
        [AN_ID, AN_ID[:-1]],
        [AN_ID, AN_ID + "\n" + AN_ID],
    ],
)
@pytest.mark.parametrize("parse", [Uuid(), Uuid(as_text=True)])
def test_uuid_column_agrees_with_its_cells(parse, texts):
    """A column reads as its cells do."""
    assert_column_agrees(parse, texts)


# Enum


STATES = Enum(("Active", "On hold", "Closed"))


def test_enum_matches_regardless_of_case_and_stores_the_declared_spelling():
    """'ACTIVE' and 'active' are the declared 'Active'."""
    assert STATES("ACTIVE") == "Active"
    assert STATES("on HOLD") == "On hold"
    assert STATES.column(["closed", "Active"]) == ["Closed", "Active"]


def test_enum_refusal_lists_the_allowed_values():
    """The message lists the values, the first ten of a long list and how many more."""
    assert refusal(STATES, "open") == "is not one of the allowed values: Active, On hold, Closed"
    many = Enum(tuple(f"v{n}" for n in range(13)))
    assert refusal(many, "x").endswith("v0, v1, v2, v3, v4, v5, v6, v7, v8, v9 and 3 more")


@pytest.mark.parametrize(
    "texts", [["active", "CLOSED", "On Hold"], ["active", "open"], ["active", "active "]]
)
def test_enum_column_agrees_with_its_cells(texts):
    """A column reads as its cells do."""
    assert_column_agrees(STATES, texts)


# JSON


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"size": 3, "tags": ["a"]}', {"size": 3, "tags": ["a"]}),
        ("[1, 2.5, null]", [1, 2.5, None]),
        ('"text"', "text"),
        ("12", 12),
        ("true", True),
    ],
)
def test_json_column_stores_the_parsed_document(text, value):
    """A JSON column gets the document's value: object, array or scalar."""
    assert Json.for_column(column(sa.JSON()))(text) == value


def test_json_into_text_stores_the_text_as_written():
    """A text column gets the document as the cell wrote it, once it is known to be JSON."""
    parse = Json.for_column(column(sa.Text()))
    assert parse('{"b": 1.10,  "a": 2}') == '{"b": 1.10,  "a": 2}'
    assert "at most 8 allowed" in refusal(Json.for_column(column(sa.String(8))), '{"a": 123}')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{'size': 3}",
            "is not JSON: Expecting property name enclosed in double quotes at character 2 "
            '(expected a JSON document like {"size": 3} or [1, 2])',
        ),
        ('{"a": 1,\n "b": }', "at line 2, column 7"),
        ("[1, 2", "at character 6"),
        ("NaN", "is not JSON: NaN is not a JSON number"),
        ("[-Infinity]", "is not JSON: -Infinity is not a JSON number"),
        ("[" * 100_000, "nests too deeply"),
        ("1" * 5000, "is not JSON this reader can take"),
    ],
)
def test_json_refusal_says_where_the_text_stops_being_json(text, message):
    """The message gives json's reason and position; NaN and Infinity are not JSON."""
    assert message in refusal(Json(), text)


@pytest.mark.parametrize(
    "texts", [['{"a": 1}', "[]", '"x"', "0"], ['{"a": 1}', "{a: 1}"], ["[1]", "NaN"]]
)
@pytest.mark.parametrize("parse", [Json(), Json(as_text=True)])
def test_json_column_agrees_with_its_cells(parse, texts):
    """A column reads as its cells do."""
    assert_column_agrees(parse, texts)


# The factories a types file names


@pytest.mark.parametrize(
    ("parser", "kind", "text", "value"),
    [
        ("integer", sa.SmallInteger(), "1,234", 1234),
        ("integer", sa.Numeric(10, 2), "12", 12),
        ("decimal", sa.Numeric(10, 2), "1234.5", D("1234.5")),
        ("decimal", sa.Float(), "0.5", D("0.5")),
        ("date", sa.Date(), "46004", dt.date(2025, 12, 13)),
        ("date", sa.String(20), "2025-12-13", "2025-12-13"),
        (
            "datetime",
            sa.DateTime(timezone=True),
            "2025-12-13 10:30",
            dt.datetime(2025, 12, 13, 10, 30, tzinfo=UTC),
        ),
        ("datetime", sa.DateTime(), "2025-12-13 10:30", dt.datetime(2025, 12, 13, 10, 30)),
        ("uuid", sa.Uuid(), AN_ID.upper(), uuid.UUID(AN_ID)),
        ("uuid", sa.Uuid(as_uuid=False), AN_ID.upper(), AN_ID),
        ("uuid", sa.String(36), AN_ID.upper(), AN_ID),
        ("enum", sa.Enum("small", "large", name="size"), "LARGE", "large"),
        ("json", sa.JSON(), "[1]", [1]),
        ("json", sa.Text(), "[1]", "[1]"),
    ],
)
def test_factories_make_parsers_for_their_columns(parser, kind, text, value):
    """Each parser a types file names reads its cells as its column stores them."""
    spec = FieldSpec(name="value", parser=parser)
    parse = parser_for(spec, column(kind), where="field value")
    assert parse(text) == value
    assert type(parse(text)) is type(value)


def test_factories_read_the_field_options():
    """The decimal separator, date formats and enum values come from the field."""
    where = "field value"
    comma = FieldSpec(name="value", parser="decimal", decimal_separator=",")
    assert parser_for(comma, column(sa.Numeric()), where=where)("1.234,5") == D("1234.5")
    dated = FieldSpec(name="value", parser="date", formats=["%d.%m.%Y"])
    assert parser_for(dated, column(sa.Date()), where=where)("13.12.2025") == dt.date(2025, 12, 13)
    sizes = FieldSpec(name="value", parser="enum", values=["S", "M"])
    assert parser_for(sizes, column(sa.String(1)), where=where)("m") == "M"


@pytest.mark.parametrize(
    ("parser", "kind"),
    [
        ("integer", sa.String()),
        ("decimal", sa.Integer()),
        ("date", sa.Integer()),
        ("date", sa.DateTime()),
        ("datetime", sa.Date()),
        ("uuid", sa.Integer()),
        ("enum", sa.Integer()),
        ("json", sa.Integer()),
    ],
)
def test_a_parser_is_refused_for_a_column_it_cannot_store_into(parser, kind):
    """A parser whose values a column's type cannot hold is a configuration error."""
    spec = FieldSpec(name="value", parser=parser, values=["a"])
    with pytest.raises(ConfigurationError, match=f"a {parser} value cannot be stored in column"):
        parser_for(spec, column(kind), where="field value")


@pytest.mark.parametrize(
    ("options", "kind", "message"),
    [
        ({"parser": "enum"}, sa.String(), "an enum field needs `values`"),
        ({"parser": "enum", "values": ["a", "A"]}, sa.String(), "are one value"),
        ({"parser": "enum", "values": ["long"]}, sa.String(3), "longer than the column's 3"),
        ({"parser": "enum", "values": ["huge"]}, sa.Enum("small", name="s"), "not a value of"),
        ({"parser": "uuid"}, sa.String(32), "a UUID takes 36"),
        ({"parser": "date"}, sa.String(8), "a date takes 10"),
        ({"parser": "date", "formats": ["%d/%Q"]}, sa.Date(), "the format '%d/%Q' cannot read"),
    ],
)
def test_factories_refuse_declarations_that_cannot_work(options, kind, message):
    """An enum without values, values that clash or do not fit, a column too short, or a
    format that cannot read its own output is named when the types are loaded."""
    spec = FieldSpec(name="value", **options)
    with pytest.raises(ConfigurationError, match=f"field value: .*{message}"):
        parser_for(spec, column(kind), where="field value")


def test_enum_takes_its_values_from_an_enum_column():
    """Without `values`, an enum column's own values are the list."""
    spec = FieldSpec(name="value", parser="enum")
    parse = parser_for(spec, column(sa.Enum("small", "large", name="size")), where="field")
    assert parse("Small") == "small"


def test_a_reference_field_parses_without_a_column():
    """A reference's field has no column of its own: the parser reads the key unbounded."""
    assert parser_for(FieldSpec(name="value", parser="integer"), None, where="f")(
        "2,147,483,648"
    ) == (2_147_483_648)
    assert (
        parser_for(FieldSpec(name="value", parser="uuid"), None, where="f")(AN_ID.upper()) == AN_ID
    )
