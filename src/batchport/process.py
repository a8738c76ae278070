"""This process as the history and the database see it: a worker named `host:pid:nonce`.

The nonce, drawn once per process (again in a forked child), tells this process from an
earlier one that had the same pid, as a restarted container's often does.
"""

from __future__ import annotations

import os
import secrets
import socket

_nonce = secrets.token_hex(4)
#: The host part of this process's name: the machine's, unless a worker was given its own.
_host = socket.gethostname()


def _renew() -> None:
    global _nonce  # noqa: PLW0603 - one value per process, renewed in a forked child
    _nonce = secrets.token_hex(4)


os.register_at_fork(after_in_child=_renew)


def this_worker() -> str:
    """This process, as `host:pid:nonce`."""
    return f"{_host}:{os.getpid()}:{_nonce}"


def name_host(name: str) -> None:
    """Names this process's host `name` (a worker's `--name`), as the history shows it: a
    host that is not this machine's name is judged by its beats and sessions only."""
    global _host  # noqa: PLW0603 - one value per process
    _host = name.replace(":", "-")


def host_and_pid(worker: str) -> tuple[str, int | None]:
    """The host and pid a worker name holds (older names are `host:pid`)."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    return host, int(pid) if pid.isdigit() else None
