"""The use cases that give an application's own tables batch tracking and take it away:
`track_tables`, `untrack_tables`, `tracked_tables`. What a table needs and the statements
live in `batchport.tracking`; here they are run, recorded and audited.

On PostgreSQL tracking runs statement by statement outside any transaction (its indexes are
built CONCURRENTLY), then records the tables in a transaction of its own, with their audit
rows: a run stopped part-way leaves what it did, and running it again finishes it. On SQLite
all of it is one transaction. Untracking is one transaction on both, holding the tables
locked from its check that no batch still needs them to its last statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from batchport import audit
from batchport.commands.support import ready
from batchport.database import Database
from batchport.errors import BatchportError, DatabaseError, first_line
from batchport.tracking import Change, Step, Tracked, TrackingRefused, entries, registry
from batchport.tracking.ddl import ddl_for
from batchport.tracking.plan import (
    live_batches,
    lock_steps,
    plan_track,
    plan_untrack,
    refuse_live,
    reset,
    run,
)
from batchport.vocabulary import Via

#: What became of a run that stopped: each statement of PostgreSQL's is its own transaction.
AGAIN = "what was done stays, and running the same command again finishes it"
UNCHANGED = "nothing was changed"


@dataclass(frozen=True)
class Tracking:
    """What `track_tables` or `untrack_tables` did (or, shown only, would do) to each table."""

    changes: list[Change]
    #: Whether the statements were only shown, not run.
    shown_only: bool = False
    #: The statements that open the untracking transaction (locks), before each table's.
    opening: list[Step] = field(default_factory=list)
    #: Whether the statements run in one transaction.
    transaction: bool = False

    def statements(self) -> list[tuple[str | None, str]]:
        """Every statement in the order it runs, each with the table it is for (None: the
        transaction's own)."""
        found: list[tuple[str | None, str]] = [(None, step.sql) for step in self.opening]
        for change in self.changes:
            found += [(str(change.table), step.sql) for step in change.steps]
        return found


def track_tables(
    db: Database,
    names: Sequence[str],
    *,
    actor: str,
    schema: str | None = None,
    owner_column: str | None = None,
    sql_only: bool = False,
    remote: str | None = None,
    via: Via = Via.library,
) -> Tracking:
    """Gives each named table batch tracking (as a link owned through `owner_column`, if
    given): the statements it lacks are run and the table is recorded as tracked, with an
    audit row. A table tracked already is left as it is; one tracked part-way is finished.
    Refuses (`TrackingRefused`), changing nothing, if any table cannot be tracked; with
    `sql_only`, only says what it would run."""
    ready(db)
    entry: dict[str, Any] = {"actor": actor, "via": via, "remote": remote, "action": "track table"}
    try:
        with db.connect() as conn:
            if ddl_for(conn).transactional:
                return _track_in_one_transaction(
                    db, conn, names, schema, owner_column, sql_only=sql_only, entry=entry
                )
            conn.execution_options(isolation_level="AUTOCOMMIT")
            changes = plan_track(conn, names, schema=schema, owner_column=owner_column)
            if sql_only:
                return Tracking(changes, shown_only=True)
            try:
                for change in changes:
                    run(conn, change, change.steps, verb="tracking", then=AGAIN)
            finally:
                _reset(conn)
            conn.commit()
            conn.execution_options(isolation_level=conn.default_isolation_level)
            with conn.begin():
                _record_tracked(conn, changes, entry)
            return Tracking(changes)
    except BatchportError as exc:
        audit.record(db, **entry, outcome=_outcome(exc), detail=str(exc))
        raise


def _track_in_one_transaction(
    db: Database,
    conn: sa.Connection,
    names: Sequence[str],
    schema: str | None,
    owner_column: str | None,
    *,
    sql_only: bool,
    entry: dict[str, Any],
) -> Tracking:
    if sql_only:
        changes = plan_track(conn, names, schema=schema, owner_column=owner_column)
        conn.rollback()
        return Tracking(changes, shown_only=True, transaction=True)
    with db.dialect.begin_write(conn):
        changes = plan_track(conn, names, schema=schema, owner_column=owner_column)
        for change in changes:
            run(conn, change, change.steps, verb="tracking", then=UNCHANGED)
        _record_tracked(conn, changes, entry)
    return Tracking(changes, transaction=True)


def _record_tracked(conn: sa.Connection, changes: list[Change], entry: dict[str, Any]) -> None:
    for change in changes:
        if change.records:
            registry.add(conn, change.table, change.owner, actor=entry["actor"])
        if change.records or change.steps:
            audit.write(conn, **entry, outcome="ok", detail=_detail(change))


def untrack_tables(
    db: Database,
    names: Sequence[str],
    *,
    actor: str,
    schema: str | None = None,
    force: bool = False,
    sql_only: bool = False,
    remote: str | None = None,
    via: Via = Via.library,
) -> Tracking:
    """Takes batch tracking away from each named table, links before their owners: its
    trigger, its `import_batch_id` (and that column's index) and its `row_version`; the record
    forgets it. One transaction, audited in it. Refuses (`TrackingRefused`), changing nothing,
    if the table is not tracked, if a tracked link still counts its edits on it, or, unless
    `force`, if a batch that can still be rolled back needs it; with `sql_only`, only says
    what it would run."""
    ready(db)
    entry: dict[str, Any] = {
        "actor": actor,
        "via": via,
        "remote": remote,
        "action": "untrack table",
    }
    try:
        with db.connect() as conn:
            changes = plan_untrack(conn, names, schema=schema)
            opening = lock_steps(conn, changes)
            conn.rollback()
            if sql_only:
                return Tracking(changes, shown_only=True, opening=opening, transaction=True)
            with db.dialect.begin_write(conn):
                for step in opening:
                    conn.exec_driver_sql(step.sql)
                # Looked at again under the locks: what was read before may have moved.
                changes = plan_untrack(conn, names, schema=schema)
                for change in changes:
                    batches = live_batches(conn, change)
                    if batches and not force:
                        raise refuse_live(change, batches)
                    run(conn, change, change.steps, verb="untracking", then=UNCHANGED)
                    registry.remove(conn, change.table)
                    detail = _detail(change, forced_over=batches)
                    audit.write(conn, **entry, outcome="ok", detail=detail)
            return Tracking(changes, opening=opening, transaction=True)
    except BatchportError as exc:
        audit.record(db, **entry, outcome=_outcome(exc), detail=str(exc))
        raise
    except sa.exc.DBAPIError as exc:
        failure = DatabaseError(f"untracking stopped: {first_line(exc.orig)}; {UNCHANGED}")
        audit.record(db, **entry, outcome="failed", detail=str(failure))
        raise failure from exc


def tracked_tables(db: Database) -> list[Tracked]:
    """The tables `track_tables` tracks (none on a database not migrated that far)."""
    with db.connect() as conn:
        return entries(conn)


def _detail(change: Change, *, forced_over: Sequence[str] = ()) -> str:
    owner = f" (link of {change.owner.table} through {change.owner.column})" if change.owner else ""
    forced = f" (forced over batches {', '.join(forced_over)})" if forced_over else ""
    return f"{change.table}{owner}{forced}: {'; '.join(change.done) or 'recorded'}"


def _outcome(exc: BatchportError) -> str:
    return "refused" if isinstance(exc, TrackingRefused) else "failed"


def _reset(conn: sa.Connection) -> None:
    try:
        reset(conn)
    except sa.exc.DBAPIError:
        # A connection that cannot take two RESETs is not fit for the pool either.
        with suppress(sa.exc.DBAPIError):
            conn.invalidate()
