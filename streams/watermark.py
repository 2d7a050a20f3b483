"""Event-time watermarks: how far in post time a consumer can safely say it has read.

Kafka keeps order only within a partition, and a worker reads several
partitions at uneven speed: replaying history, one partition can be an hour of
post time ahead of another. Closing a brand's minute bucket because *some*
partition has moved past it would judge the bucket before the posts of the
lagging partitions arrive.

So the ingest step tracks, per source partition, the newest ``created_at`` it
has read, and its watermark is the *oldest* of these among the partitions that
still have records waiting (a partition that is caught up cannot hold time
back: whatever it sends next is new). Every post forwarded to
``posts.by_brand`` carries that watermark and the id of the worker that set it;
the per-brand step takes the oldest watermark among the ingest workers it
has heard from recently.
"""

from __future__ import annotations

from collections.abc import Hashable


class PartitionWatermark:
    """The ingest side: the oldest newest-event-time among partitions that are not caught up."""

    def __init__(self) -> None:
        self.newest: dict[Hashable, float] = {}
        self.caught_up: dict[Hashable, bool] = {}
        self.waiting: set[Hashable] = set()

    def expect(self, partitions: set[Hashable]) -> None:
        """Partitions with records waiting that have not been read yet: they hold time back until read."""
        self.waiting = {p for p in partitions if p not in self.newest}

    def observe(self, partition: Hashable, created_at: float, caught_up: bool) -> None:
        """A post from ``partition``; ``caught_up`` when it was the last record the partition had."""
        if created_at > self.newest.get(partition, float("-inf")):
            self.newest[partition] = created_at
        self.caught_up[partition] = caught_up

    def forget(self, partitions: set[Hashable] | None = None) -> None:
        """Drop partitions this worker no longer reads (all of them when ``None``)."""
        for p in list(self.newest) if partitions is None else partitions:
            self.newest.pop(p, None)
            self.caught_up.pop(p, None)
        self.waiting.clear()

    @property
    def value(self) -> float:
        if self.waiting:
            return float("-inf")
        behind = [t for p, t in self.newest.items() if not self.caught_up.get(p, False)]
        if behind:
            return min(behind)
        return max(self.newest.values(), default=float("-inf"))


class SourceWatermark:
    """The per-brand side: the oldest watermark among the ingest workers heard from within ``ttl`` seconds.

    A worker that stopped is forgotten once its ttl has passed; until then its last stamp holds time
    back. When nobody was heard within the ttl (the stream went quiet), the worker heard from last
    speaks for all: the ingest workers send stamps only with posts, so a quiet stream is a caught-up
    one, and its last stamp is how far time has got. Answering "no watermark" there instead left
    a worker restarted after a crash, which re-reads the dead worker's last stamps first, with no
    watermark at all once the rest was read quickly: no bucket closed again until new posts came.
    """

    def __init__(self, ttl_seconds: float = 60.0) -> None:
        self.ttl_seconds = ttl_seconds
        self.latest: dict[str, tuple[float, float]] = {}  # source -> (watermark, wall time heard)

    def observe(self, source: str, watermark: float, now: float) -> None:
        previous = self.latest.get(source, (float("-inf"), 0.0))[0]
        self.latest[source] = (max(previous, watermark), now)

    def value(self, now: float) -> float:
        live = [wm for wm, heard in self.latest.values() if now - heard <= self.ttl_seconds]
        if live:
            return min(live)
        return max(self.latest.values(), key=lambda stamp: stamp[1], default=(float("-inf"), 0.0))[0]
