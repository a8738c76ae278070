"""The use cases that import: one file, or a whole workbook, as one job with one batch."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from batchport import audit, history
from batchport.commands.support import T, database_failure, ready, retrying
from batchport.database import Database
from batchport.error_report import write_error_report
from batchport.errors import (
    BatchportError,
    ConfigurationError,
    FileRejected,
    ImportFailed,
    Interrupted,
    RowError,
    SourceError,
)
from batchport.importing import Finish, Progress, ReadOptions, import_file, import_workbook
from batchport.liveness import INTERRUPTED, working_on
from batchport.process import this_worker
from batchport.reports import (
    ImportReport,
    Job,
)
from batchport.sources import Limits, file_sha256
from batchport.vocabulary import WORKBOOK, OnExisting, Via

logger = logging.getLogger(__name__)


def run_import(
    db: Database,
    import_type: str,
    path: Path | str,
    *,
    actor: str,
    encoding: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    limits: Limits | None = None,
    dry_run: bool = False,
    on_existing: str = "error",
    progress: Progress | None = None,
    job_id: str | None = None,
    remote: str | None = None,
    via: Via = Via.library,
) -> ImportReport:
    """Imports one file as one batch, all or nothing.

    Raises `FileRejected` (carrying every row error) if any row is invalid; nothing is written
    then. The CSV encoding and delimiter are detected unless given; `limits` bound the file's
    size, rows and cells. A row whose key is already in the database is an error, or with
    `on_existing` `skip` left alone, or with `update` updated (its prior values logged, so
    that a rollback restores them). With `dry_run`, validates and reports what would be done
    without writing anything, history included. `job_id` names the job to create (a service
    that promised its client a job id before running it). `via` says where `actor` acts from
    (`Via`): history and the audit log record it with the name.
    """
    declared = db.catalog[import_type]
    options = ReadOptions(
        encoding,
        sheet,
        progress,
        check_on_existing(on_existing),
        delimiter=delimiter,
        limits=limits or Limits(),
    )
    path = _existing_file(path)
    ready(db)
    if dry_run:
        return import_file(db, declared, path, None, options)
    return _as_job(
        db,
        declared.name,
        path,
        lambda job, finish: import_file(db, declared, path, job, options, finish=finish),
        actor=actor,
        options=options,
        job_id=job_id,
        remote=remote,
        via=via,
    )


def run_workbook_import(
    db: Database,
    path: Path | str,
    *,
    actor: str,
    limits: Limits | None = None,
    dry_run: bool = False,
    on_existing: str = "error",
    progress: Progress | None = None,
    via: Via = Via.library,
    job_id: str | None = None,
    remote: str | None = None,
) -> list[ImportReport]:
    """Imports every sheet of a workbook named after an import type (`departments`, `users`,
    ...) in dependency order, as one job with one batch id, all or nothing (`job_id` names
    the job, as for `run_import`)."""
    options = ReadOptions(
        progress=progress, on_existing=check_on_existing(on_existing), limits=limits or Limits()
    )
    path = _existing_file(path)
    ready(db)
    if dry_run:
        return import_workbook(db, path, None, options)
    return _as_job(
        db,
        WORKBOOK,
        path,
        lambda job, finish: import_workbook(db, path, job, options, finish=finish),
        actor=actor,
        options=options,
        via=via,
        job_id=job_id,
        remote=remote,
    )


def export_errors(
    errors: list[RowError],
    path: Path | str,
    out: Path | str,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    limits: Limits | None = None,
) -> int:
    """Writes a rejected file's errors, each with its row's original cells, to the CSV `out`
    (cells a spreadsheet would run as formulas neutralised); returns the lines written."""
    options = ReadOptions(encoding, sheet, delimiter=delimiter, limits=limits or Limits())
    return write_error_report(Path(out), errors, lambda name: options.open(Path(path), name))


def _as_job(
    db: Database,
    import_type: str,
    path: Path,
    run: Callable[[Job, Finish], T],
    *,
    actor: str,
    options: ReadOptions,
    job_id: str | None = None,
    remote: str | None = None,
    via: Via = Via.library,
) -> T:
    """Runs `run` as a new job: recorded `running` first, then completed with its data or
    failed with the reason; either way the audit log gets a row, in the transaction that
    records the outcome. Once the data has committed, nothing can turn success into failure."""
    file_sha = file_sha256(path)
    job_id = job_id or str(uuid.uuid4())
    # The claim comes first, so that no sweep ever sees this job running without a worker.
    with working_on(db, job_id):
        with db.connect() as conn, conn.begin():
            job = history.start_job(
                conn,
                job_id=job_id,
                import_type=import_type,
                file_name=path.name,
                file_sha256=file_sha,
                actor=actor,
                worker=this_worker(),
                on_existing=options.on_existing,
                via=via,
            )

        def finish(conn: sa.Connection) -> None:
            _audit_import(conn, job, "ok", remote, f"job {job.job_id}, {import_type}")

        try:
            return retrying(db, lambda: run(job, finish))
        except FileRejected as exc:
            summary = _rejection_summary(exc.errors)
            _record_failure(
                db,
                job,
                summary,
                remote=remote,
                outcome="rejected",
                rows_total=exc.report.rows_total,
                errors=exc.errors,
            )
            raise
        except BatchportError as exc:
            _record_failure(db, job, str(exc), remote=remote, outcome="failed")
            raise
        except sa.exc.SQLAlchemyError as exc:
            reason = database_failure(exc)
            _record_failure(db, job, reason, remote=remote, outcome="failed")
            raise ImportFailed(reason, job_id=job.job_id, batch_id=job.batch_id) from exc
        except KeyboardInterrupt as exc:
            _record_failure(db, job, INTERRUPTED, remote=remote, outcome="failed")
            raise Interrupted(
                f"interrupted; nothing was imported — job {job.job_id} is failed: {INTERRUPTED}"
            ) from exc
        except BaseException:
            _record_failure(db, job, INTERRUPTED, remote=remote, outcome="failed")
            raise


def _audit_import(
    conn: sa.Connection, job: Job, outcome: str, remote: str | None, detail: str
) -> None:
    audit.write(
        conn,
        actor=job.imported_by,
        via=job.imported_via,
        action="import",
        outcome=outcome,
        remote=remote,
        batch_id=job.batch_id,
        file_sha256=job.file_sha256,
        detail=detail,
    )


def check_on_existing(value: str) -> str:
    """The value, if it is one of `OnExisting`; else a `ConfigurationError`."""
    if value not in {str(o) for o in OnExisting}:
        raise ConfigurationError(
            f"on_existing must be one of {', '.join(OnExisting)}, not {value!r}"
        )
    return str(value)


def _existing_file(path: Path | str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SourceError(str(path), "no such file")
    return path


def _record_failure(
    db: Database,
    job: Job,
    reason: str,
    *,
    remote: str | None,
    outcome: str,
    rows_total: int = 0,
    errors: list[RowError] | None = None,
) -> None:
    """Marks the job failed and audits it, in one transaction; if the audit cannot be
    written, marks it failed alone. If even that fails (the database is gone), the job is
    left `running` for the sweep: the caller's own error, which says what happened to the
    data, is what the user must see."""
    rows_failed = len({e.row for e in errors or []})
    for audited in (True, False):
        try:
            with db.connect() as conn, conn.begin():
                history.fail_job(conn, job, reason, rows_total=rows_total, rows_failed=rows_failed)
                if audited:
                    _audit_import(conn, job, outcome, remote, reason)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning(
                "could not record the failure of job %s: %s", job.job_id, database_failure(exc)
            )
        else:
            return


def _rejection_summary(errors: list[RowError]) -> str:
    shown = "; ".join(str(e) for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"rejected: {len(errors)} error(s): {shown}{more}"
