"""The use cases of import types: which the database offers (and what each one reads), and a
declaration to start from for a table of one's own.

What describes or scaffolds a type needs SQLAlchemy: it is imported by the use cases that do,
so that listing the shipped types needs none of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchport.configuration.files import chosen
from batchport.configuration.listing import shipped_listing

if TYPE_CHECKING:
    from batchport.database import Database
    from batchport.declarations import ImportType


def import_types(db: Database) -> list[ImportType]:
    """The import types in use, parents first; a types file naming tables is checked against
    the database (`ConfigurationError` naming the file, type and field of a mistake)."""
    return list(db.catalog.types)


def list_types(config: str | Path | None, database: Callable[[], Database]) -> list[dict[str, Any]]:
    """The import types in use as a listing shows them: each one's name, table, description
    and columns (name, and whether required), parents first. The shipped types are read off
    their file alone; a types file of one's own (`config`, else as `configuration.find`
    chooses) is checked against the database `database()` opens, and described from it."""
    if chosen(config) is None:
        return shipped_listing()
    return describe_types(database())


def describe_types(db: Database) -> list[dict[str, Any]]:
    """The import types in use as JSON values: each one's table, key and columns (parser,
    target, rules), parents first."""
    from batchport.configuration.describe import described  # noqa: PLC0415 - see above

    return [described(t) for t in db.catalog.types]


def describe_type(db: Database, name: str) -> dict[str, Any]:
    """One import type as JSON values (`ConfigurationError` naming the known types if there
    is none called `name`)."""
    from batchport.configuration.describe import described  # noqa: PLC0415 - see above

    return described(db.catalog[name])


def scaffold_type(db: Database, table: str) -> str:
    """A `[types.TABLE]` declaration read off the table `table` (`schema.table` or `table`):
    its columns, types, nullability, unique key and foreign keys, as TOML to edit."""
    from batchport.configuration.scaffold import scaffold  # noqa: PLC0415 - see above

    with db.connect() as conn:
        return scaffold(conn, table)
