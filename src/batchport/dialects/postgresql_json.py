"""PostgreSQL's change-log JSON (see `LogJson`): jsonb built in the statement that reads the
prior values, written as `changes.encode` writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from batchport.dialects.base import LogJson

#: Types whose values jsonb writes as `changes.encode` does (numbers, text, booleans, UUIDs).
#: Decimals are left out: `str(Decimal)` writes 0.00000001 as 1E-8, the database does not.
_AS_THEY_ARE = (sa.Integer, sa.String, sa.Boolean, sa.Uuid)
#: A timestamp to the second, as `datetime.isoformat()` writes it, in `to_char`'s words.
_SECONDS = 'YYYY-MM-DD"T"HH24:MI:SS'


class PostgresqlJson(LogJson):
    """jsonb expressions."""

    def value(self, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any] | None:
        kind = value.type
        if isinstance(kind, sa.TypeDecorator | sa.Enum | sa.JSON | sa.ARRAY):
            return None
        if isinstance(kind, _AS_THEY_ARE):
            return sa.func.to_jsonb(value, type_=JSONB)
        if isinstance(kind, sa.DateTime):
            return sa.func.to_jsonb(_iso_datetime(value), type_=JSONB)
        if isinstance(kind, sa.Date):
            # A date's JSON is ISO 8601 whatever the session's DateStyle.
            return sa.func.to_jsonb(value, type_=JSONB)
        return None

    def object(self, pairs: Sequence[tuple[str, sa.ColumnElement[Any]]]) -> sa.ColumnElement[Any]:
        # Keys cast: a parameter's type is not always written where the database needs it.
        arguments = [
            part for key, value in pairs for part in (sa.cast(sa.literal(key), sa.Text), value)
        ]
        return sa.func.jsonb_build_object(*arguments, type_=JSONB)

    def merged(self, objects: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        if not objects:
            return self.empty()
        document = objects[0]
        for other in objects[1:]:
            document = document.op("||", return_type=JSONB)(other)
        return document

    def empty(self, *, array: bool = False) -> sa.ColumnElement[Any]:
        return sa.literal_column("'[]'::jsonb" if array else "'{}'::jsonb", JSONB)

    def rows(self, row: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.jsonb_agg(row, type_=JSONB)

    def keyed(
        self, key: sa.ColumnElement[Any], value: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        return sa.func.jsonb_object_agg(key, value, type_=JSONB)

    def text(self, document: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
        return sa.cast(document, sa.Text)

    def parsed(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.cast(text, JSONB)

    def member(
        self, document: sa.ColumnElement[Any], key: str | sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        return document.op("->", return_type=JSONB)(_text(key))

    def member_text(self, document: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[Any]:
        return document.op("->>", return_type=sa.Text)(_text(key))

    def has(self, document: sa.ColumnElement[Any], keys: list[str]) -> sa.ColumnElement[bool]:
        if len(keys) == 1:
            return document.op("?", return_type=sa.Boolean)(_text(keys[0]))
        listed = sa.cast(postgresql.array(keys), postgresql.ARRAY(sa.Text))
        return document.op("?&", return_type=sa.Boolean)(listed)

    def elements(self, document: sa.ColumnElement[Any], name: str) -> sa.TableValuedAlias:
        return sa.func.jsonb_array_elements(document).table_valued(
            sa.column("value", JSONB), name=name
        )

    def null(self) -> sa.ColumnElement[Any]:
        return sa.literal_column("'null'::jsonb", JSONB)


def _iso_datetime(value: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """The timestamp as `datetime.isoformat()` writes the one psycopg reads (in the session's
    time zone, as `to_char` writes it too): microseconds only when there are some, an offset
    only for a time with a zone. The one dot is the one before the microseconds."""
    zoned = sa.func.pg_typeof(value) == sa.literal_column("'timestamptz'::regtype")
    return sa.func.replace(
        sa.case(
            (zoned, sa.func.to_char(value, _SECONDS + ".USTZH:TZM")),
            else_=sa.func.to_char(value, _SECONDS + ".US"),
        ),
        ".000000",
        "",
    )


def _text(key: str | sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A member's name as text (a bare string would be bound as the document's type)."""
    return sa.literal(key, sa.Text) if isinstance(key, str) else key
