"""batchport: import spreadsheets into a relational database so that every import can be
taken back exactly.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchport.audit import AuditFilter
    from batchport.builtin_types import BUILTIN_TYPES
    from batchport.commands import (
        MigrationStatus,
        export_errors,
        get_batch,
        import_types,
        list_history,
        migrate,
        migration_status,
        preview_rollback,
        recover,
        rollback_batch,
        rollback_migration,
        run_import,
        run_workbook_import,
        scaffold_type,
        track_tables,
        tracked_tables,
        untrack_tables,
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
        ImportConflict,
        ImportFailed,
        JobMoved,
        LinksReferenced,
        RollbackBlocked,
        RollbackRefused,
        RowError,
        RowsEdited,
        RowsGone,
        SourceError,
        TooManyRows,
        TypeNotDeclared,
        UpdateMakesCycle,
    )
    from batchport.history import JobFilter
    from batchport.reports import (
        BatchReport,
        EditedRow,
        ImportReport,
        Job,
        ReferencingRow,
        RestoreConflict,
        RollbackPreview,
        RollbackReport,
    )
    from batchport.sources import Limits

__all__ = [
    "BUILTIN_TYPES",
    "AuditFilter",
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
    "ImportConflict",
    "ImportFailed",
    "ImportReport",
    "ImportType",
    "Job",
    "JobFilter",
    "JobMoved",
    "Limits",
    "Link",
    "LinksReferenced",
    "MigrationStatus",
    "Reference",
    "ReferencingRow",
    "RestoreConflict",
    "RollbackBlocked",
    "RollbackPreview",
    "RollbackRefused",
    "RollbackReport",
    "RowError",
    "RowsEdited",
    "RowsGone",
    "SourceError",
    "TooManyRows",
    "TypeNotDeclared",
    "UpdateMakesCycle",
    "export_errors",
    "get_batch",
    "import_types",
    "list_history",
    "migrate",
    "migration_status",
    "preview_rollback",
    "recover",
    "rollback_batch",
    "rollback_migration",
    "run_import",
    "run_workbook_import",
    "scaffold_type",
    "track_tables",
    "tracked_tables",
    "untrack_tables",
    "verify_migrations",
]

#: Where each exported name lives: imported when first used, so that `import batchport` (and so
#: every command's start) loads none of SQLAlchemy, pydantic or the readers until a name asks.
_EXPORTS = {
    "batchport.audit": ("AuditFilter",),
    "batchport.builtin_types": ("BUILTIN_TYPES",),
    "batchport.commands": (
        "MigrationStatus",
        "export_errors",
        "get_batch",
        "import_types",
        "list_history",
        "migrate",
        "migration_status",
        "preview_rollback",
        "recover",
        "rollback_batch",
        "rollback_migration",
        "run_import",
        "run_workbook_import",
        "scaffold_type",
        "track_tables",
        "tracked_tables",
        "untrack_tables",
        "verify_migrations",
    ),
    "batchport.database": ("Database",),
    "batchport.declarations": (
        "Catalog",
        "Field",
        "ImportType",
        "Link",
        "Reference",
    ),
    "batchport.errors": (
        "BatchNotFound",
        "BatchNotRollbackable",
        "BatchportError",
        "ConfigurationError",
        "DatabaseError",
        "DatabaseNotMigrated",
        "EmptyBatch",
        "FileRejected",
        "ImportConflict",
        "ImportFailed",
        "JobMoved",
        "LinksReferenced",
        "RollbackBlocked",
        "RollbackRefused",
        "RowError",
        "RowsEdited",
        "RowsGone",
        "SourceError",
        "TooManyRows",
        "TypeNotDeclared",
        "UpdateMakesCycle",
    ),
    "batchport.history": ("JobFilter",),
    "batchport.reports": (
        "BatchReport",
        "EditedRow",
        "ImportReport",
        "Job",
        "ReferencingRow",
        "RestoreConflict",
        "RollbackPreview",
        "RollbackReport",
    ),
    "batchport.sources": ("Limits",),
}


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A package's `__getattr__` (PEP 562) that imports each name of `exports` (module → names)
    from its module when first asked for, and keeps it."""
    where = {name: module for module, names in exports.items() for name in names}

    def attribute(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return attribute


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute
    __getattr__ = lazy_exports(__name__, _EXPORTS)
