"""batchport: import spreadsheets into a relational database so that every import can be
taken back exactly.
"""

from __future__ import annotations

from batchport.commands import (
    MigrationStatus,
    export_errors,
    get_batch,
    list_history,
    migrate,
    migration_status,
    preview_rollback,
    recover,
    rollback_batch,
    rollback_migration,
    run_import,
    run_workbook_import,
    verify_migrations,
)
from batchport.database import Database
from batchport.declarations import Catalog, Field, ImportType, Link, Reference
from batchport.errors import (
    BatchNotFound,
    BatchNotRollbackable,
    BatchportError,
    ConfigurationError,
    DatabaseError,
    DatabaseNotMigrated,
    EmptyBatch,
    FileRejected,
    ImportFailed,
    RollbackBlocked,
    RollbackRefused,
    RowError,
    RowsEdited,
    SourceError,
)
from batchport.reports import (
    BatchReport,
    EditedRow,
    ImportReport,
    Job,
    RollbackPreview,
    RollbackReport,
)
from batchport.sources import Limits

__all__ = [
    "BatchNotFound",
    "BatchNotRollbackable",
    "BatchReport",
    "BatchportError",
    "Catalog",
    "ConfigurationError",
    "Database",
    "DatabaseError",
    "DatabaseNotMigrated",
    "EditedRow",
    "EmptyBatch",
    "Field",
    "FileRejected",
    "ImportFailed",
    "ImportReport",
    "ImportType",
    "Job",
    "Limits",
    "Link",
    "MigrationStatus",
    "Reference",
    "RollbackBlocked",
    "RollbackPreview",
    "RollbackRefused",
    "RollbackReport",
    "RowError",
    "RowsEdited",
    "SourceError",
    "export_errors",
    "get_batch",
    "list_history",
    "migrate",
    "migration_status",
    "preview_rollback",
    "recover",
    "rollback_batch",
    "rollback_migration",
    "run_import",
    "run_workbook_import",
    "verify_migrations",
]
