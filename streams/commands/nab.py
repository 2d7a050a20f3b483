"""``crisiswatch nab``: run the volume detector over NAB-style CSV files and score it.

    crisiswatch nab DATA_DIR --out RESULTS_DIR [--windows windows.json] [--score-only]

Every CSV under DATA_DIR with ``timestamp,value`` columns is scored by a fresh
volume detector with its default parameters, into RESULTS_DIR at the same
relative path (columns ``timestamp,value,anomaly_score,alert``). With
``--windows`` the results are then scored the way NAB does it, and the
normalised scores of the three NAB profiles are printed. ``--score-only``
scores an existing RESULTS_DIR without running the detector.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detectors.nab import load_windows, run_corpus, score_results


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "nab", help="run the volume detector on NAB-style CSV files and score it",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder of timestamp,value CSV files")
    parser.add_argument("--out", type=Path, required=True, metavar="RESULTS_DIR",
                        help="where results go (same relative paths as DATA_DIR)")
    parser.add_argument("--windows", type=Path, metavar="JSON",
                        help="NAB labelled windows (combined_windows.json); scores the results")
    parser.add_argument("--score-only", action="store_true",
                        help="score RESULTS_DIR as it is, without running the detector (needs --windows)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.score_only and args.windows is None:
        print("crisiswatch nab: --score-only needs --windows", file=sys.stderr)
        return 2
    if not args.score_only:
        if not args.data_dir.is_dir():
            print(f"crisiswatch nab: {args.data_dir} is not a folder", file=sys.stderr)
            return 2
        written = run_corpus(args.data_dir, args.out)
        print(f"wrote {len(written)} results files under {args.out}")
    if args.windows is None:
        return 0
    try:
        windows = load_windows(args.windows)
        score = score_results(args.out, windows)
    except (OSError, ValueError) as exc:
        print(f"crisiswatch nab: {exc}", file=sys.stderr)
        return 1
    print(score.report())
    return 0
