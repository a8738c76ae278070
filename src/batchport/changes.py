"""Row versions and the change log: batchport's own changes told apart, and updates undone.

Every imported table has a `row_version`: 0 when a row is created, and one more for every
change made outside batchport (triggers count them, changes to a row's link rows included).
A link row added by hand to a row the batch created is told by its `created_at`, later than
the batch's completion (no INSERT trigger slows bulk loading; on SQLite, whose timestamps
have whole seconds, a link added within the second the import completed goes unseen). While
batchport writes, its transaction holds a row in `import_writes`, which the triggers see and
no other transaction does; so its own writes count nothing, except an import's update of an
existing row, which adds one itself and logs the row's prior values in `import_changes`.

A rollback can then tell, without keeping a copy of every row, which rows of a batch someone
edited since: created rows whose version is not 0, updated rows whose version is not the one
the import left.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from batchport.declarations import Catalog, ImportType
from batchport.errors import RollbackRefused
from batchport.reports import EditedRow
from batchport.schema import import_changes, import_writes

#: Edited rows listed per table and kind; the rest are counted in the refusal.
EDITED_LIMIT = 100
#: Change-log entries restored per round trip.
RESTORE_PAGE = 1000


@contextmanager
def writing(conn: sa.Connection, job_id: str) -> Iterator[None]:
    """Marks the enclosing transaction as batchport's, for the row-version triggers.

    The mark is removed before the transaction commits; a transaction that fails takes it
    away with everything else.
    """
    conn.execute(import_writes.insert().values(job_id=job_id))
    yield
    conn.execute(import_writes.delete().where(import_writes.c.job_id == job_id))


def log_changes(conn: sa.Connection, entries: list[dict[str, Any]]) -> None:
    """Stores the prior values of rows an import updated (one entry per row)."""
    if entries:
        conn.execute(import_changes.insert(), entries)


def encode(values: dict[str, Any]) -> str:
    """Column values as JSON, timestamps as ISO 8601 text."""
    return json.dumps(values, default=_iso, sort_keys=True)


def edited_rows(
    conn: sa.Connection,
    catalog: Catalog,
    batch_id: str,
    completed_at: dt.datetime | None,
    *,
    created: bool = True,
) -> list[EditedRow]:
    """Rows the batch created or updated that were changed outside batchport since: by the
    version count, or by a link row added after `completed_at` (a restore or a delete would
    lose it).
    With `created` false, only the rows it updated are looked at."""
    found: dict[tuple[str, object], EditedRow] = {}
    for import_type in catalog.types:
        table = import_type.table
        key = import_type.key_column
        own = table.c.import_batch_id == batch_id
        late_links = [
            sa.exists().where(
                link.table.c[link.owner_column] == table.c.id,
                link.table.c.created_at > completed_at,
            )
            for link in import_type.links
            if completed_at is not None and "created_at" in link.table.c
        ]
        mine = (
            sa.select(table.c.id, key, table.c.row_version)
            .where(own, sa.or_(table.c.row_version != 0, *late_links))
            .order_by(table.c.id)
            .limit(EDITED_LIMIT)
        )
        for row_id, value, version in conn.execute(mine) if created else ():
            found[table.name, row_id] = EditedRow(table.name, row_id, value, version, created=True)
        changes = _changes_of(table, batch_id)
        updated = (
            sa.select(table.c.id, key, table.c.row_version)
            .join(changes, changes.c.row_id == table.c.id)
            .where(sa.or_(table.c.row_version != changes.c.version_after, *late_links))
            .order_by(table.c.id)
            .limit(EDITED_LIMIT)
        )
        for row_id, value, version in conn.execute(updated):
            found[table.name, row_id] = EditedRow(table.name, row_id, value, version, created=False)
    return list(found.values())


def changed_rows(conn: sa.Connection, catalog: Catalog, batch_id: str) -> dict[str, int]:
    """How many rows of each table the batch updated (and a rollback would restore)."""
    counts: dict[str, int] = {}
    for import_type in catalog.types:
        changes = _changes_of(import_type.table, batch_id)
        number = conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar_one()
        if number:
            counts[import_type.table.name] = number
    return counts


def restore(conn: sa.Connection, catalog: Catalog, batch_id: str, *, force: bool) -> dict[str, int]:
    """Puts back the values (and links) rows had before the batch updated them.

    A row edited since is restored only with `force`; without it, a row that changed after
    the edited-rows check (a concurrent edit) stops the rollback. A row deleted since stays
    deleted.
    """
    restored: dict[str, int] = {}
    for import_type in catalog.types:
        table = import_type.table
        last = 0
        while True:
            page = (
                conn.execute(
                    sa.select(import_changes)
                    .where(
                        import_changes.c.batch_id == batch_id,
                        import_changes.c.table_name == table.name,
                        import_changes.c.id > last,
                    )
                    .order_by(import_changes.c.id)
                    .limit(RESTORE_PAGE)
                )
                .mappings()
                .all()
            )
            if not page:
                break
            last = page[-1]["id"]
            for entry in page:
                if _restore_row(conn, import_type, entry, force=force):
                    restored[table.name] = restored.get(table.name, 0) + 1
    return restored


def _restore_row(
    conn: sa.Connection, import_type: ImportType, entry: sa.RowMapping, *, force: bool
) -> bool:
    table = import_type.table
    prior = _decoded(table, json.loads(entry["prior"]))
    statement = (
        table.update()
        .where(table.c.id == entry["row_id"])
        .values(**prior, row_version=entry["version_before"])
    )
    if not force:
        statement = statement.where(table.c.row_version == entry["version_after"])
    if conn.execute(statement).rowcount == 0:
        still_there = conn.execute(sa.select(table.c.id).where(table.c.id == entry["row_id"]))
        if still_there.first() is not None and not force:
            raise RollbackRefused(
                f"{table.name} row {entry['row_id']} was edited while the rollback ran; "
                "nothing was changed — try again",
                batch_id=entry["batch_id"],
            )
        return False
    links = json.loads(entry["prior_links"] or "{}")
    for link in import_type.links:
        if link.table.name not in links:
            continue
        owner = link.table.c[link.owner_column]
        conn.execute(link.table.delete().where(owner == entry["row_id"]))
        rows = [_decoded(link.table, row) for row in links[link.table.name]]
        if rows:
            conn.execute(link.table.insert(), rows)
    return True


def _changes_of(table: sa.Table, batch_id: str) -> sa.Subquery:
    return (
        sa.select(import_changes)
        .where(import_changes.c.batch_id == batch_id, import_changes.c.table_name == table.name)
        .subquery("changes")
    )


def _decoded(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """JSON values back as the column types want them (timestamps from ISO text)."""
    return {
        name: dt.datetime.fromisoformat(value)
        if isinstance(value, str) and isinstance(table.c[name].type, sa.DateTime)
        else value
        for name, value in values.items()
    }


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the change log")
