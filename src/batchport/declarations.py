"""How an import type is declared: its table, columns, natural key, references and links.

The engine runs any declaration; it has no code for a particular type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from batchport.errors import ConfigurationError

if TYPE_CHECKING:
    from batchport.columns.parsers import Parser


@dataclass(frozen=True)
class Field:
    """One column of the input file.

    `column` names the target column the value is stored in; a field that is the source
    of a `Reference` or a `Link` has none. `default` is the value of an empty cell (or of a
    column the file lacks); None leaves it to the column's own default.
    """

    name: str
    parse: Parser
    required: bool = False
    column: str | None = None
    default: object = None


@dataclass(frozen=True)
class Reference:
    """A field holding the natural key of a row of `to`, stored as that row's id in `column`."""

    field: str
    column: str
    to: str


@dataclass(frozen=True)
class Link:
    """A field holding keys of `to`; each becomes a row of the link `table`.

    `primary_flag`, when set, names the link column set true for the first key of the list.
    """

    field: str
    table: sa.Table
    owner_column: str
    target_column: str
    to: str
    primary_flag: str | None = None


@dataclass(frozen=True)
class ImportType:
    """A kind of row batchport can import into `table`, keyed by the `key` field."""

    name: str
    table: sa.Table
    key: str
    fields: tuple[Field, ...]
    references: tuple[Reference, ...] = ()
    links: tuple[Link, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        names = {f.name for f in self.fields}
        sources = [r.field for r in self.references] + [link.field for link in self.links]
        for name in [self.key, *sources]:
            if name not in names:
                raise ConfigurationError(f"import type {self.name}: no field named {name!r}")
        require_row_ids(self.table, where=f"import type {self.name}")
        for table in [self.table, *(link.table for link in self.links)]:
            if "import_batch_id" not in table.c:
                raise ConfigurationError(
                    f"import type {self.name}: table {table.name} has no import_batch_id"
                )

    @property
    def key_column(self) -> sa.Column[object]:
        """The target column of the natural key."""
        return self.table.c[self.field(self.key).column or self.key]

    def field(self, name: str) -> Field:
        """The field called `name`."""
        return next(f for f in self.fields if f.name == name)

    @property
    def names_itself(self) -> bool:
        """Whether its rows point at rows of their own type (a parent, a link)."""
        return self.name in {r.to for r in self.references} | {link.to for link in self.links}

    def depends_on(self) -> set[str]:
        """The other import types whose rows this one's rows point at."""
        targets = {r.to for r in self.references} | {link.to for link in self.links}
        return targets - {self.name}


def require_row_ids(table: sa.Table, *, where: str) -> None:
    """Raises unless `table` has a one-column primary key keyed `id`: a type's rows are told
    apart by it (a link table's key may be its pair of columns)."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or keys[0].key != "id":
        raise ConfigurationError(
            f"{where}: table {table.name} needs a primary key of one column "
            f"(it has {len(keys) or 'none'}): rows are told apart by it"
        )


@dataclass(frozen=True)
class Catalog(Mapping[str, ImportType]):
    """The import types a database offers, in dependency order (parents first)."""

    types: tuple[ImportType, ...] = field(default=())

    def __post_init__(self) -> None:
        by_name = {t.name: t for t in self.types}
        for import_type in self.types:
            for target in import_type.depends_on() | {r.to for r in import_type.references}:
                if target not in by_name:
                    raise ConfigurationError(
                        f"import type {import_type.name} refers to unknown type {target!r}"
                    )
        object.__setattr__(self, "types", tuple(_dependency_order(by_name)))

    def __getitem__(self, name: str) -> ImportType:
        for import_type in self.types:
            if import_type.name == name:
                return import_type
        known = ", ".join(t.name for t in self.types)
        raise ConfigurationError(f"unknown import type {name!r}; known types: {known}")

    def __contains__(self, name: object) -> bool:
        return any(t.name == name for t in self.types)

    def __iter__(self) -> Iterator[str]:
        return (t.name for t in self.types)

    def __len__(self) -> int:
        return len(self.types)

    def children_first(self) -> Iterable[ImportType]:
        """The types in the order their rows must be deleted."""
        return reversed(self.types)


def _dependency_order(by_name: dict[str, ImportType]) -> list[ImportType]:
    ordered: list[ImportType] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(t.name == name for t in ordered):
            return
        if name in visiting:
            raise ConfigurationError(f"import types depend on each other in a cycle at {name!r}")
        visiting.add(name)
        for dependency in sorted(by_name[name].depends_on()):
            visit(dependency)
        visiting.discard(name)
        ordered.append(by_name[name])

    for name in by_name:
        visit(name)
    return ordered
