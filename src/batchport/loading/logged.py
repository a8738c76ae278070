"""An update's change log written by the database in one INSERT … SELECT, where it can write
every logged value as `changes.encode` would (see `Dialect.log_json`): the same entries, the
same JSON, as `loading.update` builds a page at a time elsewhere, without reading the changed
rows' prior values into this process.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog, ImportType
from batchport.dialects import Dialect
from batchport.dialects.base import LogJson
from batchport.loading.differences import Differences, distinct
from batchport.schema import import_changes


class _Unwritable(Exception):
    """A logged column's type the database cannot write as `changes.encode` does."""


def log_in_database(  # noqa: PLR0917 - one update's differences, and what its log needs
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    import_type: ImportType,
    found: Differences,
    batch_id: str,
    columns: list[str],
) -> bool:
    """Writes the change log of the changed rows (`found`) in the database, as `columns` of
    `import_changes`; False where it cannot (then nothing was written)."""
    json = dialect.log_json()
    if json is None:
        return False
    try:
        entries = _Entries(dialect, json, catalog, import_type, found)
        values = {
            "batch_id": sa.literal(batch_id, import_changes.c.batch_id.type),
            "table_name": sa.literal(import_type.table.name, import_changes.c.table_name.type),
            "row_id": found.changed.c.row_id,
            "row_key": json.text(entries.identity(import_type, import_type.table)),
            "prior": json.text(entries.prior()),
            "prior_links": entries.prior_links(),
            "version_before": found.changed.c.version,
            "version_after": found.changed.c.version + 1,
            "targets": entries.targets(),
        }
    except _Unwritable:
        return False
    table = import_type.table
    rows: sa.FromClause = found.changed.join(table, table.c.id == found.changed.c.row_id)
    for grouped in entries.grouped:
        rows = rows.outerjoin(grouped, grouped.c.row_id == found.changed.c.row_id)
    select = (
        sa.select(*(values[name] for name in columns))
        .select_from(rows)
        .order_by(found.changed.c.row_id)
    )
    conn.execute(import_changes.insert().from_select(columns, select))
    return True


class _Entries:
    """The expressions of one update's change-log entries, per changed row."""

    def __init__(
        self,
        dialect: Dialect,
        json: LogJson,
        catalog: Catalog,
        import_type: ImportType,
        found: Differences,
    ) -> None:
        self.dialect = dialect
        self.json = json
        self.types = {t.table.name: t for t in catalog.types}
        self.import_type = import_type
        self.found = found
        #: Documents built per changed row by grouping (`row_id`, `document`), each joined
        #: once: one pass where a subquery per row would look each row up on its own.
        self.grouped: list[sa.Subquery] = []

    def value(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        written = self.json.value(column)
        if written is None:
            raise _Unwritable(column)
        return written

    def differs(self, number: int) -> sa.ColumnElement[bool]:
        """Whether the file changes the `number`th updated column."""
        name = self.found.columns[number]
        return distinct(self.dialect, self.import_type.table.c[name], self.found.new_value(number))

    def identity(self, import_type: ImportType, rows: sa.FromClause) -> sa.ColumnElement[Any]:
        """A row's identity (see `changes.identity`), the row in `rows` (its table, or an
        alias of it)."""
        proof = [rows.c[c.name] for c in changes.identity_columns(import_type)]
        values = [self.value(c) for c in proof] + [sa.null()] * (3 - len(proof))
        return self.json.object(list(zip(("key", "created_at", "batch_id"), values, strict=True)))

    def prior(self) -> sa.ColumnElement[Any]:
        """The values the file changes, as they were, and the row's `updated_at`."""
        table = self.import_type.table
        parts: list[sa.ColumnElement[Any]] = [
            sa.case(
                (self.differs(number), self.json.object([(name, self.value(table.c[name]))])),
                else_=self.json.empty(),
            )
            for number, name in enumerate(self.found.columns)
        ]
        if "updated_at" in table.c:
            parts.append(self.json.object([("updated_at", self.value(table.c.updated_at))]))
        return self.json.merged(parts)

    def by_row(
        self, rows: sa.Select[Any], document: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        """`document`, an aggregate over `rows` (whose first column is the changed row's
        id), per changed row: an empty object for a row `rows` has none of."""
        row_id = rows.selected_columns[0]
        grouped = rows.with_only_columns(row_id.label("row_id"), document.label("document"))
        subquery = grouped.group_by(row_id).subquery(f"grouped{len(self.grouped)}")
        self.grouped.append(subquery)
        return sa.func.coalesce(subquery.c.document, self.json.empty())

    def prior_links(self) -> sa.ColumnElement[Any]:
        """Each changed link's rows as they were, by link table (none: NULL)."""
        parts = []
        for number, wanted in enumerate(self.found.links):
            link = wanted.link
            rows = link.table.alias(f"logged{number}")
            owner = wanted.owners.c.owner
            # An owner without link rows logs an empty list: the outer join gives it one row
            # of nulls, which the filter leaves out of the list.
            document = self.json.object([(c.key, self.value(c)) for c in rows.c])
            listed = sa.func.coalesce(
                self.json.rows(document).filter(rows.c[link.owner_column].is_not(None)),
                self.json.empty(array=True),
            )
            parts.append(
                self.by_row(
                    sa.select(owner).select_from(
                        wanted.owners.outerjoin(rows, rows.c[link.owner_column] == owner)
                    ),
                    self.json.object([(link.table.name, listed)]),
                )
            )
        if not parts:
            return sa.null()
        return sa.func.nullif(self.json.text(self.json.merged(parts)), "{}")

    def targets(self) -> sa.ColumnElement[Any]:
        """The identities of the rows the prior values and link rows point at, by table and
        id (see `changes.pointers`; none: NULL)."""
        #: The (changed row, id) pairs pointing at each table.
        named: dict[str, list[sa.Select[Any]]] = {}
        table = self.import_type.table
        changed = self.found.changed
        for foreign_key in table.foreign_keys:
            column = foreign_key.parent.name
            if (name := self._pointed(foreign_key)) and column in self.found.columns:
                differs = self.differs(self.found.columns.index(column))
                named.setdefault(name, []).append(
                    sa.select(changed.c.row_id, table.c[column].label("id"))
                    .select_from(changed.join(table, table.c.id == changed.c.row_id))
                    .where(differs)
                )
        for number, wanted in enumerate(self.found.links):
            link = wanted.link
            for foreign_key in link.table.foreign_keys:
                column = foreign_key.parent.name
                if column == link.owner_column or not (name := self._pointed(foreign_key)):
                    continue
                rows = link.table.alias(f"pointing{number}_{column}")
                owner = wanted.owners.c.owner
                named.setdefault(name, []).append(
                    sa.select(owner.label("row_id"), rows.c[column].label("id")).join(
                        rows, rows.c[link.owner_column] == owner
                    )
                )
        parts: list[sa.ColumnElement[Any]] = []
        for name, pairs in named.items():
            pointing = (pairs[0] if len(pairs) == 1 else sa.union_all(*pairs)).subquery()
            target = self.types[name].table.alias(f"target_{len(parts)}")
            identities = self.json.keyed(
                sa.cast(target.c.id, sa.Text), self.identity(self.types[name], target)
            )
            parts.append(
                self.by_row(
                    sa.select(pointing.c.row_id).join(target, target.c.id == pointing.c.id),
                    self.json.object([(name, identities)]),
                )
            )
        if not parts:
            return sa.null()
        return sa.func.nullif(self.json.text(self.json.merged(parts)), "{}")

    def _pointed(self, foreign_key: sa.ForeignKey) -> str | None:
        """The import type's table a foreign key points at by id, if it does."""
        referred = foreign_key.column
        if referred.table.name not in self.types or referred.name != "id":
            return None
        return referred.table.name
