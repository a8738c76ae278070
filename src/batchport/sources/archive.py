"""The checks a zipped workbook's archive passes before calamine parses it, so that reading it
stays within the limits whatever the file holds.

Refused, entry by entry (`entries`): more entries or unpacked bytes than allowed (a zip bomb);
an entry that names itself otherwise to another reader; a part whose prologue declares a DTD or
entities (billion laughs, external entities: a spreadsheet never needs one) or runs on without
end. Then: a part whose XML holds one token longer than `_TOKEN_LIMIT`; a sheet whose cells lie
so far apart that the grid between them passes `Limits.max_sheet_cells`; and a workbook that would
take more memory to read than `Limits.max_workbook_memory`, since calamine holds a whole sheet at
once: its shared strings, then any one sheet (`sheet_memory`), or any one part unpacked. Every
part is checked, whatever its name, before calamine may read it: all of them before it opens the
workbook, but for the sheets' own parts where the workbook's layout says plainly which they are
(`sheet_parts`): each of those just before its sheet is read (`Later`). A large part is read by
several processes at once, each adding up its share of the pieces.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from array import array
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

from batchport.errors import SourceError
from batchport.sources.base import Limits
from batchport.sources.entries import check_entries
from batchport.sources.prefetch import may_fork
from batchport.sources.shared_strings import StringTable
from batchport.sources.sheet_memory import FILLED_CELL, GRID_CELL, SheetMemory, Tally, clean
from batchport.sources.sheet_parts import sheet_parts
from batchport.sources.spool import Spooled

#: Bytes of one XML token (a tag, a comment, a text) beyond which a part is refused: the parser
#: holds a whole token in memory, and a cell of a million characters fits in far fewer.
_TOKEN_LIMIT = 8 << 20
#: Bytes calamine holds per shared string beside its text, and for any workbook at all (its
#: own working memory, and the Python objects of a row being handed over; measured).
_SHARED_STRING, _OVERHEAD = 24, 8 << 20
#: Parts from this size up are read as sheets by several processes at once (where this one
#: may fork), each adding up every n-th piece, at most `_READERS` of them: on a large workbook
#: the check takes longer than anything else before the first row is read.
_SHARED_PART, _READERS = 16 << 20, 4


def check_archive(path: Path, name: str, limits: Limits, *, later: bool = False) -> Later:
    """Refuses, before anything is parsed, an archive that is no zip, that unpacks to more
    than the limits allow (a zip bomb), whose XML declares a DTD or entities (billion laughs,
    external entities: a spreadsheet never needs one), whose cells span too large a grid, or
    that would take more memory to read than the limit. What is no zip archive at all (an
    encrypted workbook, a stray file) is left to calamine to name.

    With `later`, the parts of a plainly laid out workbook's sheets (`sheet_parts`) are left
    for `Later.check`, just before each sheet is read: reading one sheet need not wait for the
    checks of all the others, and a sheet never read is never checked."""
    if not zipfile.is_zipfile(path):
        return Later(path, {})
    with _readable(name), zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        check_entries(archive, name, limits)
        budget = _Budget(name, limits, max((entry.file_size for entry in entries), default=0))
        strings = _shared_strings(archive, entries, budget)
        parts = sheet_parts(archive) if later else {}
        left = {entry.filename for entry in parts.values()}
        for entry in entries:
            if entry.filename not in left:
                _check_part(archive, entry, budget, strings)
        assert archive.fp is not None  # an open archive
        return Later(path, parts, (budget, strings, _identity(archive.fp.fileno())))


class Later:
    """The parts of a workbook's sheets left unchecked by `check_archive`, each checked just
    before its sheet is read (`check`), through a descriptor of its own (in whichever process
    reads the sheet), of the same file."""

    def __init__(
        self,
        path: Path,
        parts: dict[str, zipfile.ZipInfo],
        checked: tuple[_Budget, Sequence[int], tuple[int, ...]] | None = None,
    ) -> None:
        self.path, self._parts, self._checked = path, parts, checked
        self._sheets = sorted(parts)

    def expect(self, sheets: Sequence[str]) -> None:
        """Checks every part left for later now, unless the reader names the very sheets whose
        parts were left (a name it reads otherwise, and a part left for a sheet would be read
        as another's, unchecked)."""
        if sorted(sheets) != self._sheets:
            for sheet in list(self._parts):
                self.check(sheet, share=True)

    def check(self, sheet: str, *, share: bool) -> None:
        """Checks the part of the sheet named `sheet` if it was left for later (once in each
        process): with `share`, by as many processes as there are cores, else by this one."""
        entry = self._parts.get(sheet)
        if entry is None or self._checked is None:
            return
        budget, strings, identity = self._checked
        with _readable(budget.name), zipfile.ZipFile(self.path) as archive:
            assert archive.fp is not None  # an open archive
            if _identity(archive.fp.fileno()) != identity:
                raise SourceError(budget.name, "the file changed while it was being read")
            _check_part(archive, entry, budget, strings, share=share)
        del self._parts[sheet]


@contextlib.contextmanager
def _readable(name: str) -> Iterator[None]:
    """Names, as the workbook's own error, a failure to read its archive."""
    try:
        yield
    except zipfile.BadZipFile as exc:
        raise SourceError(name, f"not a readable workbook: not a zip archive ({exc})") from exc
    except (OSError, RuntimeError, NotImplementedError) as exc:
        raise SourceError(name, f"not a readable workbook ({exc})") from exc


class _Budget:
    """The memory reading one sheet of the workbook would take: what the reader holds for the
    whole workbook (its shared strings), then any one sheet on top of it."""

    def __init__(self, name: str, limits: Limits, largest: int) -> None:
        # Held from the start: the parser's buffer (as long as the longest token), the rest.
        self.name, self.limits = name, limits
        self.held = min(largest, _TOKEN_LIMIT) + _OVERHEAD

    def room(self) -> int:
        return self.limits.max_workbook_memory - self.held

    def check(self, amount: int, share: str) -> None:
        """Refuses the workbook if `amount` more bytes would pass the limit; `share` says why."""
        if amount > self.room():
            raise SourceError(
                self.name,
                "reading the workbook would take more memory than the limit of "
                f"{self.limits.max_workbook_memory:,} bytes ({share})",
            )


def pieces(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """The part's bytes in pieces of about a megabyte, each ending just before a `<`, so that
    no tag is split; refuses a token (all from one `<` to the next) over `_TOKEN_LIMIT` bytes."""
    carry = b""
    with archive.open(entry) as stream:
        while block := stream.read(1 << 20):
            data = carry + block
            cut = data.rfind(b"<")
            if cut > 0:
                yield data[:cut]
                carry = data[cut:]
            elif len(data) > _TOKEN_LIMIT:
                raise SourceError(
                    name,
                    f"the workbook part {entry.filename} holds an XML tag or text longer than "
                    f"{_TOKEN_LIMIT:,} bytes; refusing it",
                )
            else:
                carry = data
    if carry:
        yield carry


def _shared_strings(
    archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], budget: _Budget
) -> Sequence[int]:
    """The byte length of each shared string in order (calamine holds them all, and copies one
    into each cell that refers to it), from every part named as the table is (calamine finds
    it by its name)."""
    lengths: array[int] = array("Q")
    tables = [entry for entry in entries if entry.filename.lower().endswith("sharedstrings.xml")]
    for entry in tables:
        found = _string_lengths(archive, entry, budget.name, budget.room())
        if len(found) > len(lengths):
            lengths, found = found, lengths
        for index, length in enumerate(found):
            lengths[index] = max(lengths[index], length)
    held = sum(entry.file_size for entry in tables) + _SHARED_STRING * len(lengths)
    budget.check(held, f"its {len(lengths):,} shared strings take {held:,} bytes")
    budget.held += held
    return lengths


def _string_lengths(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str, room: int
) -> array[int]:
    """The table's strings' byte lengths; stops once holding them would take over `room`."""
    table = StringTable()
    for piece in pieces(archive, entry, name):
        if not clean(piece):
            raise SourceError(
                name,
                f"the workbook part {entry.filename} has a '<' inside a comment, a CDATA "
                "section or an attribute value, which no spreadsheet writer puts there; "
                "refusing it",
            )
        table.add(piece)
        if _SHARED_STRING * len(table.lengths) > room:
            break
    return table.lengths


def _read_part(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    budget: _Budget,
    strings: Sequence[int],
    *,
    share: bool,
) -> tuple[SheetMemory, bool]:
    """The part read as a sheet: by byte counts while it keeps to the canonical form, else
    again from its start, robustly, which stops early (incomplete) once past the budget's room."""
    name, room = budget.name, budget.room()
    if (canonical := _canonical(archive, entry, name, strings, share=share)) is not None:
        return canonical, True
    part = SheetMemory(strings)
    for piece in pieces(archive, entry, name):
        part.robust(piece)
        if part.memory() > room:
            return part, False
    return part, True


def _canonical(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    name: str,
    strings: Sequence[int],
    *,
    share: bool,
) -> SheetMemory | None:
    """The part added up by byte counts, its pieces shared (with `share`) among `_readers`
    processes; None where a piece departs from the canonical form."""
    readers = _readers(entry) if share else 1
    part = SheetMemory(strings)
    with contextlib.ExitStack() as stack:
        others = [
            stack.enter_context(
                Spooled(_share(archive, entry, name, strings, (k, readers)), _never, niceness=0)
            )
            for k in range(1, readers)
        ]
        if not all(map(part.canonical, islice(pieces(archive, entry, name), 0, None, readers))):
            return None
        for other in others:
            if (tally := next(other)) is None:
                return None
            part.join(tally)
    return part


def _readers(entry: zipfile.ZipInfo) -> int:
    """How many processes read the part: one, or as many as there are cores to run them."""
    if entry.file_size < _SHARED_PART or not may_fork():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, _READERS))


def _share(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    name: str,
    strings: Sequence[int],
    share: tuple[int, int],
) -> Iterator[Tally | None]:
    """In a process of its own, the `k`-th of `n` readers' share of the part (`share`: every
    n-th piece from the k-th) added up (None where a piece departs from the canonical form).
    It reads the file through a descriptor of its own (a shared one has one offset for both),
    which must be of the same file."""
    k, n = share
    assert archive.fp is not None  # an open archive
    with Path(str(archive.filename)).open("rb") as stream:
        if _identity(stream.fileno()) != _identity(archive.fp.fileno()):
            raise SourceError(name, "the file changed while it was being read")
        with zipfile.ZipFile(stream) as own:
            part = SheetMemory(strings)
            read = all(map(part.canonical, islice(pieces(own, entry, name), k, None, n)))
            yield part.tally() if read else None


def _identity(fd: int) -> tuple[int, ...]:
    found = os.fstat(fd)
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _never(_tally: object) -> bool:
    return False


def _check_part(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    budget: _Budget,
    strings: Sequence[int],
    *,
    share: bool = True,
) -> None:
    """Refuses a part that, read as a sheet, would span more than `max_sheet_cells` cells (two
    cells far apart make calamine allocate the grid between them) or take more memory than
    the budget has left."""
    part, complete = _read_part(archive, entry, budget, strings, share=share)
    span, limit = part.span(), budget.limits.max_sheet_cells
    if span > limit:
        raise SourceError(
            budget.name,
            f"the worksheet {entry.filename} spans {span:,} cells, the limit is {limit:,} "
            "(its cells lie far apart)",
        )
    at_least = "" if complete else "at least "
    shares = (
        (
            GRID_CELL * span + FILLED_CELL * part.cells,
            f"{part.cells:,} cells in a grid of {span:,}",
        ),
        (part.text, f"{part.text:,} bytes of long texts"),
        (part.repeats, f"cells copying {part.repeats:,} bytes of shared strings"),
    )
    budget.check(part.memory(), f"{entry.filename} holds {at_least}{max(shares)[1]}")
