"""Batch tracking for an application's own tables (`batchport db track`): the seed's batch
migration made general, so that an import into any table can be rolled back exactly.

A tracked table gets what batchport's own tables got from their migrations: a nullable,
indexed `import_batch_id` VARCHAR(100) (the batch that created the row), and either a
`row_version` BIGINT NOT NULL DEFAULT 0 with the trigger that counts every change made outside
batchport (a table of its own), or, for a link table, the trigger that counts a change to a
link row as a change to its owner row. `tracked_tables` records it, for `db status`,
`db verify` and `db untrack`.

    shapes.py        what the catalog says about a table
    ddl.py           the statements, one class per dialect (postgresql.py, sqlite.py)
    requirements.py  what a table needs to be tracked; what a tracked table must still have
                     (`problems`, `require_tracked`: other code asks here before importing)
    registry.py      the record of tracked tables, and batchport's own tables
    plan.py          what tracking or untracking each named table takes

`TrackingRefused` and `TableNotTracked` are `ConfigurationError`s (exit code 1, HTTP 400).
"""

from __future__ import annotations

from batchport.tracking.ddl import Step
from batchport.tracking.plan import Change
from batchport.tracking.registry import Tracked, entries
from batchport.tracking.requirements import (
    Finding,
    TableNotTracked,
    TrackingRefused,
    all_tracked,
    findings,
    problems,
    require_tracked,
    track_command,
    verified,
)
from batchport.tracking.shapes import Owner, TableName

__all__ = [
    "Change",
    "Finding",
    "Owner",
    "Step",
    "TableName",
    "TableNotTracked",
    "Tracked",
    "TrackingRefused",
    "all_tracked",
    "entries",
    "findings",
    "problems",
    "require_tracked",
    "track_command",
    "verified",
]
