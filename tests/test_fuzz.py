"""Fuzzed input: malformed and hostile posts (``tests/fuzz.py``) against the decoder and a real worker.

The pure tests run hypothesis against :func:`streams.post.decode_post` and the ingest and per-brand
steps without Kafka. The Kafka test sends thousands of malformed posts, interleaved with known-good
ones and with valid-but-hostile ones, through a real worker on the real broker, and checks that the
worker survives, that ``posts.dlq`` holds exactly the malformed ones (original bytes, reason header,
source header), that the DLQ counter agrees per reason, and that every good post is counted, on
``/metrics`` and in the counts table's changelog.

``CRISISWATCH_FUZZ_POSTS`` sets how many malformed posts the Kafka test sends (5,000 by default;
``make soak`` sends 100,000) and ``CRISISWATCH_FUZZ_EXAMPLES`` how many examples each pure test
tries (300; ``make soak``: 3,000).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer

from streams.backtest import tracker_from
from streams.brand_stage import BrandStage, pack_state
from streams.config import load_config
from streams.ingest import Ingestor
from streams.localstack import REPO, WorkerProcess, write_config
from streams.matching import BrandMatcher
from streams.post import MAX_POST_BYTES, REASONS, InvalidPost, decode_post
from tests.conftest import unique_name
from tests.fuzz import (
    GRAMMAR_TOKENS,
    MALFORMED,
    UNREPRESENTABLE_TOKENS,
    Hostile,
    Malformed,
    draw_many,
    hostile_valid_post,
    malformed,
)
from tests.kafka_helpers import (
    counts_page_view,
    expected_counts,
    make_posts,
    metric_samples,
    metric_total,
    posts_by_brand_platform,
    table_totals,
    wait_for,
)

NOW = time.time()
FUZZ = settings(max_examples=int(os.environ.get("CRISISWATCH_FUZZ_EXAMPLES", "300")), derandomize=True,
                deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- the decoder, pure ------------------------------------------------------------------------


@FUZZ
@given(malformed(NOW))
def test_every_malformed_post_is_rejected_with_the_reason_it_was_built_for(bad: Malformed):
    with pytest.raises(InvalidPost) as info:
        decode_post(bad.raw, NOW)
    assert info.value.reason == bad.reason, (bad.kind, info.value.detail)
    assert info.value.detail


@FUZZ
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(lambda s: s.encode("utf-8", "surrogatepass")),
                 st.none()))
def test_decode_post_raises_nothing_but_invalid_post(raw: bytes | None):
    try:
        post, wire = decode_post(raw, NOW)
    except InvalidPost as exc:
        assert exc.reason in REASONS
    else:  # random input that happens to be a post: it must round-trip
        assert isinstance(wire, dict) and post.text == wire["text"]


@FUZZ
@given(st.lists(hostile_valid_post(NOW), min_size=1, max_size=8))
def test_hostile_but_valid_posts_pass_ingest_and_the_brand_stage(posts: list[Hostile]):
    """Deep legal nesting, numbers that grow when written back, huge counts, dates from year 1 to now, a
    platform called "total": each post is forwarded within the topic's limit and counted under its
    brand and platform, and every brand's state and incident events can be written."""
    from streams.app import forward_value
    from streams.topics import MAX_FORWARD_BYTES

    config = load_config(REPO / "crisiswatch.yaml")
    ingestor = Ingestor(BrandMatcher(config.brands), config.brand_names)
    counts, states = _Table(), _Table()
    stage = BrandStage(config, counts, states, tracker_from(config))
    for offset, post in enumerate(posts):
        result = ingestor.process([post.raw], NOW)
        assert not result.dead_letters, result.dead_letters
        [forwarded] = result.forwarded
        assert forwarded.brand == post.brand
        value = forward_value(forwarded, {"wm": forwarded.post.created_at, "src": "test"})
        assert len(value) <= MAX_FORWARD_BYTES
        event = SimpleNamespace(value=value, message=SimpleNamespace(topic="t", partition=0, offset=offset))
        outbox, failed = stage.process([event])
        assert not failed
        for _, incident in outbox:
            orjson.dumps(incident)
    totals: Counter = Counter()
    for key, row in counts.data.items():
        for name, n in row.items():
            totals[(key.rsplit("|", 1)[0], name)] += n
    assert totals == counts_page_view(Counter((p.brand, p.platform) for p in posts))
    stage.save({p.brand for p in posts})
    for brand in {p.brand for p in posts}:
        assert pack_state(stage.monitor(brand).to_state())


class _Table:
    """What BrandStage needs of a Faust table, checking that every changelog value is writable JSON."""

    def __init__(self) -> None:
        self.data: dict = {}

    def send_changelog(self, partition: int, key: str, value: object) -> None:
        if not isinstance(value, str):
            orjson.dumps(value)


def test_the_bad_tokens_are_not_json_for_the_standard_library_either():
    """The fuzzer's idea of "not JSON" does not come from the code under test."""
    for token in GRAMMAR_TOKENS:
        with pytest.raises(ValueError):
            json.loads('{"a": ' + token + "}", parse_constant=_no_constants)
    for token in UNREPRESENTABLE_TOKENS:  # the stdlib reads them, into values no UTF-8 JSON can hold
        value = json.loads('{"a": ' + token + "}")["a"]
        if isinstance(value, str):
            with pytest.raises(UnicodeEncodeError):
                value.encode("utf-8")
        else:
            assert value in (float("inf"), float("-inf"))


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def test_each_construction_is_exercised():
    assert set(MALFORMED) == set(REASONS) - {"processing_error"}


# --- through a real worker -----------------------------------------------------------------------


def fuzz_count() -> int:
    return int(os.environ.get("CRISISWATCH_FUZZ_POSTS", "5000"))


CHUNK = 5000
#: Share of each reason among the malformed posts (too_large is a handful, a megabyte each).
WEIGHTS = {"not_utf8": 1.0, "not_json": 1.0, "not_object": 1.0, "missing_field": 1.0, "invalid_field": 1.0,
           "future_timestamp": 1.0, "text_too_long": 0.25}


@dataclass(frozen=True)
class Sent:
    """What the test remembers of a malformed post it sent: enough to recognise it, not the bytes."""

    reason: str
    kind: str
    digest: bytes
    size: int


def _digest(raw: bytes | None) -> bytes:
    return hashlib.blake2b(raw or b"", digest_size=16).digest()


def fuzz_chunks(n_bad: int, seed: int = 7) -> Iterator[tuple[list[tuple[bytes, bytes | None]], dict, Counter]]:
    """Keyed records to send, a chunk at a time: malformed, good and hostile-valid posts shuffled together.

    Each chunk comes with its malformed posts by key (``bad-<i>``) and the counts its good posts must add.
    Chunks keep memory flat for the 100,000-post soak; the same ``seed`` gives the same posts.
    """
    now = time.time()
    n_large = min(10, max(2, n_bad // 10_000))
    total_weight = sum(WEIGHTS.values())
    index = 0
    for chunk, first in enumerate(range(0, n_bad, CHUNK)):
        size = min(CHUNK, n_bad - first)
        bad: list[Malformed] = draw_many(MALFORMED["too_large"](now), n_large, seed) if chunk == 0 else []
        remaining = size - len(bad)
        shares = [int(remaining * weight / total_weight) for weight in WEIGHTS.values()]
        shares[0] += remaining - sum(shares)
        for i, (reason, share) in enumerate(zip(WEIGHTS, shares, strict=True)):
            bad += draw_many(MALFORMED[reason](now), share, seed * 1000 + chunk * 10 + i)
        good = make_posts(max(2000 if chunk == 0 else 0, size // 2), seed=seed * 100 + chunk,
                          start=1_795_000_000.0 + chunk * 3600)
        hostile = draw_many(hostile_valid_post(now), max(200, size // 20) if n_bad <= 20_000 else size // 100,
                            seed * 1000 + chunk * 10 + 9)
        expected = expected_counts(good) + Counter((h.brand, h.platform) for h in hostile)
        keyed = {f"bad-{index + i}".encode(): m for i, m in enumerate(bad)}
        index += len(bad)
        records = ([(key, m.raw) for key, m in keyed.items()]
                   + [(f"good-{chunk}-{i}".encode(), p.raw) for i, p in enumerate(good)]
                   + [(f"hostile-{chunk}-{i}".encode(), h.raw) for i, h in enumerate(hostile)])
        random.Random(seed + chunk).shuffle(records)
        yield records, {key: Sent(m.reason, m.kind, _digest(m.raw), len(m.raw or b"")) for key, m in keyed.items()}, \
            expected


@pytest.mark.kafka
def test_fuzzed_posts_through_a_real_worker(kafka, tmp_path, workers):
    n_bad = fuzz_count()
    name = unique_name("fuzz")
    config = write_config(tmp_path / "crisiswatch.yaml", kafka, app_id=name, topic_prefix=f"{name}.")
    worker = WorkerProcess(config, tmp_path).start()
    workers.append(worker)
    worker.wait_ready()

    began = time.monotonic()
    sent: dict[bytes, Sent] = {}
    expected: Counter = Counter()
    records = 0
    producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=20, max_request_size=MAX_POST_BYTES + 100_000)
    for chunk, bad, counts in fuzz_chunks(n_bad):  # generated while the worker is busy with the chunk before
        for key, value in chunk:
            producer.send(f"{name}.posts", key=key, value=value)
        records += len(chunk)
        sent.update(bad)
        expected += counts
    producer.flush()
    producer.close()
    produced = time.monotonic() - began
    reasons = Counter(m.reason for m in sent.values())

    def dlq_metric() -> dict[str, float]:
        samples = metric_samples(worker.metrics(), "crisiswatch_dlq_posts_total")
        return {dict(k)["reason"]: v for k, v in samples.items() if v}  # every reason has a series, at 0 or more

    wait_for(lambda: posts_by_brand_platform([worker.metrics()]) == expected and dlq_metric() == reasons,
             120 + n_bad / 100, "every good post counted and every malformed one dead-lettered",
             state=lambda: f"dlq {dlq_metric()} vs {dict(reasons)}; missing "
                           f"{expected - posts_by_brand_platform([worker.metrics()])}")
    elapsed = time.monotonic() - began
    assert worker.proc.poll() is None, worker.log_tail()
    invalid = metric_total(worker.metrics(), "crisiswatch_posts_total", outcome="invalid")
    assert invalid == len(sent)

    # The DLQ holds exactly the malformed posts: each once, original bytes, the reason it was built for.
    seen: set[bytes] = set()
    for record in _stream(kafka, f"{name}.posts.dlq"):
        assert record.key in sent and record.key not in seen, record.key
        seen.add(record.key)
        expected_post = sent[record.key]
        headers = dict(record.headers)
        assert headers["crisiswatch.reason"].decode() == expected_post.reason, (expected_post.kind, headers)
        assert headers["crisiswatch.detail"]
        assert headers["crisiswatch.source"].decode().startswith(f"{name}.posts/")
        assert (len(record.value), _digest(record.value)) == (expected_post.size, expected_post.digest), \
            expected_post.kind
    assert seen == sent.keys(), f"{len(sent) - len(seen)} malformed posts missing from the DLQ"

    changelog = f"{name}-brand_minute_counts-changelog"
    wait_for(lambda: table_totals(kafka, changelog) == counts_page_view(expected), 60,
             "the counts table's changelog to hold exactly the good posts",
             state=lambda: f"table - expected {table_totals(kafka, changelog) - counts_page_view(expected)}, "
                           f"expected - table {counts_page_view(expected) - table_totals(kafka, changelog)}")
    log = worker.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "crashed" not in log.lower(), worker.log_tail()
    print(f"fuzz: {records} records ({len(sent)} malformed: {dict(reasons)}; {sum(expected.values())} good "
          f"counts) produced in {produced:.0f} s (generation included), all processed after {elapsed:.0f} s")


def _stream(bootstrap: str, topic: str) -> Iterator:
    """Every record of ``topic`` from the beginning, one at a time (stops after 5 s without one)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000, group_id=None,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    try:
        yield from consumer
    finally:
        consumer.close()
