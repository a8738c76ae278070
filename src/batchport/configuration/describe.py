"""An import type in words and JSON values: its table, key, and for each column of a file the
parser (by the name a types file gives it), where the value goes, and the rules a cell must
keep — what `batchport types` and the API show."""

from __future__ import annotations

from typing import Any

from batchport.columns.numbers import Decimal, Integer
from batchport.columns.parsers import Email, KeyList, KeyOf, Parser, Text
from batchport.columns.times import Date, DateTime
from batchport.columns.values import Enum
from batchport.configuration.parsers import LONGEST_TEXT
from batchport.declarations import Field, ImportType


def described(import_type: ImportType) -> dict[str, Any]:
    """The type as JSON-ready values."""
    table = import_type.table
    return {
        "import_type": import_type.name,
        "table": f"{table.schema}.{table.name}" if table.schema else table.name,
        "description": import_type.description,
        "key": import_type.key,
        "columns": [_column(import_type, field) for field in import_type.fields],
    }


def _column(import_type: ImportType, field: Field) -> dict[str, Any]:
    references = {r.field: r for r in import_type.references}
    links = {link.field: link for link in import_type.links}
    if field.name in references:
        reference = references[field.name]
        target = f"{reference.column} (a {reference.to} key)"
    elif field.name in links:
        link = links[field.name]
        target = f"{link.table.name} rows (keys of {link.to})"
    else:
        target = import_type.table.c[field.column].name if field.column else ""
    return {
        "name": field.name,
        "parser": parser_name(field.parse),
        "target": target,
        "required": field.required,
        "default": field.default,
        "rules": rules(field.parse),
    }


def parser_name(parse: Parser) -> str:
    """The parser's name in a types file (`link` for a link's keys)."""
    if isinstance(parse, KeyList):
        return "link"
    if isinstance(parse, KeyOf):
        return parser_name(parse.parse)
    return str(getattr(parse, "name", None) or type(parse).__name__.lower())


def rules(parse: Parser) -> str:
    """What a cell must keep to, beyond its parser's own form ('' if nothing more)."""
    if isinstance(parse, KeyOf):
        return rules(parse.parse)
    if isinstance(parse, KeyList):
        return f"keys separated by {parse.separator!r}"
    if isinstance(parse, Text | Email) and parse.max_length < LONGEST_TEXT:
        return f"at most {parse.max_length:,} characters"
    if isinstance(parse, Enum):
        return "one of " + ", ".join(parse.values)
    if isinstance(parse, Date | DateTime) and parse.formats:
        return "ISO 8601, a spreadsheet date, or " + ", ".join(parse.formats)
    return _number_rules(parse) if isinstance(parse, Integer | Decimal) else ""


def _number_rules(parse: Integer | Decimal) -> str:
    found = [] if parse.separator == "." else [f"decimal separator {parse.separator!r}"]
    if isinstance(parse, Decimal) and parse.scale is not None:
        found.append(f"{parse.whole_digits} digits before the point, {parse.scale} after")
    return "; ".join(found)
