"""The ingest agent's sending step without Kafka: what the broker refuses is dead-lettered, never dropped."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson

from streams.app import _plan_batch, _publish
from streams.config import Brand
from streams.ingest import Ingestor
from streams.matching import BrandMatcher
from streams.watermark import PartitionWatermark

NOW = 1_795_300_000.0


class FakeTopic:
    """Records what is sent; if ``picky``, a value containing ``refuse`` fails at delivery, ``raise`` at once."""

    def __init__(self, picky: bool = False) -> None:
        self.sent: list[dict] = []
        self.picky = picky

    async def send(self, **kwargs) -> asyncio.Future:
        if self.picky and b"raise" in (kwargs.get("value") or b""):
            raise RuntimeError("producer closed")
        self.sent.append(kwargs)
        future = asyncio.get_running_loop().create_future()
        if self.picky and b"refuse" in (kwargs.get("value") or b""):
            future.set_exception(RuntimeError("MessageSizeTooLargeError"))
        else:
            future.set_result(None)
        return future


class FakeConsumer:
    def assignment(self) -> set:
        return set()

    def highwater(self, tp) -> int:
        return 10


def event(offset: int, value: bytes | None) -> SimpleNamespace:
    return SimpleNamespace(value=value, message=SimpleNamespace(topic="posts", partition=0, offset=offset,
                                                                key=str(offset).encode(), tp=("posts", 0),
                                                                timestamp=None))


def post(i: int, text: str) -> bytes:
    return orjson.dumps({"id": str(i), "platform": "twitter", "text": text, "created_at": "2026-11-20T10:00:00Z",
                         "author": {"id": "a", "handle": "h", "followers": 1}})


def test_refused_forwards_are_dead_lettered_and_the_rest_sent_once():
    ingestor = Ingestor(BrandMatcher([Brand("skyway", terms=("Skyway",))]), ["skyway"])
    events = [event(0, post(0, "Skyway ok")), event(1, b"not json"), event(2, post(2, "Skyway refuse")),
              event(3, post(3, "Skyway raise")), event(4, post(4, "Skyway fine"))]
    plan = _plan_batch(events, ingestor, PartitionWatermark(), FakeConsumer(), "w")
    dlq, by_brand = FakeTopic(), FakeTopic(picky=True)
    asyncio.run(_publish(plan, events, dlq, by_brand, frozenset({"skyway"})))

    assert [orjson.loads(m["value"])["id"] for m in by_brand.sent] == ["0", "2", "4"]  # "3" raised at once
    letters = [(m["key"], dict(m["headers"])["crisiswatch.reason"].decode()) for m in dlq.sent]
    assert letters == [(b"1", "not_json"), (b"2", "processing_error"), (b"3", "processing_error")]
    assert dlq.sent[1]["value"] == events[2].value and dlq.sent[2]["value"] == events[3].value
