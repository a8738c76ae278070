"""Runs one command and writes its wall-clock time and peak RSS to a file, as JSON:

    python benchmarks/measure.py RESULT.json COMMAND [ARG...]

A process's peak RSS (`ru_maxrss`) starts from its parent's size at the fork: measured from
the benchmark process itself, every run would read at least the benchmark's own size. This
small process in between is the parent, so the figure is the command's own.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    result, *command = sys.argv[1:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with open(result, "w", encoding="utf-8") as stream:
        json.dump({"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024}, stream)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
