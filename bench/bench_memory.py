"""Memory of one worker's per-brand state: 10,000 brands holding 1,000,000 live stories in all.

    .venv/bin/python bench/bench_memory.py [--brands 10000] [--stories 1000000]

Builds the state a worker holds for the brands it owns, with the production
classes: one :class:`streams.monitor.BrandMonitor` per brand (volume, shift and
story detectors, incident lifecycle), fed posts until the brands hold
``--stories`` live stories between them (every post a new story: the worst case
for memory), each brand with a day of closed minute buckets behind it; then it
packs every monitor's state as a save does (:func:`streams.brand_stage.pack_state`),
one at a time: the ``brand_monitors`` table holds only a marker for a live monitor
and the packed state goes to the changelog. Prints the peak resident set of the
process (``VmHWM``), which is what a worker with that state would need on top of
its fixed cost, measured against the same process before any state.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from streams.backtest import new_monitor, tracker_from
from streams.brand_stage import pack_state, unpack_state
from streams.config import parse_config
from streams.post import Post


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brands", type=int, default=10_000)
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--history-buckets", type=int, default=1440, help="closed minute buckets per brand first")
    args = parser.parse_args()

    per_brand = max(args.stories // args.brands, 1)
    raw = {"brands": [{"name": f"brand{i}", "terms": [f"brand{i}"]} for i in range(args.brands)],
           "detectors": {"stories": {"max_stories": max(per_brand, 1)}}}
    config = parse_config(raw, path="<bench>")
    tracker = tracker_from(config)
    rng = random.Random(5)
    words = [f"w{i}" for i in range(20_000)]
    # A day of history, one post per closed minute, so that every detector has a warm baseline: fed
    # once, then every brand starts from a copy of that state (the same state feeding each would give).
    start = 1_700_000_000.0
    warm = new_monitor(config, "brand0", tracker)
    for m in range(args.history_buckets):
        warm.add_post(Post(id=f"h{m}", platform="x", text="RT", created_at=start + m * 60, author_id="a",
                           author_handle="a", author_followers=1, reshare_of="h0"), 0.1, False)
    history = pack_state(warm.to_state())
    del warm
    now = start + args.history_buckets * 60
    base_kib = vm_kib("VmRSS")
    began = time.perf_counter()
    # First every brand's monitor with its day of history and no story, then the stories: the two
    # figures say what a brand costs and what a story costs.
    monitors = [new_monitor(config, f"brand{b}", tracker, unpack_state(history)) for b in range(args.brands)]
    brands_kib = vm_kib("VmRSS") - base_kib
    for b, monitor in enumerate(monitors):
        brand = f"brand{b}"
        for s in range(per_brand):
            text = " ".join(rng.choices(words, k=rng.randint(8, 20)))
            monitor.add_post(Post(id=f"{brand}-{s}", platform="x", text=text, created_at=now + s * 0.5,
                                  author_id=f"u{rng.randrange(10**7)}", author_handle=f"user{s}",
                                  author_followers=rng.randrange(10_000),
                                  url=f"https://social.example/{brand}/{s}"), rng.random(), False)
        if (b + 1) % 1000 == 0:
            print(f"  {b + 1:,} brands, {vm_kib('VmRSS') / 1024:,.0f} MiB resident, "
                  f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    live = sum(len(m.stories) for m in monitors)
    state_kib = vm_kib("VmRSS") - base_kib
    stories_kib = state_kib - brands_kib
    # Each brand's state is packed when it is saved and sent to the changelog; the table keeps only a
    # marker for a live monitor (streams.brand_stage.LIVE), so one packed state exists at a time.
    packed_bytes = sum(len(pack_state(m.to_state())) for m in monitors)
    peak_kib = vm_kib("VmHWM")
    print(f"{args.brands:,} brands, {live:,} live stories, built in {time.perf_counter() - began:.0f} s")
    print(f"monitors in memory: {state_kib / 1024:,.0f} MiB: {brands_kib / 1024:,.0f} MiB before any story "
          f"({brands_kib * 1024 / args.brands:,.0f} B per brand), {stories_kib / 1024:,.0f} MiB of stories "
          f"({stories_kib * 1024 / max(live, 1):,.0f} B per story)")
    print(f"packed states written to the changelog (one at a time, not held): {packed_bytes / 2**20:,.0f} MiB")
    print(f"process before state: {base_kib / 1024:,.0f} MiB; peak RSS {peak_kib / 1024:,.0f} MiB "
          f"(limit 1,024 MiB: {'within' if peak_kib <= 1024 * 1024 else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
