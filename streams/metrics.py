"""Prometheus metrics of the stream workers.

Every label has a bounded set of values: ``brand`` comes from the config (posts
that name an unknown brand are counted under ``brand="other"``), ``platform`` is
folded into :data:`PLATFORMS` (anything else is ``other``), ``reason`` is one of
``streams.post.REASONS``. The catalogue with units and meanings is in
``docs/metrics.md``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PLATFORMS = frozenset({"twitter", "x", "reddit", "facebook", "instagram", "tiktok", "youtube",
                       "linkedin", "threads", "bluesky", "mastodon", "news", "blog", "forum", "review"})
OUTCOMES = ("matched", "unmatched", "invalid")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

POSTS = Counter(
    "crisiswatch_posts_total",
    "Posts processed, by brand, platform and outcome (matched: counted for the brand; "
    "unmatched: no brand mentioned, dropped; invalid: sent to the dead-letter topic).",
    ["brand", "platform", "outcome"],
)
DLQ = Counter(
    "crisiswatch_dlq_posts_total",
    "Malformed posts sent to the dead-letter topic, by reason.",
    ["reason"],
)
PROCESSING_LATENCY = Histogram(
    "crisiswatch_post_latency_seconds",
    "Time from the post's created_at to the end of its processing (event-time latency; "
    "includes the delay before the post reached Kafka).",
    buckets=LATENCY_BUCKETS,
)
KAFKA_LATENCY = Histogram(
    "crisiswatch_kafka_latency_seconds",
    "Time from the Kafka record timestamp of a post to the end of its processing.",
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "crisiswatch_consumer_lag_messages",
    "Messages in the topic not yet read by this worker, summed over its assigned partitions.",
    ["topic"],
)
BUCKETS_CLOSED = Counter(
    "crisiswatch_buckets_closed_total",
    "Per-brand time buckets closed (event time passed their end plus the allowed lateness).",
    ["brand"],
)
LATE_POSTS = Counter(
    "crisiswatch_late_posts_total",
    "Posts that arrived after their bucket had closed; counted in the table, not in the detectors.",
    ["brand"],
)


def platform_label(platform: str) -> str:
    return platform if platform in PLATFORMS else "other"


def brand_label(brand: str, known: frozenset[str]) -> str:
    return brand if brand in known else "other"
