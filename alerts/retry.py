"""How long to wait before the next attempt: exponential backoff with full jitter.

"Full jitter" (AWS Architecture Blog, *Exponential Backoff And Jitter*) waits a uniformly random
time between 0 and ``min(max_seconds, base_seconds * 2**attempt)``: retries of many workers after
a shared outage spread out instead of hammering the receiver in lock-step. ``max_seconds`` bounds
the wait, so once a receiver comes back it is used again within a minute.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

from detectors.base import check_range

#: The longest ``Retry-After`` we honour, so that a confused receiver cannot stall us for a day.
MAX_RETRY_AFTER_SECONDS = 900.0


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts; ``random`` returns a float in [0, 1) (inject it for tests)."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    random: Callable[[], float] = field(default=_random.random, repr=False)

    def __post_init__(self) -> None:
        check_range("base_seconds", self.base_seconds, 0, low_open=True)
        check_range("max_seconds", self.max_seconds, self.base_seconds)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0 for the first one).

        A receiver's ``Retry-After`` wins over the jittered backoff: it knows when it will take
        requests again, and retrying sooner only earns another 429.
        """
        if retry_after is not None and retry_after >= 0:
            return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(attempt, 62))
        return self.random() * ceiling
