"""This process as the history and the database see it: a worker named `host:pid:nonce`.

The nonce, drawn once per process (again in a forked child), tells this process from an
earlier one that had the same pid, as a restarted container's often does.
"""

from __future__ import annotations

import os
import secrets
import socket

_nonce = secrets.token_hex(4)


def _renew() -> None:
    global _nonce  # noqa: PLW0603 - one value per process, renewed in a forked child
    _nonce = secrets.token_hex(4)


os.register_at_fork(after_in_child=_renew)


def this_worker() -> str:
    """This process, as `host:pid:nonce`."""
    return f"{socket.gethostname()}:{os.getpid()}:{_nonce}"


def host_and_pid(worker: str) -> tuple[str, int | None]:
    """The host and pid a worker name holds (older names are `host:pid`)."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    return host, int(pid) if pid.isdigit() else None
