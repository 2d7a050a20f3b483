"""Benchmark story tracking: posts per second of ``StoryTracker.update`` and memory per live story.

Run from the repository root::

    .venv/bin/python bench/bench_stories.py            # about a minute and a half
    .venv/bin/python bench/bench_stories.py --posts 50000 --stories 100000   # quick look

Posts are generated with a fixed seed in a realistic mix: about 30 % reshares
and replies of recent posts, 10 % near-duplicate complaints (a few complaints
retyped with different case, punctuation and an extra or a missing word) and
60 % unique texts of 6 to 25 words. The throughput figures are measured on
posts generated beforehand, against a baseline in the same run that only
groups posts by root id in a dict (the least any story tracker must do). The
memory figure is the growth of the resident set while the tracker fills up to
``--stories`` live stories.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
from collections.abc import Iterator

from detectors.stories import StoryTracker
from streams.post import Post

COMPLAINTS = [
    "@SkywayAir lost my bag again third time this month",
    "@SkywayAir flight 212 cancelled and nobody at the gate can tell us anything",
    "@SkywayAir been on hold for two hours and the app keeps crashing",
    "@SkywayAir charged me twice for the same ticket and support will not refund",
    "@SkywayAir stuck on the tarmac for three hours with no water no updates",
    "@SkywayAir your new baggage fee is a joke never flying with you again",
]


def syllable_words(rng: random.Random, count: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pa", "qu", "er", "an", "is", "ou"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(count)]


def retype(rng: random.Random, text: str) -> str:
    """The same complaint in someone else's typing: case, punctuation, one word more or less."""
    words = text.split()
    if rng.random() < 0.3:
        del words[rng.randrange(1, len(words))]
    if rng.random() < 0.3:
        words.append(rng.choice(["!!", "smh", "seriously", "again", "#fail", "unbelievable"]))
    if rng.random() < 0.5:
        words = [w.upper() if rng.random() < 0.2 else w for w in words]
    return " ".join(words) + rng.choice(["", "!", "!!", ".", " 😡"])


def generate_posts(seed: int, rate_per_second: float = 50.0) -> Iterator[tuple[Post, float]]:
    """An endless stream of (post, negativity) in the mix described in the module docstring."""
    rng = random.Random(seed)
    vocabulary = syllable_words(rng, 5000)
    recent_roots: list[str] = []
    t = 1_700_000_000.0
    n = 0
    while True:
        n += 1
        t += rng.expovariate(rate_per_second)
        author = f"u{rng.randrange(2_000_000)}"
        followers = int(rng.paretovariate(1.2) * 50)
        kind = rng.random()
        reshare_of = reply_to = None
        if kind < 0.30 and recent_roots:
            parent = recent_roots[-1 - min(int(rng.expovariate(1 / 300)), len(recent_roots) - 1)]
            if rng.random() < 0.8:
                reshare_of, text = parent, "RT"
            else:
                reply_to = parent
                text = " ".join(rng.choices(vocabulary, k=rng.randint(3, 12)))
            negativity = rng.random()
        elif kind < 0.40:
            text = retype(rng, rng.choice(COMPLAINTS))
            negativity = 0.6 + 0.4 * rng.random()
        else:
            text = " ".join(rng.choices(vocabulary, k=rng.randint(6, 25)))
            negativity = rng.random()
        post_id = f"p{n}"
        if reshare_of is None and reply_to is None:
            recent_roots.append(post_id)
            if len(recent_roots) > 20_000:
                del recent_roots[:10_000]
        yield Post(id=post_id, platform="x", text=text, created_at=t, author_id=author,
                   author_handle=author, author_followers=followers, brand="skyway",
                   reshare_of=reshare_of, reply_to=reply_to, reshares=rng.choice((0, 0, 0, 1, 2, 5))), negativity


def baseline_group_by_root(posts: list[tuple[Post, float]]) -> int:
    """The floor: count posts and followers per root id in a dict."""
    groups: dict[str, list[int]] = {}
    for post, _ in posts:
        root = post.root_id
        group = groups.get(root)
        if group is None:
            groups[root] = [1, post.author_followers]
        else:
            group[0] += 1
            group[1] += post.author_followers
    return len(groups)


def run_tracker(posts: list[tuple[Post, float]]) -> StoryTracker:
    tracker = StoryTracker()
    for post, negativity in posts:
        tracker.update(post, negativity)
    return tracker


def run_tracker_learn(posts: list[tuple[Post, float]]) -> StoryTracker:
    """What the worker's per-brand stage calls per post: learn only, figures read per closed bucket."""
    tracker = StoryTracker()
    for post, negativity in posts:
        tracker.learn(post, negativity, negativity >= tracker.complaint_threshold)
    return tracker


def timed(function, *args) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """(CPU seconds, wall seconds, result): CPU time is what one core spends, whatever else runs."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(*args)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=200_000, help="posts for the throughput runs")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs (best one reported)")
    parser.add_argument("--stories", type=int, default=1_000_000, help="live stories for the memory run")
    args = parser.parse_args()

    posts = [item for item, _ in zip(generate_posts(seed=1), range(args.posts), strict=False)]
    print(f"throughput on {len(posts):,} generated posts (best of {args.repeat} runs; "
          "posts per CPU second of one core, and per wall-clock second):")
    base_runs = [timed(baseline_group_by_root, posts) for _ in range(args.repeat)]
    runs = [timed(run_tracker, posts) for _ in range(args.repeat)]
    learn_runs = [timed(run_tracker_learn, posts) for _ in range(args.repeat)]
    learn_cpu, learn_wall = min(r[0] for r in learn_runs), min(r[1] for r in learn_runs)
    base_cpu, base_wall = min(r[0] for r in base_runs), min(r[1] for r in base_runs)
    story_cpu, story_wall = min(r[0] for r in runs), min(r[1] for r in runs)
    tracker: StoryTracker = runs[0][2]  # type: ignore[assignment]
    print(f"  baseline (dict by root id): {len(posts) / base_cpu:12,.0f} posts/s CPU "
          f"{len(posts) / base_wall:12,.0f} posts/s wall")
    print(f"  StoryTracker.update:        {len(posts) / story_cpu:12,.0f} posts/s CPU "
          f"{len(posts) / story_wall:12,.0f} posts/s wall ({story_cpu / base_cpu:.0f}x the baseline's CPU time)")
    print(f"  StoryTracker.learn:         {len(posts) / learn_cpu:12,.0f} posts/s CPU "
          f"{len(posts) / learn_wall:12,.0f} posts/s wall (the worker's hot path: no per-post snapshot)")
    state_bytes = len(json.dumps(tracker.to_state()))
    print(f"  {len(tracker):,} live stories at the end (max_stories={tracker.max_stories:,}); "
          f"to_state() JSON {state_bytes / 2**20:.1f} MiB = {state_bytes / len(tracker):,.0f} bytes per story")
    del posts, runs, learn_runs, tracker
    gc.collect()

    tracker = StoryTracker(max_stories=args.stories, idle_seconds=365 * 86400.0)
    before = rss_bytes()
    start = time.perf_counter()
    fed = 0
    for post, negativity in generate_posts(seed=2):
        tracker.update(post, negativity)
        fed += 1
        if len(tracker) >= args.stories:
            break
    seconds = time.perf_counter() - start
    gc.collect()
    grown = rss_bytes() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"memory with {len(tracker):,} live stories ({fed:,} posts fed in {seconds:.0f} s, "
          f"generation included):")
    print(f"  resident set grew by {grown / 2**20:,.0f} MiB = {grown / len(tracker):,.0f} bytes per story; "
          f"peak RSS of the process {peak / 2**20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
