"""At most one message per second per Slack channel.

Slack allows "about one message per second" in a channel and answers 429 beyond short bursts.
Waiting on our side is cheaper than collecting 429s, and keeps a burst of updates in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from detectors.base import check_range


class MinIntervalLimiter:
    """Space calls with the same key at least ``interval_seconds`` apart (clock and sleep injectable)."""

    def __init__(self, interval_seconds: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        check_range("interval_seconds", interval_seconds, 0)
        self.interval_seconds = float(interval_seconds)
        self._clock = clock
        self._sleep = sleep
        self._next_allowed: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Block until a call for ``key`` is allowed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_allowed.get(key, now))
            self._next_allowed[key] = slot + self.interval_seconds
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait
