"""Throughput of ``VolumeDetector.update`` and state size for 10,000 brands, against an EWMA z-score.

    .venv/bin/python bench/bench_volume.py [--brands 10000] [--buckets 200000]

Pure Python on one core. Both detectors see the same Poisson counts (one
1-minute bucket per call, brands round-robin); the state size is the JSON of
``to_state()`` for every brand's detector after the run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

from detectors.volume import VolumeDetector


class EwmaZScore:
    """The trivial baseline: z-score of the count against an EWMA mean and variance."""

    def __init__(self, alpha: float = 0.01, alert_z: float = 4.0) -> None:
        self.alpha = alpha
        self.alert_z = alert_z
        self.mean: float | None = None
        self.var = 1.0

    def update(self, timestamp: float, count: float) -> bool:
        if self.mean is None:
            self.mean = count
            return False
        deviation = count - self.mean
        z = deviation / math.sqrt(self.var + 1e-9)
        self.mean += self.alpha * deviation
        self.var = (1 - self.alpha) * (self.var + self.alpha * deviation * deviation)
        return z >= self.alert_z

    def to_state(self) -> dict[str, float | None]:
        return {"mean": self.mean, "var": self.var}


def poisson(rng: random.Random, rate: float) -> int:
    """Knuth's method for small rates, normal approximation above."""
    if rate > 30:
        return max(0, round(rng.gauss(rate, math.sqrt(rate))))
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def measure(name: str, detectors: list, counts: list[int], start: float) -> tuple[float, int]:
    brands = len(detectors)
    begin = time.perf_counter()
    for i, count in enumerate(counts):
        detectors[i % brands].update(start + (i // brands) * 60.0, count)
    elapsed = time.perf_counter() - begin
    state_bytes = sum(len(json.dumps(d.to_state())) for d in detectors)
    rate = len(counts) / elapsed
    print(f"{name:<16} {rate:>12,.0f} buckets/s   state for {brands:,} brands: {state_bytes:>12,} bytes "
          f"({state_bytes / brands:,.0f} per brand)")
    return rate, state_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brands", type=int, default=10_000)
    parser.add_argument("--buckets", type=int, default=200_000, help="total update() calls per detector kind")
    args = parser.parse_args()
    rng = random.Random(42)
    rates = [rng.choice((0.2, 3.0, 20.0, 200.0)) for _ in range(args.brands)]
    counts = [poisson(rng, rates[i % args.brands]) for i in range(args.buckets)]
    start = 1_700_000_000.0
    print(f"{args.buckets:,} update() calls over {args.brands:,} brands, pure Python, one core")
    volume_rate, volume_bytes = measure("VolumeDetector", [VolumeDetector() for _ in range(args.brands)],
                                        counts, start)
    ewma_rate, ewma_bytes = measure("EWMA z-score", [EwmaZScore() for _ in range(args.brands)], counts, start)
    print(f"VolumeDetector / EWMA z-score: {volume_rate / ewma_rate:.2f}x the throughput, "
          f"{volume_bytes / ewma_bytes:.1f}x the state")


if __name__ == "__main__":
    main()
