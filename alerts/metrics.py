"""Prometheus metrics of alert delivery, in the default registry.

Labels are the notifier *kind* (``slack``, ``pagerduty``, ``webhook``, ``console``), a fixed set,
never a channel, brand or incident, so the number of series does not grow with the data.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ALERTS_SENT = Counter(
    "crisiswatch_alerts_sent_total",
    "Incident events delivered to a receiver.",
    ["notifier"],
)
ALERTS_FAILED = Counter(
    "crisiswatch_alerts_failed_total",
    "Incident events given up on after a non-retryable error (handed to the dead-letter callback).",
    ["notifier"],
)
ALERTS_RETRIED = Counter(
    "crisiswatch_alerts_retried_total",
    "Failed delivery attempts that were retried (429, 5xx, timeouts, connection errors).",
    ["notifier"],
)
ALERTS_DUPLICATES = Counter(
    "crisiswatch_alerts_duplicates_skipped_total",
    "Redelivered incident events skipped because that sequence was already delivered.",
    ["notifier"],
)
DELIVERY_LATENCY = Histogram(
    "crisiswatch_alert_delivery_latency_seconds",
    "Seconds from an incident event's time to its delivery.",
    ["notifier"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)


def initialise(notifier_kind: str) -> None:
    """Create this notifier kind's series at 0 before its first event.

    ``increase()`` and ``rate()`` only see a rise between two scrapes: a series born at its first
    increment starts at 1, and that first delivery (or failure) would be missing from every board
    and alert rule until the next one. Prometheus' instrumentation guide: initialise the label
    values you know.
    """
    for counter in (ALERTS_SENT, ALERTS_FAILED, ALERTS_RETRIED, ALERTS_DUPLICATES):
        counter.labels(notifier_kind)
    DELIVERY_LATENCY.labels(notifier_kind)
