"""The REST API against the CLI on the same users file, each on a fresh identical database.

API: `batchport serve` in its own process (on a free port, an importer account made with
`batchport accounts create`), driven over HTTP: the time from the start of the upload until
the session reports its job completed — upload, the background validation, the commit, the
import — polling `GET /sessions/{id}` every 50 ms. Baseline: `batchport import users FILE`
(the whole process). Ratio = CLI time / API time (issue 16's target: at least 1 / 1.3).

Its RSS column is the server's peak (VmHWM of `/proc/PID/status`, read just before it is
stopped). The lines before the table give, for each API run, the seconds of each step, the
peak of the server and all its children together (their proportional set sizes summed at
every poll, so that a page they share is counted once), the progress values seen, and how
long the progress still showed the job unfinished once its history said completed.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import httpx

from common import (
    BATCHPORT,
    DATA,
    Measure,
    Postgres,
    Results,
    Run,
    alternate,
    arguments,
    batchport_import,
    on_postgres,
    report,
    write_users_csv,
)

#: How often the session is polled, and the process tree's memory sampled (seconds).
POLL = 0.05
#: How long a server may take to start, and a step to finish (seconds).
START_WAIT = 30
STEP_WAIT = 1200


@dataclass
class Seen:
    """What the polls of one API run saw."""

    progress: list[tuple[str, int]] = field(default_factory=list)
    tree_mb: float = 0.0
    #: Seconds the session still showed the job unfinished after history said completed.
    lag: float = 0.0
    #: Polls that showed 100 % while the step under way was not done.
    early: int = 0
    #: The largest RSS seen of each child process of the server (MB), by pid.
    children: dict[int, float] = field(default_factory=dict)
    #: Seconds of each step: upload (until its answer), validation, commit (until completed).
    steps: list[float] = field(default_factory=list)


def suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """The API's upload → validate → commit → completed against the CLI's import."""
    users = write_users_csv(args.rows)
    cli = Measure("batchport import users (CLI, baseline)", args.rows)
    api = Measure("API: upload → valid → commit → completed", args.rows)
    seen: list[Seen] = []

    def through_api() -> Run:
        run, polls = api_import(pg.url(pg.fresh()), users)
        seen.append(polls)
        return run

    alternate(
        args.repeat,
        [
            (cli, lambda: batchport_import(pg.url(pg.fresh()), "users", users)),
            (api, through_api),
        ],
    )
    for i, polls in enumerate(seen):
        children = ", ".join(f"{mb:.0f}" for mb in sorted(polls.children.values(), reverse=True))
        shown = ", ".join(f"{status} {p}%" for status, p in _changes(polls.progress))
        print(
            f"  API run {i + 1}: upload, validation, commit "
            f"{' + '.join(f'{s:.2f}s' for s in polls.steps)}; "
            f"server and children ≤ {polls.tree_mb:.0f} MB (PSS; each child's RSS ≤ "
            f"{children} MB); "
            f"100 % shown early {polls.early} times; completed shown {polls.lag:.2f}s late; "
            f"progress: {shown}",
            file=sys.stderr,
        )
    return [(api, cli)]


def api_import(url: str, path: Path) -> tuple[Run, Seen]:
    """One file through a fresh server over `url`: the time and the server's peak RSS."""
    token = _account(url)
    server = _serve(url)
    seen = Seen()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=STEP_WAIT,
        ) as client:
            _wait_healthy(client)
            started = time.perf_counter()
            with path.open("rb") as stream:
                answer = client.post(
                    "/sessions",
                    data={"import_type": "users"},
                    files={"file": (path.name, stream, "text/csv")},
                )
            _expect(answer, 201)
            marks = [started, time.perf_counter()]
            session = answer.json()["id"]
            _follow(client, server, session, seen, done="valid")
            marks.append(time.perf_counter())
            _expect(client.post(f"/sessions/{session}/commit"), 202)
            _follow(client, server, session, seen, done="committed")
            marks.append(time.perf_counter())
            seconds = marks[-1] - started
            seen.steps = [b - a for a, b in pairwise(marks)]
        peak = _peak_mb(server.process.pid)
    finally:
        server.stop()
    return Run(seconds, peak), seen


def _follow(client: httpx.Client, server: _Server, session: str, seen: Seen, *, done: str) -> None:
    """Polls the session until it is `done` (any other final status fails the run)."""
    deadline = time.monotonic() + STEP_WAIT
    completed_at: float | None = None
    while time.monotonic() < deadline:
        found = client.get(f"/sessions/{session}").json()
        seen.tree_mb = max(seen.tree_mb, _tree_mb(server.process.pid))
        for child in _descendants(server.process.pid):
            rss = _status_kb(child, "VmRSS") / 1024
            seen.children[child] = max(seen.children.get(child, 0.0), rss)
        seen.progress.append((found["status"], found["progress"]))
        if found["status"] == done:
            if completed_at is not None:
                seen.lag = time.monotonic() - completed_at
            return
        if found["status"] in ("invalid", "failed", "expired"):
            raise SystemExit(f"the session is {found['status']}: {found['message']}")
        if found["progress"] >= 100:
            seen.early += 1
        if found["job_status"] == "completed" and completed_at is None:
            completed_at = time.monotonic()
        time.sleep(POLL)
    raise SystemExit(f"the session stayed {found['status']}")


def _changes(progress: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The polls' values, each shown once in a row."""
    return [v for i, v in enumerate(progress) if i == 0 or progress[i - 1] != v]


# --- the server ----------------------------------------------------------------------------


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=START_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _account(url: str) -> str:
    """A new importer's token, as `batchport accounts create` prints it."""
    out = subprocess.run(
        [BATCHPORT, "--database-url", url, "accounts", "create", "bench", "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)["token"])


def _serve(url: str, *extra: str) -> _Server:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = DATA / f"serve-{port}.log"
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [BATCHPORT, "--database-url", url, "serve", "--port", str(port), *extra],
            stdout=stream,
            stderr=subprocess.STDOUT,
        )
    return _Server(process, port, log)


def _wait_healthy(client: httpx.Client) -> None:
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def _expect(answer: httpx.Response, status: int) -> None:
    if answer.status_code != status:
        raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text[:2000]}")


# --- memory --------------------------------------------------------------------------------


def _status_kb(pid: int, field_name: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return 0
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += map(int, children)
        todo += map(int, children)
    return found


def _tree_mb(pid: int) -> float:
    """The memory of the process and all its descendants: their proportional set sizes
    summed (a page shared by n of them counted 1/n for each, so none is counted twice)."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            lines = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
        except OSError:  # gone meanwhile
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith("Pss:"))
    return total / 1024


def _peak_mb(pid: int) -> float:
    """The peak RSS of the process (VmHWM), and of any child it has now."""
    return max(_status_kb(p, "VmHWM") for p in [pid, *_descendants(pid)]) / 1024


if __name__ == "__main__":
    report("PostgreSQL — API", on_postgres(arguments(__doc__), suite))
