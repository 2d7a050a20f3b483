"""The Faust app: the whole dataflow on one screen.

::

    posts ──ingest──┬──> posts.by_brand (keyed by brand) ──count──> brand_minute_counts (table)
     (raw JSON)     └──> posts.dlq (original bytes + reason headers)

* ``ingest`` takes batches of raw values, validates them, matches brands and
  scores negativity (:class:`streams.ingest.Ingestor`), then re-keys every post
  by brand so that one worker owns all state of a brand.
* ``count`` keeps per-brand 1-minute tumbling counts (total and by platform,
  by the post's own ``created_at``) in a changelog-backed table.

Offsets are committed only after a batch is processed and the producer has
flushed what it sent (Faust flushes before it commits): at-least-once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
import orjson
from faust.exceptions import ProducerSendError
from faust.types import EventT
from faust.web import Request, Response, View

from streams import metrics
from streams.config import Config
from streams.ingest import DeadLetter, Ingestor
from streams.matching import BrandMatcher
from streams.topics import DLQ_MAX_MESSAGE_BYTES

log = logging.getLogger("crisiswatch")

POSTS_TOPIC = "posts"
DLQ_TOPIC = "posts.dlq"
BY_BRAND_TOPIC = "posts.by_brand"
COUNTS_TABLE = "brand_minute_counts"
INGEST_BATCH = 1000
INGEST_WITHIN_S = 0.05
BRAND_BATCH = 2000
BRAND_WITHIN_S = 0.05
LAG_INTERVAL_S = 5.0


def bucket_key(brand: str, bucket_start: int) -> str:
    """The table key of one brand's bucket: ``"<brand>|<epoch seconds of the bucket start>"``."""
    return f"{brand}|{bucket_start}"


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
    counts = app.Table(COUNTS_TABLE, default=dict, key_type=str)

    bucket_seconds = config.worker.bucket_seconds
    known = frozenset(config.brand_names)
    ingestor = Ingestor(BrandMatcher(config.brands), config.brand_names, scorer,
                        config.negativity.complaint_threshold)

    @app.agent(posts)
    async def ingest(stream: faust.StreamT) -> None:
        async for events in stream.take_events(INGEST_BATCH, within=INGEST_WITHIN_S):
            try:
                await _ingest_batch(events, ingestor, dlq, by_brand, known)
            except Exception:
                # Faust acks a batch even when its processing raises, so a crash here would lose
                # posts: instead isolate the post that fails, dead-letter it, and go on.
                log.exception("a batch of %d posts failed; retrying them one by one", len(events))
                for event in events:
                    try:
                        await _ingest_batch([event], ingestor, dlq, by_brand, known)
                    except Exception as exc:
                        letter = DeadLetter(0, event.value, "processing_error", repr(exc)[:300])
                        await _send_dead_letter(dlq, event.message, letter)
                        metrics.DLQ.labels(reason=letter.reason).inc()

    @app.agent(by_brand)
    async def count(stream: faust.StreamT) -> None:
        async for events in stream.take_events(BRAND_BATCH, within=BRAND_WITHIN_S):
            changed: dict[str, tuple[int, dict[str, int]]] = {}
            for event in events:
                post = orjson.loads(event.value)
                bucket = int(post["created_at_s"] // bucket_seconds * bucket_seconds)
                key = bucket_key(post["brand"], bucket)
                _, row = changed.get(key) or (0, dict(counts.data.get(key) or {}))
                row["total"] = row.get("total", 0) + 1
                row[post["platform"]] = row.get(post["platform"], 0) + 1
                changed[key] = (event.message.partition, row)
            for key, (partition, row) in changed.items():
                write_table(counts, partition, key, row)

    source_topics = {posts.get_topic_name(), by_brand.get_topic_name()}

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

    app.crisiswatch = {"ingest": ingest, "count": count, "counts": counts, "ingestor": ingestor}
    return app


def write_table(table: faust.Table, partition: int, key: str, value: Any) -> None:
    """Set ``table[key]`` and log it to the changelog partition of the brand it belongs to.

    Faust's ``table[key] = value`` does the same for the *current* event only; a batch
    updates each key once, with the partition of the events it came from (all of one
    brand's posts share a partition, because ``posts.by_brand`` is keyed by brand).
    """
    table.data[key] = value
    table.send_changelog(partition, key, value)


async def _send_dead_letter(dlq: faust.TopicT, message: Any, letter: DeadLetter) -> None:
    """The original bytes with the reason in headers; if even the DLQ refuses them, a head of them.

    The DLQ topic is created to take anything ``posts`` took, so the fallback only runs
    against topics managed elsewhere; it keeps the worker alive and says what was cut.
    """
    headers = [("crisiswatch.reason", letter.reason.encode()),
               ("crisiswatch.detail", letter.detail.encode("utf-8", "replace")),
               ("crisiswatch.source", f"{message.topic}/{message.partition}/{message.offset}".encode())]
    value = letter.raw or b""
    try:
        await (await dlq.send(key=message.key, value=value, headers=headers))
    except ProducerSendError as exc:
        log.error("dead letter from %s/%s/%s refused (%s); sending its first 64 KiB",
                  message.topic, message.partition, message.offset, exc)
        headers.append(("crisiswatch.truncated_from_bytes", str(len(value)).encode()))
        await (await dlq.send(key=message.key, value=value[:65536], headers=headers))


async def _ingest_batch(events: Sequence[EventT], ingestor: Ingestor, dlq: faust.TopicT,
                        by_brand: faust.TopicT, known: frozenset[str]) -> None:
    now = time.time()
    result = ingestor.process([e.value for e in events], now)
    for letter in result.dead_letters:
        await _send_dead_letter(dlq, events[letter.index].message, letter)
        metrics.DLQ.labels(reason=letter.reason).inc()
        metrics.POSTS.labels(brand="none", platform="other", outcome="invalid").inc()
    for platform in result.unmatched:
        metrics.POSTS.labels(brand="none", platform=metrics.platform_label(platform), outcome="unmatched").inc()
    for bp in result.forwarded:
        await by_brand.send(key=bp.brand.encode(), value=orjson.dumps(bp.message()))
        metrics.POSTS.labels(brand=metrics.brand_label(bp.brand, known),
                             platform=metrics.platform_label(bp.post.platform), outcome="matched").inc()
    done = time.time()
    for post in result.posts:
        metrics.PROCESSING_LATENCY.observe(max(done - post.created_at, 0.0))
    for event in events:
        timestamp = event.message.timestamp
        if timestamp:
            metrics.KAFKA_LATENCY.observe(max(done - timestamp, 0.0))

