"""Posts per second of the negativity scorers in batch mode, on the same texts, with ratios to VADER.

    .venv/bin/python bench/bench_negativity.py [--posts 20000] [--repeat 3]

Texts: the airline dev tweets when ``../shared/data`` is there (the linear model is
trained on them first), else generated posts (and the model is trained on those).
Single process, one thread of Python; numpy may use its own threads, so set
OMP_NUM_THREADS=1 / OPENBLAS_NUM_THREADS=1 to measure strictly one core.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors.negativity import LinearScorer, NegativityScorer, RulesScorer, VaderScorer  # noqa: E402

AIRLINE_CSV = ROOT.parent / "shared" / "data" / "airline-sentiment" / "airline_dev.csv"


def airline_texts() -> tuple[list[str], list[str]] | None:
    if not AIRLINE_CSV.is_file():
        return None
    with open(AIRLINE_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["airline_sentiment"] for row in rows]


def generated_texts(count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    brands = ["@QuickShip", "@NovaBank", "@VoltMobile", "@StreamFlix", "@PizzaPlanet"]
    bad = ["still waiting for my refund", "on hold for an hour", "order never arrived", "app keeps crashing",
           "worst service ever", "charged twice and no response"]
    good = ["thanks for the quick help", "love the new app", "great service today", "arrived early, amazing"]
    neutral = ["what time do you open", "do you ship to Canada", "is the new plan available", "see you later"]
    texts, labels = [], []
    for _ in range(count):
        label = rng.choice(["negative", "positive", "neutral"])
        phrase = rng.choice({"negative": bad, "positive": good, "neutral": neutral}[label])
        texts.append(f"{rng.choice(brands)} {phrase} #{rng.randint(1, 999)}")
        labels.append(label)
    return texts, labels


def posts_per_second(scorer: NegativityScorer, texts: list[str], repeat: int) -> float:
    scorer.score_many(texts[:200])  # warm caches (lexicon, powers of the hash)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        scorer.score_many(texts)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="posts per batch (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per scorer; the best counts")
    args = parser.parse_args(argv)

    data = airline_texts()
    source = "airline dev tweets" if data else "generated posts (../shared/data absent)"
    texts, labels = data or generated_texts(args.posts)
    batch = (texts * (args.posts // len(texts) + 1))[: args.posts]
    linear = LinearScorer().fit(texts, labels)

    print(f"{len(batch)} {source}, mean {sum(map(len, batch)) / len(batch):.0f} characters, best of {args.repeat}")
    baseline = None
    for name, scorer in (("vader", VaderScorer()), ("default (rules)", RulesScorer()),
                         ("linear (trained)", linear)):
        rate = posts_per_second(scorer, batch, args.repeat)
        baseline = baseline or rate
        print(f"  {name:<18} {rate:>10,.0f} posts/s   {rate / baseline:5.1f}x vader")
    return 0


if __name__ == "__main__":
    sys.exit(main())
