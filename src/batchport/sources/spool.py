"""Reading ahead without waiting: a forked process parses the whole file at its own pace into
a spool file on disk, so that what lies ahead (a bad cell near the end) is known long before
this process, which writes, gets there.

Holding the chunks in memory, the child would have to wait for the writer; this one never
waits. Memory stays bounded all the same: the chunks wait on disk (an unlinked temporary
file, gone when the reading ends), and only a few bytes per chunk travel through the queue:
where the chunk is in the spool, and whether it was flagged.
"""

from __future__ import annotations

import collections
import contextlib
import marshal
import multiprocessing
import os
import pickle
import queue
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from batchport.collecting import for_forked_child
from batchport.sources.prefetch import die_with, picklable

T = TypeVar("T")

#: How much less CPU the child claims than the process it reads for. It runs far ahead, and
#: only needs to stay ahead; at the same priority it takes its share of a core from the
#: database's backend on a host the import fills (two cores: the writer, this child and the
#: backend). 1,000,000 departments, medians of 3 alternated: 9.15 s, 8.74 s at 10.
NICENESS = 10
#: How long to wait for the child's next message before looking whether it still lives.
_PATIENCE = 1.0
#: Where a value is in the spool: (offset, size, pickled rather than marshalled).
_Blob = tuple[int, int, bool]
#: An item's place: whether it was flagged, where it is, where its summary is (if it has one).
_Place = tuple[bool, _Blob, _Blob | None]


class Spooled(Generic[T]):
    """The items a forked child produces, in order; `flagged_ahead` tells, without waiting,
    whether the child has already produced an item its `flag` picked out.

    The child starts from this process's state (open files included) and must be the only one
    to go on reading them. What it raises is raised here, in its place among the items.
    Closing (or leaving a `with` block) ends the child and drops the spool. The child runs at
    `niceness` (`NICENESS` unless said: it reads ahead of this process, which must not wait).

    With `summary`, the child spools a summary of each item beside it, up to the first flagged
    one: the items not taken yet may be taken as their summaries alone (`summaries`), quicker
    to read than whole items, and the summaries of the items taken read once more
    (`taken_summaries`). Past a flagged item, a consumer that stops taking whole items at the
    first one it knows of (a writer that meets a bad chunk) is no longer far behind: the child
    spares that work, and the consumer summarises the items itself, alongside.
    """

    def __init__(
        self,
        items: Iterable[T],
        flag: Callable[[T], bool],
        *,
        niceness: int = NICENESS,
        summary: Callable[[T], Any] | None = None,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._spool = tempfile.TemporaryFile(prefix="batchport-spool-")  # noqa: SIM115 - closed by close()
        self._told: Any = context.Queue()
        self._known: collections.deque[Any] = collections.deque()
        self._taken: list[_Place] = []
        self._flagged = 0
        parent = os.getpid()
        self._child = context.Process(
            target=self._produce,
            args=(items, flag, summary, parent, niceness),
            name="batchport-spool",
            daemon=True,
        )
        self._child.start()

    def _produce(
        self,
        items: Iterable[T],
        flag: Callable[[T], bool],
        summary: Callable[[T], Any] | None,
        parent: int,
        niceness: int,
    ) -> None:
        die_with(parent)
        for_forked_child()
        # Ctrl-C reaches the whole process group: the parent stops (and kills) this child.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.nice(niceness)
        fd = self._spool.fileno()
        try:
            for item in items:
                flagged = flag(item)
                shortly = None if summary is None else _spooled(fd, summary(item))
                self._told.put(("item", (flagged, _spooled(fd, item), shortly)))
                summary = None if flagged else summary
        except BaseException as exc:  # handed to the parent, who raises it
            self._told.put(("raise", picklable(exc)))
        else:
            self._told.put(("end", None))
        self._told.close()
        self._told.join_thread()

    @property
    def flagged_ahead(self) -> bool:
        """Whether an item not yet taken was flagged: looks at what the child has told so
        far, without waiting for more."""
        while True:
            try:
                message = self._told.get_nowait()
            except queue.Empty:
                break
            self._note(message)
        return self._flagged > 0

    def _note(self, message: tuple[str, Any]) -> None:
        self._known.append(message)
        if message[0] == "item" and message[1][0]:
            self._flagged += 1

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return self._read(self._take()[1])  # type: ignore[no-any-return]

    def summaries(self, summary: Callable[[T], Any]) -> Iterator[Any]:
        """The items not taken yet, taken in order as their summaries: as the child spooled
        them, or made here (`summary`) where it did not."""
        while True:
            try:
                place = self._take()
            except StopIteration:
                return
            yield summary(self._read(place[1])) if place[2] is None else self._read(place[2])

    def taken_summaries(self) -> Iterator[Any]:
        """The summaries of the items taken so far, in order, read once more."""
        for place in tuple(self._taken):
            assert place[2] is not None, "Spooled without a summary"
            yield self._read(place[2])

    def _take(self) -> _Place:
        if not self._known:
            self._note(self._next_message())
        kind, value = self._known[0]
        if kind == "end":
            raise StopIteration
        if kind == "raise":
            raise value
        self._known.popleft()
        self._taken.append(value)
        self._flagged -= value[0]
        return value  # type: ignore[no-any-return]

    def _read(self, blob: _Blob) -> Any:
        offset, size, pickled = blob
        data = os.pread(self._spool.fileno(), size, offset)
        if pickled:
            return pickle.loads(data)  # noqa: S301 - our child's
        return marshal.loads(data)  # noqa: S302 - our child's

    def _next_message(self) -> tuple[str, Any]:
        """The child's next message, waiting for it; raises if the child ended without one
        (killed, or out of memory), rather than waiting forever."""
        while True:
            try:
                return self._told.get(timeout=_PATIENCE)  # type: ignore[no-any-return]
            except queue.Empty:
                if self._child.is_alive():
                    continue
            try:  # ended: what it sent before is all there is
                return self._told.get(timeout=_PATIENCE)  # type: ignore[no-any-return]
            except queue.Empty:
                raise ChildProcessError(
                    f"the process reading the file ended unexpectedly "
                    f"(exit code {self._child.exitcode})"
                ) from None

    def close(self) -> None:
        if self._child.is_alive():
            self._child.kill()
        self._child.join()
        self._told.close()
        self._spool.close()

    def __enter__(self) -> Spooled[T]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _packed(item: Any) -> tuple[bool, bytes]:
    """Plain values (lists, tuples, strings, numbers, None) as `marshal` bytes, several times
    faster to make and to read than pickles; others pickled."""
    try:
        return False, marshal.dumps(item)
    except ValueError:  # holds a value marshal cannot write
        return True, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def _spooled(fd: int, value: Any) -> _Blob:
    """Writes `value` at the spool's end; where it is."""
    pickled, data = _packed(value)
    offset = os.lseek(fd, 0, os.SEEK_CUR)
    _write_all(fd, data)
    return offset, len(data), pickled


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
