"""What both imports (one file, a workbook) are made of: how to read, stage, load and
complete, and the reports they return."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from batchport import changes, history
from batchport.checks.precheck import Brief, brief
from batchport.checks.proof import NotLoadable
from batchport.checks.stage import Stage
from batchport.columns.mapping import Mapping, map_header
from batchport.columns.rows import Chunk, column_texts, parse_chunks, parse_texts
from batchport.database import Database
from batchport.declarations import ImportType
from batchport.errors import FileRejected, RowError
from batchport.loading.direct import DirectLoader
from batchport.loading.load import Loaded, load_stage
from batchport.progress import Progress
from batchport.reports import ImportReport, Job
from batchport.sources import Limits, Source, open_source
from batchport.sources.prefetch import may_fork
from batchport.sources.spool import Spooled

#: Rows parsed and written per round trip; bounds memory whatever the file's size.
CHUNK_ROWS = 10_000
#: Files from this size up are parsed in a second process while this one writes; for smaller
#: ones starting that process would cost more than it saves.
READ_AHEAD_BYTES = 1 << 20

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


def stage_file(
    conn: sa.Connection,
    db: Database,
    mapping: Mapping,
    source: Source,
    *,
    errors: list[RowError],
    progress: Progress,
) -> tuple[Stage, int]:
    """The file's rows parsed (by a second process, as `read_chunks` tells) into new staging
    tables; cell errors go to `errors`."""
    stage = Stage.create(conn, mapping.import_type, mapping.present)
    rows_total = 0
    with read_chunks(mapping, source) as chunks:
        for chunk, found in chunks:
            errors += found
            stage.write(conn, db.dialect, chunk)
            rows_total += len(chunk)
            progress("reading", rows_total)
    stage.index_keys(conn, db.dialect)
    return stage, rows_total


def load(
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


def with_loaded(report: ImportReport, import_type: ImportType, loaded: Loaded) -> ImportReport:
    return with_changes(
        report,
        created=loaded.created,
        rows_imported=loaded.created[import_type.table.name],
        updated=loaded.updated,
        skipped=loaded.skipped,
        unchanged=loaded.unchanged,
    )


def complete(conn: sa.Connection, job: Job, reports: list[ImportReport], finish: Finish) -> None:
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


def nothing(_conn: sa.Connection) -> None:
    """Nothing else commits with the data."""


@contextmanager
def opened(
    import_type: ImportType, path: Path, options: ReadOptions, report: ImportReport
) -> Iterator[tuple[Source, Mapping]]:
    """The open file and its header's mapping; a header with problems rejects the file."""
    with options.open(path) as source:
        mapping, errors = map_header(import_type, source.header())
        if errors:
            raise FileRejected(rejected(report, errors))
        yield source, mapping


#: A chunk of parsed rows and the problems its cells have (none for a valid chunk).
Parsed = tuple[Chunk, list[RowError]]
#: A chunk as the checks need it (`brief`), and the problems its cells have.
Briefed = tuple[Brief, list[RowError]]


class Chunks:
    """The file's parsed chunks, each with its cells' problems, to the end of the file (see
    `read_chunks`); or, for the checks alone, what they need of each (`briefs`).

    `ahead` is the process reading ahead, if there is one; `briefed`, whether it spools each
    chunk's brief beside it.
    """

    def __init__(
        self,
        import_type: ImportType,
        parts: Iterable[_Part],
        ahead: Spooled[_Part] | None = None,
        *,
        briefed: bool = False,
    ) -> None:
        self._import_type = import_type
        self._parts = parts
        self._ahead = ahead
        self._briefs = ahead if briefed else None

    def __iter__(self) -> Iterator[Parsed]:
        for numbers, columns, errors in self._parts:
            yield Chunk(numbers, columns), _row_errors(errors)

    def briefs(self) -> Iterator[Briefed]:
        """The chunks not taken yet, as the checks need them: read from the spool where the
        process reading ahead made their briefs (up to the first bad chunk; far quicker than
        whole chunks), else made here."""
        if self._briefs is None:
            for chunk, errors in self:
                yield brief(self._import_type, chunk), errors
        else:
            for chunk_brief, errors in self._briefs.summaries(partial(_briefed, self._import_type)):
                yield chunk_brief, _row_errors(errors)

    def rest(self, taken: Parsed) -> Iterator[Briefed]:
        """`taken`, the chunk taken last, and those after it, as `briefs`."""
        chunk, errors = taken
        yield brief(self._import_type, chunk), errors
        yield from self.briefs()

    def written_keys(self, rows: int) -> Iterator[list[Any]] | None:
        """The keys of the chunks taken first, `rows` rows in all, a list a chunk, read once
        more from the spool (their briefs); None where it holds no briefs."""
        if self._briefs is None:
            return None
        return _first_rows(rows, (chunk[1] for chunk, _ in self._briefs.taken_summaries()))

    @property
    def bad_ahead(self) -> bool:
        """Whether a chunk not yet taken is known to have bad cells (known early only where
        a second process reads ahead of this one)."""
        return self._ahead is not None and self._ahead.flagged_ahead


def _row_errors(errors: list[_Plain]) -> list[RowError]:
    return [RowError(*error) for error in errors]


def _first_rows(rows: int, columns: Iterable[list[Any]]) -> Iterator[list[Any]]:
    for column in columns:
        if rows <= 0:
            return
        yield column
        rows -= len(column)


@contextmanager
def read_chunks(mapping: Mapping, source: Source, *, share: bool = False) -> Iterator[Chunks]:
    """The file's parsed chunks, each with its cells' problems.

    A large file is read in a second process (when this one has a single thread: see
    `may_fork`). It parses the whole file at its own pace into a spool on disk, so that a bad
    cell near the end is known while this process still writes the rows before it (see
    `Chunks.bad_ahead`), and spools each chunk's brief beside it, for the checks of the rows
    a bad cell keeps from being written. With `share` (a dry run, which writes nothing), it
    only splits the rows into columns and this process parses them, which balances the work
    between the two.
    """
    import_type = mapping.import_type
    if not (may_fork() and source.path.stat().st_size >= READ_AHEAD_BYTES):
        yield Chunks(import_type, _parsed_parts(mapping, source))
    elif share:
        with Spooled(_column_parts(mapping, source), flag=_has_errors) as ahead:
            yield Chunks(import_type, _parsed_here(mapping, ahead))
    else:
        parts = _parsed_parts(mapping, source)
        summary = partial(_briefed, import_type)
        with Spooled(parts, flag=_has_errors, summary=summary) as ahead:
            yield Chunks(import_type, ahead, ahead, briefed=True)


@contextmanager
def writing_directly(conn: sa.Connection, db: Database, job: Job) -> Iterator[None]:
    """The direct path's transaction, marked as the job's; what the database refuses in it (a
    key taken, a foreign key) becomes `NotLoadable`, for the staged path to name exactly."""
    try:
        with db.dialect.begin_write(conn), changes.writing(conn, job.job_id):
            yield
    except sa.exc.IntegrityError as exc:
        raise NotLoadable(str(exc)) from exc


def write_chunks(  # noqa: PLR0917 - one file's chunks, and where they go
    conn: sa.Connection,
    db: Database,
    import_type: ImportType,
    job: Job,
    chunks: Chunks,
    progress: Progress,
) -> tuple[int, dict[str, int], Iterable[Briefed] | None]:
    """Writes the chunks until a bad cell is met or known to lie ahead: the rows written, the
    rows created per table, and the chunks not written, as their briefs (None when all were)."""
    rows_total = 0
    with DirectLoader(conn, db.dialect, db.catalog, import_type, job.batch_id) as loader:
        for chunk, found in chunks:
            if found or chunks.bad_ahead:  # nothing more is written: a cell is bad
                return rows_total, {}, chunks.rest((chunk, found))
            loader.write(chunk)
            rows_total += len(chunk)
            progress("loading", rows_total)
        return rows_total, loader.finish(), None


#: A row error as plain values (row, column, value, message), quick to hand between processes.
_Plain = tuple[int, str | None, str | None, str]


def _plain(errors: list[RowError]) -> list[_Plain]:
    return [(e.row, e.column, e.value, e.message) for e in errors]


#: A parsed chunk as plain values: its row numbers, its columns, its cells' problems.
_Part = tuple[list[int], list[list[object]], list[_Plain]]


def _parsed_parts(mapping: Mapping, source: Source) -> Iterator[_Part]:
    """Each parsed chunk's row numbers, columns and problems: plain values, quick to hand
    between processes when parsing happens in another one."""
    found: list[RowError] = []
    for chunk in parse_chunks(mapping, source.blocks(CHUNK_ROWS), found):
        yield chunk.numbers, chunk.columns, _plain(found)
        found.clear()


def _parsed_here(
    mapping: Mapping, parts: Iterable[tuple[list[int], list[list[str] | None], list[_Plain]]]
) -> Iterator[_Part]:
    """The columns of text another process split, parsed in this one."""
    for numbers, texts, shape in parts:
        found = [RowError(*error) for error in shape]
        chunk = parse_texts(mapping, numbers, texts, found)
        yield numbers, chunk.columns, _plain(found)


def _briefed(import_type: ImportType, part: _Part) -> tuple[Brief, list[_Plain]]:
    numbers, columns, errors = part
    return brief(import_type, Chunk(numbers, columns)), errors


def _has_errors(part: tuple[list[int], list[Any], list[_Plain]]) -> bool:
    return bool(part[2])


def _column_parts(
    mapping: Mapping, source: Source
) -> Iterator[tuple[list[int], list[list[str] | None], list[_Plain]]]:
    """Each block's row numbers, its cells as columns of text, and the problems with its rows'
    shapes."""
    for block in source.blocks(CHUNK_ROWS):
        found: list[RowError] = []
        texts = column_texts(mapping, block, found)
        yield block.numbers, texts, _plain(found)


def with_changes(report: ImportReport, **changes: object) -> ImportReport:
    return replace(report, **changes)  # type: ignore[arg-type]


def rejected(report: ImportReport, errors: list[RowError]) -> ImportReport:
    ordered = sorted(errors, key=lambda e: e.row)
    return with_changes(report, status="invalid" if report.dry_run else "failed", errors=ordered)


def staged_counts(conn: sa.Connection, stage: Stage) -> dict[str, int]:
    def count(table: sa.Table) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    counts = {stage.import_type.table.name: count(stage.rows)}
    for link, table in stage.links:
        counts[link.table.name] = counts.get(link.table.name, 0) + count(table)
    return counts


def drop_quietly(conn: sa.Connection, stage: Stage) -> None:
    """Drops the staging tables; a broken connection takes them with it anyway."""
    try:
        with conn.begin():
            stage.drop(conn)
    except sa.exc.SQLAlchemyError:
        conn.invalidate()
