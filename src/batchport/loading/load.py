"""Moves checked staging rows into the target tables, each row stamped with the batch id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport.checks.stage import ROW_NUMBER, TEMPORARY, Stage
from batchport.declarations import Catalog, ImportType
from batchport.dialects import Dialect
from batchport.errors import RowsGone
from batchport.loading.differences import Differences, find_differences
from batchport.loading.update import update_existing
from batchport.loading.values import file_values, stamp


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
    dialect: Dialect,
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
    held, existing, found = None, 0, None
    if on_existing != "error":
        held, existing = _note_existing(conn, dialect, stage, lock=import_type.names_itself)
    if on_existing == "update" and held is not None and not import_type.names_itself:
        found, existing = _changed_first(conn, dialect, stage, catalog, held, existing)
    _hold_targets(conn, stage, catalog)
    created = dict.fromkeys([import_type.table.name, *(ln.table.name for ln, _ in stage.links)], 0)
    # Every staged row matched one already there (keys are unique): nothing to insert, and no
    # pass over the staged rows and links to find that out.
    if held is None or existing < _staged_count(conn, stage):
        created[import_type.table.name] = _insert_rows(conn, stage, catalog, batch_id, held)
        _patch_self_references(conn, stage, batch_id)
        _insert_links(conn, stage, catalog, batch_id, created)
    loaded.created = created
    if held is None:
        return loaded
    if on_existing == "skip":
        loaded.skipped = existing
    elif on_existing == "update":
        found = found or find_differences(conn, dialect, stage, catalog, held)
        loaded.updated = update_existing(
            conn, dialect, stage, catalog, batch_id, found=found, created=loaded.created
        )
        loaded.unchanged = existing - loaded.updated
    held.drop(conn)
    return loaded


def _insert_links(
    conn: sa.Connection, stage: Stage, catalog: Catalog, batch_id: str, created: dict[str, int]
) -> None:
    """Inserts the links of the rows the batch created (counted in `created`)."""
    import_type = stage.import_type
    for link, table in stage.links:
        owner, target = import_type, catalog[link.to]
        flag: list[sa.ColumnElement[Any]] = (
            [(table.c.position == 0).label(link.primary_flag)] if link.primary_flag else []
        )
        owner_row = owner.table.alias("owner")
        target_row = target.table.alias("target")
        # The target's id looked up row by row through its key's index: the planner cannot
        # know how many owner rows the batch has just written, and guessing few, it would
        # scan the targets once for each of them.
        target_id = (
            sa.select(target_row.c.id)
            .where(target_row.c[target.key_column.name] == table.c.target_key)
            .scalar_subquery()
        )
        select = (
            sa.select(owner_row.c.id, target_id, *flag, stamp(link.table, batch_id))
            .select_from(table)
            .join(
                owner_row,
                (owner_row.c[owner.key_column.name] == table.c.owner_key)
                & (owner_row.c.import_batch_id == batch_id),
            )
        )
        columns = [link.owner_column, link.target_column]
        columns += [link.primary_flag] if link.primary_flag else []
        result = conn.execute(
            link.table.insert().from_select([*columns, "import_batch_id"], select)
        )
        created[link.table.name] += result.rowcount


def _note_existing(
    conn: sa.Connection, dialect: Dialect, stage: Stage, *, lock: bool
) -> tuple[sa.Table, int]:
    """Notes the ids and keys of the rows already in the database whose key a staged row has
    in a new temporary table (returned, with how many it holds), in one statement; with
    `lock`, locks them until the transaction ends.

    A row not noted is inserted, and fails the import if its key was taken meanwhile. The
    rows of a type that names its own rows (a parent) are locked, so that none that a new row
    names or that the update compares with new rows disappears or changes; those of other
    types are not, for an unchanged row costs a comparison, not a write: a row the update
    changes is locked when it is found (`_changed_first`), and one deleted meanwhile is
    imported anew. Either way every count this import reports is one a serial order gives.
    """
    import_type = stage.import_type
    table = import_type.table
    key = import_type.key_column
    dialect.analyze(conn, stage.rows)
    for _, staged in stage.links:
        dialect.analyze(conn, staged)
    held = sa.Table(
        f"{stage.rows.name}_held",
        sa.MetaData(),
        sa.Column("id", table.c.id.type, nullable=False),
        sa.Column("key", key.type, nullable=False),
        sa.Column("version", table.c.row_version.type),
        prefixes=TEMPORARY,
    )
    held.create(conn)
    matched = sa.select(table.c.id, key, table.c.row_version).where(
        key.in_(sa.select(stage.rows.c[import_type.key]))
    )
    if lock:
        matched = matched.with_for_update(key_share=True)
    noted = conn.execute(held.insert().from_select(["id", "key", "version"], matched)).rowcount
    dialect.index_lookups(conn, held.c.key)
    dialect.analyze(conn, held)
    return held, noted


def _changed_first(  # noqa: PLR0917 - one stage, its catalog, and the rows it matched
    conn: sa.Connection,
    dialect: Dialect,
    stage: Stage,
    catalog: Catalog,
    held: sa.Table,
    existing: int,
) -> tuple[Differences, int]:
    """The rows the update changes, found (and locked as they are found) before anything is
    inserted, and how many rows are still there.

    A noted row deleted since (by a rollback, by hand) is forgotten, and so inserted anew as
    if the deletion had come first; where one was, or where a changed row was written since
    it was noted (its links, read before it was locked, may have changed with it), the
    changes are found again, the rows found before staying locked."""
    table = stage.import_type.table
    while True:
        found = find_differences(conn, dialect, stage, catalog, held)
        gone = conn.execute(
            held.delete().where(~sa.exists().where(table.c.id == held.c.id))
        ).rowcount
        changed = found.changed
        moved = changed.c.noted.is_distinct_from(changed.c.version)
        if conn.execute(sa.select(sa.exists().where(moved))).scalar_one():
            conn.execute(
                held.update()
                .where(held.c.id == changed.c.row_id, moved)
                .values(version=changed.c.version)
            )
        elif not gone:
            return found, existing
        existing -= gone
        found.drop(conn)


def _staged_count(conn: sa.Connection, stage: Stage) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(stage.rows)).scalar_one()


def _hold_targets(conn: sa.Connection, stage: Stage, catalog: Catalog) -> None:
    """Locks (FOR KEY SHARE) the rows of other import types, and of this one outside the
    file, that the staged rows name, so that none is deleted before this transaction ends;
    raises `RowsGone` if one was deleted since the file was checked."""
    import_type = stage.import_type
    named: list[tuple[str, sa.ColumnElement[Any], sa.FromClause]] = [
        (r.to, stage.rows.c[r.field], stage.rows) for r in import_type.references
    ]
    named += [(link.to, table.c.target_key, table) for link, table in stage.links]
    for target_name, value, source in named:
        target = catalog[target_name]
        wanted = sa.select(value).select_from(source).where(value.is_not(None))
        if target.name == import_type.name:
            wanted = wanted.where(value.not_in(sa.select(stage.rows.c[import_type.key])))
        # The keys named, read once (a CTE used twice is computed once) for both the lock
        # and the count of what should be there.
        named_keys = wanted.distinct().cte("named_keys")
        held = (
            sa.select(target.key_column)
            .where(target.key_column.in_(sa.select(named_keys.c[0])))
            .with_for_update(read=True, key_share=True)
            .subquery()
        )
        counts = sa.select(
            sa.select(sa.func.count()).select_from(held).scalar_subquery(),
            sa.select(sa.func.count()).select_from(named_keys).scalar_subquery(),
        )
        found, expected = conn.execute(counts).one()
        if found < expected:
            gone = conn.execute(
                wanted.where(~sa.exists().where(target.key_column == value)).limit(5)
            ).scalars()
            raise RowsGone(target.name, list(gone))


def _insert_rows(
    conn: sa.Connection, stage: Stage, catalog: Catalog, batch_id: str, held: sa.Table | None
) -> int:
    """Inserts the staged rows that matched no row in the database (none `held`)."""
    table = stage.import_type.table
    rows = stage.rows
    values = file_values(stage, catalog)
    columns = [name for name, _ in values] + ["import_batch_id"]
    select = sa.select(*(value for _, value in values), stamp(table, batch_id)).order_by(
        rows.c[ROW_NUMBER]
    )
    if held is not None:
        select = select.where(~sa.exists().where(held.c.key == rows.c[stage.import_type.key]))
    return conn.execute(table.insert().from_select(columns, select)).rowcount


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
