"""The Faust app: the whole dataflow on one screen.

::

    posts ──ingest──┬──> posts.by_brand ──per_brand──┬──> brand_minute_counts, brand_monitors (tables)
     (raw JSON)     │     (keyed by brand)            └──> incidents (the outbox) ──notify──> Slack, PagerDuty,
                    └──> posts.dlq                                                   webhook, console
                         (original bytes + reason headers)          alert_cursors, slack_messages (tables)

* ``ingest`` takes whole Kafka batches of raw values (a
  :class:`streams.posts_reader.PostsReader`, not a Faust agent: Faust's
  per-event cost was most of the worker's CPU), validates them, matches brands
  and scores negativity (:class:`streams.ingest.Ingestor`), then re-keys every
  post by brand so that one worker owns all state of a brand: the posts bound
  for one partition of ``posts.by_brand`` travel together as a JSON array.
* ``per_brand`` keeps per-brand 1-minute tumbling counts (total and by platform,
  by the post's own ``created_at``) and runs each brand's detectors and incident
  lifecycle (:class:`streams.brand_stage.BrandStage`); every incident decision is
  written to the ``incidents`` topic before anything is delivered, and before
  the state that follows it is saved. ``advance_quiet_brands`` closes buckets
  on a timer when the watermark moves without posts arriving.
* ``notify`` delivers the outbox to the configured receivers, at least once and
  idempotently (:mod:`streams.alerting`).

Offsets are committed only after a batch is processed and what it sent has been
acknowledged (the reader awaits its producer; Faust flushes before it
commits): at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from functools import lru_cache
from typing import Any

import faust
import orjson
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from streams import metrics
from streams.alerting import DurableTableStore, build_deliverer
from streams.backtest import tracker_from
from streams.brand_stage import BrandStage
from streams.config import Config
from streams.ingest import BrandPost, DeadLetter, Ingestor
from streams.matching import BrandMatcher
from streams.posts_reader import PostsReader, chunk_json_array, partition_for_key
from streams.stall import StallWatchdog
from streams.topics import DLQ_MAX_MESSAGE_BYTES, MAX_FORWARD_BYTES
from streams.watermark import PartitionWatermark

log = logging.getLogger("crisiswatch")

POSTS_TOPIC = "posts"
DLQ_TOPIC = "posts.dlq"
BY_BRAND_TOPIC = "posts.by_brand"
COUNTS_TABLE = "brand_minute_counts"
INCIDENTS_TOPIC = "incidents"
INGEST_BATCH = 5000
#: Posts for one partition of ``posts.by_brand`` travel in JSON arrays of at most this size
#: (well under the broker's default ``max.message.bytes`` of about 1 MB).
BY_BRAND_MESSAGE_BYTES = 256 * 1024
BRAND_BATCH = 50
BRAND_WITHIN_S = 0.05
LAG_INTERVAL_S = 5.0
#: How often buckets close without posts arriving (see :meth:`streams.brand_stage.BrandStage.tick`).
ADVANCE_INTERVAL_S = 5.0


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
    # Read by a PostsReader in whole Kafka batches, not by a Faust agent (see streams/posts_reader.py).
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
    dlq_name, by_brand_name = dlq.get_topic_name(), by_brand.get_topic_name()
    brand_stage = BrandStage(config, counts, monitor_states, tracker_from(config))
    cursor_store, slack_store = DurableTableStore(cursors), DurableTableStore(slack_messages)
    ingest_watermark = PartitionWatermark()
    source = f"{socket.gethostname()}:{os.getpid()}"  # this worker, as a source of watermarks
    ingestor = Ingestor(BrandMatcher(config.brands), config.brand_names, scorer,
                        config.negativity.complaint_threshold, config.worker.max_unlisted_brands)

    @app.task
    async def ingest() -> None:
        reader = PostsReader(config.kafka, posts.get_topic_name(), f"{config.worker.app_id}.ingest",
                             max_records=INGEST_BATCH, on_revoked=ingest_watermark.forget)
        await reader.start()
        try:
            await reader.run(handle_posts, should_stop=lambda: app.should_stop)
        finally:
            await reader.stop()

    async def handle_posts(records: Sequence[ConsumerRecord], reader: PostsReader) -> None:
        try:
            await _ingest_batch(records, reader, ingestor, dlq_name, by_brand_name, known, ingest_watermark, source)
        except KafkaError:
            raise  # the batch is not committed; the worker stops and its successor re-reads it
        except Exception:
            # A bug: isolate the post that triggers it, dead-letter that one, and go on.
            log.exception("a batch of %d posts failed; retrying them one by one", len(records))
            for record in records:
                try:
                    await _ingest_batch([record], reader, ingestor, dlq_name, by_brand_name, known,
                                        ingest_watermark, source)
                except KafkaError:
                    raise
                except Exception as exc:
                    letter = DeadLetter(0, record.value, "processing_error", repr(exc)[:300])
                    headers = _dead_letter_headers(letter, f"{record.topic}/{record.partition}/{record.offset}")
                    await reader.send(dlq_name, dead_letter_value(record.value, headers), key=record.key,
                                      headers=headers)
                    metrics.DLQ.labels(reason=letter.reason).inc()

    def send_incident(brand: str, event: dict[str, Any]) -> Awaitable[Awaitable[Any]]:
        return outbox.send(key=brand.encode(), value=orjson.dumps(event))

    @app.agent(by_brand)
    async def per_brand(stream: faust.StreamT) -> None:
        async for events in stream.take_events(BRAND_BATCH, within=BRAND_WITHIN_S):
            began = time.perf_counter()
            failed = await brand_stage.handle(events, send_incident)
            for failure in failed:
                await _send_dead_letter(dlq, failure.event.message,
                                        DeadLetter(0, failure.raw, "processing_error", failure.reason))
                metrics.DLQ.labels(reason="processing_error").inc()
            metrics.BATCH_SECONDS.labels(agent="per_brand").observe(time.perf_counter() - began)

    @app.timer(ADVANCE_INTERVAL_S)
    async def advance_quiet_brands() -> None:
        await brand_stage.tick(send_incident)

    @app.agent(outbox)
    async def notify(stream: faust.StreamT) -> None:
        deliverer = build_deliverer(config, cursor_store, slack_store, should_stop=lambda: app.should_stop)
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            if deliverer is not None:
                for store in (cursor_store, slack_store):
                    store.bind(loop, event.message.partition)
                await loop.run_in_executor(None, deliverer.deliver, orjson.loads(event.value))

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        brand_stage.forget()

    # ``posts`` is read by the PostsReader, which reports its own lag.
    source_topics = {by_brand.get_topic_name(), outbox.get_topic_name()}
    # The outbox is left out: its agent legitimately waits during a receiver's outage.
    watchdog = StallWatchdog({by_brand.get_topic_name()})

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


async def _send_dead_letter(dlq: faust.TopicT, message: Any, letter: DeadLetter) -> None:
    """The original bytes with the reason in headers; if even the DLQ refuses them, a head of them.

    The DLQ topic is created to take anything ``posts`` took, so the fallback only runs
    against topics managed elsewhere; it keeps the worker alive and says what was cut.
    """
    headers = _dead_letter_headers(letter, f"{message.topic}/{message.partition}/{message.offset}")
    value = letter.raw or b""
    try:
        await (await dlq.send(key=message.key, value=value, headers=headers))
    except Exception as exc:  # refused by the broker, or at once by the producer (too large)
        log.error("dead letter from %s/%s/%s refused (%s); sending its first 64 KiB",
                  message.topic, message.partition, message.offset, exc)
        headers.append(("crisiswatch.truncated_from_bytes", str(len(value)).encode()))
        await (await dlq.send(key=message.key, value=value[:65536], headers=headers))


def forward_value(bp: BrandPost, stamp: dict[str, Any]) -> bytes:
    """The ``posts.by_brand`` record of ``bp``: its message with the watermark ``stamp``.

    Never raises and never exceeds :data:`MAX_FORWARD_BYTES`: a valid post whose unknown fields
    cannot be written back (too deep) or grow past the topic's limit when written back goes in its
    canonical form instead (see :func:`streams.ingest.canonical_wire`). Otherwise the first would
    make the whole batch fail and the second would be refused by the broker, which stops the
    ingest step (nothing is committed, so nothing is lost, but nothing moves either).
    """
    try:
        value = orjson.dumps({**bp.message(), **stamp})
    except TypeError:  # orjson.JSONEncodeError: nesting deeper than orjson writes
        value = b""
    if not value or len(value) > MAX_FORWARD_BYTES:
        value = orjson.dumps({**bp.message(canonical=True), **stamp})
    return value


def dead_letter_value(raw: bytes | None, headers: list[tuple[str, bytes]]) -> bytes:
    """What goes to the DLQ: the original bytes, or their head if even the DLQ could not hold them.

    ``posts.dlq`` is created to take anything ``posts`` took (:data:`DLQ_MAX_MESSAGE_BYTES`); the
    cut only happens with topics managed elsewhere, and the headers say so.
    """
    value = raw or b""
    if len(value) > DLQ_MAX_MESSAGE_BYTES - 64 * 1024:
        headers.append(("crisiswatch.truncated_from_bytes", str(len(value)).encode()))
        value = value[:65536]
    return value


@lru_cache(maxsize=100_000)
def _partition_of(brand: str, partitions: int) -> int:
    return partition_for_key(brand.encode(), partitions)


def _dead_letter_headers(letter: DeadLetter, source: str) -> list[tuple[str, bytes]]:
    """Why the record was rejected and where it came from (topic/partition/offset), as record headers."""
    return [("crisiswatch.reason", letter.reason.encode()),
            ("crisiswatch.detail", letter.detail.encode("utf-8", "replace")),
            ("crisiswatch.source", source.encode())]


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no infinity


def _has_unread_records(reader: PostsReader, tp: Any) -> bool:
    highwater = reader.consumer.highwater(tp)
    return bool(highwater) and reader.last_read(tp) < highwater - 1


async def _ingest_batch(records: Sequence[ConsumerRecord], reader: PostsReader, ingestor: Ingestor, dlq: str,
                        by_brand: str, known: frozenset[str], watermark: PartitionWatermark, source: str) -> None:
    """Validate, match and score one fetched batch; send its posts to ``posts.by_brand`` and its rejects to the DLQ.

    The posts bound for one partition of ``posts.by_brand`` travel together in JSON-array messages,
    so the per-brand agent pays Faust's per-event cost once per few hundred posts.
    """
    began = time.perf_counter()
    now = time.time()
    result = ingestor.process([r.value for r in records], now)
    if watermark.waiting or not watermark.newest:
        watermark.expect({tp for tp in reader.assignment() if _has_unread_records(reader, tp)})
    # Each post carries the watermark as it stood once that post was read (not once the whole
    # batch was), so that a batch spanning minutes of post time does not make its own posts late.
    read_at: dict[int, tuple[ConsumerRecord, float]] = {}  # id(post) -> its record, the watermark once read
    for post, index in zip(result.posts, result.post_indexes, strict=True):
        record = records[index]
        highwater = reader.highwater(record)
        watermark.observe(TopicPartition(record.topic, record.partition), post.created_at,
                          caught_up=highwater is not None and record.offset >= highwater - 1)
        read_at[id(post)] = (record, watermark.value)
    for letter in result.dead_letters:
        record = records[letter.index]
        headers = _dead_letter_headers(letter, f"{record.topic}/{record.partition}/{record.offset}")
        await reader.send(dlq, dead_letter_value(letter.raw, headers), key=record.key, headers=headers)
        metrics.DLQ.labels(reason=letter.reason).inc()
        metrics.POSTS.labels(brand="none", platform="other", outcome="invalid").inc()
    counted: Counter[tuple[str, str, str]] = Counter(
        ("none", metrics.platform_label(platform), "unmatched") for platform in result.unmatched)
    partitions = await reader.partitions(by_brand)
    by_partition: dict[int, list[bytes]] = {}
    for bp in result.forwarded:
        record, mark = read_at[id(bp.post)]
        stamp = {"wm": _finite_or_none(mark), "src": source,
                 "ts": record.timestamp / 1000 if record.timestamp else None}
        partition = _partition_of(bp.brand, partitions)
        by_partition.setdefault(partition, []).append(forward_value(bp, stamp))
        counted[metrics.brand_label(bp.brand, known), metrics.platform_label(bp.post.platform), "matched"] += 1
    for partition, items in by_partition.items():
        for chunk in chunk_json_array(items, BY_BRAND_MESSAGE_BYTES):
            await reader.send(by_brand, chunk, partition=partition)
    for (brand, platform, outcome), n in counted.items():
        metrics.POSTS.labels(brand=brand, platform=platform, outcome=outcome).inc(n)
    done = time.time()
    metrics.observe_many(metrics.PROCESSING_LATENCY, [max(done - post.created_at, 0.0) for post in result.posts])
    metrics.observe_many(metrics.KAFKA_LATENCY,
                         [max(done - r.timestamp / 1000, 0.0) for r in records if r.timestamp])
    metrics.BATCH_SECONDS.labels(agent="ingest").observe(time.perf_counter() - began)
