"""Taking a batch back: what stops it, then restore, re-check and delete in one transaction.

    assess (census, edits, the restore looked at and planned, references)  ->  take_back
    (the plan checked again and written, what still points at the batch checked again, what
    it created deleted)

`assess` reads everything that decides whether the batch can be rolled back now and changes
nothing but the temporary tables of its restore's plan (see `restore.Plan`); the use case
runs it before marking the job `rolling_back` and for a preview. `take_back` runs in the
transaction that commits the rollback, which must see one snapshot
(`Dialect.begin_write(snapshot=True)`): a row another writer commits meanwhile that points at
the batch, or changes a row of it, then fails the delete as a conflict that is retried and
found, instead of being cascaded, blanked or lost. On the connection `assess` ran on, it
writes from the plan `assess` made when it finds every row as that plan saw it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from batchport import changes
from batchport.declarations import Catalog
from batchport.dialects import Dialect
from batchport.errors import (
    BatchNotRollbackable,
    EmptyBatch,
    RollbackBlocked,
    RollbackRefused,
    RowsEdited,
    first_line,
)
from batchport.progress import Progress, no_progress
from batchport.reports import EditedRow, Job, ReferencingRow, RestoreConflict
from batchport.rollback.edits import edited_rows
from batchport.rollback.references import outside_references
from batchport.rollback.restore import Plan, changed_meanwhile, changed_rows, looping
from batchport.rollback.scope import census, delete
from batchport.vocabulary import JobStatus

__all__ = ["Assessment", "assess", "census", "changed_rows", "take_back"]


#: The statuses a batch can be rolled back from: a completed import, or a failed rollback.
ROLLBACK_FROM = frozenset({JobStatus.completed, JobStatus.rollback_failed})


@dataclass(frozen=True)
class Assessment:
    """What a rollback of one batch would delete and restore, and what stops it."""

    #: Rows per table it would delete.
    rows: dict[str, int]
    #: Rows per table it would give their prior values back.
    restores: dict[str, int]
    references: list[ReferencingRow]
    conflicts: list[RestoreConflict]
    edited: list[EditedRow]
    #: The restore, planned on the connection the assessment was read on (None if the batch
    #: updated no rows).
    plan: Plan | None = field(default=None, compare=False, repr=False)

    def refusal(self, job: Job) -> RollbackRefused | None:
        """Why the job's status, or a batch with nothing to take back, rules a rollback out."""
        if job.status not in ROLLBACK_FROM:
            return BatchNotRollbackable(job.batch_id, job.status)
        if not self.rows and not self.restores:
            return EmptyBatch(job.batch_id)
        return None

    def blocker(self, batch_id: str, *, force: bool) -> RollbackRefused | None:
        """The refusal these findings call for, if any (`force` overrides edits only)."""
        if self.references or self.conflicts:
            return RollbackBlocked(batch_id, self.references, self.conflicts)
        if self.edited and not force:
            return RowsEdited(batch_id, self.edited)
        return None


def assess(
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    batch_id: str,
    *,
    force: bool,
    simulate: bool = True,
) -> Assessment:
    """Everything that decides whether the batch can be rolled back now, read in the caller's
    transaction; changes nothing but the temporary tables of the restore's plan.

    When the batch updated rows, their restore is looked at and planned (`Plan.look`), then
    (with `simulate`, which needs a transaction that may write) made in a savepoint and
    undone, so that the rows it would make their own ancestors, and the rows that would still
    point at the batch afterwards, are found exactly as the rollback would meet them. Without
    `simulate`, rows the batch updated are taken to let go of its rows as their restore would
    (close, but a cycle a restore would make goes unseen).
    """
    rows, signs = census(conn, dialect, catalog, batch_id, force=force)
    restores = changed_rows(conn, catalog, batch_id)
    edited = edited_rows(conn, catalog, batch_id) if signs else []
    if not restores:
        references = outside_references(conn, dialect, catalog, batch_id, force=force)
        return Assessment(rows, restores, references, [], edited)
    plan = Plan.look(conn, dialect, catalog, batch_id)
    found = plan.found
    edited += found.edited
    if found.conflicts or found.references:
        return Assessment(rows, restores, found.references, found.conflicts, edited, plan)
    if not simulate:
        references = outside_references(
            conn, dialect, catalog, batch_id, force=force, restored=True
        )
        return Assessment(rows, restores, references, [], edited, plan)
    with conn.begin_nested() as savepoint:
        try:
            with changes.writing(conn, str(uuid.uuid4())):
                plan.apply()
                conflicts = looping(conn, catalog, batch_id)
                references = outside_references(conn, dialect, catalog, batch_id, force=force)
        except sa.exc.IntegrityError as exc:
            problem = first_line(exc.orig or exc)
            conflicts = [RestoreConflict("", None, None, f"putting rows back fails: {problem}")]
            references = []
        savepoint.rollback()
    return Assessment(rows, restores, references, conflicts, edited, plan)


def take_back(
    conn: sa.Connection,
    dialect: Dialect,
    catalog: Catalog,
    batch_id: str,
    assessed: Assessment,
    *,
    force: bool,
    progress: Progress = no_progress,
) -> tuple[dict[str, int], dict[str, int]]:
    """Restores what the batch updated and deletes what it created, in the caller's
    transaction (a snapshot, marked as batchport's); returns rows restored and deleted per
    table. `progress` hears each phase begin, with the rows done before it.

    The restore is written from `assessed`'s plan if it was made on `conn` and every row is
    as it saw it, else from a new look. Raises, for the caller to undo it all, if a restore
    conflicts, a row it restores was edited or deleted since the checks (unless forced), or a
    row points at what the rollback deletes, or if fewer rows were deleted than `assessed`
    counted (rows edited meanwhile: the deletes leave edited rows alone unless forced).
    """
    restored: dict[str, int] = {}
    conflicts: list[RestoreConflict] = []
    plans: list[Plan] = []
    if assessed.restores:
        progress("restoring", 0)
        looked = assessed.plan
        if looked is not None and looked.conn is conn:
            plan, found = looked.again()
            plans.append(looked)
        else:
            plan = Plan.look(conn, dialect, catalog, batch_id)
            found = plan.found
        if plan is not looked:
            plans.append(plan)
        if found.conflicts or found.references:
            raise RollbackBlocked(batch_id, found.references, found.conflicts)
        if found.edited and not force:
            first = found.edited[0]
            raise changed_meanwhile(first.table, first.row_id, batch_id)
        restored = plan.apply()
        conflicts = looping(conn, catalog, batch_id)
    done = sum(restored.values())
    progress("checking", done)
    references = outside_references(conn, dialect, catalog, batch_id, force=force)
    if references or conflicts:
        raise RollbackBlocked(batch_id, references, conflicts)
    progress("deleting", done)
    deleted = delete(conn, dialect, catalog, batch_id, force=force)
    progress("deleting", done + sum(deleted.values()))
    if {table: n for table, n in deleted.items() if n} != assessed.rows:
        raise RollbackRefused(
            f"rows of batch {batch_id} changed while it was being rolled back; "
            "nothing was changed — try again",
            batch_id=batch_id,
        )
    for used in plans:
        used.drop()
    return restored, deleted
