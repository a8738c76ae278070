"""Putting back what a batch updated: the values and link rows its rows had before, from the
change log, on the very rows they were taken from.

Ids are never reused (identities on PostgreSQL, AUTOINCREMENT on SQLite), so a row is found
again by its id or not at all. Before anything is written, every value that points at
another row is checked: a prior value whose row is gone cannot be put back, and neither can
one that would make a row its own ancestor. Those are conflicts, listed; no option forces
them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType
from batchport.errors import RollbackRefused
from batchport.hierarchy import own_ancestors
from batchport.reports import RestoreConflict
from batchport.rollback.edits import changes_of
from batchport.schema import import_changes

#: Change-log entries read per round trip.
PAGE = 1000


def changed_rows(conn: sa.Connection, catalog: Catalog, batch_id: str) -> dict[str, int]:
    """How many rows of each table the batch updated (and a rollback would restore)."""
    counts: dict[str, int] = {}
    for import_type in catalog.types:
        changes = changes_of(import_type.table, batch_id)
        number = conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar_one()
        if number:
            counts[import_type.table.name] = number
    return counts


def missing_targets(conn: sa.Connection, catalog: Catalog, batch_id: str) -> list[RestoreConflict]:
    """Rows whose prior values (or prior link rows) point at rows that no longer exist."""
    conflicts: list[RestoreConflict] = []
    for import_type in catalog.types:
        for page in _pages(conn, import_type, batch_id):
            wanted: dict[sa.Column[Any], dict[object, list[tuple[sa.RowMapping, str]]]]
            wanted = defaultdict(lambda: defaultdict(list))
            for entry in page:
                for table, values in _prior_rows(import_type, entry):
                    for foreign_key in table.foreign_keys:
                        value = values.get(foreign_key.parent.name)
                        if value is None:
                            continue
                        what = foreign_key.parent.name
                        if table is not import_type.table:
                            what = f"link in {table.name} ({what})"
                        wanted[foreign_key.column][value].append((entry, what))
            for column, uses in wanted.items():
                present = set(
                    conn.execute(sa.select(column).where(column.in_(list(uses)))).scalars()
                )
                for value in uses.keys() - present:
                    for entry, what in uses[value]:
                        conflicts.append(
                            _conflict(
                                import_type,
                                entry,
                                f"its prior {what} points at {column.table.name} "
                                f"{column.name} {value!r}, which no longer exists",
                            )
                        )
    return conflicts


def looping(conn: sa.Connection, catalog: Catalog, batch_id: str) -> list[RestoreConflict]:
    """Restored rows that are now their own ancestors (run after the restore, before its
    transaction ends)."""
    conflicts = []
    for import_type in catalog.types:
        restored = sa.select(import_changes.c.row_id).where(
            import_changes.c.batch_id == batch_id,
            import_changes.c.table_name == import_type.table.name,
        )
        for reference, row_id, key in own_ancestors(conn, import_type, restored):
            conflicts.append(
                RestoreConflict(
                    import_type.table.name,
                    row_id,
                    key,
                    f"putting back its {reference.column} would make it its own ancestor",
                )
            )
    return conflicts


def restore(conn: sa.Connection, catalog: Catalog, batch_id: str, *, force: bool) -> dict[str, int]:
    """Puts back the values (and links) rows had before the batch updated them; returns how
    many rows per table.

    A row edited since is restored only with `force`, and keeps its row version then, so
    that it still shows it was edited. Without `force`, a row edited or deleted after the
    checks stops the rollback; with it, a deleted row stays deleted.
    """
    restored: dict[str, int] = {}
    for import_type in catalog.types:
        for page in _pages(conn, import_type, batch_id):
            for entry in page:
                if _restore_row(conn, import_type, entry, force=force):
                    name = import_type.table.name
                    restored[name] = restored.get(name, 0) + 1
    return restored


def _restore_row(
    conn: sa.Connection, import_type: ImportType, entry: sa.RowMapping, *, force: bool
) -> bool:
    table = import_type.table
    prior = _decoded(table, json.loads(entry["prior"]))
    untouched = table.c.row_version == entry["version_after"]
    statement = (
        table.update()
        .where(table.c.id == entry["row_id"])
        .values(
            **prior,
            row_version=sa.case((untouched, entry["version_before"]), else_=table.c.row_version),
        )
    )
    if not force:
        statement = statement.where(untouched)
    if conn.execute(statement).rowcount == 0:
        if force:
            return False
        raise RollbackRefused(
            f"{table.name} row {entry['row_id']} was edited or deleted while the rollback ran; "
            "nothing was changed — try again",
            batch_id=entry["batch_id"],
        )
    links = json.loads(entry["prior_links"] or "{}")
    owner_batch = sa.select(table.c.import_batch_id).where(table.c.id == entry["row_id"])
    for link in import_type.links:
        if link.table.name not in links:
            continue
        owner = link.table.c[link.owner_column]
        conn.execute(link.table.delete().where(owner == entry["row_id"]))
        rows = [_decoded(link.table, row) for row in links[link.table.name]]
        if any("import_batch_id" not in row for row in rows):
            # Logged before links carried stamps: they belong with the row they link.
            stamp = conn.execute(owner_batch).scalar()
            rows = [{"import_batch_id": stamp} | row for row in rows]
        if rows:
            conn.execute(link.table.insert(), rows)
    return True


def _pages(
    conn: sa.Connection, import_type: ImportType, batch_id: str
) -> Iterator[Sequence[sa.RowMapping]]:
    """The batch's change-log entries for the type's table, a page at a time."""
    last = 0
    while True:
        page = (
            conn.execute(
                sa.select(import_changes)
                .where(
                    import_changes.c.batch_id == batch_id,
                    import_changes.c.table_name == import_type.table.name,
                    import_changes.c.id > last,
                )
                .order_by(import_changes.c.id)
                .limit(PAGE)
            )
            .mappings()
            .all()
        )
        if not page:
            return
        last = page[-1]["id"]
        yield page


def _prior_rows(
    import_type: ImportType, entry: sa.RowMapping
) -> Iterator[tuple[sa.Table, dict[str, Any]]]:
    """The values a restore would write: the row's prior values, then each prior link row."""
    yield import_type.table, json.loads(entry["prior"])
    links = json.loads(entry["prior_links"] or "{}")
    for link in import_type.links:
        for row in links.get(link.table.name, []):
            yield link.table, {k: v for k, v in row.items() if k != link.owner_column}


def _conflict(import_type: ImportType, entry: sa.RowMapping, problem: str) -> RestoreConflict:
    return RestoreConflict(import_type.table.name, entry["row_id"], None, problem)


def _decoded(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """JSON values back as the column types want them (timestamps from ISO text)."""
    return {
        name: dt.datetime.fromisoformat(value)
        if isinstance(value, str) and isinstance(table.c[name].type, sa.DateTime)
        else value
        for name, value in values.items()
    }
