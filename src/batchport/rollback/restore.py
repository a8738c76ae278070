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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.errors import RollbackRefused
from batchport.hierarchy import own_ancestors
from batchport.loading.update import LinkChange, current_links
from batchport.references import rows_pointing_at
from batchport.reports import EditedRow, ReferencingRow, RestoreConflict
from batchport.rollback.edits import LIMIT, changes_of
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
    for import_type in catalog.types:
        for page in _pages(conn, import_type, batch_id):
            now = _Now.read(conn, import_type, page)
            doomed: dict[str, LinkChange] = {}
            for entry in page:
                row = now.row(entry)
                if row is None:
                    found.edited.append(_edited(import_type, entry, None, gone=True))
                    continue
                prior_links = _prior_links(import_type, entry, row["import_batch_id"])
                if row["row_version"] != entry["version_after"] or now.foreign_links(
                    entry, prior_links
                ):
                    found.edited.append(_edited(import_type, entry, row))
                for link in import_type.links:
                    if link.table.name in prior_links:
                        change = doomed.setdefault(link.table.name, LinkChange(link, batch_id))
                        change.put(
                            now.links[link.table.name][entry["row_id"]],
                            prior_links[link.table.name],
                        )
            found.conflicts += _missing_targets(conn, catalog, import_type, page)
            for change in doomed.values():
                found.references += rows_pointing_at(
                    conn, dialect, change.link.table, change.keys(), referring
                )
    found.edited = found.edited[:LIMIT]
    return found


def restore(
    conn: sa.Connection, dialect: Dialect, catalog: Catalog, batch_id: str, *, force: bool
) -> dict[str, int]:
    """Puts back the values (and link rows) rows had before the batch updated them; returns
    how many rows per table. Run after `review` found nothing in the way (within one
    snapshot: what it found still holds).

    A row edited since is restored only with `force`, and then counts one more edit, so that
    it still shows it was edited to every batch before and after this one. Without `force`,
    a row edited or deleted after the review stops the rollback; with it, a row gone (or
    holding another row under its id) is left alone.
    """
    restored: dict[str, int] = {}
    for import_type in catalog.types:
        table = import_type.table
        for page in _pages(conn, import_type, batch_id):
            now = _Now.read(conn, import_type, page)
            relinked = {link.table.name: LinkChange(link, batch_id) for link in import_type.links}
            for entry in page:
                row = now.row(entry)
                if row is None and force:
                    continue
                if row is None:
                    raise _changed_meanwhile(table, entry)
                prior_links = _prior_links(import_type, entry, row["import_batch_id"])
                edited = row["row_version"] != entry["version_after"] or bool(
                    now.foreign_links(entry, prior_links)
                )
                if edited and not force:
                    raise _changed_meanwhile(table, entry)
                version = entry["version_before"]
                if edited:
                    version = max(row["row_version"], entry["version_after"]) + 1
                prior = changes.decode(table, json.loads(entry["prior"]))
                statement = (
                    table.update()
                    .where(table.c.id == entry["row_id"], table.c.row_version == row["row_version"])
                    .values(**prior, row_version=version)
                )
                if conn.execute(statement).rowcount == 0:
                    raise _changed_meanwhile(table, entry)
                for name, rows in prior_links.items():
                    relinked[name].put(now.links[name][entry["row_id"]], rows)
                restored[table.name] = restored.get(table.name, 0) + 1
            for change in relinked.values():
                change.apply(conn, dialect, check=False)
    return restored


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


@dataclass
class _Now:
    """The rows of one page of change-log entries as they are now, and their link rows."""

    import_type: ImportType
    rows: dict[object, sa.RowMapping]
    links: dict[str, dict[object, list[dict[str, Any]]]]

    @classmethod
    def read(
        cls, conn: sa.Connection, import_type: ImportType, page: Sequence[sa.RowMapping]
    ) -> _Now:
        table = import_type.table
        ids = [entry["row_id"] for entry in page]
        proof = changes.identity_columns(import_type)
        rows = conn.execute(
            sa.select(
                table.c.id,
                *(column.label(f"proof_{n}") for n, column in enumerate(proof)),
                table.c.row_version,
                table.c.import_batch_id,
            ).where(table.c.id.in_(ids))
        ).mappings()
        links = {link.table.name: current_links(conn, link, ids) for link in import_type.links}
        return cls(import_type, {row["id"]: row for row in rows}, links)

    def row(self, entry: sa.RowMapping) -> sa.RowMapping | None:
        """The entry's row, if it is still there and still the same row (see
        `changes.same_row`: a row renamed by hand is; another one given its id is not)."""
        row = self.rows.get(entry["row_id"])
        if row is None or not changes.same_row(entry["row_key"], *_proof(row)):
            return None
        return row

    def foreign_links(
        self, entry: sa.RowMapping, prior_links: dict[str, list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Link rows of the entry's row that another writer added since the batch: not the
        batch's (by stamp), and not there before it either; only where the batch changed the
        row's links (elsewhere the restore leaves them alone)."""
        foreign = []
        for link in self.import_type.links:
            if link.table.name not in prior_links:
                continue
            before = {_identity(link, row) for row in prior_links[link.table.name]}
            foreign += [
                row
                for row in self.links[link.table.name][entry["row_id"]]
                if row["import_batch_id"] != entry["batch_id"]
                and _identity(link, row) not in before
            ]
        return foreign


def _identity(link: Link, row: dict[str, Any]) -> tuple[object, object]:
    return row[link.target_column], row.get("import_batch_id")


def _prior_links(
    import_type: ImportType, entry: sa.RowMapping, owner_batch: str | None
) -> dict[str, list[dict[str, Any]]]:
    """The entry's logged link rows, decoded; rows logged before links carried stamps get
    their row's batch, as the migration stamped the rest."""
    logged = json.loads(entry["prior_links"] or "{}")
    tables = {link.table.name: link.table for link in import_type.links}
    return {
        name: [{"import_batch_id": owner_batch} | changes.decode(tables[name], row) for row in rows]
        for name, rows in logged.items()
        if name in tables
    }


def _missing_targets(
    conn: sa.Connection, catalog: Catalog, import_type: ImportType, page: Sequence[sa.RowMapping]
) -> list[RestoreConflict]:
    """Entries whose prior values (or prior link rows) point at rows that no longer exist, or
    whose id now names another row."""
    uses: dict[sa.Column[Any], dict[object, list[tuple[sa.RowMapping, str, Any]]]] = {}
    for entry in page:
        targets = json.loads(entry["targets"] or "{}")
        prior = json.loads(entry["prior"])
        logged_links = json.loads(entry["prior_links"] or "{}")
        for column, value, what in changes.pointers(import_type, prior, logged_links):
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
                        entry["row_id"],
                        _logged_key(entry),
                        f"its prior {what} points at {column.table.name} {column.name} "
                        f"{value!r}, {problem}",
                    )
                )
    return conflicts


def _proof(row: sa.RowMapping) -> list[Any]:
    return [value for name, value in row.items() if str(name).startswith("proof_")]


def _logged_key(entry: sa.RowMapping) -> object:
    """The natural key the change log has for the entry's row (None in older entries)."""
    logged = json.loads(entry["row_key"]) if entry["row_key"] else None
    return logged.get("key") if isinstance(logged, dict) else logged


def _edited(
    import_type: ImportType, entry: sa.RowMapping, row: sa.RowMapping | None, *, gone: bool = False
) -> EditedRow:
    return EditedRow(
        import_type.table.name,
        entry["row_id"],
        _proof(row)[0] if row is not None else _logged_key(entry),
        row["row_version"] if row is not None else None,
        created=False,
        gone=gone,
    )


def _changed_meanwhile(table: sa.Table, entry: sa.RowMapping) -> RollbackRefused:
    return RollbackRefused(
        f"{table.name} row {entry['row_id']} was edited or deleted while the rollback ran; "
        "nothing was changed — try again",
        batch_id=entry["batch_id"],
    )


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
