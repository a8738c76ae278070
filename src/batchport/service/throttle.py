"""How many failures a source may have: failed authentications per address and per token
id, refused uploads per address. Past the limit a source is answered 429 (with
`Retry-After`) until its window ends, and its failures are no longer audited one by one: one
row says it was throttled. So a flood of failures costs neither a password check nor an
audit row each, and the audit log grows by at most `limit + 1` rows per source and window.

The counts live in the process (a server restart forgets them; each server process counts
its own).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Failures a source may have in one window, and the window's length (seconds).
LIMIT = 10
WINDOW = 60.0


@dataclass
class _Window:
    started: float
    failures: int = 0


@dataclass
class Throttle:
    """Counts failures per key (`addr:127.0.0.1`, `token:ab12…`) in fixed windows."""

    limit: int = LIMIT
    window: float = WINDOW
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until every key may try again, or None if none is throttled."""
        now = self.clock()
        waits = []
        with self._lock:
            for key in keys:
                found = self._current(key, now)
                if found is not None and found.failures >= self.limit:
                    waits.append(found.started + self.window - now)
        return max(1, round(max(waits))) if waits else None

    def failed(self, *keys: str) -> int:
        """Counts a failure for each key; returns the most failures a key now has in its
        window (audit a failure while this is at most `limit`)."""
        now = self.clock()
        most = 0
        with self._lock:
            if len(self._windows) > 100_000:  # bounded: forget the ended windows
                self._windows = {
                    k: w for k, w in self._windows.items() if now - w.started < self.window
                }
            for key in keys:
                found = self._current(key, now)
                if found is None:
                    found = self._windows[key] = _Window(now)
                found.failures += 1
                most = max(most, found.failures)
        return most

    def _current(self, key: str, now: float) -> _Window | None:
        found = self._windows.get(key)
        if found is None or now - found.started >= self.window:
            if found is not None:
                del self._windows[key]
            return None
        return found
