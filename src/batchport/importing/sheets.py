"""A workbook's sheets read one ahead of the one being written, for the direct path.

calamine reads a whole sheet before it hands over its first row, and a workbook's sheets are
written one after the other: read in turn, the next sheet would wait for the one before it to
be written, and the writer for the next sheet to be read. Instead each sheet is read, from its
header on, in a forked process of its own (`Spooled`), started when the sheet before it is
handed over: at most two sheets are read at once, so memory grows by one sheet's reader, not
by the workbook's. The next sheet's process checks its part of the archive, loads the sheet and
parses its first chunk, then waits until its sheet is handed over: parsing on would take a
share of the cores from the sheet being written, whose writing they bound, while the next
sheet's is mostly the database's work, with a core to spare for the parsing.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from multiprocessing.synchronize import Event
from typing import Any

from batchport.checks.proof import NotLoadable
from batchport.columns.mapping import map_header
from batchport.columns.rows import parse_chunks
from batchport.declarations import ImportType
from batchport.errors import RowError
from batchport.importing import steps
from batchport.importing.steps import Chunks, read_chunks
from batchport.sources import Source
from batchport.sources.prefetch import may_fork
from batchport.sources.spool import Spooled
from batchport.sources.workbook import Workbook


class Sheet:
    """One sheet of the workbook on its way to the writer: read ahead in a process of its own,
    or, where this process may not fork (or the file is small), here, as it is written. One
    read `alongside` the sheet before it has its part checked by the process that reads it,
    which parses no further than the first chunk until the sheet is handed over (`chunks`)."""

    def __init__(
        self,
        book: Workbook,
        import_type: ImportType,
        stack: ExitStack,
        *,
        ahead: bool,
        alongside: bool,
    ) -> None:
        self.import_type = import_type
        self._stack = stack
        self._source = stack.enter_context(book.sheet(import_type.name, alongside=alongside))
        self._ahead: Spooled[Any] | None = None
        self._handed = multiprocessing.get_context("fork").Event() if ahead else None
        if self._handed is not None:
            if not alongside:
                self._handed.set()
            parts = _header_then_parts(import_type, self._source, self._handed)
            self._ahead = stack.enter_context(Spooled(parts, flag=_flagged))

    def chunks(self) -> Chunks:
        """The sheet's parsed chunks; raises `NotLoadable` if its header has problems."""
        if self._handed is not None:
            self._handed.set()
        header = self._source.header() if self._ahead is None else next(self._ahead)
        mapping, errors = map_header(self.import_type, header)
        if errors:
            raise NotLoadable("the sheet's header has problems")
        if self._ahead is None:
            return self._stack.enter_context(read_chunks(mapping, self._source))
        return Chunks(self.import_type, self._ahead, self._ahead)


@contextmanager
def read_ahead(book: Workbook, chosen: Sequence[ImportType]) -> Iterator[Iterator[Sheet]]:
    """The chosen types' sheets in order, each next one's reading started as one is handed
    over; leaving the block stops every reading still under way."""
    ahead = may_fork() and book.path.stat().st_size >= steps.READ_AHEAD_BYTES
    with ExitStack() as stack:
        yield _one_ahead(book, chosen, stack, ahead=ahead)


def _one_ahead(
    book: Workbook, chosen: Sequence[ImportType], stack: ExitStack, *, ahead: bool
) -> Iterator[Sheet]:
    started: list[Sheet] = []
    for index in range(len(chosen)):
        while len(started) < min(index + 2, len(chosen)):
            following = chosen[len(started)]
            started.append(Sheet(book, following, stack, ahead=ahead, alongside=bool(started)))
        yield started[index]


def _header_then_parts(import_type: ImportType, source: Source, handed: Event) -> Iterator[Any]:
    """The sheet's header, then (unless it has problems) each parsed chunk's row numbers,
    columns and problems, as `read_chunks` hands them over; from the second chunk on, once
    the sheet is `handed` over."""
    header = source.header()
    yield header
    mapping, errors = map_header(import_type, header)
    if errors:
        return
    found: list[RowError] = []
    for chunk in parse_chunks(mapping, source.blocks(steps.CHUNK_ROWS), found):
        yield chunk.numbers, chunk.columns, [(e.row, e.column, e.value, e.message) for e in found]
        found.clear()
        handed.wait()


def _flagged(item: Any) -> bool:
    """Whether a chunk (not the header, a list) has problems."""
    return type(item) is tuple and bool(item[2])
