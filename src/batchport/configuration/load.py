"""Reading the types file in use (`files` says which): TOML, then the shape (`spec`), then
each table in the database."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from pydantic import ValidationError

from batchport import schema
from batchport.configuration.build import catalog_of, own_tables
from batchport.configuration.files import SHIPPED, chosen, shipped_text
from batchport.configuration.scaffold import unique_columns
from batchport.configuration.spec import TypesFile
from batchport.declarations import Catalog, require_row_ids
from batchport.errors import ConfigurationError
from batchport.tracking import TableNotTracked, all_tracked, require_tracked

# `SHIPPED` and `shipped_text` (of `files`) are here too, where they always were.
__all__ = ["SHIPPED", "TypesSource", "find", "parse", "shipped_text"]


@dataclass(frozen=True)
class TypesSource:
    """A types file: where it is (for messages) and its checked content."""

    name: str
    types: TypesFile

    @property
    def shipped(self) -> bool:
        """Whether this is the shipped file, whose tables are batchport's own."""
        return self.name == SHIPPED

    def catalog(self, engine: sa.Engine | None = None) -> Catalog:
        """The file's import types; a table that is not batchport's own is read from the
        database behind `engine`."""
        if self.shipped or engine is None:
            return catalog_of(self.types, own_tables, source=self.name)
        with engine.connect() as conn:
            tables = _Reflected(conn)
            try:
                refused = all_tracked(list(_untracked(conn, self.types, tables)))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{self.name}: {exc}") from None
            if refused is not None:  # every table named at once, with every fix
                raise ConfigurationError(f"{self.name}: {refused}")
            return catalog_of(self.types, tables, source=self.name)


def _untracked(
    conn: sa.Connection, types: TypesFile, tables: Callable[[str], sa.Table]
) -> Iterator[TableNotTracked]:
    """Why each table the file names (a type's, a link's) is not tracked, if it is not."""
    checked = set()
    for name, spec in types.types.items():
        links = [(f.link.table, f.link.owner) for f in spec.fields if f.link]
        for table_name, owner in [(spec.table, None), *links]:
            table = tables(table_name)
            if table.key in checked:
                continue
            checked.add(table.key)
            if owner is None:  # a table db track would refuse is not sent there
                require_row_ids(table, where=f"type {name}")
            try:
                require_tracked(conn, table, owner_column=owner)
            except TableNotTracked as refused:
                yield refused


def find(given: str | Path | None = None) -> TypesSource:
    """The types file to use: `given`, else `$BATCHPORT_CONFIG`, else `./batchport.toml` if
    there is one, else the shipped types."""
    found = chosen(given)
    if found is None:
        return TypesSource(SHIPPED, parse(shipped_text(), SHIPPED))
    path = Path(found)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the types file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: a types file is UTF-8 text ({exc.reason})") from exc
    return TypesSource(str(path), parse(text, str(path)))


def parse(text: str, name: str) -> TypesFile:
    """The checked content of a types file; every mistake named by its place in it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{name}: not valid TOML: {exc}") from None
    try:
        return TypesFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'the file'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"{name}: {problems}") from None


class _Reflected:
    """Tables by name: batchport's own as declared, any other read from the database, a
    one-column primary key keyed `id` as the engine names it (a link table's may have more)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.metadata = sa.MetaData()

    def __call__(self, name: str) -> sa.Table:
        if name in schema.metadata.tables:
            return schema.metadata.tables[name]
        table_schema, _, table_name = name.rpartition(".")
        key = f"{table_schema}.{table_name}" if table_schema else table_name
        if key in self.metadata.tables:
            return self.metadata.tables[key]
        inspector = sa.inspect(self.conn)
        if not inspector.has_table(table_name, schema=table_schema or None):
            raise ConfigurationError(f"no table {name!r} in the database")
        primary = inspector.get_pk_constraint(table_name, schema=table_schema or None)
        columns = primary.get("constrained_columns") or []
        keyed = []
        if len(columns) == 1:
            described = {
                c["name"]: c for c in inspector.get_columns(table_name, schema=table_schema or None)
            }
            primary_column = described[columns[0]]
            keyed = [
                sa.Column(
                    primary_column["name"], primary_column["type"], key="id", primary_key=True
                )
            ]
        table = sa.Table(
            table_name,
            self.metadata,
            *keyed,
            schema=table_schema or None,
            autoload_with=self.conn,
        )
        unique = unique_columns(inspector, table_name, table_schema or None)
        for column in table.c:
            if column.name in unique:
                column.unique = True  # what reflection leaves out on SQLite
        return table
