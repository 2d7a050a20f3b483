"""Helpers for tests that run against the real broker: produce posts, read topics and metrics."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

BRAND_MENTIONS = {
    "skyway": ["Skyway Airlines", "@SkywayAir", "#flyskyway", "skyway air"],
    "brewbox": ["BrewBox", "brew box", "#BrewBox", "@brewbox"],
    "voltmobile": ["Volt Mobile", "@VoltMobile", "#voltmobile"],
}
PLATFORMS = ["twitter", "reddit", "facebook", "news"]


@dataclass(frozen=True)
class TestPost:
    raw: bytes
    #: the (brand, platform) counts this post must add; brand "none" when it mentions no brand
    counts: tuple[tuple[str, str], ...]


def expected_counts(posts: Iterable[TestPost]) -> Counter:
    return Counter(key for p in posts for key in p.counts)


def make_posts(n: int, seed: int, start: float = 1_795_000_000.0) -> list[TestPost]:
    """``n`` valid posts over a few minutes, each with the counts it must produce."""
    rng = random.Random(seed)
    posts: list[TestPost] = []
    for i in range(n):
        roll = rng.random()
        brands = (["skyway", "brewbox"] if roll < 0.05 else [] if roll < 0.15
                  else [rng.choice(list(BRAND_MENTIONS))])
        mentions = " and ".join(rng.choice(BRAND_MENTIONS[b]) for b in brands) or "the weather"
        platform = rng.choice(PLATFORMS)
        post = {
            "id": f"t{seed}-{i}", "platform": platform,
            "text": f"post {i}: what do you think of {mentions} today?",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 0.2)),
            "author": {"id": f"u{rng.randrange(500)}", "handle": f"user{i}", "followers": rng.randrange(10_000)},
        }
        posts.append(TestPost(orjson.dumps(post), tuple((b, platform) for b in brands or ["none"])))
    return posts


def produce(bootstrap: str, topic: str, values: Iterable[bytes]) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    n = 0
    for n, value in enumerate(values, 1):
        producer.send(topic, value=value, key=str(n).encode())
    producer.flush()
    producer.close()
    return n


def read_topic(bootstrap: str, topic: str, idle_ms: int = 3000) -> list:
    """Every record of ``topic`` from the beginning (stops after ``idle_ms`` without a record)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=idle_ms, group_id=None)
    records = list(consumer)
    consumer.close()
    return records


def table_totals(bootstrap: str, changelog: str) -> Counter:
    """Per-(brand, platform) counts from a counts table's changelog: the state a restarted worker restores."""
    latest: dict[str, dict] = {}
    for record in read_topic(bootstrap, changelog):
        key = orjson.loads(record.key)
        if record.value is None:
            latest.pop(key, None)
        else:
            latest[key] = orjson.loads(record.value)
    totals: Counter = Counter()
    for key, row in latest.items():
        brand = key.rsplit("|", 1)[0]
        for name, n in row.items():
            totals[(brand, name)] += n
    return totals


def counts_page_view(expected: Counter) -> Counter:
    """``expected`` (brand, platform) counts as a worker's ``/counts/`` page adds them up.

    The page gives ``{brand: {"total": n, platform: n, ...}}``; this is its flat form, (brand, key) -> n,
    with posts that mention no brand left out (they never reach the per-brand stage).
    """
    out: Counter = Counter()
    for (brand, platform), n in expected.items():
        if brand != "none":
            out[(brand, platform)] += n
            out[(brand, "total")] += n
    return out


def flat_counts_page(page: dict[str, dict[str, int]]) -> Counter:
    """A worker's ``/counts/`` page as (brand, key) -> n."""
    return Counter({(brand, key): n for brand, row in page.items() for key, n in row.items()})


def metric_samples(text: str, name: str) -> dict[tuple, float]:
    """Samples of metric ``name`` keyed by their sorted label items."""
    out: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of metric ``name`` over its series that carry ``labels`` (all of them without)."""
    return sum(v for key, v in metric_samples(text, name).items() if set(labels.items()) <= set(key))


def posts_by_brand_platform(metrics_texts: Iterable[str]) -> Counter:
    """``crisiswatch_posts_total`` summed over workers, as (brand, platform) -> count (invalid excluded)."""
    totals: Counter = Counter()
    for text in metrics_texts:
        for labels, value in metric_samples(text, "crisiswatch_posts_total").items():
            d = dict(labels)
            if d["outcome"] != "invalid":
                totals[(d["brand"], d["platform"])] += int(value)
    return totals


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5,
             state: Callable[[], object] | None = None) -> None:
    """Poll ``condition`` until it holds; on timeout, say what was awaited and (with ``state``) what was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    seen = f"; last seen: {state()}" if state else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{seen}")
