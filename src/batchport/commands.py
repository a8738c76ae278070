"""The use cases: every verb batchport offers, as plain functions. The CLI, the API and the
web UI call these and nothing below them; these own every transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa

from batchport import history, migrations
from batchport.database import Database
from batchport.declarations import ImportType
from batchport.errors import (
    BatchNotRollbackable,
    BatchportError,
    FileRejected,
    ImportFailed,
    RollbackBlocked,
    RollbackRefused,
    RowError,
    SourceError,
)
from batchport.loading.direct import DirectLoader, NotLoadable
from batchport.loading.load import load_stage
from batchport.loading.staging import Stage
from batchport.mapping import map_header
from batchport.reports import BatchReport, ImportReport, Job, RollbackReport
from batchport.rollback import batch_rows, delete_batch, outside_references
from batchport.sources import file_sha256, open_source
from batchport.sources.prefetch import prefetch
from batchport.validation.checks import check_stage
from batchport.validation.rows import parse_chunks
from batchport.verify import Check, verify_schema

#: Rows parsed and staged per round trip; bounds memory whatever the file's size.
CHUNK_ROWS = 10_000

#: Called as `progress(phase, rows_so_far)` while an import runs.
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class MigrationStatus:
    """Where the database's schema stands."""

    current: str | None
    head: str
    pending: list[str]


def run_import(
    db: Database,
    import_type: str,
    path: Path | str,
    *,
    actor: str,
    encoding: str | None = None,
    sheet: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Imports one file as one batch, all or nothing.

    Raises `FileRejected` (carrying every row error) if any row is invalid; nothing is written
    then. With `dry_run`, validates and reports what would be created without writing anything,
    history included.
    """
    declared = db.catalog[import_type]
    options = _ReadOptions(encoding, sheet, progress)
    path = Path(path)
    if not path.is_file():
        raise SourceError(str(path), "no such file")
    db.ensure_ready()
    file_sha = file_sha256(path)
    if dry_run:
        return _import_file(db, declared, path, None, options)
    with db.connect() as conn, conn.begin():
        job = history.start_job(
            conn,
            import_type=declared.name,
            file_name=path.name,
            file_sha256=file_sha,
            actor=actor,
        )
    try:
        return _import_file(db, declared, path, job, options)
    except FileRejected as exc:
        _record_failure(db, job, _rejection_summary(exc.errors), exc.report.rows_total, exc.errors)
        raise
    except BatchportError as exc:
        _record_failure(db, job, str(exc))
        raise
    except sa.exc.SQLAlchemyError as exc:
        reason = _database_failure(exc)
        _record_failure(db, job, reason)
        raise ImportFailed(reason, job_id=job.job_id, batch_id=job.batch_id) from exc
    except BaseException:
        _record_failure(db, job, "interrupted")
        raise


def rollback_batch(
    db: Database, batch_id: str, *, actor: str, reason: str | None = None
) -> RollbackReport:
    """Deletes every row the batch created, children first, in one transaction.

    `batch_id` may also be the job id. Refuses, changing nothing, if the batch is not
    `completed` or if rows outside the batch still reference its rows.
    """
    db.ensure_ready()
    with db.connect() as conn:
        try:
            with db.dialect.begin_write(conn):
                job = history.find_job(conn, batch_id, dialect=db.dialect)
                _check_rollbackable(conn, db, job)
                deleted = delete_batch(conn, db.catalog, job.batch_id)
                history.mark_rolled_back(conn, job, actor=actor, reason=reason)
        except sa.exc.IntegrityError as exc:
            raise RollbackRefused(
                f"batch {batch_id} cannot be rolled back: rows written meanwhile reference it "
                f"({_database_failure(exc)}); nothing was deleted",
                batch_id=batch_id,
            ) from exc
    return RollbackReport(
        batch_id=job.batch_id,
        job_id=job.job_id,
        status="rolled_back",
        deleted=deleted,
        rolled_back_by=actor,
        reason=reason,
    )


def preview_rollback(db: Database, batch_id: str) -> BatchReport:
    """The rows a rollback of the batch would delete; raises what the rollback would raise."""
    db.ensure_ready()
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        _check_rollbackable(conn, db, job)
        return BatchReport(job, batch_rows(conn, db.catalog, job.batch_id))


def get_batch(db: Database, batch_id: str) -> BatchReport:
    """One batch (by batch id or job id) with the rows each table holds of it."""
    db.ensure_ready()
    with db.connect() as conn:
        job = history.find_job(conn, batch_id)
        return BatchReport(job, batch_rows(conn, db.catalog, job.batch_id))


def list_history(
    db: Database,
    *,
    import_type: str | None = None,
    status: str | None = None,
    batch_id: str | None = None,
    limit: int = 50,
) -> list[Job]:
    """Import jobs, newest first."""
    db.ensure_ready()
    with db.connect() as conn:
        return history.list_jobs(
            conn, import_type=import_type, status=status, batch_id=batch_id, limit=limit
        )


def migrate(db: Database, target: str = "head") -> MigrationStatus:
    """Upgrades the schema to `target` (default: the newest revision)."""
    with db.connect() as conn:
        migrations.upgrade(conn, target)
        conn.commit()
    return migration_status(db)


def rollback_migration(db: Database, target: str | None = None) -> MigrationStatus:
    """Undoes the last revision, or every revision after `target`."""
    with db.connect() as conn:
        migrations.downgrade(conn, target or "-1")
        conn.commit()
    return migration_status(db)


def migration_status(db: Database) -> MigrationStatus:
    """The current revision, the head and the revisions still to apply."""
    with db.connect() as conn:
        return MigrationStatus(
            current=migrations.current_revision(conn),
            head=migrations.head_revision(),
            pending=migrations.pending_revisions(conn),
        )


def verify_migrations(db: Database) -> list[Check]:
    """The seed's post-migration checks against the live schema and data."""
    with db.connect() as conn:
        return verify_schema(conn, db.dialect.schema("inventory"))


def _check_rollbackable(conn: sa.Connection, db: Database, job: Job) -> None:
    if job.status != "completed":
        raise BatchNotRollbackable(job.batch_id, job.status)
    references = outside_references(conn, db.catalog, job.batch_id)
    if references:
        raise RollbackBlocked(job.batch_id, references)


@dataclass(frozen=True)
class _ReadOptions:
    encoding: str | None
    sheet: str | None
    progress: Progress | None


def _import_file(
    db: Database, import_type: ImportType, path: Path, job: Job | None, options: _ReadOptions
) -> ImportReport:
    """Reads, validates and (for a job) loads the file; `job=None` is a dry run.

    The direct path writes a valid file in one pass; if it meets anything it cannot prove
    valid, its transaction is rolled back and the staged path reports every error exactly.
    """
    report = ImportReport(
        import_type=import_type.name,
        file_name=path.name,
        status="completed" if job else "valid",
        rows_total=0,
        rows_imported=0,
        job_id=job.job_id if job else None,
        batch_id=job.batch_id if job else None,
        dry_run=job is None,
    )
    try:
        return _import_direct(db, import_type, path, job, options=options, report=report)
    except NotLoadable:
        return _import_staged(db, import_type, path, job, options=options, report=report)


def _import_direct(
    db: Database,
    import_type: ImportType,
    path: Path,
    job: Job | None,
    *,
    options: _ReadOptions,
    report: ImportReport,
) -> ImportReport:
    progress = options.progress or _no_progress
    with (
        db.connect() as conn,
        open_source(path, encoding=options.encoding, sheet=options.sheet) as source,
    ):
        mapping, errors = map_header(import_type, source.header())
        if errors:
            raise FileRejected(_rejected(report, errors))
        rows_total = 0
        progress("started", 0)
        try:
            with db.dialect.begin_write(conn) as transaction:
                batch_id = job.batch_id if job else f"dry-run-{uuid.uuid4()}"
                loader = DirectLoader(conn, db.dialect, db.catalog, import_type, batch_id)
                chunks = parse_chunks(mapping, source.blocks(CHUNK_ROWS), errors)
                for chunk in prefetch(chunks) if db.dialect.read_ahead else chunks:
                    if errors:
                        raise NotLoadable("invalid cells")
                    loader.write(chunk)
                    rows_total += len(chunk)
                    progress("loading", rows_total)
                if errors:
                    raise NotLoadable("invalid cells")
                created = loader.finish()
                imported = created[import_type.table.name]
                report = _with(report, rows_total=rows_total, created=created)
                if job is None:
                    transaction.rollback()
                    return report
                history.complete_job(conn, job, rows_total=rows_total, rows_imported=imported)
                return _with(report, rows_imported=imported)
        except sa.exc.IntegrityError as exc:
            raise NotLoadable(str(exc)) from exc


def _import_staged(
    db: Database,
    import_type: ImportType,
    path: Path,
    job: Job | None,
    *,
    options: _ReadOptions,
    report: ImportReport,
) -> ImportReport:
    """Stages every row, checks the whole file with set-based SQL, loads only if all is valid."""
    progress = options.progress or _no_progress
    with (
        db.connect() as conn,
        open_source(path, encoding=options.encoding, sheet=options.sheet) as source,
    ):
        mapping, errors = map_header(import_type, source.header())
        rows_total = 0
        with conn.begin():
            stage = Stage.create(conn, import_type)
            for chunk in parse_chunks(mapping, source.blocks(CHUNK_ROWS), errors):
                stage.write(conn, db.dialect, chunk)
                rows_total += len(chunk)
                progress("validating", rows_total)
        try:
            with db.dialect.begin_write(conn):
                errors += check_stage(conn, stage, db.catalog)
                report = _with(report, rows_total=rows_total)
                if errors:
                    raise FileRejected(_rejected(report, errors))
                if job is None:
                    return _with(report, created=_staged_counts(conn, stage))
                created = load_stage(conn, stage, db.catalog, job.batch_id)
                imported = created[import_type.table.name]
                history.complete_job(conn, job, rows_total=rows_total, rows_imported=imported)
                return _with(report, created=created, rows_imported=imported)
        finally:
            _drop_quietly(conn, stage)


def _no_progress(_phase: str, _rows: int) -> None:
    """Progress is not reported."""


def _with(report: ImportReport, **changes: object) -> ImportReport:
    return replace(report, **changes)  # type: ignore[arg-type]


def _rejected(report: ImportReport, errors: list[RowError]) -> ImportReport:
    ordered = sorted(errors, key=lambda e: e.row)
    return _with(report, status="invalid" if report.dry_run else "failed", errors=ordered)


def _staged_counts(conn: sa.Connection, stage: Stage) -> dict[str, int]:
    def count(table: sa.Table) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    counts = {stage.import_type.table.name: count(stage.rows)}
    for link, table in stage.links:
        counts[link.table.name] = counts.get(link.table.name, 0) + count(table)
    return counts


def _drop_quietly(conn: sa.Connection, stage: Stage) -> None:
    """Drops the staging tables; a broken connection takes them with it anyway."""
    try:
        with conn.begin():
            stage.drop(conn)
    except sa.exc.SQLAlchemyError:
        conn.invalidate()


def _record_failure(
    db: Database,
    job: Job,
    reason: str,
    rows_total: int = 0,
    errors: list[RowError] | None = None,
) -> None:
    with db.connect() as conn, conn.begin():
        history.fail_job(
            conn,
            job,
            reason,
            rows_total=rows_total,
            rows_failed=len({e.row for e in errors or []}),
        )


def _rejection_summary(errors: list[RowError]) -> str:
    shown = "; ".join(str(e) for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"rejected: {len(errors)} error(s): {shown}{more}"


def _database_failure(exc: sa.exc.SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else repr(original)
    if isinstance(exc, sa.exc.IntegrityError):
        return f"a row conflicts with data written while the import ran: {text}"
    return f"the database failed while loading: {text}"
