"""Taking a batch back: what stops it, then restore, re-check and delete in one transaction.

    assess (census, edits, restore conflicts, references)  ->  take_back (restore what the
    batch updated, check again what still points at it, delete what it created)

`assess` reads everything that decides whether the batch can be rolled back now and changes
nothing; the use case runs it before marking the job `rolling_back` and for a preview.
`take_back` runs in the transaction that commits the rollback, which must see one snapshot
(`Dialect.begin_write(snapshot=True)`): a row another writer commits meanwhile that points at
the batch, or changes a row of it, then fails the delete as a conflict that is retried and
found, instead of being cascaded, blanked or lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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
from batchport.rollback.restore import changed_rows, looping, restore, review
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
    transaction; changes nothing.

    When the batch updated rows, their restore is reviewed, then (with `simulate`, which
    needs a transaction that may write) tried in a savepoint and undone, so that the rows it
    would make their own ancestors, and the rows that would still point at the batch
    afterwards, are found exactly as the rollback would meet them. Without `simulate`, rows
    the batch updated are taken to let go of its rows as their restore would (close, but
    a cycle a restore would make goes unseen).
    """
    rows, signs = census(conn, dialect, catalog, batch_id, force=force)
    restores = changed_rows(conn, catalog, batch_id)
    edited = edited_rows(conn, catalog, batch_id) if signs else []
    if not restores:
        references = outside_references(conn, dialect, catalog, batch_id, force=force)
        return Assessment(rows, restores, references, [], edited)
    found = review(conn, dialect, catalog, batch_id)
    edited += found.edited
    if found.conflicts or found.references:
        return Assessment(rows, restores, found.references, found.conflicts, edited)
    if not simulate:
        references = outside_references(
            conn, dialect, catalog, batch_id, force=force, restored=True
        )
        return Assessment(rows, restores, references, [], edited)
    with conn.begin_nested() as savepoint:
        try:
            with changes.writing(conn, str(uuid.uuid4())):
                restore(conn, dialect, catalog, batch_id, force=True)
                conflicts = looping(conn, catalog, batch_id)
                references = outside_references(conn, dialect, catalog, batch_id, force=force)
        except sa.exc.IntegrityError as exc:
            problem = first_line(exc.orig or exc)
            conflicts = [RestoreConflict("", None, None, f"putting rows back fails: {problem}")]
            references = []
        savepoint.rollback()
    return Assessment(rows, restores, references, conflicts, edited)


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

    Raises, for the caller to undo it all, if a restore conflicts or a row points at what the
    rollback deletes, or if fewer rows were deleted than `assessed` counted (rows edited
    meanwhile: the deletes leave edited rows alone unless forced).
    """
    restored: dict[str, int] = {}
    conflicts: list[RestoreConflict] = []
    if assessed.restores:
        progress("restoring", 0)
        found = review(conn, dialect, catalog, batch_id)
        if found.conflicts or found.references:
            raise RollbackBlocked(batch_id, found.references, found.conflicts)
        restored = restore(conn, dialect, catalog, batch_id, force=force)
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
    return restored, deleted
