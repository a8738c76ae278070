"""A workbook's import: every sheet named after an import type, as one batch."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from batchport import changes
from batchport.checks.stage import Stage
from batchport.checks.staged import check_stage
from batchport.columns.mapping import map_header
from batchport.database import Database
from batchport.declarations import ImportType
from batchport.errors import FileRejected, RowError, SourceError
from batchport.importing.steps import (
    Finish,
    ReadOptions,
    complete,
    drop_quietly,
    load,
    no_progress,
    nothing,
    stage_file,
    with_changes,
    with_loaded,
)
from batchport.reports import ImportReport, Job
from batchport.sources import WorkbookSource, is_workbook


def import_workbook(
    db: Database,
    path: Path,
    job: Job | None,
    options: ReadOptions,
    *,
    finish: Finish | None = None,
) -> list[ImportReport]:
    """Imports every sheet named after an import type, in dependency order, as one batch.

    All sheets are staged and checked, and all are loaded in one transaction, or none is:
    errors on any sheet (each naming its sheet) reject the whole workbook.
    """
    progress = options.progress or no_progress
    with db.connect() as conn:
        if not is_workbook(path):
            raise SourceError(str(path), "a workbook import reads an .xlsx (or .xlsm, .ods) file")
        workbook = WorkbookSource(path, limits=options.limits)
        sheets = workbook.sheets
        workbook.close()
        chosen = [t for t in db.catalog.types if t.name in sheets]
        if not chosen:
            known = ", ".join(db.catalog)
            raise SourceError(str(path), f"no sheet is named after an import type ({known})")
        staged: list[tuple[ImportType, Stage, ImportReport, list[RowError]]] = []
        try:
            for import_type in chosen:
                with options.open(path, import_type.name) as source, conn.begin():
                    mapping, found = map_header(import_type, source.header())
                    stage, rows_total = stage_file(
                        conn, db, mapping, source, errors=found, progress=progress
                    )
                report = _sheet_report(import_type, path, job, rows_total, options)
                staged.append((import_type, stage, report, found))
            return _load_sheets(
                conn, db, staged, path=path, job=job, options=options, finish=finish or nothing
            )
        finally:
            for _, stage, _, _ in staged:
                drop_quietly(conn, stage)


def _load_sheets(
    conn: sa.Connection,
    db: Database,
    staged: list[tuple[ImportType, Stage, ImportReport, list[RowError]]],
    *,
    path: Path,
    job: Job | None,
    options: ReadOptions,
    finish: Finish,
) -> list[ImportReport]:
    """Checks and loads the staged sheets in order in one transaction; rejects them all if
    any has errors. Once a sheet is rejected, later sheets (whose rows may point at its rows)
    are not checked against the database: their errors would mostly echo the first one's."""
    reports: list[ImportReport] = []
    errors: list[RowError] = []
    with db.dialect.begin_write(conn) as transaction:
        with changes.writing(conn, job.job_id if job else str(uuid.uuid4())):
            for import_type, stage, report, cell_errors in staged:
                found = list(cell_errors)
                if not errors:
                    found += check_stage(conn, stage, db.catalog, on_existing=options.on_existing)
                ordered = sorted(found, key=lambda e: e.row)
                errors += [replace(e, sheet=import_type.name) for e in ordered]
                if errors:
                    continue
                loaded = load(conn, db, stage, job, options)
                reports.append(with_loaded(report, import_type, loaded))
        if errors:
            rows_total = sum(report.rows_total for _, _, report, _ in staged)
            whole = _sheet_report(None, path, job, rows_total, options)
            raise FileRejected(
                with_changes(whole, status="invalid" if job is None else "failed", errors=errors)
            )
        if job is None:
            transaction.rollback()
        else:
            complete(conn, job, reports, finish)
        return reports


def _sheet_report(
    import_type: ImportType | None,
    path: Path,
    job: Job | None,
    rows_total: int,
    options: ReadOptions,
) -> ImportReport:
    return ImportReport(
        import_type=import_type.name if import_type else "workbook",
        file_name=f"{path.name}[{import_type.name}]" if import_type else path.name,
        status="completed" if job else "valid",
        rows_total=rows_total,
        rows_imported=0,
        job_id=job.job_id if job else None,
        batch_id=job.batch_id if job else None,
        dry_run=job is None,
        on_existing=options.on_existing,
    )
