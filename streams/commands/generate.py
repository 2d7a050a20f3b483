"""``crisiswatch generate``: write a seeded synthetic scenario (posts, incident labels, README)."""

from __future__ import annotations

import argparse
import sys
import time

from streams.generate import DEFAULT_BRANDS, DEFAULT_START, Scenario, profile_for, write_scenario
from streams.post import parse_timestamp


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write a synthetic scenario: posts.jsonl, labels.json, README.txt",
        description=(
            "Write a seeded synthetic stream of brand posts with scripted incidents (a viral complaint, "
            "a product launch, a slow negative drift) and a labels file saying when each happens. "
            "The same seed gives byte-identical files. Replay it with `crisiswatch replay DIR/posts.jsonl`."
        ),
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument("--brands", default=",".join(DEFAULT_BRANDS),
                        help="comma-separated brand names (default: %(default)s); names other than these get "
                             "a generic vocabulary with term 'Name', hashtag '#name' and handle '@Name'")
    parser.add_argument("--days", type=float, default=2.0,
                        help="length of the scenario in days (default: 2; all three incidents need 2)")
    parser.add_argument("--start", default=DEFAULT_START,
                        help="RFC 3339 start time on a whole minute (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every posting rate (default: 1.0, about 150k posts in 2 days)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        brands = tuple(profile_for(name.strip()) for name in args.brands.split(",") if name.strip())
        scenario = Scenario(seed=args.seed, brands=brands, start=parse_timestamp(args.start),
                            days=args.days, scale=args.scale)
    except ValueError as exc:
        print(f"crisiswatch generate: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    summary = write_scenario(scenario, args.out)
    seconds = time.perf_counter() - began
    print(f"wrote {summary.posts} posts and {len(summary.incidents)} incidents to {args.out} in {seconds:.1f} s")
    for incident in summary.incidents:
        label = incident.to_label()
        print(f"  {label['kind']:<16} {label['brand']:<12} {label['start']} -> {label['end']}  "
              f"page={'yes' if incident.should_page else 'no'}")
    return 0
