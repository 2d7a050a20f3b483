"""A watchdog for source partitions that Faust stops fetching.

faust-streaming has an open bug where, after a rebalance, a partition can stay
assigned but never be fetched again (faust-streaming/faust issues 166 and 629):
its lag grows while every other partition moves. We saw it here in about one
restart in four of the restart test. The watchdog notices a partition whose read
offset has not moved for ``stall_seconds`` while it has records waiting *and*
another partition did move (so a worker that is simply busy or blocked is not
mistaken for a stalled partition), counts it, un-pauses it and seeks it to its
next offset, which makes the fetcher ask for it again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("crisiswatch")

STALLS = Counter("crisiswatch_partition_stalls_total",
                 "Source partitions found not fetched while others moved, and restarted.", ["topic"])


class StallWatchdog:
    def __init__(self, topics: set[str], stall_seconds: float = 20.0, clock: Any = time.monotonic) -> None:
        self.topics = topics
        self.stall_seconds = stall_seconds
        self.clock = clock
        self.seen: dict[Any, tuple[int | None, float]] = {}  # tp -> (read offset, since when)
        for topic in topics:  # export 0 from the start, so a rate over it has data
            STALLS.labels(topic=topic)

    async def check(self, consumer: Any) -> list[Any]:
        """Look at every assigned source partition; restart and return the stalled ones."""
        now = self.clock()
        moved_any = False
        waiting: list[Any] = []
        for tp in consumer.assignment():
            if tp.topic not in self.topics:
                continue
            read = consumer._read_offset.get(tp)  # Faust's last read offset of the partition
            previous, since = self.seen.get(tp, (None, now))
            if read != previous:
                self.seen[tp] = (read, now)
                moved_any = moved_any or previous is not None
                continue
            highwater = consumer.highwater(tp)
            if highwater and (read is None or read < highwater - 1) and now - since >= self.stall_seconds:
                waiting.append(tp)
        if not moved_any:
            return []
        for tp in waiting:
            read = self.seen[tp][0]
            STALLS.labels(topic=tp.topic).inc()
            log.warning("partition %s has not been fetched for %.0f s although records wait (read offset %s, "
                        "highwater %s); restarting its fetch", tp, now - self.seen[tp][1], read,
                        consumer.highwater(tp))
            consumer.resume_partitions({tp})
            if read is not None:
                await consumer.seek(tp, read + 1)
            self.seen[tp] = (read, now)
        return waiting
