"""A workbook's import: every visible sheet named after an import type, as one batch."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from batchport import changes
from batchport.checks.proof import NotLoadable
from batchport.checks.stage import Stage
from batchport.checks.staged import check_stage
from batchport.columns.mapping import map_header
from batchport.database import Database
from batchport.declarations import ImportType
from batchport.errors import FileRejected, RowError, SourceError
from batchport.importing.sheets import read_ahead
from batchport.importing.steps import (
    Finish,
    ReadOptions,
    complete,
    drop_quietly,
    load,
    nothing,
    stage_file,
    with_changes,
    with_loaded,
    write_chunks,
    writing_directly,
)
from batchport.loading.rules import broken_rules
from batchport.progress import Progress, no_progress
from batchport.reports import ImportReport, Job
from batchport.sources import is_workbook
from batchport.sources.workbook import Workbook


def import_workbook(
    db: Database,
    path: Path,
    job: Job | None,
    options: ReadOptions,
    *,
    finish: Finish | None = None,
) -> list[ImportReport]:
    """Imports every visible sheet named after an import type, in dependency order, as one
    batch.

    All sheets are loaded in one transaction, or none is: errors on any sheet reject the
    whole workbook, and every sheet's errors (each naming its sheet) are reported together.
    An import that meets no existing row writes the sheets straight into their tables, as a
    file's import does; anything that path cannot prove valid rolls it back, and every sheet
    is then staged and checked to name every error. The workbook's archive is checked once,
    whatever the path and however many sheets are read.
    """
    if not is_workbook(path):
        raise SourceError(str(path), "a workbook import reads an .xlsx (or .xlsm, .ods) file")
    with Workbook(path, options.limits) as book:
        chosen = _chosen_types(db, book)
        if job is not None and options.on_existing == "error":
            with contextlib.suppress(NotLoadable):
                return _import_direct(db, book, chosen, job, options, finish or nothing)
        return _import_staged(db, book, chosen, job, options, finish or nothing)


def _import_staged(  # noqa: PLR0917 - the direct path's arguments, in its order
    db: Database,
    book: Workbook,
    chosen: list[ImportType],
    job: Job | None,
    options: ReadOptions,
    finish: Finish,
) -> list[ImportReport]:
    """Stages every sheet, then checks and loads them in order (`_load_sheets`)."""
    progress = options.progress or no_progress
    path = book.path
    with db.connect() as conn:
        staged: list[tuple[ImportType, Stage, ImportReport, list[RowError]]] = []
        try:
            for import_type in chosen:
                before = sum(report.rows_total for _, _, report, _ in staged)
                with book.sheet(import_type.name) as source, conn.begin():
                    mapping, found = map_header(
                        import_type, source.header(), updating=options.on_existing == "update"
                    )
                    stage, rows_total = stage_file(
                        conn,
                        db,
                        mapping,
                        source,
                        errors=found,
                        progress=_after(before, progress),
                    )
                report = _sheet_report(import_type, path, job, rows_total, options)
                staged.append((import_type, stage, report, found))
            return _load_sheets(
                conn, db, staged, path=path, job=job, options=options, finish=finish
            )
        finally:
            for _, stage, _, _ in staged:
                drop_quietly(conn, stage)


def _import_direct(  # noqa: PLR0917 - the staged path's arguments, in its order
    db: Database,
    book: Workbook,
    chosen: list[ImportType],
    job: Job,
    options: ReadOptions,
    finish: Finish,
) -> list[ImportReport]:
    """Writes every sheet straight into its table, parents first; raises `NotLoadable`,
    having written nothing, at anything it cannot prove valid (a bad cell included).

    While one sheet is written, the next is already read and parsed (`read_ahead`)."""
    progress = options.progress or no_progress
    reports: list[ImportReport] = []
    with db.connect() as conn, writing_directly(conn, db, job), read_ahead(book, chosen) as sheets:
        for import_type, sheet in zip(chosen, sheets, strict=True):
            before = sum(report.rows_total for report in reports)
            rows, created, rest = write_chunks(
                conn, db, import_type, job, sheet.chunks(), _after(before, progress)
            )
            if rest is not None:
                raise NotLoadable("a cell is bad")
            report = _sheet_report(import_type, book.path, job, rows, options)
            table = import_type.table.name
            reports.append(with_changes(report, created=created, rows_imported=created[table]))
        complete(conn, job, reports, finish)
    return reports


def _after(before: int, progress: Progress) -> Progress:
    """`progress` counting on from the rows of the sheets read before."""
    return lambda phase, rows: progress(phase, before + rows)


def _chosen_types(db: Database, book: Workbook) -> list[ImportType]:
    """The import types the workbook has a visible sheet for, parents first.

    A hidden sheet is skipped, quietly, even when named after a type: whoever fills in the
    workbook never sees it (a template's lookup lists, an old copy kept aside).
    """
    sheets = book.visible_sheets()
    if not sheets:
        raise SourceError(
            book.name, "the workbook has no visible sheet; a workbook import reads only those"
        )
    chosen = [t for t in db.catalog.types if t.name in sheets]
    if not chosen:
        known = ", ".join(db.catalog)
        raise SourceError(
            book.name,
            f"no visible sheet is named after an import type ({known}); hidden sheets are not read",
        )
    return chosen


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
    any has errors, listing every sheet's errors.

    A sheet is checked against the database, which holds the sheets loaded before it. Once
    one has errors no later sheet is loaded, and each is checked against the unloaded
    sheets' staged rows as well (`_settle_references`)."""
    reports: list[ImportReport] = []
    errors: list[RowError] = []
    unloaded: list[Stage] = []
    progress = options.progress or no_progress
    rows_total = sum(report.rows_total for _, _, report, _ in staged)
    with db.dialect.begin_write(conn, bulk=True) as transaction:
        with changes.writing(conn, job.job_id if job else str(uuid.uuid4())):
            for import_type, stage, report, cell_errors in staged:
                progress("checking", rows_total)
                _settle_references(conn, stage, unloaded)
                found = [
                    *cell_errors,
                    *check_stage(conn, stage, db.catalog, on_existing=options.on_existing),
                    *broken_rules(conn, stage, db.catalog),
                ]
                ordered = sorted(found, key=lambda e: e.row)
                errors += [replace(e, sheet=import_type.name) for e in ordered]
                if errors:
                    unloaded.append(stage)
                    continue
                progress("loading", rows_total)
                loaded = load(conn, db, stage, job, options)
                reports.append(with_loaded(report, import_type, loaded))
        if errors:
            whole = _sheet_report(None, path, job, rows_total, options)
            raise FileRejected(
                with_changes(whole, status="invalid" if job is None else "failed", errors=errors)
            )
        if job is None:
            transaction.rollback()
        else:
            complete(conn, job, reports, finish)
        return reports


def _settle_references(conn: sa.Connection, stage: Stage, unloaded: list[Stage]) -> None:
    """Clears the stage's references to keys that earlier, unloaded sheets hold, so that its
    check reports only keys found in no sheet and not in the database.

    A key on a row with an error counts too: that row's own error says what to fix. A sheet
    without its key column has no key to go by, so every reference to it is cleared. Only a
    rejected workbook has unloaded sheets: this stage is then never loaded, and the
    transaction that clears its references rolls back.
    """
    earlier = {s.import_type.name: s for s in unloaded}
    rows = stage.rows
    for reference in stage.import_type.references:
        if target := earlier.get(reference.to):
            value = rows.c[reference.field]
            conn.execute(rows.update().where(_held(value, target)).values({reference.field: None}))
    for link, table in stage.links:
        if target := earlier.get(link.to):
            conn.execute(table.delete().where(_held(table.c.target_key, target)))


def _held(value: sa.ColumnElement[object], stage: Stage) -> sa.ColumnElement[bool]:
    """True where `value` is a key the stage holds, or anywhere if its sheet has no key column."""
    key = stage.import_type.key
    if key not in stage.present:
        return sa.true()
    return sa.exists().where(stage.rows.c[key] == value)


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
