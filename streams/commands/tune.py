"""``crisiswatch tune DATA``: sweep one detector threshold over history and print the trade-off table."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

from streams.config import ConfigError, config_path, load_config

#: The default threshold: how many people must be complaining in one spreading story before an incident
#: opens, the signal behind most pages (viral complaints).
DEFAULT_PARAM = "incident.story_authors.warning"
DEFAULT_TARGET = 1.0


def register(subparsers: argparse._SubParsersAction) -> None:
    from streams.tune import TUNABLES

    description = textwrap.fill(
        __doc__ + " Each value is replayed through the production detectors as `crisiswatch backtest` would "
        "(the file is ingested and scored once), then the value within the false-alarm budget with the best "
        "recall (ties: earliest detection) is recommended, with the YAML to set it. Exits 1 when no value "
        "meets the target.", width=100)
    epilog = "thresholds --param can sweep:\n" + "\n".join(
        textwrap.fill(f"{name}: {t.what} ({t.stricter} alerts less)", width=100, initial_indent="  ",
                      subsequent_indent="      ") for name, t in TUNABLES.items())
    parser = subparsers.add_parser(
        "tune", help="sweep a detector threshold over a file of posts to meet a false-alarm budget",
        description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", metavar="DATA", help="posts as JSONL, flat CSV or airline CSV (optionally .gz)")
    parser.add_argument("--config", help="config file (default $CRISISWATCH_CONFIG or crisiswatch.yaml)")
    parser.add_argument("--labels", help="labels.json: count false alarms against it, and measure recall and "
                                         "detection delay (without it every incident counts as a false alarm)")
    parser.add_argument("--param", default=DEFAULT_PARAM, metavar="NAME",
                        help="the threshold to sweep (default: %(default)s); see the list below")
    values = parser.add_mutually_exclusive_group()
    values.add_argument("--values", metavar="A,B,C", help="the values to try")
    values.add_argument("--range", metavar="LOW:HIGH:STEPS", help="STEPS evenly spaced values, LOW and HIGH included")
    parser.add_argument("--target-false-alarms-per-week", type=float, default=DEFAULT_TARGET, metavar="X",
                        help="false-alarm budget per week of data (default: %(default)g)")
    parser.add_argument("--brand", metavar="B", help="tune this brand's own override, on its posts and labels "
                                                     "only (default: the global value, all brands)")
    parser.add_argument("--sort", action="store_true", help="sort the posts by created_at first")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from detectors.negativity import load_scorer
    from streams.backtest import format_time, ingest, load_labels
    from streams.replay import read_posts, sort_by_time
    from streams.tune import (
        WEEK_SECONDS,
        TuneRow,
        brands_overriding,
        check_values,
        current_value,
        format_table,
        format_value,
        parse_range,
        parse_values,
        recommend,
        stream_span,
        sweep,
        tunable,
        yaml_snippet,
    )

    def fail(message: str, code: int = 2) -> int:
        print(f"error: {message}", file=sys.stderr)
        return code

    target = args.target_false_alarms_per_week
    if not target >= 0:
        return fail(f"--target-false-alarms-per-week must be a number >= 0, got {target:g}")
    try:
        t = tunable(args.param)
        config = load_config(config_path(args.config))
        if args.brand is not None and args.brand not in config.brand_names:
            raise ValueError(f"--brand {args.brand!r} is not in {config.path}; "
                             f"configured brands: {', '.join(config.brand_names)}")
        current = current_value(config, t, args.brand)
        if args.values:
            values = parse_values(args.values)
        elif args.range:
            values = parse_range(args.range, integer=t.integer)
        else:
            values = sorted({*map(float, t.grid), current})
        check_values(config, t, values, args.brand)
        labels = load_labels(json.loads(Path(args.labels).read_text())) if args.labels else None
    except (ConfigError, OSError, ValueError, KeyError, TypeError) as exc:
        return fail(str(exc))

    began = time.perf_counter()
    records = read_posts(args.data)
    if args.sort:
        records = sort_by_time(records)
    scorer = load_scorer(config.negativity.model, config.negativity.complaint_threshold)
    batches = list(ingest((r.value for r in records), config, scorer))
    try:
        first, last = stream_span(batches)
    except ValueError as exc:
        return fail(f"{args.data}: {exc}")
    posts = sum(b.posts for b in batches)
    weeks = (last - first) / WEEK_SECONDS
    scope = f"brand {args.brand}" if args.brand else "all brands"
    print(f"tuning {t.name} for {scope}: {t.what} ({t.stricter} alerts less); "
          f"currently {format_value(current)}")
    print(f"{args.data}: {posts:,} valid posts from {format_time(first)} to {format_time(last)} UTC, "
          f"{(last - first) / 86400:.2f} days = {weeks:.3f} weeks (ingested and scored once in "
          f"{time.perf_counter() - began:.1f} s)")
    if labels is not None:
        mine = [lb for lb in labels if args.brand is None or lb["brand"] == args.brand]
        wanted = sum(1 for lb in mine if lb.get("should_alert", True))
        print(f"{args.labels}: {len(mine)} labelled incidents, {wanted} of them should alert")
    print(f"replaying {len(values)} values ...", flush=True)

    def progress(row: TuneRow, seconds: float) -> None:
        print(f"  {t.name} = {format_value(row.value)}: {_count(row.alerts, 'incident')} opened ({seconds:.1f} s)",
              file=sys.stderr, flush=True)

    rows = sweep(batches, config, t, values, labels=labels, brand=args.brand, progress=progress)
    best = recommend(rows, target, current)
    print()
    print(format_table(rows, t, current, best))
    print()
    if labels is None:
        print("No --labels: every incident opened counts as a false alarm, so false alarms per week are an "
              "upper bound;\nrecall and detection delay need labels.")
    else:
        print("False alarm: an incident opened outside every labelled window that should alert. Recall and median\n"
              "delay (from the labelled start to the first alert): over the labelled incidents that should alert.")
    if args.brand is None and (own := brands_overriding(config, t)):
        print(f"Note: {', '.join(own)} set {t.key} in their own detectors section, which the global value "
              f"does not change; tune them with --brand.")
    budget = f"{_count(target, 'false alarm')} per week"
    if best is None:
        fewest = min(rows, key=lambda r: r.false_alarms_per_week)
        return fail(f"no value of {t.name} meets the target of {budget}: the fewest is "
                    f"{fewest.false_alarms_per_week:.2f} per week (at {format_value(fewest.value)}). "
                    f"Raise --target-false-alarms-per-week or try other values.", code=1)
    if best.recall is None:
        how = f"{_count(best.alerts, 'incident')} opened; without labels, the most alerts within the budget"
    else:
        delay = "-" if best.median_delay_seconds is None else f"{best.median_delay_seconds / 60:.0f} min"
        how = f"recall {best.recall:.2f}, median delay {delay}"
    print(f"\nTarget: at most {budget}. Recommended: {t.name} = {format_value(best.value)} "
          f"({best.false_alarms_per_week:.2f} false alarms per week, {how}).")
    if best.value == current:
        print("That is the current value: nothing to change.")
    else:
        print(f"In {config.path}:\n")
        print(yaml_snippet(config, t, best.value, args.brand))
    return 0


def _count(number: float, noun: str) -> str:
    return f"{number:g} {noun}{'' if number == 1 else 's'}"
