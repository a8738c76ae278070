"""The use cases of import types: which the database offers (and what each one reads), and a
declaration to start from for a table of one's own."""

from __future__ import annotations

from typing import Any

from batchport.configuration.describe import described
from batchport.configuration.scaffold import scaffold
from batchport.database import Database
from batchport.declarations import ImportType


def import_types(db: Database) -> list[ImportType]:
    """The import types in use, parents first; a types file naming tables is checked against
    the database (`ConfigurationError` naming the file, type and field of a mistake)."""
    return list(db.catalog.types)


def describe_types(db: Database) -> list[dict[str, Any]]:
    """The import types in use as JSON values: each one's table, key and columns (parser,
    target, rules), parents first."""
    return [described(t) for t in db.catalog.types]


def describe_type(db: Database, name: str) -> dict[str, Any]:
    """One import type as JSON values (`ConfigurationError` naming the known types if there
    is none called `name`)."""
    return described(db.catalog[name])


def scaffold_type(db: Database, table: str) -> str:
    """A `[types.TABLE]` declaration read off the table `table` (`schema.table` or `table`):
    its columns, types, nullability, unique key and foreign keys, as TOML to edit."""
    with db.connect() as conn:
        return scaffold(conn, table)
