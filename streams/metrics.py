"""Prometheus metrics of the stream workers.

Every label has a bounded set of values: ``brand`` comes from the config (posts
that name an unknown brand are counted under ``brand="other"``), ``platform`` is
folded into :data:`PLATFORMS` (anything else is ``other``), ``reason`` is one of
``streams.post.REASONS``. The catalogue with units and meanings is in
``docs/metrics.md``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from alerts.incidents import KINDS
from streams.post import REASONS

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
PIPELINE_LATENCY = Histogram(
    "crisiswatch_pipeline_latency_seconds",
    "Time from the Kafka record timestamp of a post on posts to its brand's counts including it "
    "(both hops: ingest, posts.by_brand, the per-brand stage).",
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


# --- Detector outputs, set on every closed bucket of a brand (see streams/monitor.py) ---

VOLUME_OBSERVED = Gauge("crisiswatch_volume_observed_posts",
                        "Posts of the brand in its last closed bucket.", ["brand"])
VOLUME_EXPECTED = Gauge("crisiswatch_volume_expected_posts",
                        "Posts the volume detector expected in that bucket (seasonal baseline).", ["brand"])
VOLUME_LOWER = Gauge("crisiswatch_volume_band_lower_posts",
                     "Lower edge of the volume detector's normal band for that bucket.", ["brand"])
VOLUME_UPPER = Gauge("crisiswatch_volume_band_upper_posts",
                     "Upper edge of the volume detector's normal band for that bucket.", ["brand"])
VOLUME_SCORE = Gauge("crisiswatch_volume_anomaly_score",
                     "Volume anomaly score of the last closed bucket, 0 to 1 (alerts at 0.5 by design).", ["brand"])
NEGATIVE_SHARE = Gauge("crisiswatch_negative_share_ratio",
                       "Share of complaint posts among the brand's posts in its last closed bucket, 0 to 1.",
                       ["brand"])
NEGATIVE_BASELINE = Gauge("crisiswatch_negative_share_baseline_ratio",
                          "The brand's usual share of complaint posts (the shift detector's baseline).", ["brand"])
SHIFT_SCORE = Gauge("crisiswatch_negative_shift_score",
                    "Negativity-shift score of the last closed bucket, 0 to 1.", ["brand"])
STORIES_LIVE = Gauge("crisiswatch_stories_live", "Stories the brand's tracker holds (not yet expired).", ["brand"])
STORY_VELOCITY = Gauge("crisiswatch_story_velocity_posts_per_minute",
                       "Growth of the brand's fastest story, posts per minute over its recent window.", ["brand"])
STORY_TOP_POSTS = Gauge("crisiswatch_story_top_posts",
                        "Posts in the brand's top stories by velocity; rank 1 is the fastest.", ["brand", "rank"])
STORY_TOP_VELOCITY = Gauge("crisiswatch_story_top_velocity_posts_per_minute",
                           "Velocity of the brand's top stories; rank 1 is the fastest.", ["brand", "rank"])
DETECTOR_ALERTS = Counter("crisiswatch_detector_alerts_total",
                          "Closed buckets in which a detector's own alert decision fired.", ["brand", "detector"])
INCIDENT_SEVERITY = Gauge("crisiswatch_incident_severity",
                          "Severity the incident decision gave the brand's last closed bucket: "
                          "0 none, 1 watch, 2 warning, 3 critical.", ["brand"])
INCIDENTS_OPEN = Gauge("crisiswatch_incidents_open", "Incidents of the brand that are open (not resolved).",
                       ["brand"])
INCIDENT_EVENTS = Counter("crisiswatch_incident_events_total",
                          "Incident lifecycle events written to the incidents outbox.", ["brand", "kind"])
COMPLAINTS = Counter("crisiswatch_complaint_posts_total",
                     "Posts flagged as complaints by the negativity model.", ["brand"])
BATCH_SECONDS = Histogram("crisiswatch_batch_processing_seconds",
                          "Wall time an agent spends on one batch.", ["agent"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def observe_many(histogram: Histogram, amounts: Iterable[float]) -> None:
    """``histogram.observe`` for a whole batch: one increment per bucket instead of per value.

    Three latency observations per post cost more than a tenth of the worker's CPU one by one.
    Uses the histogram's bucket values directly (their layout has been stable in prometheus_client
    for years); falls back to ``observe`` if it ever changes.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for amount in amounts:
            histogram.observe(amount)
        return
    counts = [0] * len(bounds)
    summed = 0.0
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1
        summed += amount
    for bucket, count in zip(buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    total.inc(summed)


#: The detectors whose own alert decisions ``crisiswatch_detector_alerts_total`` counts.
DETECTORS = ("volume", "shift", "story")


def initialise(brands: Iterable[str]) -> None:
    """Create the event counters' series at 0 for every configured brand and dead-letter reason.

    ``increase()`` and ``rate()`` only see a rise between two scrapes: a series born at its first
    increment starts at 1, so without this the first incident a brand opens after a worker starts
    (and its first complaint, detector alert or dead letter of a reason) is missing from the boards
    and from the dead-letter alert rule. Every label value here is from the config or a fixed set.
    """
    for brand in brands:
        COMPLAINTS.labels(brand=brand)
        LATE_POSTS.labels(brand=brand)
        for detector in DETECTORS:
            DETECTOR_ALERTS.labels(brand=brand, detector=detector)
        for kind in KINDS:
            INCIDENT_EVENTS.labels(brand=brand, kind=kind)
    for reason in REASONS:
        DLQ.labels(reason=reason)
