"""The per-brand step of the worker: counts, detectors and incidents for the brands of its partitions.

``posts.by_brand`` is keyed by brand, so each brand's posts arrive on one
partition and one worker holds all of its state. For each batch this stage

* adds the posts to the per-brand minute counts (table ``brand_minute_counts``; platforms as on
  ``/metrics``, unknown ones as ``other``),
* feeds them to each brand's :class:`streams.monitor.BrandMonitor`, which closes
  buckets in event time and returns evaluations with incident events,
* sets the detector gauges, and returns the incident events for the caller to
  write to the ``incidents`` outbox,
* saves a brand's monitor state (table ``brand_monitors``) whenever it produced
  events, and otherwise at most every ``STATE_FLUSH_SECONDS`` while it changes:
  the state holds up to thousands of stories, too much to write for every batch.

:meth:`BrandStage.handle` does this for a batch in the order that loses no
incident event: the events are written to the outbox and acknowledged by the
broker *before* the state that follows them is saved. A crash in between
restarts from the older state and decides events with the same sequence
numbers again (the notifier drops the numbers it already delivered); the other
order could save a state whose events never reached the outbox, and they would
never be decided again. (If the saved state is older than the committed
offsets, the repeat is decided without the posts in between and can differ
from the first; the first, in the outbox, is what receivers get.)

:meth:`BrandStage.tick` runs the same without posts, on a timer: buckets close
when the watermark passes them, and a watermark can move with no post arriving
(a stopped ingest worker's stamps expire after ``worker.source_timeout_seconds``).
Without it, a worker restarted after a crash re-read the dead worker's last
stamps, held every post in the monitors' buffers until they expired, and then,
the stream being quiet, never closed another bucket: the incident stayed open.

After a crash the counts are exact up to the committed offsets; a monitor
restarts from its last saved state, so the detectors may miss what came between
that save and the crash (at most ``STATE_FLUSH_SECONDS`` of posts) while the
incident lifecycle stays consistent with what was written to the outbox.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from faust.types import EventT

from alerts.incidents import IncidentTracker
from streams import metrics
from streams.backtest import new_monitor
from streams.config import Config
from streams.monitor import BrandMonitor, Evaluation, post_from_message
from streams.watermark import SourceWatermark

STATE_FLUSH_SECONDS = 10.0
#: What ``brand_monitors`` holds in memory for a brand whose monitor is live in this worker. The
#: state is in the monitor, and its packed form goes only to the changelog: keeping both held every
#: brand's state twice (147 MiB of 1,705 for 10,000 brands with 1,000,000 live stories).
#: :meth:`BrandStage.forget` puts the packed state back before the monitors go.
LIVE = ""
log = logging.getLogger("crisiswatch")
SEVERITY_VALUE = {"none": 0, "watch": 1, "warning": 2, "critical": 3}
#: An incident event for the outbox: (brand, event).
Outgoing = tuple[str, dict[str, Any]]
#: Writes one event to the outbox; what it returns is awaited for the broker's acknowledgement
#: (Faust's ``topic.send``, which returns the delivery future).
Send = Callable[[str, dict[str, Any]], Awaitable[Awaitable[Any]]]


def bucket_key(brand: str, bucket_start: int) -> str:
    """The counts table key of one brand's bucket: ``"<brand>|<epoch seconds of the bucket start>"``."""
    return f"{brand}|{bucket_start}"


def pack_state(state: dict[str, Any]) -> str:
    """A monitor's state as compact text for the table: JSON, zlib (level 1: fast), base64.

    Thousands of stories make a megabyte of JSON, about a tenth of that compressed.
    """
    return base64.b64encode(zlib.compress(orjson.dumps(state), 1)).decode("ascii")


def unpack_state(text: str) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(base64.b64decode(text)))


def write_table(table: Any, partition: int, key: str, value: Any) -> None:
    """Set ``table[key]`` and log it to the changelog partition of the brand it belongs to.

    Faust's ``table[key] = value`` does the same for the *current* event only; a batch
    updates each key once, with the partition of the events it came from (all of one
    brand's posts share a partition, because ``posts.by_brand`` is keyed by brand).
    """
    table.data[key] = value
    table.send_changelog(partition, key, value)


@dataclass(frozen=True, slots=True)
class Failure:
    """A post the stage could not process: the event it came in, its own bytes, and why."""

    event: EventT
    raw: bytes | None
    reason: str


class BrandStage:
    """Counts, monitors and their tables for the brands this worker owns (see module docstring)."""

    def __init__(self, config: Config, counts: Any, monitor_states: Any, tracker: IncidentTracker,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.counts = counts
        self.monitor_states = monitor_states
        self.tracker = tracker
        self.known = frozenset(config.brand_names)
        metrics.initialise(self.known)
        self.monitors: dict[str, BrandMonitor] = {}
        self.partition_of: dict[str, int] = {}
        self.saved_at: dict[str, float] = {}
        #: brands whose monitor changed since its state was last saved
        self.unsaved: set[str] = set()
        #: one batch or tick at a time: each emits its events and saves before the next decides any
        self._turn = asyncio.Lock()
        #: one per partition of ``posts.by_brand``: a partition is read in order, so the stamps it
        #: carries match its posts, while another partition may be read far ahead or behind
        self.watermarks: dict[int, SourceWatermark] = {}

    def forget(self) -> None:
        """Drop the in-memory monitors (on a rebalance: the tables are the truth for whoever owns a brand).

        Each live monitor's state is first packed back into the table's memory, which held only
        :data:`LIVE` for it: a brand that stays with this worker is rebuilt from there, one that
        moves is rebuilt by its new owner from the changelog.
        """
        for brand, monitor in self.monitors.items():
            try:
                self.monitor_states.data[brand] = pack_state(monitor.to_state())
            except Exception:  # as in save; the changelog still holds the last state saved
                log.exception("brand %s: packing the monitor's state on a rebalance failed", brand)
                self.monitor_states.data.pop(brand, None)
        self.monitors.clear()
        self.partition_of.clear()
        self.watermarks.clear()
        # ``unsaved`` stays: a brand rebuilt here from the table's memory still has its changes to save

    def monitor(self, brand: str) -> BrandMonitor:
        monitor = self.monitors.get(brand)
        if monitor is None:
            saved = self.monitor_states.data.get(brand)
            state = unpack_state(saved) if saved else None
            monitor = self.monitors[brand] = new_monitor(self.config, brand, self.tracker, state)
            if saved:
                self.monitor_states.data[brand] = LIVE  # the monitor holds it now
        return monitor

    async def handle(self, events: Sequence[EventT], send: Send) -> list[Failure]:
        """Process a batch, write its incident events with ``send``, and once acknowledged save the states.

        Returns the posts that could not be processed (see :meth:`process`).
        """
        async with self._turn:
            outgoing, failed = self.process(events)
            await self._emit(outgoing, send)
        return failed

    async def tick(self, send: Send) -> None:
        """As :meth:`handle` without posts: close what the watermark has passed since the last batch."""
        async with self._turn:
            await self._emit(self.advance(), send)

    async def _emit(self, outgoing: list[Outgoing], send: Send) -> None:
        acknowledgements = [await send(brand, event) for brand, event in outgoing]
        await asyncio.gather(*acknowledgements)
        self.save({brand for brand, _ in outgoing})

    def process(self, events: Sequence[EventT]) -> tuple[list[Outgoing], list[Failure]]:
        """Count and evaluate one batch of ``posts.by_brand`` events (each a JSON array of posts, or one post).

        Returns the incident events and the posts that could not be processed with the reason
        (a bug: they are dead-lettered by the caller; the others go on). Saving the monitors'
        states is left to :meth:`save`, once the events are in the outbox.
        """
        size = self.config.worker.bucket_seconds
        now = self.clock()
        changed: dict[str, tuple[int, dict[str, int]]] = {}
        evaluations: list[Evaluation] = []
        failed: list[Failure] = []
        latencies: list[float] = []
        complaints: Counter[str] = Counter()
        for event in events:
            partition = event.message.partition
            try:
                decoded = orjson.loads(event.value)
            except Exception as exc:  # written by our own ingest step: only a bug gets here
                failed.append(Failure(event, event.value, repr(exc)[:300]))
                continue
            watermark = self.watermarks.get(partition)
            if watermark is None:
                watermark = self.watermarks[partition] = SourceWatermark(self.config.worker.source_timeout_seconds)
            for message in decoded if isinstance(decoded, list) else [decoded]:
                try:
                    brand = message["brand"]
                    post = post_from_message(message)
                    monitor = self.monitor(brand)
                except Exception as exc:  # validated upstream: only a bug gets here
                    log.exception("cannot process a post of %s/%s/%s", event.message.topic, partition,
                                  event.message.offset)
                    failed.append(Failure(event, orjson.dumps(message), repr(exc)[:300]))
                    continue
                self.partition_of[brand] = partition
                self.unsaved.add(brand)
                watermark.observe(message.get("src", ""), _or_minus_inf(message.get("wm")), now)
                try:
                    evaluations.extend(monitor.add_post(post, message["negativity"], message["complaint"],
                                                        watermark=watermark.value(now)))
                except Exception as exc:  # a bug in a detector: dead-letter the post, keep every other brand going
                    log.exception("brand %s: the monitor failed on a post of %s/%s/%s", brand, event.message.topic,
                                  partition, event.message.offset)
                    failed.append(Failure(event, orjson.dumps(message), repr(exc)[:300]))
                    continue
                key = bucket_key(brand, int(post.created_at // size * size))
                _, row = changed.get(key) or (0, dict(self.counts.data.get(key) or {}))
                # Platforms fold into the metrics' bounded set, as on /metrics: a raw platform name could
                # be "total" (and inflate the total), or thousands of names could grow one row past
                # what its changelog record may hold.
                platform = metrics.platform_label(post.platform)
                row["total"] = row.get("total", 0) + 1
                row[platform] = row.get(platform, 0) + 1
                changed[key] = (partition, row)
                stamped = message.get("ts")  # set by our ingest step; checked all the same
                if isinstance(stamped, float | int) and stamped > 0:
                    latencies.append(max(now - stamped, 0.0))
                if message["complaint"]:
                    complaints[brand] += 1
        for key, (partition, row) in changed.items():
            write_table(self.counts, partition, key, row)
        metrics.observe_many(metrics.PIPELINE_LATENCY, latencies)
        for brand, n in complaints.items():
            metrics.COMPLAINTS.labels(brand=metrics.brand_label(brand, self.known)).inc(n)
        return self._advance(now, evaluations), failed

    def advance(self) -> list[Outgoing]:
        """Close, for every live monitor, the buckets its partition's watermark has passed; the incident events."""
        return self._advance(self.clock(), [])

    def _advance(self, now: float, evaluations: list[Evaluation]) -> list[Outgoing]:
        for brand, monitor in self.monitors.items():  # the brands of the batch, and the quiet ones
            watermark = self.watermarks.get(self.partition_of.get(brand, -1))
            if watermark is not None:
                before = monitor.watermark
                try:
                    evaluations.extend(monitor.advance(watermark.value(now)))
                except Exception:  # as in process; no post to blame, and the next batch tries again
                    log.exception("brand %s: the monitor failed to advance", brand)
                if monitor.watermark != before:
                    self.unsaved.add(brand)
            if monitor.late_posts:  # counted by the monitor, exported (and reset) here
                metrics.LATE_POSTS.labels(brand=metrics.brand_label(brand, self.known)).inc(monitor.late_posts)
                monitor.late_posts = 0
        outgoing = []
        for evaluation in evaluations:
            outgoing.extend((evaluation.brand, event) for event in evaluation.events)
            try:
                self._export(evaluation)
            except Exception:  # a bug in a metric must cost that metric, not the incident or the worker
                log.exception("brand %s: exporting the metrics of a closed bucket failed", evaluation.brand)
        return outgoing

    def save(self, with_events: Collection[str] = ()) -> None:
        """Save the states of the brands in ``with_events``, and of the others that changed over
        :data:`STATE_FLUSH_SECONDS` ago; to the changelog only (see :data:`LIVE`)."""
        now = time.monotonic()
        for brand, monitor in self.monitors.items():
            if brand in with_events or (brand in self.unsaved
                                        and now - self.saved_at.get(brand, 0.0) >= STATE_FLUSH_SECONDS):
                partition = self.partition_of.get(brand)
                if partition is None:
                    continue
                try:
                    packed = pack_state(monitor.to_state())
                    self.monitor_states.data[brand] = LIVE  # see LIVE: the changelog alone gets the state
                    self.monitor_states.send_changelog(partition, brand, packed)
                except Exception:  # the live monitor goes on; the next batch tries to save it again
                    log.exception("brand %s: saving the monitor's state failed", brand)
                    continue
                self.saved_at[brand] = now
                self.unsaved.discard(brand)

    def _export(self, e: Evaluation) -> None:
        brand = metrics.brand_label(e.brand, self.known)
        metrics.BUCKETS_CLOSED.labels(brand=brand).inc()
        metrics.VOLUME_OBSERVED.labels(brand=brand).set(e.posts)
        metrics.VOLUME_EXPECTED.labels(brand=brand).set(_finite(e.volume.expected))
        metrics.VOLUME_LOWER.labels(brand=brand).set(_finite(e.volume.lower))
        metrics.VOLUME_UPPER.labels(brand=brand).set(_finite(e.volume.upper))
        metrics.VOLUME_SCORE.labels(brand=brand).set(_finite(e.volume.score))
        metrics.NEGATIVE_SHARE.labels(brand=brand).set(_finite(e.shift.current_share))
        metrics.NEGATIVE_BASELINE.labels(brand=brand).set(_finite(e.shift.baseline_share))
        metrics.SHIFT_SCORE.labels(brand=brand).set(_finite(e.shift.score))
        metrics.STORIES_LIVE.labels(brand=brand).set(e.live_stories)
        fastest = e.top_stories[0].velocity if e.top_stories else 0.0
        metrics.STORY_VELOCITY.labels(brand=brand).set(_finite(fastest))
        for rank in range(1, 6):
            story = e.top_stories[rank - 1] if rank <= len(e.top_stories) else None
            metrics.STORY_TOP_POSTS.labels(brand=brand, rank=str(rank)).set(story.posts if story else 0)
            metrics.STORY_TOP_VELOCITY.labels(brand=brand, rank=str(rank)).set(
                _finite(story.velocity) if story else 0.0)
        fired = {"volume": e.volume.alert, "shift": e.shift.alert, "story": "viral_story" in e.decision.signals}
        for detector in metrics.DETECTORS:  # the names the zero series were made with
            if fired[detector]:
                metrics.DETECTOR_ALERTS.labels(brand=brand, detector=detector).inc()
        metrics.INCIDENT_SEVERITY.labels(brand=brand).set(SEVERITY_VALUE[str(e.decision.severity)])
        metrics.INCIDENTS_OPEN.labels(brand=brand).set(e.open_incidents)
        for event in e.events:
            metrics.INCIDENT_EVENTS.labels(brand=brand, kind=event["kind"]).inc()


def _or_minus_inf(value: float | None) -> float:
    """A watermark stamp; ``None`` (no watermark yet upstream) closes nothing."""
    return float("-inf") if value is None else float(value)


def _finite(value: float) -> float:
    return float(value) if value == value and value not in (float("inf"), float("-inf")) else 0.0
