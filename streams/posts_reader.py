"""Reading ``posts`` in whole Kafka batches, beside Faust.

Faust hands an agent one event at a time, and its per-event machinery (the
conductor, the stream's queues, acking, one producer future per message) costs
several times what validating, matching and scoring a post costs: the profile in
``bench/bench_pipeline.py --profile`` showed the framework, not our code, using
most of the worker's CPU. The first step of the pipeline is stateless, so it
does not need Faust's tables or partition bookkeeping; this reader consumes
``posts`` with a plain aiokafka consumer in its own group (``<app_id>.ingest``),
hands each fetched batch to the ingest step at once, and writes what that step
produces with its own producer.

Delivery stays at-least-once: a batch's offsets are committed only after every
record the step sent for it has been acknowledged by the broker. A crash between
the two re-reads at most one batch (``max_records`` posts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

from streams import metrics
from streams.config import KafkaSettings

log = logging.getLogger("crisiswatch")

#: Logged (with the partitions) each time the reader's group assigns it partitions, none included:
#: a worker is only fully ready once its reader has joined, see ``streams.localstack.WorkerProcess``.
ASSIGNED_MARKER = "posts reader assigned"


def partition_for_key(key: bytes, partitions: int) -> int:
    """Kafka's default partition of a keyed record (murmur2, as the Java client and aiokafka compute it).

    Posts are grouped by the partition their brand's key maps to, so a batch message lands on the
    very partition each of its brands would have been sent to one by one.
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _Revocations(ConsumerRebalanceListener):
    def __init__(self, reader: PostsReader) -> None:
        self.reader = reader

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self.reader._next_offset.pop(tp, None)
        self.reader.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s %s", ASSIGNED_MARKER, sorted(f"{tp.topic}/{tp.partition}" for tp in assigned) or "none")


Handler = Callable[[Sequence[ConsumerRecord], "PostsReader"], Awaitable[None]]


class PostsReader:
    """Consume a topic in batches; commit each batch once what its handler sent is acknowledged."""

    def __init__(self, kafka: KafkaSettings, topic: str, group_id: str, *, max_records: int = 5000,
                 fetch_timeout_ms: int = 100, max_request_bytes: int = 11 * 1024 * 1024,
                 on_revoked: Callable[[set[TopicPartition]], None] = lambda revoked: None) -> None:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        self.topic = topic
        self.max_records = max_records
        self.fetch_timeout_ms = fetch_timeout_ms
        connection = kafka.aiokafka_kwargs()
        self.consumer = AIOKafkaConsumer(
            group_id=group_id, client_id=f"{group_id}-reader", enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024, **connection)
        self.on_revoked = on_revoked
        self._listener = _Revocations(self)
        self.producer = AIOKafkaProducer(
            client_id=f"{group_id}-writer", acks="all", linger_ms=5, max_batch_size=1024 * 1024,
            max_request_size=max_request_bytes, **connection)
        self._pending: list[asyncio.Future] = []
        self._partitions: dict[str, int] = {}
        self._next_offset: dict[TopicPartition, int] = {}  # per partition, the offset after the last fetched

    async def start(self) -> None:
        await self.producer.start()
        try:
            self.consumer.subscribe([self.topic], listener=self._listener)
            await self.consumer.start()
        except BaseException:
            await self.producer.stop()
            raise

    async def stop(self) -> None:
        for client in (self.consumer, self.producer):
            try:
                await client.stop()
            except Exception:  # stopping is best effort: the next owner re-reads what was not committed
                log.exception("stopping the posts reader's %s failed", type(client).__name__)

    # --- what the handler uses ---------------------------------------------------------------

    def highwater(self, record: ConsumerRecord) -> int | None:
        """The partition's end offset as of the fetch that brought ``record``."""
        return self.consumer.highwater(TopicPartition(record.topic, record.partition))

    def last_read(self, tp: TopicPartition) -> int:
        """The offset of the last record fetched from ``tp`` (-1 before the first)."""
        return self._next_offset.get(tp, 0) - 1

    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment())

    async def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has (from the producer's metadata; cached)."""
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self.producer.partitions_for(topic))
        return count

    async def send(self, topic: str, value: bytes, *, key: bytes | None = None, partition: int | None = None,
                   headers: Sequence[tuple[str, bytes]] | None = None) -> None:
        """Queue one record; the batch is committed only once it is acknowledged."""
        future = await self.producer.send(topic, value=value, key=key, partition=partition,
                                          headers=list(headers) if headers else None)
        self._pending.append(future)

    # --- the loop ------------------------------------------------------------------------------

    async def run(self, handle: Handler, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Fetch, handle and commit until ``should_stop`` (or cancellation)."""
        while not should_stop():
            fetched = await self.consumer.getmany(timeout_ms=self.fetch_timeout_ms, max_records=self.max_records)
            for tp, batch in fetched.items():
                self._next_offset[tp] = batch[-1].offset + 1
            self._export_lag()
            if not fetched:
                continue
            records = [record for batch in fetched.values() for record in batch]
            await handle(records, self)
            pending, self._pending = self._pending, []
            if pending:
                await asyncio.gather(*pending)  # raises if the broker refused a record: nothing is committed
            await self._commit({tp: batch[-1].offset + 1 for tp, batch in fetched.items()})

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took these partitions away meanwhile: their new owner re-reads the batch.
            log.warning("could not commit posts offsets after a rebalance (%s); the batch will be re-read", exc)
        except KafkaError as exc:
            log.warning("committing posts offsets failed (%s); the next commit covers them", exc)

    def _export_lag(self) -> None:
        behind = 0
        for tp in self.consumer.assignment():
            highwater, position = self.consumer.highwater(tp), self._next_offset.get(tp)
            if highwater is not None and position is not None:
                behind += max(highwater - position, 0)
        metrics.CONSUMER_LAG.labels(topic=self.topic).set(behind)

    def __repr__(self) -> str:
        return f"PostsReader(topic={self.topic!r}, max_records={self.max_records})"


def chunk_json_array(items: Sequence[bytes], max_bytes: int) -> list[bytes]:
    """Join JSON documents into JSON arrays of at most ``max_bytes`` each (one item may exceed it alone)."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = 2
    for item in items:
        if current and size + len(item) + 1 > max_bytes:
            chunks.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
        current.append(item)
        size += len(item) + 1
    if current:
        chunks.append(b"[" + b",".join(current) + b"]")
    return chunks


