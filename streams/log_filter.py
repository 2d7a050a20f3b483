"""Collapse repeated log lines from the Kafka client libraries.

While a broker is down, aiokafka's producer retries its metadata request as
fast as the connection is refused (its sender waits on the metadata future, not
on a backoff), and logs two errors per attempt: a nine-second broker restart
wrote 17,000 lines to a worker's log, burying everything else an on-call
engineer would look for. :class:`RepeatFilter` lets the first line of each kind
through, then at most one per ``interval_seconds`` that says how many like it
were held back. Lines are told apart by logger, level and message template (not
the formatted text, whose node ids and addresses vary).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

#: Loggers of the client libraries whose retry loops can repeat a line thousands of times a second.
NOISY_LOGGERS = ("aiokafka", "kafka")
#: Kinds of line remembered at most: a template-per-line logger must not grow the filter without bound.
MAX_KINDS = 1_000


class RepeatFilter(logging.Filter):
    """Pass the first record of each kind, then one per ``interval_seconds`` with a count of those dropped.

    Only records at ``min_level`` or above are held back.
    """

    def __init__(self, interval_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 min_level: int = logging.WARNING) -> None:
        super().__init__()
        if not interval_seconds > 0:
            raise ValueError(f"interval_seconds must be positive, got {interval_seconds!r}")
        self.interval_seconds = interval_seconds
        self.clock = clock
        #: records below this level always pass: the retry loops repeat warnings and errors, while an
        #: info line such as "Discovered coordinator ... for group X" says something new each time
        self.min_level = min_level
        self._kinds: dict[tuple[str, int, str], list[float]] = {}  # kind -> [window start, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level:
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen[0] < self.interval_seconds:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            dropped = int(seen[1])
            # After the template (the note holds no %), so that the record's own args still format.
            record.msg = f"{record.msg} [{dropped:,} more like this in the last {now - seen[0]:.0f} s not logged]"
        if seen is None and len(self._kinds) >= MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = [now, 0]
        return True


def install(prefixes: Iterable[str] = NOISY_LOGGERS, interval_seconds: float = 10.0) -> RepeatFilter:
    """Attach one :class:`RepeatFilter` to every logger under ``prefixes`` that exists now.

    A logger's filters only see the records made by that very logger (not those of its
    children), so each one gets it; the client libraries create their loggers at import.
    """
    prefixes = tuple(prefixes)
    repeat = RepeatFilter(interval_seconds)
    names = [name for name in list(logging.root.manager.loggerDict)
             if any(name == p or name.startswith(p + ".") for p in prefixes)]
    for name in {*prefixes, *names}:
        logging.getLogger(name).addFilter(repeat)
    return repeat
