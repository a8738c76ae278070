"""One file's import: the direct path, or the staged path when the direct one cannot prove the
file valid; a dry run's precheck.

A file with bad cells is read once: from its first bad cell on (or from the moment the
process reading ahead finds one further on) nothing more is written, and the rest is checked
as a dry run checks, collecting every cell's error. Only when
the checks cannot rule out the file-wide errors (a key repeated or already stored, an unknown
reference, a cycle, a table's own rule) does the staged path read it again to name them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa

from batchport import changes
from batchport.checks.precheck import Precheck
from batchport.checks.proof import NotLoadable
from batchport.checks.staged import check_stage
from batchport.columns.mapping import map_header
from batchport.database import Database
from batchport.declarations import ImportType
from batchport.errors import FileRejected, RowError
from batchport.importing.steps import (
    Briefed,
    Chunks,
    Finish,
    ReadOptions,
    complete,
    drop_quietly,
    load,
    nothing,
    opened,
    read_chunks,
    rejected,
    stage_file,
    staged_counts,
    with_changes,
    with_loaded,
    write_chunks,
    writing_directly,
)
from batchport.loading.rules import broken_rules, checks_of
from batchport.progress import Progress, no_progress
from batchport.reports import ImportReport, Job


def import_file(
    db: Database,
    import_type: ImportType,
    path: Path,
    job: Job | None,
    options: ReadOptions,
    *,
    finish: Finish | None = None,
) -> ImportReport:
    """Reads, validates and (for a job) loads the file; `job=None` is a dry run.

    The direct path writes a valid file in one pass; if it meets anything it cannot prove
    valid, its transaction is rolled back and the staged path reports every error exactly
    (bad cells alone are reported without it: see the module's docstring).
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
        on_existing=options.on_existing,
    )
    finish = finish or nothing
    if options.on_existing != "error":  # rows may meet existing rows: compare them in SQL
        return _import_staged(db, import_type, path, job, options, report, finish)
    try:
        if job is None:
            return _precheck(db, import_type, path, options=options, report=report)
        return _import_direct(db, import_type, path, job, options, report, finish)
    except NotLoadable:
        return _import_staged(db, import_type, path, job, options, report, finish)


def _precheck(
    db: Database,
    import_type: ImportType,
    path: Path,
    *,
    options: ReadOptions,
    report: ImportReport,
) -> ImportReport:
    """A dry run's fast path: every check an import makes, without writing."""
    progress = options.progress or no_progress
    with db.connect() as conn, opened(import_type, path, options, report) as (source, mapping):
        checker = Precheck(conn, db.dialect, db.catalog, import_type)
        errors: list[RowError] = []
        with read_chunks(mapping, source, share=True) as chunks:
            rows_total = _checked(checker, chunks.briefs(), errors, progress, 0)
        created = checker.finish()
        report = with_changes(report, rows_total=rows_total, encoding=source.encoding)
        if errors:
            _refuse(conn, import_type, report, errors)
        return with_changes(report, created=created)


def _import_direct(  # noqa: PLR0917 - the staged path's arguments, in its order
    db: Database,
    import_type: ImportType,
    path: Path,
    job: Job,
    options: ReadOptions,
    report: ImportReport,
    finish: Finish,
) -> ImportReport:
    progress = options.progress or no_progress
    with (
        db.connect() as conn,
        opened(import_type, path, options, report) as (source, mapping),
        read_chunks(mapping, source) as chunks,
    ):
        progress("started", 0)
        with writing_directly(conn, db, job):
            rows_total, created, rest = write_chunks(conn, db, import_type, job, chunks, progress)
            if rest is not None:
                report = with_changes(report, encoding=source.encoding)
                _refuse_rest(conn, db, import_type, chunks, rest, report, rows_total, progress)
            imported = created[import_type.table.name]
            report = with_changes(
                report,
                rows_total=rows_total,
                created=created,
                rows_imported=imported,
                encoding=source.encoding,
            )
            complete(conn, job, [report], finish)
            return report


def _checked(
    checker: Precheck,
    briefs: Iterable[Briefed],
    errors: list[RowError],
    progress: Progress,
    rows_total: int,
) -> int:
    """Checks every chunk, collecting its cells' errors; returns the rows counted so far."""
    for chunk, found in briefs:
        errors += found
        checker.check(chunk)
        rows_total += chunk[0]
        progress("checking", rows_total)
    return rows_total


def _refuse_rest(  # noqa: PLR0917 - what the direct path knows when it meets a bad cell
    conn: sa.Connection,
    db: Database,
    import_type: ImportType,
    chunks: Chunks,
    rest: Iterable[Briefed],
    report: ImportReport,
    rows_total: int,
    progress: Progress,
) -> NoReturn:
    """Rejects the file whose rows up to `rest` the direct path has written (and proved valid,
    in the transaction its caller will roll back), for every cell error of the rest.

    The rest is checked as a dry run checks a file, the keys of the rows written before it
    (from their briefs in the spool, else read back from the database) as seen in the file;
    what this cannot prove free of file-wide errors (a type referring to itself, whose written
    rows may wait for later parents) goes to the staged path.
    """
    if any(reference.to == import_type.name for reference in import_type.references):
        raise NotLoadable("rows written may refer to rows not read yet")
    assert report.batch_id is not None  # an import's, not a dry run's
    written = chunks.written_keys(rows_total)
    checker = Precheck(
        conn, db.dialect, db.catalog, import_type, written=report.batch_id, written_keys=written
    )
    errors: list[RowError] = []
    rows_total = _checked(checker, rest, errors, progress, rows_total)
    checker.finish()
    _refuse(conn, import_type, with_changes(report, rows_total=rows_total), errors)


def _refuse(
    conn: sa.Connection, import_type: ImportType, report: ImportReport, errors: list[RowError]
) -> NoReturn:
    """Rejects the file for its cells' errors, once the checks found it has no other: its
    table's own rules, which only the staged path tries, aside."""
    if checks_of(conn, import_type.table):
        raise NotLoadable("the table's rules are tried on staged rows")
    raise FileRejected(rejected(report, errors))


def _import_staged(  # noqa: PLR0917 - one file, one job, how to read it, what to report
    db: Database,
    import_type: ImportType,
    path: Path,
    job: Job | None,
    options: ReadOptions,
    report: ImportReport,
    finish: Finish,
) -> ImportReport:
    """Stages every row, checks the whole file with set-based SQL, loads only if all is valid."""
    progress = options.progress or no_progress
    with (
        db.connect() as conn,
        options.open(path) as source,
    ):
        updating = options.on_existing == "update"
        mapping, errors = map_header(import_type, source.header(), updating=updating)
        with conn.begin():
            stage, rows_total = stage_file(
                conn, db, mapping, source, errors=errors, progress=progress
            )
        report = with_changes(report, rows_total=rows_total, encoding=source.encoding)
        try:
            with db.dialect.begin_write(conn, bulk=True) as transaction:
                progress("checking", rows_total)
                errors += check_stage(conn, stage, db.catalog, on_existing=options.on_existing)
                errors += broken_rules(conn, stage, db.catalog)
                if errors:
                    raise FileRejected(rejected(report, errors))
                if job is None and options.on_existing == "error":
                    return with_changes(report, created=staged_counts(conn, stage))
                # A dry run that may update loads too (to compare), then rolls it all back.
                progress("loading", rows_total)
                with changes.writing(conn, job.job_id if job else str(uuid.uuid4())):
                    loaded = load(conn, db, stage, job, options)
                report = with_loaded(report, import_type, loaded)
                if job is None:
                    transaction.rollback()
                else:
                    complete(conn, job, [report], finish)
                return report
        finally:
            drop_quietly(conn, stage)
