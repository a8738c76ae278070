"""PostgreSQL's change-log JSON (see `LogJson`): jsonb built in the statement that reads the
prior values, written as `changes.encode` writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
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
