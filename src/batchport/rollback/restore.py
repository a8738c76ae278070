"""Putting back what a batch updated: the values and link rows its rows had before, from the
change log, on the very rows they were taken from.

A row is found again by its id and proven by its natural key (logged with the change), so a
restore never lands on another row that got the same id. Before anything is written, the
rows the change log would point at again are proven the same way, and the link rows a
restore would delete are checked for rows of other tables pointing at them; a row edited
since (a value, or a link row another writer added) blocks unless the rollback is forced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.errors import RollbackRefused
from batchport.hierarchy import own_ancestors
from batchport.references import rows_pointing_at
from batchport.reports import EditedRow, ReferencingRow, RestoreConflict
from batchport.rollback.changelog import Current, Entry, Page, pages
from batchport.rollback.edits import LIMIT, changes_of
from batchport.rollback.putback import PutBack
from batchport.schema import import_changes


def changed_rows(conn: sa.Connection, catalog: Catalog, batch_id: str) -> dict[str, int]:
    """How many rows of each table the batch updated (and a rollback would restore)."""
    counts: dict[str, int] = {}
    for import_type in catalog.types:
        changes = changes_of(import_type.table, batch_id)
        number = conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar_one()
        if number:
            counts[import_type.table.name] = number
    return counts


@dataclass
class Review:
    """What stands in the way of restoring a batch's updated rows."""

    #: Rows edited since the batch updated them, or gone (forcing skips those).
    edited: list[EditedRow] = field(default_factory=list)
    #: Prior values pointing at rows that are gone or are other rows now.
    conflicts: list[RestoreConflict] = field(default_factory=list)
    #: Rows of other tables pointing at link rows the restore would delete.
    references: list[ReferencingRow] = field(default_factory=list)


def review(conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str) -> Review:
    """Looks at every row the batch updated, as a restore would; changes nothing."""
    found = Review()
    referring = dialect.foreign_keys_to(
        conn, [link.table for t in catalog.types for link in t.links]
    )
    referred = {id(foreign_key.referred) for foreign_key in referring}
    for import_type in catalog.types:
        edited: list[tuple[int, EditedRow]] = []
        for page in pages(conn, dialect, import_type, batch_id):
            doomed: dict[str, tuple[Link, list[tuple[Any, ...]]]] = {}
            for entry in page.entries:
                row = page.row(entry)
                if row is None:
                    edited.append((entry.id, _edited(import_type, entry, None)))
                    continue
                if page.edited(entry, row):
                    edited.append((entry.id, _edited(import_type, entry, row)))
                # Link rows a restore deletes matter only where a foreign key points at them.
                for link in page.relinked(entry):
                    if id(link.table) in referred:
                        keys = doomed.setdefault(link.table.name, (link, []))[1]
                        keys += [_primary_key(link, now) for now in page.doomed(entry, link)]
            found.conflicts += _missing_targets(conn, catalog, import_type, page.entries)
            for link, keys in doomed.values():
                found.references += rows_pointing_at(conn, dialect, link.table, keys, referring)
        # Pages go by row id; edited rows are listed in the order the batch logged them.
        found.edited += [row for _, row in sorted(edited, key=lambda pair: pair[0])]
    found.edited = found.edited[:LIMIT]
    return found


def _primary_key(link: Link, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[column.name] for column in link.table.primary_key.columns)


def restore(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str, *, force: bool
) -> dict[str, int]:
    """Puts back the values (and link rows) rows had before the batch updated them; returns
    how many rows per table. Run after `review` found nothing in the way (within one
    snapshot: what it found still holds).

    A row edited since is restored only with `force`, and then counts one more edit, so that
    it still shows it was edited to every batch before and after this one. Without `force`,
    a row edited or deleted after the review stops the rollback; with it, a row gone (or
    holding another row under its id) is left alone. Each page of the change log is checked
    in Python and gathered into temporary tables; the writes are a few statements per table
    (see `putback`).
    """
    restored: dict[str, int] = {}
    for import_type in catalog.types:
        putting: PutBack | None = None
        for page in pages(conn, dialect, import_type, batch_id):
            putting = putting or PutBack(conn, dialect, import_type)
            _plan(page, putting, force=force)
            putting.flush()
        if putting is None:
            continue
        if putting.apply() != putting.count:
            raise _changed_meanwhile(import_type.table, putting.missed(), batch_id)
        putting.drop()
        if putting.count:
            restored[import_type.table.name] = putting.count
    return restored


def _plan(page: Page, putting: PutBack, *, force: bool) -> None:
    """Plans the restore of the page's rows, or raises if one was edited or deleted since
    the batch (unless `force`: then a row gone is left alone, an edited one restored)."""
    table = page.import_type.table
    for entry in page.entries:
        row = page.row(entry)
        if row is None and force:
            continue
        if row is None:
            raise _changed_meanwhile(table, entry.row_id, entry.batch_id)
        edited = page.edited(entry, row)
        if edited and not force:
            raise _changed_meanwhile(table, entry.row_id, entry.batch_id)
        version = entry.version_before
        if edited:
            version = max(row.row_version, entry.version_after) + 1
        prior = changes.decode(table, json.loads(entry.prior))
        putting.row(entry.row_id, row.row_version, version, prior)
        for link in page.relinked(entry):
            putting.link_rows_back(
                link, page.links[link.table.name][entry.row_id], page.prior_links(entry, row, link)
            )


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


def _missing_targets(
    conn: sa.Connection, catalog: Catalog, import_type: ImportType, entries: list[Entry]
) -> list[RestoreConflict]:
    """Entries whose prior values (or prior link rows) point at rows that no longer exist, or
    whose id now names another row."""
    uses: dict[sa.Column[Any], dict[object, list[tuple[Entry, str, Any]]]] = {}
    for entry in entries:
        targets = json.loads(entry.targets or "{}")
        prior = json.loads(entry.prior)
        for column, value, what in changes.pointers(import_type, prior, entry.links):
            expected = targets.get(column.table.name, {}).get(str(value))
            uses.setdefault(column, {}).setdefault(value, []).append((entry, what, expected))
    types = {t.table.name: t for t in catalog.types}
    conflicts = []
    for column, values in uses.items():
        owner = types.get(column.table.name)
        proof = changes.identity_columns(owner) if owner and column.name == "id" else [column]
        present = {
            value: rest
            for value, *rest in conn.execute(
                sa.select(column, *proof).where(column.in_(list(values)))
            )
        }
        for value, places in values.items():
            for entry, what, expected in places:
                if value not in present:
                    problem = "which no longer exists"
                elif not changes.same_row(expected, *present[value]):
                    problem = f"which is another row now ({present[value][0]!r})"
                else:
                    continue
                conflicts.append(
                    RestoreConflict(
                        import_type.table.name,
                        entry.row_id,
                        entry.key,
                        f"its prior {what} points at {column.table.name} {column.name} "
                        f"{value!r}, {problem}",
                    )
                )
    return conflicts


def _edited(import_type: ImportType, entry: Entry, row: Current | None) -> EditedRow:
    """The entry's row listed as edited since the batch (or gone, if `row` is None)."""
    return EditedRow(
        import_type.table.name,
        entry.row_id,
        row.proof[0] if row is not None else entry.key,
        row.row_version if row is not None else None,
        created=False,
        gone=row is None,
    )


def _changed_meanwhile(table: sa.Table, row_id: object, batch_id: str) -> RollbackRefused:
    row = f"{table.name} row {row_id}" if row_id is not None else f"a {table.name} row"
    return RollbackRefused(
        f"{row} was edited or deleted while the rollback ran; nothing was changed — try again",
        batch_id=batch_id,
    )
