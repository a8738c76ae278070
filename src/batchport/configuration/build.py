"""From a checked types file to the `Catalog` the engine runs: each type's table (batchport's
own, or the user's, read from the database), its fields with their parsers, its references
and links — each checked against the table it names.

A reference's or a link's cell holds keys of another type, read as that type reads its key
(an integer, a UUID, an address normalised) unless the field names a parser of its own;
plain text keys are read as any text, as they always were."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from batchport import schema
from batchport.columns.parsers import KeyList, KeyOf, Parser, Text
from batchport.configuration.parsers import LONGEST_TEXT, parser_for
from batchport.configuration.spec import FieldSpec, TypesFile, TypeSpec
from batchport.declarations import (
    Catalog,
    Field,
    ImportType,
    Link,
    Reference,
)
from batchport.errors import ConfigurationError
from batchport.tracking.shapes import BATCH_COLUMN, VERSION_COLUMN

#: How a type's table is found by its name as the file gives it (`schema.table` or `table`).
Tables = Callable[[str], sa.Table]


def catalog_of(types: TypesFile, tables: Tables, *, source: str) -> Catalog:
    """The import types `types` declares (their tables' tracking checked before); `source` (the
    file) names each error's place."""
    try:
        keys = _Keys(types, tables)
        return Catalog(
            tuple(_import_type(n, spec, tables, keys) for n, spec in types.types.items())
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None


def own_tables(name: str) -> sa.Table:
    """One of batchport's own tables (the shipped types'), by its name; no database needed."""
    found = schema.metadata.tables.get(name)
    if found is None:
        raise ConfigurationError(f"no table {name!r} among batchport's own")
    return found


class _Keys:
    """Each declared type's key column and parser, for the fields that hold its keys."""

    def __init__(self, types: TypesFile, tables: Tables) -> None:
        self.types = types
        self.tables = tables
        self.found: dict[str, tuple[sa.Column[object], Parser] | None] = {}

    def __call__(self, name: str) -> tuple[sa.Column[object], Parser] | None:
        """The key column of type `name` and the parser of its key field; None for a type not
        declared (the catalog names it) or keyed by a reference."""
        if name not in self.found:
            self.found[name] = self._key(name)
        return self.found[name]

    def _key(self, name: str) -> tuple[sa.Column[object], Parser] | None:
        spec = self.types.types.get(name)
        if spec is None:
            return None
        key = next(f for f in spec.fields if f.name == spec.key)
        if key.references or key.link:
            return None
        where = f"type {name}, field {key.name}"
        column = _column(self.tables(spec.table), key.column or key.name, where=where)
        return column, parser_for(key, column, where=where)

    def parser(self, spec: FieldSpec, to: str, *, where: str) -> KeyOf | None:
        """How a field holding keys of type `to` reads one: as `to` reads its key, or with
        the field's own parser stored as that key; None for plain text keys."""
        found = self(to)
        if found is None:
            return None
        column, parse = found
        if spec.parser != "text" and not spec.link:
            parse = parser_for(spec, column, where=where)
        elif isinstance(parse, Text):
            return None
        return KeyOf(parse, column.type)


def _import_type(name: str, spec: TypeSpec, tables: Tables, keys: _Keys) -> ImportType:
    where = f"type {name}"
    table = tables(spec.table)
    fields = tuple(_field(f, table, keys, where=f"{where}, field {f.name}") for f in spec.fields)
    key = next(f for f in spec.fields if f.name == spec.key)
    _check_unique(table, key.column or key.name, where=where)
    _check_filled(table, fields, spec, where)
    return ImportType(
        name=name,
        description=spec.description,
        table=table,
        key=spec.key,
        fields=fields,
        references=tuple(
            Reference(field=f.name, column=f.column, to=f.references)
            for f in spec.fields
            if f.references and f.column
        ),
        links=tuple(
            _link(f, table, tables, where=f"{where}, field {f.name}") for f in spec.fields if f.link
        ),
    )


def _field(spec: FieldSpec, table: sa.Table, keys: _Keys, *, where: str) -> Field:
    if spec.link:
        key = keys.parser(spec, spec.link.to, where=where)
        parse: Parser = parser_for(spec, None, where=where)
        if key is not None:
            parse = KeyList(spec.max_length or LONGEST_TEXT, spec.link.separator, key)
        return Field(spec.name, parse, spec.required)
    column = _column(table, spec.column or spec.name, where=where)
    if spec.references:
        _check_foreign_key(column, where=where)
        parse = keys.parser(spec, spec.references, where=where) or parser_for(
            spec, None, where=where
        )
        return Field(spec.name, parse, spec.required or needs_value(column))
    parse = parser_for(spec, column, where=where)
    default = None
    if spec.default is not None:
        try:
            default = parse(str(spec.default).strip())
        except ValueError as exc:
            raise ConfigurationError(f"{where}: the default {spec.default!r} {exc}") from None
    required = spec.required or (default is None and needs_value(column))
    return Field(spec.name, parse, required, column=column.key, default=default)


#: The columns batch tracking adds to a table.
TRACKING_COLUMNS = frozenset({BATCH_COLUMN, VERSION_COLUMN})


def needs_value(column: sa.Column[Any]) -> bool:
    """Whether every row must give `column` a value: NOT NULL, with no default of its own
    (so an empty cell for it is an error, as for a required field)."""
    return not (
        column.nullable
        or column.primary_key
        or column.server_default is not None
        or column.identity is not None
        or column.computed is not None
    )


def _check_filled(table: sa.Table, fields: tuple[Field, ...], spec: TypeSpec, where: str) -> None:
    """Refuses a type whose rows would leave a column that needs a value without one."""
    filled = {f.column for f in fields if f.column} | {
        f.column or f.name for f in spec.fields if f.references
    }
    for column in table.c:
        if column.name in TRACKING_COLUMNS:
            continue  # batchport fills them, and `db track` gives them their defaults
        if needs_value(column) and column.key not in filled and column.name not in filled:
            raise ConfigurationError(
                f"{where}: column {column.name} of table {table.name} is NOT NULL without a "
                "default, and no field fills it: declare a field for it (or give it a default)"
            )


def _link(spec: FieldSpec, owner: sa.Table, tables: Tables, *, where: str) -> Link:
    assert spec.link is not None
    table = tables(spec.link.table)
    owner_column = _column(table, spec.link.owner, where=where)
    target_column = _column(table, spec.link.target, where=where)
    _check_foreign_key(owner_column, where=where, to=owner)
    _check_foreign_key(target_column, where=where)
    if spec.link.primary_flag:
        _column(table, spec.link.primary_flag, where=where)
    return Link(
        field=spec.name,
        table=table,
        owner_column=owner_column.key,
        target_column=target_column.key,
        to=spec.link.to,
        primary_flag=spec.link.primary_flag,
    )


def _column(table: sa.Table, name: str, *, where: str) -> sa.Column[object]:
    found = next((c for c in table.c if name in {c.name, c.key}), None)
    if found is None:
        known = ", ".join(c.name for c in table.c)
        raise ConfigurationError(f"{where}: table {_named(table)} has no column {name!r} ({known})")
    return found


def _check_unique(table: sa.Table, name: str, *, where: str) -> None:
    column = _column(table, name, where=where)
    unique = column.unique or column.primary_key
    unique = unique or any(
        isinstance(c, sa.UniqueConstraint) and [col.name for col in c.columns] == [column.name]
        for c in table.constraints
    )
    unique = unique or any(
        index.unique and [col.name for col in index.columns] == [column.name]
        for index in table.indexes
    )
    if not unique:
        raise ConfigurationError(
            f"{where}: the key column {_named(table)}.{column.name} has no unique constraint: "
            "a key must name one row"
        )


def _check_foreign_key(
    column: sa.Column[object], *, where: str, to: sa.Table | None = None
) -> None:
    keys = list(column.foreign_keys)
    if not keys:
        raise ConfigurationError(
            f"{where}: column {_named(column.table)}.{column.name} has no foreign key: a "
            "reference needs one, so that the database keeps it whole"
        )
    if to is not None and not any(k.references(to) for k in keys):
        raise ConfigurationError(
            f"{where}: column {_named(column.table)}.{column.name} does not reference {_named(to)}"
        )


def _named(table: sa.TableClause) -> str:
    schema_name = getattr(table, "schema", None)
    return f"{schema_name}.{table.name}" if schema_name else table.name
