"""Every process that works on a job beats in `import_workers` while it lives, so that a job
whose worker is gone is known on any host: its beats stop.

The beats come from a small child process where the worker may fork (one thread: the CLI, a
`batchport worker` or server before its threads start, a service step): a worker that is
merely slow, or paused (SIGSTOP), keeps beating, and the child dies with it (PDEATHSIG).
Elsewhere a thread beats. Each beat is written by the database's clock, and each worker
states its own timeout, so that hosts whose clocks or settings differ agree on who is dead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import sqlalchemy as sa

from batchport.database import Database
from batchport.process import this_worker
from batchport.schema import PreciseNow, SecondsSince, import_workers
from batchport.sources.prefetch import CAN_FORK, die_with, may_fork

logger = logging.getLogger(__name__)

#: How long a worker may go without beating before it is taken for dead (seconds), unless
#: `$BATCHPORT_HEARTBEAT_TIMEOUT` or the worker's own option says otherwise.
DEFAULT_TIMEOUT = 30.0
#: A worker beats this many times per timeout: one late or lost beat is never fatal.
BEATS_PER_TIMEOUT = 3
#: Workers silent for this long are forgotten (seconds), their jobs long swept.
FORGOTTEN_AFTER = 24 * 3600


def configured_timeout() -> float:
    """The timeout `$BATCHPORT_HEARTBEAT_TIMEOUT` gives (seconds), else the default."""
    text = os.environ.get("BATCHPORT_HEARTBEAT_TIMEOUT", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


class Beat(NamedTuple):
    """A worker's last beat, as the database's clock reads it now."""

    age: float
    timeout: float

    @property
    def stopped(self) -> bool:
        return self.age > self.timeout


def last_beat(conn: sa.Connection, worker: str) -> Beat | None:
    """The worker's last beat; None if it never beat (older software) or left cleanly."""
    row = conn.execute(
        sa.select(SecondsSince(import_workers.c.beat_at), import_workers.c.timeout_seconds).where(
            import_workers.c.name == worker
        )
    ).first()
    return None if row is None else Beat(float(row[0]), float(row[1]))


def forget_silent(conn: sa.Connection) -> None:
    """Deletes the rows of workers silent for a day (in the caller's transaction)."""
    conn.execute(
        import_workers.delete().where(SecondsSince(import_workers.c.beat_at) > FORGOTTEN_AFTER)
    )


class _Beater:
    """This process's beating, shared by everything in it that works on a job."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.stop: threading.Event | None = None
        self.child: int | None = None

    def enter(self, db: Database, timeout: float) -> None:
        with self.lock:
            self.users += 1
            if self.users > 1:
                return
            # The beater registers this process itself, first thing: the work that asked
            # for it goes on at once (until then its claim and its process speak for it).
            name = this_worker()
            interval = timeout / BEATS_PER_TIMEOUT
            if CAN_FORK and may_fork():
                self.child = _fork_beating(db.engine.url, name, timeout, interval)
            else:
                self.stop = threading.Event()
                threading.Thread(
                    target=_beat_until,
                    args=(db.engine, name, timeout, interval, self.stop),
                    name="heartbeat",
                    daemon=True,
                ).start()

    def leave(self, db: Database) -> None:
        with self.lock:
            self.users -= 1
            if self.users:
                return
            if self.child is not None:
                _end(self.child)
                self.child = None
            if self.stop is not None:
                self.stop.set()
                self.stop = None
            # Left cleanly: nothing to judge. A failure leaves the row to go stale.
            with contextlib.suppress(sa.exc.SQLAlchemyError), db.engine.begin() as conn:
                conn.execute(import_workers.delete().where(import_workers.c.name == this_worker()))


_beater = _Beater()
os.register_at_fork(after_in_child=_beater.reset)  # a forked child beats for itself


@contextlib.contextmanager
def beating(db: Database, timeout: float | None = None) -> Iterator[None]:
    """This process beats while the block runs (and while any other block of it does);
    `timeout` (by default `configured_timeout()`) is the one the first block states."""
    _beater.enter(db, timeout or configured_timeout())
    try:
        yield
    finally:
        _beater.leave(db)


def _register(conn: sa.Connection, name: str, timeout: float) -> None:
    forget_silent(conn)
    conn.execute(import_workers.delete().where(import_workers.c.name == name))
    conn.execute(
        import_workers.insert().values(
            name=name, started_at=PreciseNow(), beat_at=PreciseNow(), timeout_seconds=timeout
        )
    )


def _beat(conn: sa.Connection, name: str, timeout: float) -> None:
    """One beat (the row again, if a sweep forgot it meanwhile)."""
    beaten = conn.execute(
        import_workers.update().where(import_workers.c.name == name).values(beat_at=PreciseNow())
    )
    if not beaten.rowcount:
        _register(conn, name, timeout)


def _beat_until(
    engine: sa.Engine, name: str, timeout: float, interval: float, stop: threading.Event
) -> None:
    """Registers, then beats every `interval` seconds until `stop` is set."""
    _try_beat(engine, name, timeout, first=True)
    while not stop.wait(interval):
        _try_beat(engine, name, timeout)


def _fork_beating(url: sa.URL, name: str, timeout: float, interval: float) -> int:
    """A child that beats for this process every `interval` seconds while it lives; its pid."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: its own connection, never one of the parent's
        die_with(parent)
        engine = sa.create_engine(url, poolclass=sa.pool.StaticPool)
        _try_beat(engine, name, timeout, first=True)
        while os.getppid() == parent:
            time.sleep(interval)
            _try_beat(engine, name, timeout)
    finally:
        os._exit(0)


def _try_beat(engine: sa.Engine, name: str, timeout: float, *, first: bool = False) -> None:
    """One beat (the `first` registers the worker afresh); a failed one is tried again at the
    next (a database briefly away, or SQLite's one writer busy)."""
    try:
        with engine.begin() as conn:
            (_register if first else _beat)(conn, name, timeout)
    except sa.exc.SQLAlchemyError as exc:
        logger.debug("heartbeat of %s failed: %s", name, exc)


def _end(child: int) -> None:
    """Ends the beating child and reaps it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, 9)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(child, 0)
