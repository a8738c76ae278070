"""The worker's steps (a session's validation, its import) each in a process of its own, so
that they run as the CLI's import does: with one thread, the file read ahead by a second
process (`sources.prefetch`), and no request of the server waiting on them for the GIL.

A process that forks must have one thread (a lock another thread holds would stay held in the
child), and a server has several. So the server forks a helper, the *zygote*, at its start,
while it still has one; the zygote never starts a thread, and forks one child per step. The
worker thread claims sessions and writes their progress and outcome as before
(`commands.steps`); only the step itself runs in the child, which sends its
progress and its outcome back through a pipe. Each child dies with the zygote, and the zygote
with the server; a child that dies mid-import leaves a job that the sweep marks
`failed: interrupted`, as one whose server died.
"""

import contextlib
import importlib
import logging
import marshal
import os
import queue
import signal
import threading
import time
from dataclasses import replace
from multiprocessing.connection import Connection, Pipe
from typing import Any

from batchport import commands
from batchport.collecting import for_forked_child
from batchport.commands.steps import StepCrashed, run_step
from batchport.database import Database
from batchport.errors import BatchportError, FileRejected, RowError, internal_error
from batchport.progress import Progress
from batchport.reports import ImportReport
from batchport.sessions import Session, storage
from batchport.sources import Limits
from batchport.sources.prefetch import die_with, may_fork
from batchport.vocabulary import JobStatus

LOG = logging.getLogger("batchport.service")
#: How long a dead child's job may take to be seen dead by the sweep (seconds).
SWEEP_WAIT = 10.0
#: The reader most steps use, which the package loads when first needed.
CSV_READER = "batchport.sources.delimited"


class Zygote:
    """The helper process the steps are forked from; `step` runs one (a `Step`)."""

    def __init__(self, db: Database, limits: Limits) -> None:
        self._db, self._limits = db, limits
        self._pipe, theirs = Pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:  # the zygote
            self._pipe.close()
            _serve(theirs, db, limits, parent)
        theirs.close()
        self._lock = threading.Lock()
        self._gone = False
        self._closed = False

    def step(self, session: Session, progress: Progress | None, dry_run: bool) -> ImportReport:
        """Runs the step in a new child; raises what it raised (as `commands.steps._run`
        records it). Once the zygote is gone, steps run in this process."""
        with self._lock:
            if not self._gone:
                try:
                    self._pipe.send((session, dry_run))
                except OSError:  # gone before the step began: it runs here instead
                    self._lost()
            if self._gone:
                return run_step(self._db, session, self._limits, progress=progress, dry_run=dry_run)
            try:
                kind, value, code = self._outcome(progress)
            except (EOFError, OSError):  # gone during the step, and the step with it
                self._lost()
                kind, value, code = "exited", None, None
            except BaseException:  # the pipe may be mid-answer: never read it again
                self._lost()
                raise
        return self._result(session, kind, value, code, dry_run=dry_run)

    def _outcome(self, progress: Progress | None) -> tuple[str, Any, int | None]:
        """The child's outcome (`exited` with no value if it sent none) and its exit code."""
        outcome: tuple[str, Any] = ("exited", None)
        while True:
            kind, value = self._pipe.recv()
            if kind == "progress":
                if progress is not None:
                    progress(*value)
            elif kind == "exited":
                return (*outcome, value)
            else:
                outcome = (kind, value)

    def _result(
        self, session: Session, kind: str, value: Any, code: int | None, *, dry_run: bool
    ) -> ImportReport:
        if kind == "report":
            assert isinstance(value, ImportReport)
            return value
        if kind == "rejected":
            report, errors = value
            plain = marshal.loads(errors)  # noqa: S302 - bytes our own child made
            found = [RowError(*error) for error in plain]
            raise FileRejected(replace(report, errors=found))
        if kind == "error":
            raise BatchportError(value)
        if kind == "crashed":
            raise StepCrashed(value)
        if not dry_run:  # its job's worker is dead: have it marked so before saying so
            _swept(self._db, session.id)
        if code is None:
            how = "the helper that forks the steps is gone"
        else:
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
        raise StepCrashed(f"interrupted: the process of the step ended ({how})")

    def _lost(self) -> None:
        LOG.warning("the service's work process is gone; steps run in the server now")
        self._gone = True
        self.close()

    def close(self) -> None:
        """Ends the zygote (and so any step under way); once: its pid may be another
        process's after it was reaped."""
        if self._closed:
            return
        self._closed = True
        self._pipe.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(pipe: Connection, db: Database, limits: Limits, parent: int) -> None:
    """The zygote: forks a child for each step asked for, and says when it has ended."""
    try:
        die_with(parent)
        with contextlib.suppress(ValueError):  # only the main thread may, as it is here
            signal.set_wakeup_fd(-1)  # the server's event loop's, which is not ours
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the server stops us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        db.engine.dispose(close=False)  # the server's connections stay the server's
        importlib.import_module(CSV_READER)  # loaded once here, not in every child
        for_forked_child()  # and in every child, which inherits it
        zygote = os.getpid()
        while True:
            try:
                session, dry_run = pipe.recv()
            except EOFError:
                break
            child = os.fork()
            if child == 0:
                _run_child(pipe, db, limits, zygote, session, dry_run)
            _, status = os.waitpid(child, 0)
            pipe.send(("exited", os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)


def _run_child(  # noqa: PLR0917 - what the zygote hands its child
    pipe: Connection, db: Database, limits: Limits, zygote: int, session: Session, dry_run: bool
) -> None:
    """A step's child: runs it, sends its progress and outcome, exits."""
    try:
        die_with(zygote)

        def progress(phase: str, rows: int) -> None:
            pipe.send(("progress", (phase, rows)))

        try:
            report = run_step(db, session, limits, progress=progress, dry_run=dry_run)
        except FileRejected as exc:  # errors as plain values: far quicker to hand over
            errors = [(e.row, e.column, e.value, e.message, e.sheet) for e in exc.errors]
            pipe.send(("rejected", (replace(exc.report, errors=[]), marshal.dumps(errors))))
        except BatchportError as exc:
            pipe.send(("error", str(exc)))
        except BaseException as exc:  # handed to the server, who records it
            text = str(exc) if isinstance(exc, StepCrashed) else internal_error(exc)
            pipe.send(("crashed", text))
        else:
            pipe.send(("report", report))
        db.engine.dispose()
    finally:
        os._exit(0)


def _swept(db: Database, session_id: str) -> None:
    """Waits until the sweep has marked the session's job interrupted (its process is gone,
    but the database may take a moment to see its connections closed)."""
    deadline = time.monotonic() + SWEEP_WAIT
    while time.monotonic() < deadline:
        commands.recover(db)
        with db.connect() as conn:
            job = storage.job_of(conn, session_id)
        if job is None or job.status != JobStatus.running:
            return
        time.sleep(0.1)


class StepPool:
    """Zygotes for `size` steps at once, each step in a process of its own (a worker's
    concurrency: its steps run on as many cores)."""

    def __init__(self, zygotes: list[Zygote]) -> None:
        self._zygotes = zygotes
        self._free: queue.SimpleQueue[Zygote] = queue.SimpleQueue()
        for zygote in zygotes:
            self._free.put(zygote)

    @classmethod
    def start(cls, db: Database, limits: Limits, size: int) -> "StepPool | None":
        """The pool, if this process may fork now (it has one thread); else None, and the
        steps run in the worker's threads."""
        if not may_fork():
            return None
        return cls([Zygote(db, limits) for _ in range(size)])

    def step(self, session: Session, progress: Progress | None, dry_run: bool) -> ImportReport:
        """Runs the step in a free zygote's child (a `Step`)."""
        zygote = self._free.get()
        try:
            return zygote.step(session, progress, dry_run)
        finally:
            self._free.put(zygote)

    def close(self) -> None:
        for zygote in self._zygotes:
            zygote.close()
