"""What `db track` and `db untrack` do to each table named: found in the catalog, checked,
and turned into statements (none for a table already as asked); then run, and recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from batchport.errors import DatabaseError, first_line
from batchport.schema import import_changes, import_history
from batchport.tracking import registry
from batchport.tracking.ddl import Ddl, Step, ddl_for, split_name
from batchport.tracking.requirements import (
    TrackingRefused,
    link_refusal,
    table_refusal,
    track_command,
)
from batchport.tracking.shapes import BATCH_COLUMN, Owner, TableName
from batchport.vocabulary import JobStatus

#: The statuses of a batch that can still be rolled back (or is being): its rows need their
#: stamp, and the rows it updated their row versions.
LIVE = (JobStatus.completed, JobStatus.rolling_back, JobStatus.rollback_failed)
#: Batches named in a refusal; the rest are counted.
SHOWN = 5


@dataclass(frozen=True)
class Change:
    """What tracking (or untracking) does to one table."""

    table: TableName
    owner: Owner | None
    steps: tuple[Step, ...]
    #: Whether the record of tracked tables gains (or loses) the table.
    records: bool
    notes: tuple[str, ...] = ()

    @property
    def done(self) -> list[str]:
        """What the statements do, in words."""
        return [step.says for step in self.steps if step.says]

    def to_json(self) -> dict[str, object]:
        return {
            "table": str(self.table),
            "owner_table": str(self.owner.table) if self.owner else None,
            "owner_column": self.owner.column if self.owner else None,
            "changed": bool(self.steps or self.records),
            "done": self.done,
            "statements": [step.sql for step in self.steps],
            "notes": list(self.notes),
        }


def _find(conn: sa.Connection, ddl: Ddl, text: str, schema: str | None, verb: str) -> TableName:
    parts = split_name(text)
    if parts is None:
        raise TrackingRefused(text, f"cannot {verb} {text}: not a table name")
    (given, _), _ = parts
    if schema and not given:
        text = f"{schema}.{text}"
        given = schema
    if not ddl.schemas and given and given.lower() != "main":
        raise TrackingRefused(
            text,
            f"cannot {verb} {text}: {ddl.label} has no schema {given!r} (every table is in "
            "its one database); name the table alone",
        )
    table = ddl.find(conn, text)
    if table is None:
        raise TrackingRefused(text, f"cannot {verb} {text}: no such table")
    return table


def plan_track(
    conn: sa.Connection,
    names: Sequence[str],
    *,
    schema: str | None = None,
    owner_column: str | None = None,
) -> list[Change]:
    """What tracking each named table takes (as a link owned through `owner_column`, if
    given); raises `TrackingRefused` for the first that cannot be tracked, before anything
    is changed."""
    ddl = ddl_for(conn)
    changes: dict[TableName, Change] = {}
    for text in names:
        table = _find(conn, ddl, text, schema, "track")
        if table in changes:
            continue
        shape = ddl.shape(conn, table)
        assert shape is not None  # just found
        if registry.own_table(conn, ddl, table) is not None:
            raise TrackingRefused(
                str(table),
                f"cannot track {table}: it is one of batchport's own tables, which its "
                "migrations look after (`batchport db verify` checks them)",
            )
        owner = None
        if owner_column is None:
            refused = table_refusal(ddl, shape)
        else:
            refused = link_refusal(shape, owner_column)
            if refused is None:
                key = shape.foreign_key(owner_column)
                assert key is not None and key.referred is not None
                owner = Owner(owner_column, key.referred)
                refused = _owner_refusal(conn, ddl, owner)
        if refused:
            link = owner_column is None and len(shape.primary_key) > 1
            raise TrackingRefused(
                str(table),
                f"cannot track {table}: {refused}",
                hint="a link table is tracked with --owner COLUMN, its owner column"
                if link
                else None,
            )
        entry = registry.entry(conn, table)
        if entry is not None and entry.owner != owner:
            raise TrackingRefused(
                str(table),
                f"cannot track {table} as {_role(owner)}: it is tracked as {_role(entry.owner)}; "
                f"run `batchport db untrack {table}` first",
            )
        expected = ddl.edit_trigger(table, owner)
        if shape.trigger(expected.definition) is None and any(
            t.name == expected.name for t in shape.triggers
        ):
            raise TrackingRefused(
                str(table),
                f"cannot track {table}: it has a trigger {expected.name} that is not "
                "batchport's; rename or drop that trigger",
            )
        notes: tuple[str, ...] = ()
        if owner is None and shape.reuses_ids:
            notes = (
                f"{table} is not AUTOINCREMENT: SQLite gives the id of a deleted last row to "
                "the next row; a rollback's restore still proves each row by its key, but "
                "AUTOINCREMENT never reuses an id (batchport's own tables have it)",
            )
        changes[table] = Change(table, owner, tuple(ddl.track(shape, owner)), entry is None, notes)
    return list(changes.values())


def _role(owner: Owner | None) -> str:
    if owner is None:
        return "a table of its own"
    return f"a link of {owner.table} (through {owner.column})"


def _owner_refusal(conn: sa.Connection, ddl: Ddl, owner: Owner) -> str | None:
    mine = registry.own_table(conn, ddl, owner.table)
    if mine is not None:
        if mine in registry.VERSIONED:
            return None
        return f"its owner {owner.table} is one of batchport's tables without a row_version"
    entry = registry.entry(conn, owner.table)
    if entry is None:
        return f"its owner {owner.table} is not tracked; run `{track_command(owner.table)}` first"
    if entry.owner is not None:
        return f"its owner {owner.table} is itself a link table; a link's owner has rows of its own"
    return None


def plan_untrack(
    conn: sa.Connection, names: Sequence[str], *, schema: str | None = None
) -> list[Change]:
    """What untracking each named table takes, links before their owners; raises
    `TrackingRefused` for the first that cannot be untracked, before anything is changed. A
    tracked table that is gone since is only forgotten."""
    ddl = ddl_for(conn)
    entries = {entry.table: entry for entry in registry.entries(conn)}
    chosen: dict[TableName, registry.Tracked] = {}
    for text in names:
        try:
            table = _find(conn, ddl, text, schema, "untrack")
        except TrackingRefused:
            # A table dropped since it was tracked is found in the record alone.
            wanted = f"{schema}.{text}" if schema and "." not in text else text
            gone = next((t for t in entries if wanted in (str(t), f"{t.schema}.{t.name}")), None)
            if gone is None:
                raise
            table = gone
        if table not in entries:
            mine = registry.own_table(conn, ddl, table) is not None
            why = (
                "it is one of batchport's own tables, which its migrations look after"
                if mine
                else "it is not tracked (`batchport db status` lists the tracked tables)"
            )
            raise TrackingRefused(str(table), f"cannot untrack {table}: {why}")
        chosen[table] = entries[table]
    for entry in entries.values():
        owner = entry.owner
        if owner is not None and owner.table in chosen and entry.table not in chosen:
            raise TrackingRefused(
                str(owner.table),
                f"cannot untrack {owner.table}: the tracked link table {entry.table} counts its "
                f"edits on {owner.table}.row_version; untrack {entry.table} first, or name it too",
            )
    changes = []
    for entry in sorted(chosen.values(), key=lambda e: (e.owner is None, e.table)):
        shape = ddl.shape(conn, entry.table)
        steps = () if shape is None else tuple(ddl.untrack(shape, entry.owner))
        changes.append(Change(entry.table, entry.owner, steps, records=True))
    return changes


def lock_steps(conn: sa.Connection, changes: Sequence[Change]) -> list[Step]:
    """The statements that open the untracking transaction: writers kept out of the tables."""
    ddl = ddl_for(conn)
    return ddl.lock([c.table for c in changes if c.steps])


def live_batches(conn: sa.Connection, change: Change) -> list[str]:
    """Batches that can still be rolled back and that need the table's tracking: rows of the
    table carry their batch id, or they updated rows of the table."""
    ddl = ddl_for(conn)
    shape = ddl.shape(conn, change.table)
    if shape is None:
        return []
    live = import_history.c.status.in_([str(s) for s in LIVE])
    found: list[str] = []
    if BATCH_COLUMN in shape.columns:
        rows = sa.table(
            change.table.name,
            sa.column(BATCH_COLUMN),
            schema=ddl.reflected_schema(change.table),
        )
        # One index probe per live batch: as fast on a table of a billion rows as of ten.
        stamped = sa.exists().where(rows.c[BATCH_COLUMN] == import_history.c.batch_id)
        found += conn.execute(
            sa.select(import_history.c.batch_id).where(live, stamped).order_by(import_history.c.id)
        ).scalars()
    if change.owner is None:
        updated = sa.exists().where(
            import_changes.c.batch_id == import_history.c.batch_id,
            import_changes.c.table_name == change.table.name,
        )
        found += conn.execute(
            sa.select(import_history.c.batch_id).where(live, updated).order_by(import_history.c.id)
        ).scalars()
    return list(dict.fromkeys(found))


def refuse_live(change: Change, batches: list[str]) -> TrackingRefused:
    """The refusal to untrack a table that batches still need."""
    shown = ", ".join(batches[:SHOWN])
    more = f" and {len(batches) - SHOWN} more" if len(batches) > SHOWN else ""
    count = len(batches)
    return TrackingRefused(
        str(change.table),
        f"cannot untrack {change.table}: {count} import{'s' if count != 1 else ''} that can "
        f"still be rolled back need{'s' if count == 1 else ''} its tracking "
        f"(batch{'es' if count != 1 else ''} {shown}{more}); nothing was changed",
        hint=(
            "roll them back first, or untrack anyway with --force, after which they can no "
            "longer be rolled back"
        ),
    )


def run(
    conn: sa.Connection, change: Change, steps: Sequence[Step], *, verb: str, then: str
) -> None:
    """Runs the statements on the connection; a failure is a `DatabaseError` naming the
    statement it stopped at, and `then`: what became of the work."""
    for step in steps:
        try:
            conn.exec_driver_sql(step.sql)
        except sa.exc.DBAPIError as exc:
            raise DatabaseError(
                f"{verb} {change.table} stopped at `{step.sql}`: {first_line(exc.orig)}; {then}"
            ) from exc


def reset(conn: sa.Connection) -> None:
    """Puts the session's timeouts back, for whatever uses the connection next."""
    ddl_for(conn).reset(conn)
