"""``crisiswatch replay FILE``: produce posts from JSONL or CSV to the ``posts`` topic with kafka-python."""

from __future__ import annotations

import argparse
import sys

from streams.config import ConfigError, config_path, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="send posts from a JSONL or CSV file to Kafka, as fast as possible or paced",
        description=__doc__ + "\n\nFormats: wire-format JSONL, flat CSV, or the airline-sentiment CSV; "
                              "optionally gzip-compressed (see streams/replay.py).")
    parser.add_argument("path", metavar="FILE")
    parser.add_argument("--config", help="config file (default $CRISISWATCH_CONFIG or crisiswatch.yaml)")
    parser.add_argument("--speed", default="max",
                        help="'max' (default: as fast as possible) or a factor of the posts' own pace, e.g. 10x")
    parser.add_argument("--sort", action="store_true",
                        help="sort by created_at first (for files not in time order, such as the airline CSV)")
    parser.add_argument("--event-time", action="store_true",
                        help="stamp Kafka records with the posts' created_at instead of the time of sending")
    parser.add_argument("--topic", help="topic to send to (default: the config's posts topic)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from streams.kafka_check import KafkaCheckError, check_kafka
    from streams.replay import count_records, parse_speed, read_posts, replay, sort_by_time
    from streams.topics import ensure_topics

    try:
        speed = parse_speed(args.speed)
        config = load_config(config_path(args.config))
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        records = read_posts(args.path)
        if args.sort:
            records = sort_by_time(records)
        total = count_records(args.path) if sys.stderr.isatty() and not args.quiet else None
        # kafka-python would retry a refused login until its bootstrap timeout and then say only
        # "Unable to bootstrap": check first, to fail at once and say why (no password in it).
        check_kafka(config.kafka)
        ensure_topics(config.kafka)
        producer = KafkaProducer(**config.kafka.kafka_python_kwargs(), linger_ms=20, batch_size=256 * 1024,
                                 max_request_size=10 * 1024 * 1024)
        topic = args.topic or config.kafka.topic("posts")
        stats = replay(records, producer, topic, speed=speed, progress=not args.quiet, total=total,
                       event_time=args.event_time)
        producer.close()
    except (OSError, ValueError) as exc:
        print(f"error: {args.path}: {exc}", file=sys.stderr)
        return 1
    except KafkaCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if exc.final else 1
    except KafkaError as exc:
        print(f"error: Kafka at {config.kafka.bootstrap_servers}: {exc}", file=sys.stderr)
        return 1
    rate = stats.sent / stats.seconds if stats.seconds else 0.0
    print(f"sent {stats.sent:,} records to {topic} in {stats.seconds:.1f} s ({rate:,.0f}/s); "
          f"{stats.malformed:,} unreadable lines forwarded for the dead-letter topic; {stats.failed:,} failed")
    return 1 if stats.failed else 0
