"""The use cases: every verb batchport offers, as plain functions. The CLI, the API and the
web UI call these and nothing below them; these own every transaction (and write the audit
log in the transaction of what it records).

    imports.py    run_import, run_workbook_import, export_errors
    rollbacks.py  preview_rollback, rollback_batch, request_rollback, get_rollback_request,
                  latest_rollback_request,
                  run_rollback_request (a rollback asked for through the API, run by a worker)
    reading.py    list_history, get_job, get_batch, batch_records, audit_log
    sessions.py   upload_session, get_session, session_errors, export_session_errors,
                  commit_session
    steps.py      work_once, advance_session, upkeep, abandoned, request_abandoned (the
                  workers' steps)
    web.py        sign_in, signed_in, sign_out (the web UI's browser sessions)
    tracking.py   track_tables, untrack_tables, tracked_tables (an application's own tables)
    declaring.py  import_types, list_types, describe_types, describe_type, scaffold_type
    admin.py      migrate, rollback_migration, migration_status, verify_migrations, recover,
                  grant_service_role,
                  create_account, rotate_token, set_account_disabled, list_accounts,
                  authenticate, record_denial
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchport import lazy_exports

if TYPE_CHECKING:
    from batchport.commands.admin import (
        MigrationStatus,
        authenticate,
        create_account,
        grant_service_role,
        list_accounts,
        migrate,
        migration_status,
        record_denial,
        recover,
        rollback_migration,
        rotate_token,
        set_account_disabled,
        verify_migrations,
    )
    from batchport.commands.declaring import (
        describe_type,
        describe_types,
        import_types,
        list_types,
        scaffold_type,
    )
    from batchport.commands.imports import (
        check_on_existing,
        export_errors,
        run_import,
        run_workbook_import,
    )
    from batchport.commands.reading import (
        audit_log,
        batch_records,
        get_batch,
        get_job,
        list_history,
    )
    from batchport.commands.rollbacks import (
        get_rollback_request,
        latest_rollback_request,
        preview_rollback,
        request_rollback,
        rollback_batch,
        run_rollback_request,
    )
    from batchport.commands.sessions import (
        commit_session,
        count_session_errors,
        export_session_errors,
        get_session,
        sample_rows,
        session_error_kinds,
        session_errors,
        upload_session,
    )
    from batchport.commands.steps import (
        abandoned,
        advance_session,
        request_abandoned,
        upkeep,
        work_once,
    )
    from batchport.commands.tracking import Tracking, track_tables, tracked_tables, untrack_tables
    from batchport.commands.web import sign_in, sign_out, signed_in
    from batchport.vocabulary import WORKBOOK

__all__ = [
    "WORKBOOK",
    "MigrationStatus",
    "Tracking",
    "abandoned",
    "advance_session",
    "audit_log",
    "authenticate",
    "batch_records",
    "check_on_existing",
    "commit_session",
    "count_session_errors",
    "create_account",
    "describe_type",
    "describe_types",
    "export_errors",
    "export_session_errors",
    "get_batch",
    "get_job",
    "get_rollback_request",
    "get_session",
    "grant_service_role",
    "import_types",
    "latest_rollback_request",
    "list_accounts",
    "list_history",
    "list_types",
    "migrate",
    "migration_status",
    "preview_rollback",
    "record_denial",
    "recover",
    "request_abandoned",
    "request_rollback",
    "rollback_batch",
    "rollback_migration",
    "rotate_token",
    "run_import",
    "run_rollback_request",
    "run_workbook_import",
    "sample_rows",
    "scaffold_type",
    "session_error_kinds",
    "session_errors",
    "set_account_disabled",
    "sign_in",
    "sign_out",
    "signed_in",
    "track_tables",
    "tracked_tables",
    "untrack_tables",
    "upkeep",
    "upload_session",
    "verify_migrations",
    "work_once",
]

#: Where each use case lives: imported when first called, so that a command loads only its own.
_EXPORTS = {
    "batchport.commands.admin": (
        "MigrationStatus",
        "authenticate",
        "create_account",
        "grant_service_role",
        "list_accounts",
        "migrate",
        "migration_status",
        "record_denial",
        "recover",
        "rollback_migration",
        "rotate_token",
        "set_account_disabled",
        "verify_migrations",
    ),
    "batchport.commands.declaring": (
        "describe_type",
        "describe_types",
        "import_types",
        "list_types",
        "scaffold_type",
    ),
    "batchport.commands.imports": (
        "check_on_existing",
        "export_errors",
        "run_import",
        "run_workbook_import",
    ),
    "batchport.commands.reading": (
        "audit_log",
        "batch_records",
        "get_batch",
        "get_job",
        "list_history",
    ),
    "batchport.commands.rollbacks": (
        "get_rollback_request",
        "latest_rollback_request",
        "preview_rollback",
        "request_rollback",
        "rollback_batch",
        "run_rollback_request",
    ),
    "batchport.commands.sessions": (
        "commit_session",
        "count_session_errors",
        "export_session_errors",
        "get_session",
        "sample_rows",
        "session_error_kinds",
        "session_errors",
        "upload_session",
    ),
    "batchport.commands.steps": (
        "abandoned",
        "advance_session",
        "request_abandoned",
        "upkeep",
        "work_once",
    ),
    "batchport.commands.tracking": (
        "Tracking",
        "track_tables",
        "tracked_tables",
        "untrack_tables",
    ),
    "batchport.commands.web": (
        "sign_in",
        "sign_out",
        "signed_in",
    ),
    "batchport.vocabulary": ("WORKBOOK",),
}

if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute
    __getattr__ = lazy_exports(__name__, _EXPORTS)
