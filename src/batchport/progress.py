"""How long work tells its caller how far it has got: `progress(phase, rows_so_far)`.

Imports report `started`, `reading`, `checking` and `loading` with the rows read so far;
rollbacks `restoring`, `checking` and `deleting` with the rows done so far. The CLI draws it; the
service writes it to the session."""

from __future__ import annotations

from collections.abc import Callable

#: Called as `progress(phase, rows_so_far)` while an import or a rollback runs.
Progress = Callable[[str, int], None]


def no_progress(_phase: str, _rows: int) -> None:
    """Progress is not reported."""
