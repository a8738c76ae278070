"""Updating rows already in the database (`--on-existing update`): only where the file's
values or links differ, each change logged so that a rollback can put it back exactly.

The database finds the rows that differ (`loading.differences`); only those are read (to log
their prior values), updated in one statement, and relinked set-based (`loading.relink`).
Links change as a difference: link rows the file no longer names are deleted (unless another
row points at one: then nothing is imported), new ones are inserted with the batch's stamp,
and a changed flag is updated in place; links that stay keep their row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.checks.stage import Stage
from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect
from batchport.errors import UpdateMakesCycle
from batchport.hierarchy import own_ancestors
from batchport.loading.differences import (
    Differences,
    changed_pages,
    distinct,
)
from batchport.loading.logged import log_in_database
from batchport.loading.relink import relink
from batchport.schema import import_changes

#: Changed rows read (to log their prior values) per round trip.
PAGE = 5000
#: The columns of a change-log entry.
LOGGED = [
    "batch_id",
    "table_name",
    "row_id",
    "row_key",
    "prior",
    "prior_links",
    "version_before",
    "version_after",
    "targets",
]


def update_existing(
    conn: sa.Connection,
    dialect: Dialect,
    stage: Stage,
    catalog: Catalog,
    batch_id: str,
    *,
    found: Differences,
    created: dict[str, int],
) -> int:
    """Updates the rows the staged rows matched where the file's values or links differ
    (`found`, locked by this transaction), logging their prior values; returns how many it
    updated, and adds the link rows it inserted (stamped with the batch) to `created`."""
    import_type = stage.import_type
    _hold_relinked(conn, import_type, found)
    if not log_in_database(conn, dialect, catalog, import_type, found, batch_id, LOGGED):
        _log_here(conn, dialect, catalog, stage, found, batch_id)
    referring = dialect.foreign_keys_to(conn, [wanted.link.table for wanted in found.links])
    for wanted in found.links:
        name = wanted.link.table.name
        created[name] = created.get(name, 0) + relink(conn, wanted, batch_id, referring)
    updated = _update_changed(conn, dialect, import_type, found)
    if updated:
        _refuse_cycles(conn, import_type, sa.select(found.changed.c.row_id))
    found.drop(conn)
    return updated


def _log_here(  # noqa: PLR0917 - one update's differences, and what its log needs
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    stage: Stage,
    found: Differences,
    batch_id: str,
) -> None:
    """Writes the change log of the changed rows from here, a page at a time (where the
    database cannot: see `loading.logged`)."""
    for page in changed_pages(conn, dialect, found, stage, PAGE):
        entries = _entries(conn, catalog, stage.import_type, found, page, batch_id)
        dialect.copy_rows(
            conn, import_changes, LOGGED, ([entry[name] for name in LOGGED] for entry in entries)
        )


def _hold_relinked(conn: sa.Connection, import_type: ImportType, found: Differences) -> None:
    """Locks the rows whose link rows the update changes, before their link rows are read for
    the change log: another writer's new link row for one of them (its foreign key check
    takes a lock this one excludes) then waits until the import ends, instead of being
    deleted by it unlogged, and one committed before is read and logged."""
    table = import_type.table
    for wanted in found.links:
        locked = (
            sa.select(table.c.id)
            .where(table.c.id.in_(sa.select(wanted.owners.c.owner)))
            .with_for_update()
            .subquery()
        )
        conn.execute(sa.select(sa.func.count()).select_from(locked)).scalar_one()


def _update_changed(
    conn: sa.Connection, dialect: Dialect, import_type: ImportType, found: Differences
) -> int:
    """Writes the file's values into the changed rows, one version more; returns how many.

    A column takes the file's value only where it differs, as the change log saw it: a value
    the database holds equal but not identical (another case in a case-insensitive column, a
    JSON document with its keys in another order) keeps its own text, which no log entry
    would bring back."""
    table = import_type.table
    changed = found.changed
    values: dict[str, Any] = {
        name: sa.case(
            (distinct(dialect, table.c[name], found.new_value(number)), found.new_value(number)),
            else_=table.c[name],
        )
        for number, name in enumerate(found.columns)
    }
    values["row_version"] = changed.c.version + 1
    if "updated_at" in table.c:
        values["updated_at"] = sa.func.now()
    statement = table.update().where(table.c.id == changed.c.row_id).values(values)
    return int(conn.execute(statement).rowcount)


def _entries(  # noqa: PLR0917 - one page of changed rows, and what its entries need
    conn: sa.Connection,
    catalog: Catalog,
    import_type: ImportType,
    found: Differences,
    page: Sequence[sa.RowMapping],
    batch_id: str,
) -> list[dict[str, Any]]:
    """The change-log entries of a page of changed rows: the values the file changes, the
    link rows of each link it changes, as they were."""
    prior_links = {
        wanted.link.table.name: current_links(
            conn, wanted.link, [row["row_id"] for row in page if row[f"relinked{number}"]]
        )
        for number, wanted in enumerate(found.links)
    }
    proof = len(changes.identity_columns(import_type))
    entries = []
    for row in page:
        prior = {
            name: row[f"old{number}"]
            for number, name in enumerate(found.columns)
            if row[f"differs{number}"]
        }
        if "updated_at" in row:
            prior["updated_at"] = row["updated_at"]
        entries.append(
            {
                "batch_id": batch_id,
                "table_name": import_type.table.name,
                "row_id": row["row_id"],
                "row_key": changes.identity(*(row[f"is{n}"] for n in range(proof))),
                "prior": prior,
                "prior_links": {
                    name: links[row["row_id"]]
                    for name, links in prior_links.items()
                    if row["row_id"] in links
                },
                "version_before": row["version"],
                "version_after": row["version"] + 1,
            }
        )
    return _with_targets(conn, catalog, import_type, entries)


def _with_targets(
    conn: sa.Connection, catalog: Catalog, import_type: ImportType, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The entries ready to store, each with the natural keys of the rows its prior values
    point at."""
    pointers = {
        id(entry): [
            (column, value)
            for column, value, _ in changes.pointers(
                import_type, entry["prior"], entry["prior_links"]
            )
        ]
        for entry in entries
    }
    known = changes.identities(conn, catalog, (p for found in pointers.values() for p in found))
    stored = []
    for entry in entries:
        targets: dict[str, dict[str, Any]] = {}
        for column, value in pointers[id(entry)]:
            if str(value) in known.get(column.table.name, {}):
                proof = known[column.table.name][str(value)]
                targets.setdefault(column.table.name, {})[str(value)] = proof
        stored.append(
            entry
            | {
                "prior": changes.encode(entry["prior"]),
                "prior_links": changes.encode(entry["prior_links"])
                if entry["prior_links"]
                else None,
                "targets": changes.encode(targets) if targets else None,
            }
        )
    return stored


def _refuse_cycles(
    conn: sa.Connection, import_type: ImportType, ids: sa.Select[tuple[object]]
) -> None:
    """Raises if, after the update, a reference of the type to itself leads from one of the
    updated rows back to that row (through rows already in the database, too)."""
    for reference, _, key in own_ancestors(conn, import_type, ids)[:1]:
        raise UpdateMakesCycle(
            f"updating {import_type.name} {key!r} would make it its own ancestor: its "
            f"{reference.field} chain would lead back to it; nothing was imported"
        )


def current_links(
    conn: sa.Connection, link: Link, owners: list[object]
) -> dict[object, list[dict[str, Any]]]:
    """The link rows each of `owners` has now."""
    owner = link.table.c[link.owner_column]
    found: dict[object, list[dict[str, Any]]] = {row_id: [] for row_id in owners}
    for row in conn.execute(sa.select(link.table).where(owner.in_(owners))).mappings():
        found[row[link.owner_column]].append(dict(row))
    return found
