"""Batch helpers of streams.metrics give the same series as their one-by-one originals."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram

from streams.metrics import LATENCY_BUCKETS, observe_many


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples if not s.name.endswith("_created")}


def test_observe_many_matches_observe_one_by_one_including_bucket_edges():
    rng = random.Random(3)
    values = [rng.expovariate(0.5) for _ in range(2000)] + list(LATENCY_BUCKETS) + [0.0, 10_000.0]
    one, many = CollectorRegistry(), CollectorRegistry()
    h_one = Histogram("lat_seconds", "x", buckets=LATENCY_BUCKETS, registry=one)
    h_many = Histogram("lat_seconds", "x", buckets=LATENCY_BUCKETS, registry=many)
    for v in values:
        h_one.observe(v)
    observe_many(h_many, values[:1000])
    observe_many(h_many, values[1000:])
    observe_many(h_many, [])
    got, want = samples(many), samples(one)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-6 * max(1.0, abs(value)), key
