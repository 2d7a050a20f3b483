"""``crisiswatch train-negativity LABELLED.csv -o model.joblib``: train the linear negativity model.

The CSV needs a ``text`` column and a label column: ``label`` by default, else
``airline_sentiment`` or ``sentiment`` when there is no ``label`` column (so the
airline dev file trains as it is), or any column named with ``--label-column``.
Labels: negative/neutral/positive, or 1/0 (1 = complaint), or true/false.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from detectors.negativity import NEGATIVE, LinearScorer, parse_label

LABEL_COLUMNS = ("label", "airline_sentiment", "sentiment")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-negativity",
        help="train the linear negativity model on labelled posts (CSV with text,label)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("labelled", type=Path, metavar="LABELLED.csv")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.joblib")
    parser.add_argument("--label-column", default=None,
                        help=f"column holding the labels (default: the first of {', '.join(LABEL_COLUMNS)})")
    parser.add_argument("--complaint-threshold", type=float, default=0.5,
                        help="negativity at which a post is a complaint, stored in the model (default 0.5)")
    parser.add_argument("--n-bits", type=int, default=20, help="2**N hashed n-gram columns (default 20)")
    parser.add_argument("--alpha", type=float, default=2e-5, help="L2 regularisation (default 2e-5)")
    parser.add_argument("--nb-scale", action=argparse.BooleanOptionalAction, default=True,
                        help="scale n-grams by their naive-Bayes log-count ratio (NBSVM; default on): better on "
                             "posts like the training ones, a little worse on other topics")
    parser.set_defaults(func=run)


def read_labelled_csv(path: Path, label_column: str | None = None) -> tuple[list[str], list[str]]:
    """Texts and raw labels of a labelled CSV; raises ``ValueError`` naming what is missing."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "text" not in columns:
            raise ValueError(f"{path}: no 'text' column (columns: {', '.join(columns) or 'none'})")
        column = label_column or next((c for c in LABEL_COLUMNS if c in columns), None)
        if column is None or column not in columns:
            raise ValueError(f"{path}: no label column ({label_column or ' / '.join(LABEL_COLUMNS)})")
        texts, labels = [], []
        for row in reader:
            texts.append(row["text"] or "")
            labels.append(row[column] or "")
    return texts, labels


def run(args: argparse.Namespace) -> int:
    try:
        texts, labels = read_labelled_csv(args.labelled, args.label_column)
        for line, label in enumerate(labels, start=2):
            try:
                parse_label(label)
            except ValueError as exc:
                raise ValueError(f"{args.labelled}, line {line}: {exc}") from None
        scorer = LinearScorer(n_bits=args.n_bits, alpha=args.alpha,
                              complaint_threshold=args.complaint_threshold, nb_scale=args.nb_scale)
        started = time.perf_counter()
        scorer.fit(texts, labels)
    except (OSError, ValueError) as exc:
        print(f"train-negativity: {exc}", file=sys.stderr)
        return 2
    negative = int(np.sum([parse_label(label) == NEGATIVE for label in labels]))
    scorer.save(args.output)
    print(f"trained on {len(texts)} posts ({negative} negative) in {time.perf_counter() - started:.1f} s; "
          f"classes {[str(c) for c in scorer.estimator.classes_]}; wrote {args.output}")
    return 0
