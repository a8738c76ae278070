"""The use cases: every verb batchport offers, as plain functions. The CLI, the API and the
web UI call these and nothing below them; these own every transaction (and write the audit
log in the transaction of what it records).

    imports.py    run_import, run_workbook_import, export_errors
    rollbacks.py  preview_rollback, rollback_batch
    reading.py    list_history, get_batch, batch_records, audit_log
    admin.py      migrate, rollback_migration, migration_status, verify_migrations, recover,
                  create_account, list_accounts, authenticate
"""

from __future__ import annotations

from batchport.commands.admin import (
    MigrationStatus,
    authenticate,
    create_account,
    list_accounts,
    migrate,
    migration_status,
    recover,
    rollback_migration,
    verify_migrations,
)
from batchport.commands.imports import (
    WORKBOOK,
    check_on_existing,
    export_errors,
    run_import,
    run_workbook_import,
)
from batchport.commands.reading import audit_log, batch_records, get_batch, list_history
from batchport.commands.rollbacks import preview_rollback, rollback_batch

__all__ = [
    "WORKBOOK",
    "MigrationStatus",
    "audit_log",
    "authenticate",
    "batch_records",
    "check_on_existing",
    "create_account",
    "export_errors",
    "get_batch",
    "list_accounts",
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
