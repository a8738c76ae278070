"""Moves checked staging rows into the target tables, each row stamped with the batch id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog, ImportType
from batchport.errors import BatchportError
from batchport.hierarchy import own_ancestors
from batchport.loading.staging import ROW_NUMBER, Stage

#: What an import may do with a row whose key is already in the database.
ON_EXISTING = ("error", "skip", "update")
#: Existing rows compared (and updated) per round trip.
UPDATE_PAGE = 2000


@dataclass
class Loaded:
    """What loading did: rows created per table, and rows of the type updated, skipped or
    left unchanged because their key was already there."""

    created: dict[str, int] = field(default_factory=dict)
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0


def load_stage(
    conn: sa.Connection,
    stage: Stage,
    catalog: Catalog,
    batch_id: str,
    *,
    on_existing: str = "error",
) -> Loaded:
    """Inserts the staged rows and their links; with `on_existing` `skip` or `update`, rows
    whose key is already in the database are left alone or updated (prior values logged)."""
    import_type = stage.import_type
    loaded = Loaded()
    existing = 0
    if on_existing != "error":
        existing = _lock_existing(conn, stage)
    created = {
        import_type.table.name: _insert_rows(
            conn, stage, catalog, batch_id, new_only=on_existing != "error"
        )
    }
    _patch_self_references(conn, stage, batch_id)
    for link, table in stage.links:
        owner, target = import_type, catalog[link.to]
        flag: list[sa.ColumnElement[Any]] = (
            [(table.c.position == 0).label(link.primary_flag)] if link.primary_flag else []
        )
        owner_row = owner.table.alias("owner")
        target_row = target.table.alias("target")
        select = (
            sa.select(owner_row.c.id, target_row.c.id, *flag)
            .select_from(table)
            .join(
                owner_row,
                (owner_row.c[owner.key_column.name] == table.c.owner_key)
                & (owner_row.c.import_batch_id == batch_id),
            )
            .join(target_row, target_row.c[target.key_column.name] == table.c.target_key)
        )
        columns = [link.owner_column, link.target_column]
        columns += [link.primary_flag] if link.primary_flag else []
        select = select.add_columns(_stamp(link.table, batch_id))
        result = conn.execute(
            link.table.insert().from_select([*columns, "import_batch_id"], select)
        )
        created[link.table.name] = created.get(link.table.name, 0) + result.rowcount
    loaded.created = created
    if on_existing == "skip":
        loaded.skipped = existing
    elif on_existing == "update":
        loaded.updated = _update_existing(conn, stage, catalog, batch_id)
        loaded.unchanged = existing - loaded.updated
    return loaded


def _lock_existing(conn: sa.Connection, stage: Stage) -> int:
    """Locks the rows already in the database that staged rows match by key, until the
    transaction ends; returns how many there are.

    From here on those rows can neither disappear (a rollback racing this import waits, then
    finds them updated) nor appear: a key not matched now is inserted anew, so every count
    this import reports is one a serial order of the two gives.
    """
    import_type = stage.import_type
    table = import_type.table
    matched = (
        sa.select(table.c.id)
        .join(stage.rows, import_type.key_column == stage.rows.c[import_type.key])
        .with_for_update(of=table, key_share=True)
    )
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(matched.subquery())).scalar_one()
    )


def _stamp(table: sa.Table, batch_id: str) -> sa.ColumnElement[Any]:
    return sa.literal(batch_id, table.c.import_batch_id.type)


def _file_values(
    stage: Stage, catalog: Catalog, *, updating: bool = False
) -> list[tuple[str, sa.ColumnElement[Any]]]:
    """Each target column the file sets, with the SQL expression of its value per staged row.

    A new row takes a column's default where its cell is empty. `updating` an existing row
    sets only the columns present in the file, and an empty cell leaves a column with a
    default as it is (a column without one, such as a parent reference, is cleared).
    """
    import_type = stage.import_type
    table = import_type.table
    rows = stage.rows
    values: list[tuple[str, sa.ColumnElement[Any]]] = [
        (f.column, _or_default(rows.c[f.name], table.c[f.column], keep=updating))
        for f in import_type.fields
        if f.column is not None and (not updating or f.name in stage.present)
    ]
    for reference in import_type.references:
        if updating and reference.field not in stage.present:
            continue
        target = catalog[reference.to]
        # An alias, so that a reference to the type's own table never correlates with it.
        referenced = target.table.alias("referenced")
        found = (
            sa.select(referenced.c.id)
            .where(referenced.c[target.key_column.name] == rows.c[reference.field])
            .scalar_subquery()
        )
        values.append((reference.column, found))
    return values


def _insert_rows(
    conn: sa.Connection, stage: Stage, catalog: Catalog, batch_id: str, *, new_only: bool
) -> int:
    import_type = stage.import_type
    table = import_type.table
    rows = stage.rows
    values = _file_values(stage, catalog)
    columns = [name for name, _ in values] + ["import_batch_id"]
    select = sa.select(*(value for _, value in values), _stamp(table, batch_id)).order_by(
        rows.c[ROW_NUMBER]
    )
    if new_only:
        select = select.where(~sa.exists().where(import_type.key_column == rows.c[import_type.key]))
    return conn.execute(table.insert().from_select(columns, select)).rowcount


def _update_existing(conn: sa.Connection, stage: Stage, catalog: Catalog, batch_id: str) -> int:
    """Updates rows that were in the database before the batch where the file's values (or
    links) differ, logging their prior values; returns how many it updated."""
    import_type = stage.import_type
    table = import_type.table
    rows = stage.rows
    values = _file_values(stage, catalog, updating=True)
    names = [name for name, _ in values]
    stamped = "updated_at" in table.c
    query = (
        sa.select(
            rows.c[ROW_NUMBER].label("_row"),
            rows.c[import_type.key].label("_key"),
            table.c.id.label("_id"),
            table.c.row_version.label("_version"),
            *(table.c[name].label(f"old_{name}") for name in names),
            *(value.label(f"new_{name}") for name, value in values),
            *([table.c.updated_at.label("_updated_at")] if stamped else []),
        )
        .join(table, import_type.key_column == rows.c[import_type.key])
        .where(table.c.import_batch_id.is_distinct_from(batch_id))
        .order_by(rows.c[ROW_NUMBER])
        .limit(UPDATE_PAGE)
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
    updated = 0
    last = 0
    while page := conn.execute(query.where(rows.c[ROW_NUMBER] > last)).mappings().all():
        last = page[-1]["_row"]
        links = _link_changes(conn, stage, catalog, page, batch_id)
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
                    "prior": changes.encode(prior),
                    "prior_links": changes.encode(row_links) if row_links else None,
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
            changes.log_changes(conn, entries)
            updated += len(params)
            _refuse_cycles(conn, import_type, [p["_id"] for p in params])
    return updated


class UpdateMakesCycle(BatchportError):
    """Updating a row's parent would make the row its own ancestor."""


def _refuse_cycles(conn: sa.Connection, import_type: ImportType, ids: list[object]) -> None:
    """Raises if, after the update, a reference of the type to itself leads from one of the
    updated rows back to that row (through rows already in the database, too)."""
    for reference, _, key in own_ancestors(conn, import_type, ids)[:1]:
        raise UpdateMakesCycle(
            f"updating {import_type.name} {key!r} would make it its own ancestor: its "
            f"{reference.field} chain would lead back to it; nothing was imported"
        )


def _link_changes(
    conn: sa.Connection,
    stage: Stage,
    catalog: Catalog,
    page: Sequence[sa.RowMapping],
    batch_id: str,
) -> dict[object, dict[str, list[dict[str, Any]]]]:
    """For each row of `page` whose links the file changes: the link rows it had, per link
    table. Those rows are replaced by the file's links (stamped with the batch) here and now."""
    ids = {row["_key"]: row["_id"] for row in page}
    prior: dict[object, dict[str, list[dict[str, Any]]]] = {}
    for link, staged in stage.links:
        if link.field not in stage.present:
            continue
        target = catalog[link.to]
        owner = link.table.c[link.owner_column]
        wanted: dict[object, set[tuple[Any, ...]]] = {row_id: set() for row_id in ids.values()}
        for key, target_id, position in conn.execute(
            sa.select(staged.c.owner_key, target.table.c.id, staged.c.position)
            .join(target.table, target.key_column == staged.c.target_key)
            .where(staged.c.owner_key.in_(list(ids)))
        ):
            flag = (position == 0,) if link.primary_flag else ()
            wanted[ids[key]].add((target_id, *flag))
        current: dict[object, list[dict[str, Any]]] = {row_id: [] for row_id in ids.values()}
        for row in conn.execute(sa.select(link.table).where(owner.in_(list(wanted)))).mappings():
            current[row[link.owner_column]].append(dict(row))
        for row_id, links in wanted.items():
            have = {
                (r[link.target_column], *((r[link.primary_flag],) if link.primary_flag else ()))
                for r in current[row_id]
            }
            if have == links:
                continue
            prior.setdefault(row_id, {})[link.table.name] = current[row_id]
            conn.execute(link.table.delete().where(owner == row_id))
            names = [link.owner_column, link.target_column]
            names += [link.primary_flag] if link.primary_flag else []
            if links:
                new = [
                    dict(zip(names, (row_id, *item), strict=True)) | {"import_batch_id": batch_id}
                    for item in links
                ]
                conn.execute(link.table.insert(), new)
    return prior


def server_default(column: sa.Column[Any]) -> sa.ColumnElement[Any] | None:
    """The SQL expression the database fills `column` with when a row gives no value."""
    default = column.server_default
    if not isinstance(default, sa.DefaultClause):
        return None
    arg = default.arg
    return sa.literal(arg, column.type) if isinstance(arg, str) else arg  # type: ignore[return-value]


def _or_default(
    value: sa.ColumnElement[Any], column: sa.Column[Any], *, keep: bool = False
) -> sa.ColumnElement[Any]:
    """The staged value, or where the cell was empty the column's server default (or with
    `keep`, the column's current value, if it has a default)."""
    default = server_default(column)
    if default is None:
        return value
    return sa.func.coalesce(value, column if keep else default, type_=column.type)


def _patch_self_references(conn: sa.Connection, stage: Stage, batch_id: str) -> None:
    """Points references at parents created by this same batch (unseen by the INSERT's snapshot)."""
    import_type: ImportType = stage.import_type
    table = import_type.table
    key = import_type.key_column
    rows = stage.rows
    for reference in import_type.references:
        if reference.to != import_type.name:
            continue
        parent = table.alias("parent")
        parent_key = (
            sa.select(rows.c[reference.field])
            .where(rows.c[import_type.key] == key)
            .correlate(table)
            .scalar_subquery()
        )
        new_parent = (
            sa.select(parent.c.id).where(parent.c[key.name] == parent_key).scalar_subquery()
        )
        conn.execute(
            table.update()
            .where(
                table.c.import_batch_id == batch_id,
                table.c[reference.column].is_(None),
                key.in_(
                    sa.select(rows.c[import_type.key]).where(rows.c[reference.field].is_not(None))
                ),
            )
            .values({reference.column: new_parent})
        )
