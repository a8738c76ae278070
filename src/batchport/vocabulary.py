"""The words batchport's records and options are made of, one enum each: what the schema's
CHECK constraints allow, what the CLI and the API accept, what the code compares against.

Each is a `StrEnum`, so its members are the very strings stored in the database and sent over
the wire.
"""

from __future__ import annotations

from enum import StrEnum

#: The import type recorded for a job that imports every sheet of a workbook: the CLI's and
#: the API's word for it, so no declared type's name.
WORKBOOK = "workbook"


class OnExisting(StrEnum):
    """What an import does with a row whose key is already in the database."""

    error = "error"
    skip = "skip"
    update = "update"


class Via(StrEnum):
    """Where an actor acted from: its name means an operating-system user (`cli`), an account
    of the service (`api`), or whatever the calling program says (`library`)."""

    cli = "cli"
    api = "api"
    library = "library"


class Role(StrEnum):
    """What an account of the service may do: everything, its own imports, or read."""

    admin = "admin"
    importer = "importer"
    viewer = "viewer"


class JobStatus(StrEnum):
    """Where an import job stands (`import_history.status`); it only moves forward."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    rolling_back = "rolling_back"
    rolled_back = "rolled_back"
    rollback_failed = "rollback_failed"


class SessionStatus(StrEnum):
    """Where an uploaded file stands on its way to becoming an import job."""

    uploaded = "uploaded"
    validating = "validating"
    valid = "valid"
    invalid = "invalid"
    queued = "queued"
    committing = "committing"
    committed = "committed"
    failed = "failed"
    expired = "expired"


class RequestStatus(StrEnum):
    """Where a rollback asked for through the API stands (`rollback_requests`)."""

    queued = "queued"
    rolling_back = "rolling_back"
    rolled_back = "rolled_back"
    failed = "failed"


#: A request a worker has yet to finish (at most one per import job).
OPEN_REQUESTS = (RequestStatus.queued, RequestStatus.rolling_back)
