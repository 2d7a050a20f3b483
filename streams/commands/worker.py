"""``crisiswatch worker``: run one Faust worker with the config."""

from __future__ import annotations

import argparse
import logging
import sys

from streams.config import ConfigError, config_path, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="start a stream worker (Faust) with the config",
                                   description=__doc__)
    parser.add_argument("--config", help="config file (default $CRISISWATCH_CONFIG or crisiswatch.yaml)")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(config_path(args.config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from streams.worker import run_worker

    logging.basicConfig(level=args.loglevel.upper())
    return run_worker(config, loglevel=args.loglevel)
