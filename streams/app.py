"""The Faust app: the whole dataflow on one screen.

::

    posts ──ingest──┬──> posts.by_brand ──per_brand──┬──> brand_minute_counts, brand_monitors (tables)
     (raw JSON)     │     (keyed by brand)            └──> incidents (the outbox) ──notify──> Slack, PagerDuty,
                    └──> posts.dlq                                                   webhook, console
                         (original bytes + reason headers)          alert_cursors, slack_messages (tables)

* ``ingest`` takes batches of raw values, validates them, matches brands and
  scores negativity (:class:`streams.ingest.Ingestor`), then re-keys every post
  by brand so that one worker owns all state of a brand.
* ``per_brand`` keeps per-brand 1-minute tumbling counts (total and by platform,
  by the post's own ``created_at``) and runs each brand's detectors and incident
  lifecycle (:class:`streams.brand_stage.BrandStage`); every incident decision is
  written to the ``incidents`` topic before anything is delivered.
* ``notify`` delivers the outbox to the configured receivers, at least once and
  idempotently (:mod:`streams.alerting`).

Offsets are committed only after a batch is processed and the producer has
flushed what it sent (Faust flushes before it commits): at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import faust
import orjson
from faust.types import EventT
from faust.web import Request, Response, View

from streams import metrics
from streams.alerting import BufferedTableStore, build_deliverer
from streams.backtest import tracker_from
from streams.brand_stage import BrandStage, write_table
from streams.config import Config
from streams.ingest import BrandPost, DeadLetter, Ingestor
from streams.matching import BrandMatcher
from streams.post import Post
from streams.stall import StallWatchdog
from streams.topics import DLQ_MAX_MESSAGE_BYTES, MAX_FORWARD_BYTES
from streams.watermark import PartitionWatermark

log = logging.getLogger("crisiswatch")

POSTS_TOPIC = "posts"
DLQ_TOPIC = "posts.dlq"
BY_BRAND_TOPIC = "posts.by_brand"
COUNTS_TABLE = "brand_minute_counts"
INCIDENTS_TOPIC = "incidents"
INGEST_BATCH = 1000
INGEST_WITHIN_S = 0.05
BRAND_BATCH = 2000
BRAND_WITHIN_S = 0.05
LAG_INTERVAL_S = 5.0


def build_app(config: Config, scorer: Any | None = None) -> faust.App:
    """Declare the app, its topics, tables and agents for ``config``."""
    app = faust.App(
        config.worker.app_id,
        broker=config.kafka.faust_broker_url(),
        broker_credentials=config.kafka.faust_credentials(),
        store="memory://",
        datadir=config.worker.data_dir,
        topic_partitions=config.kafka.topic_partitions,
        topic_replication_factor=config.kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        web_port=config.worker.web_port,
        web_enabled=True,
        table_standby_replicas=0,
        # Throughput: let the producer batch what one agent batch sends (the default sends each
        # message in its own request), and read large batches.
        producer_linger=0.02,
        producer_max_batch_size=1024 * 1024,
        broker_max_poll_records=5000,
        stream_buffer_maxsize=20000,
        producer_max_request_size=DLQ_MAX_MESSAGE_BYTES + 64 * 1024,
    )
    posts = app.topic(config.kafka.topic(POSTS_TOPIC), key_serializer="raw", value_serializer="raw", allow_empty=True)
    dlq = app.topic(config.kafka.topic(DLQ_TOPIC), key_serializer="raw", value_serializer="raw")
    by_brand = app.topic(config.kafka.topic(BY_BRAND_TOPIC), key_serializer="raw", value_serializer="raw")
    outbox = app.topic(config.kafka.topic(INCIDENTS_TOPIC), key_serializer="raw", value_serializer="raw")
    counts = app.Table(COUNTS_TABLE, default=dict, key_type=str)
    monitor_states = app.Table("brand_monitors", key_type=str, value_type=str,
                               extra_topic_configs={"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)})
    cursors = app.Table("alert_cursors", key_type=str)
    slack_messages = app.Table("slack_messages", key_type=str)

    known = frozenset(config.brand_names)
    brand_stage = BrandStage(config, counts, monitor_states, tracker_from(config))
    cursor_store, slack_store = BufferedTableStore(cursors), BufferedTableStore(slack_messages)
    ingest_watermark = PartitionWatermark()
    source = f"{socket.gethostname()}:{os.getpid()}"  # this worker, as a source of watermarks
    ingestor = Ingestor(BrandMatcher(config.brands), config.brand_names, scorer,
                        config.negativity.complaint_threshold)

    @app.agent(posts)
    async def ingest(stream: faust.StreamT) -> None:
        async for events in stream.take_events(INGEST_BATCH, within=INGEST_WITHIN_S):
            try:
                plan = _plan_batch(events, ingestor, ingest_watermark, app.consumer, source)
            except Exception:
                # Faust acks a batch even when its processing raises, so a crash here would lose
                # posts. Nothing is sent before the whole batch is planned: plan the posts one by
                # one instead, dead-letter the one that fails, and send each of the others once.
                log.exception("a batch of %d posts failed; retrying them one by one", len(events))
                plan = BatchPlan()
                for index, event in enumerate(events):
                    try:
                        plan.add(_plan_batch([event], ingestor, ingest_watermark, app.consumer, source), index)
                    except Exception as exc:
                        plan.dead_letters.append(DeadLetter(index, event.value, "processing_error", repr(exc)[:300]))
            await _publish(plan, events, dlq, by_brand, known)

    @app.agent(by_brand)
    async def per_brand(stream: faust.StreamT) -> None:
        async for events in stream.take_events(BRAND_BATCH, within=BRAND_WITHIN_S):
            began = time.perf_counter()
            incidents, failed = brand_stage.process(events)
            for brand, event in incidents:
                await outbox.send(key=brand.encode(), value=orjson.dumps(event))
            for event, why in failed:
                letter = DeadLetter(0, event.value, "processing_error", why)
                await _confirm_dead_letter(dlq, event.message, letter, await _send_dead_letter(dlq, event.message,
                                                                                               letter))
                metrics.DLQ.labels(reason="processing_error").inc()
            metrics.BATCH_SECONDS.labels(agent="per_brand").observe(time.perf_counter() - began)

    @app.agent(outbox)
    async def notify(stream: faust.StreamT) -> None:
        deliverer = build_deliverer(config, cursor_store, slack_store, should_stop=lambda: app.should_stop)
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            if deliverer is not None:
                await loop.run_in_executor(None, deliverer.deliver, orjson.loads(event.value))
            partition = event.message.partition
            for table, store in ((cursors, cursor_store), (slack_messages, slack_store)):
                for key, value in store.drain().items():
                    write_table(table, partition, key, value)

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        brand_stage.forget()
        ingest_watermark.forget()

    source_topics = {posts.get_topic_name(), by_brand.get_topic_name(), outbox.get_topic_name()}
    # The outbox is left out: its agent legitimately waits during a receiver's outage.
    watchdog = StallWatchdog({posts.get_topic_name(), by_brand.get_topic_name()})

    @app.timer(LAG_INTERVAL_S)
    async def report_lag() -> None:
        consumer = app.consumer
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            if tp.topic not in source_topics:  # changelogs are read only while recovering
                continue
            # Faust keeps the last offset it read per partition; lag is what lies beyond it.
            read = consumer._read_offset.get(tp)
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            behind = highwater - (read + 1 if read is not None else 0)
            lag[tp.topic] = lag.get(tp.topic, 0) + max(behind, 0)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(topic=topic).set(value)
        await watchdog.check(consumer)

    @app.page("/counts/")
    class CountsView(View):
        """Per-brand totals held by this worker (its partitions): ``{brand: {total, <platform>...}}``."""

        async def get(self, request: Request) -> Response:
            totals: dict[str, dict[str, int]] = {}
            for key, row in counts.items():
                brand = key.rsplit("|", 1)[0]
                agg = totals.setdefault(brand, {})
                for name, n in row.items():
                    agg[name] = agg.get(name, 0) + n
            return self.json(totals)

    return app


def _dead_letter_headers(message: Any, letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [("crisiswatch.reason", letter.reason.encode()),
            ("crisiswatch.detail", letter.detail.encode("utf-8", "replace")),
            ("crisiswatch.source", f"{message.topic}/{message.partition}/{message.offset}".encode())]


async def _send(topic: faust.TopicT, **kwargs: Any) -> Awaitable[Any]:
    """``topic.send``, returning its delivery future; a send that raises at once gives a failed future."""
    try:
        return await topic.send(**kwargs)
    except Exception as exc:
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed


async def _send_dead_letter(dlq: faust.TopicT, message: Any, letter: DeadLetter) -> Awaitable[Any]:
    """Send the original bytes with the reason in headers; returns the delivery future (see below)."""
    return await _send(dlq, key=message.key, value=letter.raw or b"", headers=_dead_letter_headers(message, letter))


async def _confirm_dead_letter(dlq: faust.TopicT, message: Any, letter: DeadLetter, delivery: Awaitable[Any]) -> None:
    """Wait for a dead letter to be stored; if even the DLQ refuses it, send a head of it.

    The DLQ topic is created to take anything ``posts`` took, so the fallback only runs
    against topics managed elsewhere; it keeps the worker alive and says what was cut.
    """
    try:
        await delivery
    except Exception as exc:
        value = letter.raw or b""
        log.error("dead letter from %s/%s/%s refused (%r); sending its first 64 KiB",
                  message.topic, message.partition, message.offset, exc)
        headers = [*_dead_letter_headers(message, letter),
                   ("crisiswatch.truncated_from_bytes", str(len(value)).encode())]
        await (await dlq.send(key=message.key, value=value[:65536], headers=headers))


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no infinity


def _has_unread_records(consumer: Any, tp: Any) -> bool:
    highwater = consumer.highwater(tp)
    read = consumer._read_offset.get(tp)  # Faust's last read offset of the partition
    return bool(highwater) and (read is None or read < highwater - 1)


def forward_value(bp: BrandPost, stamp: dict[str, Any]) -> bytes:
    """The ``posts.by_brand`` record of ``bp``: its message with the watermark ``stamp``.

    Never raises and never exceeds :data:`MAX_FORWARD_BYTES`: a valid post whose unknown fields
    cannot be written back (too deep) or grow past the topic's limit when written back goes in its
    canonical form instead (see :func:`streams.ingest.canonical_wire`). Before, the first made the
    whole batch fail (and its other posts went out twice) and the second was refused by the
    broker after the offset was committed: the post was lost.
    """
    try:
        value = orjson.dumps({**bp.message(), **stamp})
    except TypeError:  # orjson.JSONEncodeError: nesting deeper than orjson writes
        value = b""
    if not value or len(value) > MAX_FORWARD_BYTES:
        value = orjson.dumps({**bp.message(canonical=True), **stamp})
    return value


@dataclass
class BatchPlan:
    """What one ingest batch sends, computed before anything is sent (indexes are into the batch)."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: (index of the event, the brand post, its ``posts.by_brand`` value)
    forwards: list[tuple[int, BrandPost, bytes]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)

    def add(self, other: BatchPlan, index: int) -> None:
        """Append the plan of the single event at ``index``."""
        self.dead_letters += [replace(letter, index=index) for letter in other.dead_letters]
        self.forwards += [(index, bp, value) for _, bp, value in other.forwards]
        self.unmatched += other.unmatched
        self.posts += other.posts


def _plan_batch(events: Sequence[EventT], ingestor: Ingestor, watermark: PartitionWatermark, consumer: Any,
                source: str) -> BatchPlan:
    now = time.time()
    result = ingestor.process([e.value for e in events], now)
    if watermark.waiting or not watermark.newest:
        watermark.expect({tp for tp in consumer.assignment() if tp.topic == events[0].message.topic
                          and _has_unread_records(consumer, tp)})
    # Each post carries the watermark as it stood once that post was read (not once the whole
    # batch was), so that a batch spanning minutes of post time does not make its own posts late.
    watermark_at: dict[int, tuple[float, int]] = {}
    for post, index in zip(result.posts, result.post_indexes, strict=True):
        message = events[index].message
        highwater = consumer.highwater(message.tp)
        watermark.observe(message.tp, post.created_at,
                          caught_up=highwater is not None and message.offset >= highwater - 1)
        watermark_at[id(post)] = (watermark.value, index)
    plan = BatchPlan(dead_letters=result.dead_letters, unmatched=result.unmatched, posts=result.posts)
    for bp in result.forwarded:
        mark, index = watermark_at[id(bp.post)]
        value = forward_value(bp, {"wm": _finite_or_none(mark), "src": source})
        plan.forwards.append((index, bp, value))
    return plan


async def _publish(plan: BatchPlan, events: Sequence[EventT], dlq: faust.TopicT, by_brand: faust.TopicT,
                   known: frozenset[str]) -> None:
    """Send what ``plan`` says, then wait until the broker has stored all of it.

    Sending everything before waiting keeps one round trip per batch (a flood of malformed
    posts used to wait for each dead letter in turn). Waiting before the batch is acked means a
    post the broker refuses is dead-lettered instead of lost with its offset committed.
    """
    letters = [(letter, await _send_dead_letter(dlq, events[letter.index].message, letter))
               for letter in plan.dead_letters]
    forwards = [(index, bp, await _send(by_brand, key=bp.brand.encode(), value=value))
                for index, bp, value in plan.forwards]
    for letter, delivery in letters:
        await _confirm_dead_letter(dlq, events[letter.index].message, letter, delivery)
        metrics.DLQ.labels(reason=letter.reason).inc()
        metrics.POSTS.labels(brand="none", platform="other", outcome="invalid").inc()
    refused: set[int] = set()
    for index, bp, delivery in forwards:
        try:
            await delivery
        except Exception as exc:
            log.error("posts.by_brand refused post %r for %s (%r); dead-lettering it", bp.post.id[:100], bp.brand,
                      exc)
            if index not in refused:
                refused.add(index)
                message = events[index].message
                letter = DeadLetter(index, events[index].value, "processing_error",
                                    f"posts.by_brand refused it: {exc!r}"[:300])
                await _confirm_dead_letter(dlq, message, letter, await _send_dead_letter(dlq, message, letter))
                metrics.DLQ.labels(reason=letter.reason).inc()
            continue
        metrics.POSTS.labels(brand=metrics.brand_label(bp.brand, known),
                             platform=metrics.platform_label(bp.post.platform), outcome="matched").inc()
    for platform in plan.unmatched:
        metrics.POSTS.labels(brand="none", platform=metrics.platform_label(platform), outcome="unmatched").inc()
    done = time.time()
    for post in plan.posts:
        metrics.PROCESSING_LATENCY.observe(max(done - post.created_at, 0.0))
    for event in events:
        timestamp = event.message.timestamp
        if timestamp:
            metrics.KAFKA_LATENCY.observe(max(done - timestamp, 0.0))
