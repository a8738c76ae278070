"""Updating rows already in the database (`--on-existing update`): only where the file's
values or links differ, each change logged so that a rollback can put it back exactly.

Links change row by row as a difference: link rows the file no longer names are deleted
(unless another row points at one: then nothing is imported), new ones are inserted with the
batch's stamp, and a changed flag is updated in place; links that stay keep their row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.checks.stage import EXISTING_ID, ROW_NUMBER, Stage
from batchport.declarations import Catalog, ImportType, Link
from batchport.dialects import Dialect, ForeignKey
from batchport.errors import LinksReferenced, UpdateMakesCycle
from batchport.hierarchy import own_ancestors
from batchport.loading.values import file_values
from batchport.references import rows_pointing_at

#: Existing rows compared (and updated) per round trip.
PAGE = 2000


def update_existing(
    conn: sa.Connection,
    dialect: Dialect,
    stage: Stage,
    catalog: Catalog,
    batch_id: str,
    *,
    created: dict[str, int],
) -> int:
    """Updates the rows the staged rows matched (and the loading transaction holds locked)
    where the file's values or links differ, logging their prior values; returns how many it
    updated, and adds the link rows it inserted (stamped with the batch) to `created`."""
    import_type = stage.import_type
    table = import_type.table
    rows = stage.rows
    values = file_values(stage, catalog, updating=True)
    names = [name for name, _ in values]
    stamped = "updated_at" in table.c
    query = (
        sa.select(
            rows.c[ROW_NUMBER].label("_row"),
            rows.c[import_type.key].label("_key"),
            table.c.id.label("_id"),
            *(c.label(f"_is_{n}") for n, c in enumerate(changes.identity_columns(import_type))),
            table.c.row_version.label("_version"),
            *(table.c[name].label(f"old_{name}") for name in names),
            *(value.label(f"new_{name}") for name, value in values),
            *([table.c.updated_at.label("_updated_at")] if stamped else []),
        )
        .join(table, table.c.id == rows.c[EXISTING_ID])
        .order_by(rows.c[ROW_NUMBER])
        .limit(PAGE)
    )
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("_id"))
        .values(
            {name: sa.bindparam(f"new_{name}") for name in names}
            | {"row_version": sa.bindparam("_version")}
            | ({"updated_at": sa.func.now()} if stamped else {})
        )
    )
    referring = dialect.foreign_keys_to(conn, [link.table for link in import_type.links])
    updated = 0
    last = 0
    while page := conn.execute(query.where(rows.c[ROW_NUMBER] > last)).mappings().all():
        last = page[-1]["_row"]
        links = _link_changes(
            conn, dialect, stage, catalog, page, batch_id, referring, created=created
        )
        entries: list[dict[str, Any]] = []
        params: list[dict[str, Any]] = []
        for row in page:
            prior = {n: row[f"old_{n}"] for n in names if row[f"old_{n}"] != row[f"new_{n}"]}
            row_links = links.get(row["_id"], {})
            if not prior and not row_links:
                continue
            version = row["_version"]
            if stamped:
                prior["updated_at"] = row["_updated_at"]
            entries.append(
                {
                    "batch_id": batch_id,
                    "table_name": table.name,
                    "row_id": row["_id"],
                    "row_key": changes.identity(
                        *(
                            row[f"_is_{n}"]
                            for n in range(len(changes.identity_columns(import_type)))
                        )
                    ),
                    "prior": prior,
                    "prior_links": row_links,
                    "version_before": version,
                    "version_after": version + 1,
                }
            )
            params.append(
                {"_id": row["_id"], "_version": version + 1}
                | {f"new_{n}": row[f"new_{n}"] for n in names}
            )
        if params:
            conn.execute(update, params)
            changes.log_changes(conn, _with_targets(conn, catalog, import_type, entries))
            updated += len(params)
            _refuse_cycles(conn, import_type, [p["_id"] for p in params])
    return updated


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


def _refuse_cycles(conn: sa.Connection, import_type: ImportType, ids: list[object]) -> None:
    """Raises if, after the update, a reference of the type to itself leads from one of the
    updated rows back to that row (through rows already in the database, too)."""
    for reference, _, key in own_ancestors(conn, import_type, ids)[:1]:
        raise UpdateMakesCycle(
            f"updating {import_type.name} {key!r} would make it its own ancestor: its "
            f"{reference.field} chain would lead back to it; nothing was imported"
        )


def _link_changes(  # noqa: PLR0917 - one page of one stage, and where its links may lead
    conn: sa.Connection,
    dialect: Dialect,
    stage: Stage,
    catalog: Catalog,
    page: Sequence[sa.RowMapping],
    batch_id: str,
    referring: list[ForeignKey],
    *,
    created: dict[str, int],
) -> dict[object, dict[str, list[dict[str, Any]]]]:
    """For each row of `page` whose links the file changes: the link rows it had, per link
    table. The difference is applied here and now (the rows inserted counted in `created`)."""
    ids = {row["_key"]: row["_id"] for row in page}
    prior: dict[object, dict[str, list[dict[str, Any]]]] = {}
    for link, staged in stage.links:
        if link.field not in stage.present:
            continue
        target = catalog[link.to]
        wanted: dict[object, dict[object, bool]] = {row_id: {} for row_id in ids.values()}
        for key, target_id, position in conn.execute(
            sa.select(staged.c.owner_key, target.table.c.id, staged.c.position)
            .join(target.table, target.key_column == staged.c.target_key)
            .where(staged.c.owner_key.in_(list(ids)))
        ):
            wanted[ids[key]][target_id] = position == 0
        current = current_links(conn, link, list(wanted))
        change = LinkChange(link, batch_id)
        for row_id, want in wanted.items():
            if change.add(row_id, current[row_id], want):
                prior.setdefault(row_id, {})[link.table.name] = current[row_id]
        change.apply(conn, dialect, referring)
        created[link.table.name] = created.get(link.table.name, 0) + len(change.inserted)
    return prior


def current_links(
    conn: sa.Connection, link: Link, owners: list[object]
) -> dict[object, list[dict[str, Any]]]:
    """The link rows each of `owners` has now."""
    owner = link.table.c[link.owner_column]
    found: dict[object, list[dict[str, Any]]] = {row_id: [] for row_id in owners}
    for row in conn.execute(sa.select(link.table).where(owner.in_(owners))).mappings():
        found[row[link.owner_column]].append(dict(row))
    return found


class LinkChange:
    """The link rows to delete, insert and re-flag to turn some rows' links into others,
    applied in three statements."""

    def __init__(self, link: Link, batch_id: str) -> None:
        self.link = link
        self.batch_id = batch_id
        self.deleted: list[dict[str, Any]] = []
        self.inserted: list[dict[str, Any]] = []
        self.flagged: list[dict[str, Any]] = []

    def add(self, row_id: object, have: list[dict[str, Any]], want: dict[object, bool]) -> bool:
        """Plans the change of `row_id`'s links from `have` to `want` (target id -> primary
        flag, written with the batch's stamp); returns whether there is any."""
        link = self.link
        flag = link.primary_flag
        current = {row[link.target_column]: row for row in have}
        deleted = [row for target, row in current.items() if target not in want]
        inserted = [
            {
                link.owner_column: row_id,
                link.target_column: target,
                "import_batch_id": self.batch_id,
            }
            | ({flag: primary} if flag else {})
            for target, primary in want.items()
            if target not in current
        ]
        flagged = [
            current[target] | {flag: primary}
            for target, primary in want.items()
            if flag and target in current and current[target][flag] != primary
        ]
        self.deleted += deleted
        self.inserted += inserted
        self.flagged += flagged
        return bool(deleted or inserted or flagged)

    def put(self, have: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        """Plans putting `rows` (whole link rows, as logged) back in place of `have`."""
        link = self.link
        current = {row[link.target_column]: row for row in have}
        wanted = {row[link.target_column]: row for row in rows}
        self.deleted += [row for target, row in current.items() if target not in wanted]
        self.inserted += [row for target, row in wanted.items() if target not in current]
        self.flagged += [
            row
            for target, row in wanted.items()
            if target in current and _differs(row, current[target])
        ]

    def keys(self) -> list[tuple[Any, ...]]:
        """The primary keys of the link rows to delete."""
        primary = [c.name for c in self.link.table.primary_key.columns]
        return [tuple(row[name] for name in primary) for row in self.deleted]

    def apply(
        self,
        conn: sa.Connection,
        dialect: Dialect,
        referring: list[ForeignKey] | None = None,
        *,
        check: bool = True,
    ) -> None:
        """Deletes, inserts and re-flags the planned rows; with `check`, refuses
        (`LinksReferenced`), changing nothing, if a row of another table points at a link row
        to delete.

        The rows to delete are locked first: a row another writer adds that points at one of
        them must wait for this transaction (and then finds it gone), and one added before is
        seen by the check.
        """
        table = self.link.table
        primary = list(table.primary_key.columns)
        if self.deleted:
            doomed = sa.tuple_(*primary).in_(self.keys())
            conn.execute(sa.select(*primary).where(doomed).with_for_update()).all()
            if check and (
                pointing := rows_pointing_at(conn, dialect, table, self.keys(), referring)
            ):
                raise LinksReferenced(pointing)
            conn.execute(table.delete().where(doomed))
        if self.inserted:
            conn.execute(table.insert(), self.inserted)
        names = {column.name for column in primary}
        for row in self.flagged:
            conn.execute(
                table.update()
                .where(*(column == row[column.name] for column in primary))
                .values({k: v for k, v in row.items() if k not in names})
            )


def _differs(wanted: dict[str, Any], current: dict[str, Any]) -> bool:
    return any(current.get(name) != value for name, value in wanted.items())
