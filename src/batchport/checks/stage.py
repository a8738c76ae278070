"""Temporary tables holding a file's parsed rows, so checks and loads run as set-based SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from batchport.columns.parsers import stored_type
from batchport.columns.rows import Chunk
from batchport.declarations import Field, ImportType, Link
from batchport.dialects import Dialect

ROW_NUMBER = "row_number"
#: The id of the row already in the database that a staged row's key matches (and that the
#: loading transaction holds locked), if any.
TEMPORARY = ["TEMPORARY"]


@dataclass(frozen=True)
class Stage:
    """The staging tables of one import: `rows` (one column per plain field) and one per link."""

    import_type: ImportType
    rows: sa.Table
    links: tuple[tuple[Link, sa.Table], ...]
    #: The fields the file has a column for (an update changes only those).
    present: frozenset[str]

    @classmethod
    def create(cls, conn: sa.Connection, import_type: ImportType, present: frozenset[str]) -> Stage:
        """Creates the staging tables, private to this connection's session."""
        metadata = sa.MetaData()
        prefix = f"bp_stage_{uuid.uuid4().hex[:12]}"
        table = import_type.table
        key_type = import_type.key_column.type
        columns: list[sa.Column[Any]] = [sa.Column(ROW_NUMBER, sa.Integer(), primary_key=True)]
        for field in import_type.fields:
            if any(link.field == field.name for link in import_type.links):
                continue
            # A reference field holds a natural key of its target, typed as that key is.
            column_type = table.c[field.column].type if field.column else _key_type(field)
            columns.append(sa.Column(field.name, column_type))
        rows = sa.Table(prefix, metadata, *columns, prefixes=TEMPORARY)
        links = []
        for index, link in enumerate(import_type.links):
            links.append(
                (
                    link,
                    sa.Table(
                        f"{prefix}_link{index}",
                        metadata,
                        sa.Column(ROW_NUMBER, sa.Integer(), nullable=False),
                        sa.Column("owner_key", key_type),
                        sa.Column(
                            "target_key",
                            _key_type(import_type.field(link.field)),
                            nullable=False,
                        ),
                        sa.Column("position", sa.Integer(), nullable=False),
                        prefixes=TEMPORARY,
                    ),
                )
            )
        metadata.create_all(conn)
        return cls(import_type, rows, tuple(links), present)

    def write(self, conn: sa.Connection, dialect: Dialect, chunk: Chunk) -> None:
        """Appends a chunk of parsed rows to the staging tables."""
        fields = self.import_type.fields
        written = [i for i, f in enumerate(fields) if f.name in self.rows.c]
        dialect.copy_rows(
            conn,
            self.rows,
            [ROW_NUMBER, *(fields[i].name for i in written)],
            zip(chunk.numbers, *(chunk.columns[i] for i in written), strict=True),
        )
        keys = chunk.columns[fields.index(self.import_type.field(self.import_type.key))]
        for link, table in self.links:
            targets = chunk.columns[fields.index(self.import_type.field(link.field))]
            dialect.copy_rows(
                conn,
                table,
                [ROW_NUMBER, "owner_key", "target_key", "position"],
                [
                    (number, key, target, position)
                    for number, key, value in zip(chunk.numbers, keys, targets, strict=True)
                    if isinstance(value, tuple)  # else empty, or invalid: no keys
                    for position, target in enumerate(value)
                ],
            )

    def index_keys(self, conn: sa.Connection, dialect: Dialect) -> None:
        """Indexes the staged keys, once written, where rows are looked up by key one at a
        time: on SQLite, and for a type that references itself (each row's parent is found by
        its key). Elsewhere PostgreSQL hashes the keys, and an index would only cost (1.2 s
        for 1,000,000 keys, a tenth of the whole staging)."""
        import_type = self.import_type
        key = self.rows.c[import_type.key]
        if any(reference.to == import_type.name for reference in import_type.references):
            sa.Index(f"{self.rows.name}_key", key).create(conn)
        else:
            dialect.index_lookups(conn, key)

    def drop(self, conn: sa.Connection) -> None:
        """Drops the staging tables."""
        for _, table in self.links:
            table.drop(conn, checkfirst=False)
        self.rows.drop(conn, checkfirst=False)


def _key_type(field: Field) -> sa.types.TypeEngine[Any]:
    """The type a field holding keys of another type stages them as: their key column's
    (text for plain text keys)."""
    return stored_type(field.parse) or sa.String()
