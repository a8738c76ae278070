"""The job queue on PostgreSQL: how soon a worker starts a committed import, and how the
work of many imports spreads over `batchport worker` processes.

    python benchmarks/workers.py --files 20 --file-rows 50000 --repeat 3

- Latency: one idle worker beside an API server (`serve --no-worker`); a small file is
  uploaded and validated, then committed, `--repeat` times. Measured by the database's
  clock: from the commit (its transaction defers the step) to the worker starting the step
  (the queue's own events, `procrastinate_events`: deferred, started), and on to the import
  job's `started_at` in the history (the step's process forked and the job recorded). The
  worker learns of the job by LISTEN/NOTIFY, not by polling (target: under 100 ms).
- Throughput: `--files` users files of `--file-rows` rows each (their own users, the same
  departments), uploaded and validated through the API, then all committed at once; measured
  from the first commit until the last session is committed, with 1, 2 and 4 workers
  (`--concurrency 1` each). Baseline: the same files imported one after the other by one
  process (the library's `run_import`, in a process of its own), on a fresh database of the
  same template. Ratio = baseline time / the workers' time: above 1, the workers are faster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from api import _account, _expect, _serve, _wait_healthy
from common import (
    BATCHPORT,
    DATA,
    USER_HEADER,
    Measure,
    Postgres,
    Results,
    Run,
    alternate,
    arguments,
    on_postgres,
    report,
    timed,
    user_rows,
)

STEP_WAIT = 1200


def suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """The latency line (printed), and the throughput of 1, 2 and 4 workers."""
    latencies = [_latency(pg) for _ in range(args.repeat)]
    for n, what in enumerate(("the worker started the step", "the import job began")):
        runs = [run[n] for run in latencies]
        print(
            f"  commit → {what}, idle worker: median {statistics.median(runs):.0f} ms "
            f"(runs: {', '.join(f'{ms:.0f}' for ms in runs)} ms)",
            file=sys.stderr,
        )
    files = [_users_file(n, args.file_rows) for n in range(args.files)]
    rows = args.files * args.file_rows
    one_by_one = Measure(f"{args.files} imports one after the other, one process", rows)
    counts = (1, 2, 4)
    workers = {
        n: Measure(f"{args.files} imports queued at once, {n} worker(s)", rows) for n in counts
    }

    def baseline() -> Run:
        return timed([sys.executable, __file__, "one-by-one", pg.url(pg.fresh()), *map(str, files)])

    def through(count: int) -> Callable[[], Run]:
        return lambda: _through_workers(pg.url(pg.fresh()), files, count)

    alternate(args.repeat, [(one_by_one, baseline)] + [(workers[n], through(n)) for n in counts])
    return [(workers[n], one_by_one) for n in counts]


def _latency(pg: Postgres) -> tuple[float, float]:
    """Milliseconds from a commit to the worker starting its step, and to its job's start;
    one idle worker."""
    url = pg.url(pg.fresh())
    with _cluster(url, 1) as client:
        session = _upload_valid(client, _users_file(-1, 10))
        time.sleep(1)  # the worker idle, waiting
        _expect(client.post(f"/sessions/{session}/commit"), 202)
        _wait_for(client, [session], "committed")
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw) as conn:
        row = conn.execute(_LATENCY, (session,)).fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


#: The commit's job: deferred, started by the worker; and the import's start in the history.
_LATENCY = """
SELECT extract(epoch FROM started.at - deferred.at) * 1000,
       extract(epoch FROM h.started_at - deferred.at) * 1000
FROM import_sessions AS s
JOIN import_history AS h ON h.job_id::text = s.job_id
JOIN procrastinate_jobs AS j ON j.queueing_lock = 'batchport-session:' || s.id
JOIN procrastinate_events AS deferred ON deferred.job_id = j.id AND deferred.type = 'deferred'
JOIN procrastinate_events AS started ON started.job_id = j.id AND started.type = 'started'
WHERE s.id = %s
ORDER BY j.id DESC LIMIT 1
"""


def _through_workers(url: str, files: list[Path], count: int) -> Run:
    """Seconds from the first commit until every file is imported, `count` workers."""
    with _cluster(url, count) as client:
        sessions = [_upload_valid(client, path) for path in files]
        began = time.perf_counter()
        for session in sessions:
            _expect(client.post(f"/sessions/{session}/commit"), 202)
        _wait_for(client, sessions, "committed")
        return Run(time.perf_counter() - began, 0.0)


class _cluster:  # noqa: N801 - used as a context manager, like a function
    """An API server that only accepts work, and `count` workers; a client of the server."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count

    def __enter__(self) -> httpx.Client:
        token = _account(self.url)
        self.server = _serve(self.url, "--no-worker")
        env = {**os.environ, "BATCHPORT_DATABASE_URL": self.url}
        self.workers = []
        for n in range(self.count):
            with (DATA / f"worker-{n}.log").open("wb") as log:
                self.workers.append(
                    subprocess.Popen(
                        [BATCHPORT, "worker", "--name", f"bench{n}"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.server.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=STEP_WAIT,
        )
        _wait_healthy(self.client)
        return self.client

    def __exit__(self, *_: object) -> None:
        self.client.close()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait(timeout=60)
        self.server.stop()


def _upload_valid(client: httpx.Client, path: Path) -> str:
    with path.open("rb") as stream:
        answer = client.post(
            "/sessions",
            data={"import_type": "users"},
            files={"file": (path.name, stream, "text/csv")},
        )
    _expect(answer, 201)
    session = str(answer.json()["id"])
    _wait_for(client, [session], "valid")
    return session


def _wait_for(client: httpx.Client, sessions: list[str], status: str) -> None:
    deadline = time.monotonic() + STEP_WAIT
    waiting = set(sessions)
    while waiting and time.monotonic() < deadline:
        for session in list(waiting):
            found = client.get(f"/sessions/{session}").json()
            if found["status"] == status:
                waiting.discard(session)
            elif found["status"] in ("invalid", "failed", "expired"):
                raise SystemExit(f"session {session} is {found['status']}: {found['message']}")
        time.sleep(0.01 if len(sessions) == 1 else 0.2)
    if waiting:
        raise SystemExit(f"{len(waiting)} session(s) never became {status}")


def _users_file(number: int, rows: int) -> Path:
    """A users file of its own users (`number` in their e-mails)."""
    path = DATA / f"worker-users-{number}-of-{rows}.csv"
    if not path.exists():
        with path.open("w") as stream:
            stream.write(",".join(USER_HEADER) + "\n")
            for row in user_rows(rows, prefix=f"w{number}-"):
                stream.write(",".join(row) + "\n")
    return path


def one_by_one(url: str, files: list[str]) -> None:
    """The baseline: the files imported one after the other, in this process."""
    from batchport import BUILTIN_TYPES, Database, run_import  # noqa: PLC0415

    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    for path in files:
        run_import(db, "users", Path(path), actor="bench")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "one-by-one":
        one_by_one(sys.argv[2], sys.argv[3:])
        return
    args = arguments(__doc__ or "", files=20, file_rows=50_000)
    report("job queue: latency and workers (PostgreSQL)", on_postgres(args, suite))


if __name__ == "__main__":
    main()
