"""The worker's ingest step without Kafka: what a fetched batch turns into on posts.by_brand and the DLQ."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace

import orjson

from streams.app import BY_BRAND_MESSAGE_BYTES, _ingest_batch, dead_letter_value
from streams.config import Brand
from streams.ingest import Ingestor
from streams.matching import BrandMatcher
from streams.posts_reader import chunk_json_array, partition_for_key
from streams.topics import DLQ_MAX_MESSAGE_BYTES
from streams.watermark import PartitionWatermark

BRANDS = [Brand("skyway", terms=("Skyway",)), Brand("brewbox", terms=("BrewBox",)), Brand("volt", terms=("Volt",))]


class FakeReader:
    """What ``_ingest_batch`` uses of a PostsReader: 4 partitions, every record already read."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.consumer = SimpleNamespace(highwater=lambda tp: 1_000_000)

    async def partitions(self, topic: str) -> int:
        return 4

    def highwater(self, record) -> int:
        return 1_000_000

    def assignment(self) -> set:
        return set()

    def last_read(self, tp) -> int:
        return -1

    async def send(self, topic, value, *, key=None, partition=None, headers=None) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key, "partition": partition, "headers": headers})


def record(offset: int, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic="posts", partition=offset % 2, offset=offset, key=str(offset).encode(), value=value,
                           timestamp=1_795_300_000_000)


def post(i: int, text: str) -> bytes:
    return orjson.dumps({"id": str(i), "platform": "twitter", "text": text, "created_at": "2026-11-20T10:00:00Z",
                         "author": {"id": "a", "handle": "h", "followers": 1}})


def test_posts_travel_as_arrays_to_their_brands_partition_and_rejects_keep_their_bytes():
    texts = ["Skyway late", "BrewBox yum", "Volt down", "nobody", "Skyway and Volt"] * 40
    records = [record(i, post(i, t)) for i, t in enumerate(texts)] + [record(999, b"\xff not json")]
    reader = FakeReader()
    ingestor = Ingestor(BrandMatcher(BRANDS), [b.name for b in BRANDS])
    asyncio.run(_ingest_batch(records, reader, ingestor, "dlq", "by_brand", frozenset({"skyway", "brewbox", "volt"}),
                              PartitionWatermark(), "w1"))
    forwarded = [m for m in reader.sent if m["topic"] == "by_brand"]
    seen: Counter = Counter()
    for message in forwarded:
        for item in orjson.loads(message["value"]):
            assert message["partition"] == partition_for_key(item["brand"].encode(), 4)
            assert item["src"] == "w1" and item["ts"] == 1_795_300_000.0
            seen[item["brand"]] += 1
    assert seen == {"skyway": 80, "brewbox": 40, "volt": 80}  # "nobody" matched no brand; one post, two brands
    assert len(forwarded) <= 4  # one array per partition at this size
    [letter] = [m for m in reader.sent if m["topic"] == "dlq"]
    assert letter["value"] == b"\xff not json" and letter["key"] == b"999"
    assert dict(letter["headers"])["crisiswatch.source"] == b"posts/1/999"


def test_arrays_are_cut_below_the_message_size_and_lose_nothing():
    items = [orjson.dumps({"n": i, "pad": "x" * 1000}) for i in range(1000)]
    chunks = chunk_json_array(items, BY_BRAND_MESSAGE_BYTES)
    assert len(chunks) > 1 and all(len(c) <= BY_BRAND_MESSAGE_BYTES for c in chunks)
    assert [x["n"] for c in chunks for x in orjson.loads(c)] == list(range(1000))


def test_a_dead_letter_too_big_for_the_dlq_keeps_its_head_and_says_so():
    headers: list = []
    assert dead_letter_value(b"abc", headers) == b"abc" and headers == []
    huge = b"y" * DLQ_MAX_MESSAGE_BYTES
    assert dead_letter_value(huge, headers) == huge[:65536]
    assert headers == [("crisiswatch.truncated_from_bytes", str(len(huge)).encode())]
