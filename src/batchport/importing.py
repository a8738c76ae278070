"""One file's trip into the database: read, parse, check, load, all in one transaction.

The direct path writes a valid file in one pass, at bulk speed. If it meets anything it cannot
prove valid, its transaction is rolled back and the staged path runs instead: it stages every
row, checks the whole file with set-based SQL and reports every error exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa

from batchport import changes, history
from batchport.checks.precheck import Precheck
from batchport.checks.proof import NotLoadable
from batchport.checks.stage import Stage
from batchport.checks.staged import check_stage
from batchport.columns.mapping import Mapping, map_header
from batchport.columns.rows import Chunk, column_texts, parse_chunks, parse_texts
from batchport.database import Database
from batchport.declarations import ImportType
from batchport.errors import FileRejected, RowError, SourceError
from batchport.loading.direct import DirectLoader
from batchport.loading.load import Loaded, load_stage
from batchport.reports import ImportReport, Job
from batchport.sources import Limits, Source, WorkbookSource, is_workbook, open_source
from batchport.sources.prefetch import may_fork, read_ahead

#: Rows parsed and written per round trip; bounds memory whatever the file's size.
CHUNK_ROWS = 10_000
#: Files from this size up are parsed in a second process while this one writes; for smaller
#: ones starting that process would cost more than it saves.
READ_AHEAD_BYTES = 1 << 20

#: Called as `progress(phase, rows_so_far)` while an import runs.
Progress = Callable[[str, int], None]
#: Called in the import's transaction, after its job is marked completed and before it
#: commits: whatever must stand or fall with the data (the audit row).
Finish = Callable[[sa.Connection], None]


@dataclass(frozen=True)
class ReadOptions:
    """How to read the file, and whom to tell about progress."""

    encoding: str | None = None
    sheet: str | None = None
    progress: Progress | None = None
    #: What to do with a row whose key is already in the database: error, skip or update.
    on_existing: str = "error"
    delimiter: str | None = None
    limits: Limits = field(default_factory=Limits)

    def open(self, path: Path, sheet: str | None = None) -> Source:
        """Opens the file as these options say (`sheet` overriding theirs)."""
        return open_source(
            path,
            encoding=self.encoding,
            sheet=sheet or self.sheet,
            delimiter=self.delimiter,
            limits=self.limits,
        )


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
        on_existing=options.on_existing,
    )
    finish = finish or _nothing
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
    progress = options.progress or _no_progress
    with db.connect() as conn, _opened(import_type, path, options, report) as (source, mapping):
        checker = Precheck(conn, db.dialect, db.catalog, import_type)
        rows_total = 0
        for chunk in _valid_chunks(mapping, source, share=True):
            checker.check(chunk)
            rows_total += len(chunk)
            progress("validating", rows_total)
        return _with(report, rows_total=rows_total, created=checker.finish())


def _import_direct(  # noqa: PLR0917 - the staged path's arguments, in its order
    db: Database,
    import_type: ImportType,
    path: Path,
    job: Job,
    options: ReadOptions,
    report: ImportReport,
    finish: Finish,
) -> ImportReport:
    progress = options.progress or _no_progress
    with db.connect() as conn, _opened(import_type, path, options, report) as (source, mapping):
        rows_total = 0
        progress("started", 0)
        try:
            with db.dialect.begin_write(conn), changes.writing(conn, job.job_id):
                with DirectLoader(
                    conn, db.dialect, db.catalog, import_type, job.batch_id
                ) as loader:
                    for chunk in _valid_chunks(mapping, source):
                        loader.write(chunk)
                        rows_total += len(chunk)
                        progress("loading", rows_total)
                    created = loader.finish()
                imported = created[import_type.table.name]
                report = _with(
                    report, rows_total=rows_total, created=created, rows_imported=imported
                )
                _complete(conn, job, [report], finish)
                return report
        except sa.exc.IntegrityError as exc:
            raise NotLoadable(str(exc)) from exc


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
    progress = options.progress or _no_progress
    with (
        db.connect() as conn,
        options.open(path) as source,
    ):
        mapping, errors = map_header(import_type, source.header())
        with conn.begin():
            stage, rows_total = _stage(conn, db, mapping, source, errors=errors, progress=progress)
        report = _with(report, rows_total=rows_total)
        try:
            with db.dialect.begin_write(conn) as transaction:
                errors += check_stage(conn, stage, db.catalog, on_existing=options.on_existing)
                if errors:
                    raise FileRejected(_rejected(report, errors))
                if job is None and options.on_existing == "error":
                    return _with(report, created=_staged_counts(conn, stage))
                # A dry run that may update loads too (to compare), then rolls it all back.
                with changes.writing(conn, job.job_id if job else str(uuid.uuid4())):
                    loaded = _load(conn, db, stage, job, options)
                report = _loaded(report, import_type, loaded)
                if job is None:
                    transaction.rollback()
                else:
                    _complete(conn, job, [report], finish)
                return report
        finally:
            _drop_quietly(conn, stage)


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
    progress = options.progress or _no_progress
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
                    stage, rows_total = _stage(
                        conn, db, mapping, source, errors=found, progress=progress
                    )
                report = _sheet_report(import_type, path, job, rows_total, options)
                staged.append((import_type, stage, report, found))
            return _load_sheets(
                conn, db, staged, path=path, job=job, options=options, finish=finish or _nothing
            )
        finally:
            for _, stage, _, _ in staged:
                _drop_quietly(conn, stage)


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
                loaded = _load(conn, db, stage, job, options)
                reports.append(_loaded(report, import_type, loaded))
        if errors:
            rows_total = sum(report.rows_total for _, _, report, _ in staged)
            whole = _sheet_report(None, path, job, rows_total, options)
            raise FileRejected(
                _with(whole, status="invalid" if job is None else "failed", errors=errors)
            )
        if job is None:
            transaction.rollback()
        else:
            _complete(conn, job, reports, finish)
        return reports


def _stage(
    conn: sa.Connection,
    db: Database,
    mapping: Mapping,
    source: Source,
    *,
    errors: list[RowError],
    progress: Progress,
) -> tuple[Stage, int]:
    """The file's rows parsed into new staging tables; cell errors go to `errors`."""
    stage = Stage.create(conn, mapping.import_type, mapping.present)
    rows_total = 0
    for chunk in parse_chunks(mapping, source.blocks(CHUNK_ROWS), errors):
        stage.write(conn, db.dialect, chunk)
        rows_total += len(chunk)
        progress("validating", rows_total)
    return stage, rows_total


def _load(
    conn: sa.Connection, db: Database, stage: Stage, job: Job | None, options: ReadOptions
) -> Loaded:
    """Loads the stage as the job's batch; a dry run loads under a throwaway batch id, and
    its caller rolls it all back."""
    return load_stage(
        conn,
        db.dialect,
        stage,
        db.catalog,
        job.batch_id if job else f"dry-run-{uuid.uuid4()}",
        on_existing=options.on_existing,
    )


def _loaded(report: ImportReport, import_type: ImportType, loaded: Loaded) -> ImportReport:
    return _with(
        report,
        created=loaded.created,
        rows_imported=loaded.created[import_type.table.name],
        updated=loaded.updated,
        skipped=loaded.skipped,
        unchanged=loaded.unchanged,
    )


def _complete(conn: sa.Connection, job: Job, reports: list[ImportReport], finish: Finish) -> None:
    """Marks the job completed and runs `finish`, the last steps before the data commits."""
    history.complete_job(
        conn,
        job,
        rows_total=sum(r.rows_total for r in reports),
        rows_imported=sum(r.rows_imported for r in reports),
        rows_updated=sum(r.updated for r in reports),
        rows_skipped=sum(r.skipped for r in reports),
        rows_unchanged=sum(r.unchanged for r in reports),
    )
    finish(conn)


def _nothing(_conn: sa.Connection) -> None:
    """Nothing else commits with the data."""


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


@contextmanager
def _opened(
    import_type: ImportType, path: Path, options: ReadOptions, report: ImportReport
) -> Iterator[tuple[Source, Mapping]]:
    """The open file and its header's mapping; a header with problems rejects the file."""
    with options.open(path) as source:
        mapping, errors = map_header(import_type, source.header())
        if errors:
            raise FileRejected(_rejected(report, errors))
        yield source, mapping


def _valid_chunks(mapping: Mapping, source: Source, *, share: bool = False) -> Iterator[Chunk]:
    """The file's parsed chunks, for as long as every cell read is valid (else NotLoadable).

    A large file is read in a second process (when this one has a single thread: see
    `may_fork`). It parses the rows too, unless `share` is set:
    then it only splits them into columns and this process parses them, which balances the
    work when this process has little else to do (a dry run writes nothing).
    """
    if not (may_fork() and source.path.stat().st_size >= READ_AHEAD_BYTES):
        parts = _valid_parts(mapping, source)
    elif not share:
        parts = read_ahead(_valid_parts(mapping, source))
    else:
        found: list[RowError] = []
        for numbers, texts, shaped in read_ahead(_column_parts(mapping, source)):
            chunk = parse_texts(mapping, numbers, texts, found)
            if found or not shaped:
                raise NotLoadable("invalid cells")
            yield chunk
        return
    for numbers, columns in parts:
        yield Chunk(numbers, columns)


def _valid_parts(
    mapping: Mapping, source: Source
) -> Iterator[tuple[list[int], list[list[object]]]]:
    """Each parsed chunk's row numbers and columns: plain values, quick to hand between
    processes when parsing happens in another one."""
    found: list[RowError] = []
    for chunk in parse_chunks(mapping, source.blocks(CHUNK_ROWS), found):
        if found:
            raise NotLoadable("invalid cells")
        yield chunk.numbers, chunk.columns


def _column_parts(
    mapping: Mapping, source: Source
) -> Iterator[tuple[list[int], list[list[str] | None], bool]]:
    """Each block's row numbers, its cells as columns of text, and whether every row had the
    header's shape."""
    for block in source.blocks(CHUNK_ROWS):
        found: list[RowError] = []
        texts = column_texts(mapping, block, found)
        yield block.numbers, texts, not found


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
