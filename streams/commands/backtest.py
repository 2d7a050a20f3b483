"""``crisiswatch backtest DATA``: run the production detectors over a file of posts, without Kafka."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.config import ConfigError, config_path, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backtest", help="replay a file of posts through the detectors offline and print the incidents",
        description=__doc__ + " Prints every incident event it would have written to the outbox, and when.")
    parser.add_argument("data", metavar="DATA", help="posts as JSONL, flat CSV or airline CSV (optionally .gz)")
    parser.add_argument("--config", help="config file (default $CRISISWATCH_CONFIG or crisiswatch.yaml)")
    parser.add_argument("--labels", help="labels.json: print precision, recall and detection delay per incident")
    parser.add_argument("--plot", metavar="OUT.png", help="draw each brand's volume, expected band and alerts")
    parser.add_argument("--sort", action="store_true", help="sort the posts by created_at first")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detectors.negativity import load_scorer
    from streams.backtest import format_time, load_labels, run_backtest, score_against_labels
    from streams.replay import read_posts, sort_by_time

    try:
        config = load_config(config_path(args.config))
        labels = load_labels(json.loads(Path(args.labels).read_text())) if args.labels else None
    except (ConfigError, OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    records = read_posts(args.data)
    if args.sort:
        records = sort_by_time(records)
    scorer = load_scorer(config.negativity.model, config.negativity.complaint_threshold)
    result = run_backtest((r.value for r in records), config, scorer, keep_evaluations=bool(args.plot))
    print(f"{result.posts:,} valid posts, {result.dead_letters:,} malformed, {result.unmatched:,} without a brand")
    events = result.events
    print(f"{len(events)} incident events:")
    for event in events:
        print(f"  {format_time(event['time'])}  {event['brand']:<12} {event['kind']:<7} {event['severity']:<8} "
              f"{event['incident_id']}  {event.get('reason', '')[:90]}")
    if labels is not None:
        report = score_against_labels(events, labels, page_at=config.page_at,
                                      page_at_by_brand=config.page_at_by_brand())
        print("\nlabelled incidents:")
        for s in report.per_label:
            label = s.label
            want = "alert" if label.get("should_alert", True) else "quiet"
            if s.detected_at is None:
                found = "not alerted"
            else:
                found = f"alerted {format_time(s.detected_at)} after {s.delay_seconds / 60:.0f} min"
            page = "paged" if s.paged else "not paged"
            print(f"  {label.get('kind', '?'):<16} {label['brand']:<12} want {want:<5} "
                  f"(page={'yes' if label.get('should_page') else 'no'}): {found}, {page}")
        print(f"recall {report.recall:.2f}, precision {report.precision:.2f}, "
              f"false alarms {len(report.false_alarms)}, false pages {len(report.false_pages)}")
    if args.plot:
        from streams.backtest_plot import plot_backtest

        plot_backtest(result.evaluations, args.plot)
        print(f"plot written to {args.plot}")
    return 0
