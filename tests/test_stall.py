"""The stalled-partition watchdog restarts a partition only when it stalls while others move."""

from __future__ import annotations

import asyncio
from collections import namedtuple

from streams.stall import StallWatchdog

TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    def __init__(self) -> None:
        self.tps = [TP("posts", 0), TP("posts", 1)]
        self._read_offset = {self.tps[0]: 10, self.tps[1]: 10}
        self.high = {self.tps[0]: 100, self.tps[1]: 100}
        self.resumed: list = []
        self.seeks: list = []

    def assignment(self):
        return set(self.tps)

    def highwater(self, tp):
        return self.high[tp]

    def resume_partitions(self, tps):
        self.resumed.extend(tps)

    async def seek(self, tp, offset):
        self.seeks.append((tp, offset))


def run(coro):
    return asyncio.run(coro)


def test_a_partition_stuck_while_another_moves_is_restarted():
    now = [0.0]
    dog = StallWatchdog({"posts"}, stall_seconds=20, clock=lambda: now[0])
    consumer = FakeConsumer()
    assert run(dog.check(consumer)) == []
    for t in (10.0, 21.0):
        now[0] = t
        consumer._read_offset[consumer.tps[1]] += 50  # partition 1 moves, partition 0 does not
        stalled = run(dog.check(consumer))
    assert stalled == [consumer.tps[0]]
    assert consumer.resumed == [consumer.tps[0]] and consumer.seeks == [(consumer.tps[0], 11)]


def test_a_worker_that_is_merely_busy_or_caught_up_is_left_alone():
    now = [0.0]
    dog = StallWatchdog({"posts"}, stall_seconds=20, clock=lambda: now[0])
    consumer = FakeConsumer()
    run(dog.check(consumer))
    now[0] = 60.0  # nothing moved anywhere: busy or blocked, not a stalled partition
    assert run(dog.check(consumer)) == []
    consumer.high = {tp: 11 for tp in consumer.tps}  # caught up: nothing waits
    consumer._read_offset[consumer.tps[1]] = 10
    now[0] = 120.0
    assert run(dog.check(consumer)) == []
    assert consumer.seeks == []
