"""``crisiswatch score-text IN.csv --model vader|default|PATH --out OUT.csv``: score posts in a CSV.

Copies IN.csv (which needs a ``text`` column) to OUT.csv with two more columns:
``negativity`` (0..1, 4 decimals) and ``complaint`` (1 when negativity >= the
threshold, else 0). ``--out -`` writes to standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
from pathlib import Path

from detectors.negativity import NegativityScorer, load_scorer

BATCH = 10_000  # posts scored at a time: fast batches, bounded memory


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score-text",
        help="add negativity and complaint columns to a CSV of posts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="IN.csv")
    parser.add_argument("--model", default="default", help="default | vader | path/to/model.joblib")
    parser.add_argument("--out", required=True, metavar="OUT.csv", help="output CSV ('-' for stdout)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="complaint threshold (default: the model's own, 0.5 for default/vader)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        scorer = load_scorer(args.model, args.threshold)
        with open(args.input, newline="", encoding="utf-8-sig") as source:
            reader = csv.DictReader(source)
            columns = list(reader.fieldnames or [])
            if "text" not in columns:
                raise ValueError(f"{args.input}: no 'text' column (columns: {', '.join(columns) or 'none'})")
            out_columns = [*[c for c in columns if c not in ("negativity", "complaint")], "negativity", "complaint"]
            to_stdout = str(args.out) == "-"
            with (contextlib.nullcontext(sys.stdout) if to_stdout
                  else open(args.out, "w", newline="", encoding="utf-8")) as sink:
                writer = csv.DictWriter(sink, fieldnames=out_columns, extrasaction="ignore")
                writer.writeheader()
                count = _score_rows(reader, writer, scorer)
    except (OSError, ValueError) as exc:
        print(f"score-text: {exc}", file=sys.stderr)
        return 2
    print(f"scored {count} posts with {args.model!r}; wrote {args.out}", file=sys.stderr)
    return 0


def _score_rows(reader: csv.DictReader, writer: csv.DictWriter, scorer: NegativityScorer) -> int:
    count = 0
    batch: list[dict[str, str]] = []
    for row in reader:
        batch.append(row)
        if len(batch) == BATCH:
            count += _flush(batch, writer, scorer)
    return count + _flush(batch, writer, scorer)


def _flush(batch: list[dict[str, str]], writer: csv.DictWriter, scorer: NegativityScorer) -> int:
    if not batch:
        return 0
    scores = scorer.score_many([row["text"] or "" for row in batch])
    for row, score in zip(batch, scores, strict=True):
        row["negativity"] = f"{score:.4f}"
        row["complaint"] = str(int(score >= scorer.complaint_threshold))
        writer.writerow(row)
    size = len(batch)
    batch.clear()
    return size
