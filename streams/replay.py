"""Replay posts from files onto the ``posts`` topic: reading JSONL/CSV, pacing, sending.

The reading side turns every input line (or CSV row) into a :class:`RawPost`:
the exact bytes to put on the topic plus, when they can be read, the post's
``created_at`` (for pacing) and id (for the Kafka key). A line that is not a
valid post is **not** dropped or repaired here: it is forwarded as it is, so
that the pipeline's validation and dead-letter topic see what a real source
would have sent. Three input formats, chosen by file name and CSV header:

* **JSONL** (``.jsonl``, ``.ndjson``, ``.json``, anything not ``.csv``): one wire-format post per
  line (``streams/schema/post.schema.json``); the line's bytes are sent unchanged. Blank lines are skipped.
* **Flat CSV** with the columns of :data:`FLAT_COLUMNS` (``id``, ``platform``, ``text``, ``created_at``,
  ``author_id``, ``author_handle``, ``author_followers`` required, the rest optional); each row becomes a
  wire-format JSON object. Empty cells are left out; integer cells become integers and anything else is
  kept as the string, for validation to reject.
* **Airline-sentiment CSV** (the header of ``/work/shared/data/airline-sentiment/airline_dev.csv``):
  ``tweet_created`` (``DD-MM-YYYY HH.MM``, no zone) is read as UTC, ids are made unique from the file name
  and row number (``tweet_id`` is not unique), ``airline`` becomes ``brand`` (``"US Airways"`` ->
  ``"us_airways"``), the platform is ``twitter``, followers are unknown (0), and the human labels are kept
  as an extra ``labels`` object (unknown fields are ignored by the pipeline). The file is not in time order:
  use :func:`sort_by_time` before a paced replay.

Any of them may be gzip-compressed (``.gz``).

The sending side, :func:`replay`, paces the records with a :class:`Pacer` (as fast as possible, or N times
the speed of the posts' own timestamps) and hands them to a kafka-python ``KafkaProducer``-like object.
The Kafka message key is the post id (so a re-run spreads posts over partitions the same way); the ingest
step re-keys by brand anyway. The Kafka timestamp is left to the producer (the time of sending), because the
pipeline works in event time from ``created_at`` and a replay is a new arrival; ``event_time=True`` stamps
messages with ``created_at`` instead, for back-filling.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
from tqdm import tqdm

from streams.post import format_timestamp, parse_timestamp

#: Columns of the flat CSV format (the wire format with ``author`` and ``engagement`` flattened).
FLAT_COLUMNS = ("id", "platform", "text", "created_at", "author_id", "author_handle", "author_followers",
                "brand", "reshare_of", "reply_to", "lang", "url", "likes", "reshares", "replies")
FLAT_REQUIRED = FLAT_COLUMNS[:7]
#: Columns of the airline-sentiment data set.
AIRLINE_COLUMNS = ("tweet_id", "airline", "airline_sentiment", "negativereason", "retweet_count", "name",
                   "tweet_created", "text")


@dataclass(frozen=True, slots=True)
class RawPost:
    """One record to send: ``value`` is the Kafka message value, exactly as it goes on the topic.

    ``created_at`` (epoch seconds) and ``key`` (the post id) are ``None`` when the record is not a
    readable post; such a record is still sent, for the pipeline's dead-letter path to handle.
    ``source_line`` is the 1-based line (JSONL) or data row (CSV) it came from, for messages.
    """

    value: bytes
    created_at: float | None
    key: bytes | None
    source_line: int

    @property
    def readable(self) -> bool:
        return self.created_at is not None


# --------------------------------------------------------------------------- reading


def read_posts(path: str | Path) -> Iterator[RawPost]:
    """Stream the records of a JSONL or CSV file (optionally ``.gz``), in file order.

    Raises ``ValueError`` for a CSV whose header is neither format (naming the columns expected).
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    is_csv = bool(suffixes) and suffixes[-1] == ".csv"
    opener = gzip.open if compressed else open
    if is_csv:
        with opener(path, "rb") as binary:
            text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
            yield from read_csv(text, source=path.name.split(".")[0])
    else:
        with opener(path, "rb") as binary:
            yield from read_jsonl(binary)


def read_jsonl(lines: Iterable[bytes]) -> Iterator[RawPost]:
    """Records from JSONL lines (bytes); every non-blank line is yielded, readable or not."""
    for number, line in enumerate(lines, start=1):
        value = line.rstrip(b"\r\n")
        if not value.strip():
            continue
        yield _record(value, number)


def _record(value: bytes, number: int) -> RawPost:
    """Pull ``created_at`` and ``id`` out of a JSON value when it is a post-shaped object."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return RawPost(value, None, None, number)
    if not isinstance(obj, dict):
        return RawPost(value, None, None, number)
    try:
        created_at: float | None = parse_timestamp(obj.get("created_at"))
    except (ValueError, OverflowError, TypeError):
        created_at = None
    post_id = obj.get("id")
    key = post_id.encode("utf-8", "surrogatepass") if isinstance(post_id, str) and 0 < len(post_id) <= 256 else None
    return RawPost(value, created_at, key, number)


def read_csv(text: IO[str], source: str = "csv") -> Iterator[RawPost]:
    """Records from a flat or airline-sentiment CSV (detected from the header row).

    ``source`` prefixes the ids made up for airline rows (``"airline_dev"`` -> ``"airline_dev-000001"``).
    """
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    columns = [c.strip().lstrip("\ufeff").lower() for c in header]
    if set(FLAT_REQUIRED) <= set(columns):
        convert: Callable[[dict[str, str], int], dict[str, Any]] = _flat_row
    elif set(AIRLINE_COLUMNS) <= set(columns):
        def convert(row: dict[str, str], number: int) -> dict[str, Any]:
            return _airline_row(row, number, source)
    else:
        raise ValueError(
            f"{source}: unknown CSV header {header[:10]!r}; expected the columns {', '.join(FLAT_REQUIRED)} "
            f"(optionally {', '.join(FLAT_COLUMNS[7:])}) or the airline-sentiment columns "
            f"{', '.join(AIRLINE_COLUMNS)}")
    for number, cells in enumerate(reader, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        row = dict(zip(columns, cells, strict=False))
        yield _record(orjson.dumps(convert(row, number)), number)


def _int_or_text(cell: str | None) -> int | str | None:
    """An integer cell as ``int``; an empty one as ``None``; anything else unchanged (validation rejects it)."""
    if cell is None or not cell.strip():
        return None
    try:
        return int(cell.strip())
    except ValueError:
        return cell


def _flat_row(row: dict[str, str], number: int) -> dict[str, Any]:
    wire: dict[str, Any] = {key: row.get(key, "") for key in ("id", "platform", "text", "created_at")}
    wire["author"] = {"id": row.get("author_id", ""), "handle": row.get("author_handle", ""),
                      "followers": _int_or_text(row.get("author_followers"))}
    for key in ("brand", "reshare_of", "reply_to", "lang", "url"):
        if row.get(key):
            wire[key] = row[key]
    engagement = {key: _int_or_text(row.get(key)) for key in ("likes", "reshares", "replies")}
    engagement = {key: value for key, value in engagement.items() if value is not None}
    if engagement:
        wire["engagement"] = engagement
    return wire


_AIRLINE_TIME = re.compile(r"^\s*(\d{1,2})-(\d{1,2})-(\d{4})\s+(\d{1,2})[.:](\d{1,2})\s*$")
_NOT_BRAND_CHARS = re.compile(r"[^a-z0-9]+")


def airline_timestamp(cell: str) -> str | None:
    """``"16-02-2015 23.36"`` -> ``"2015-02-16T23:36:00.000Z"`` (read as UTC); ``None`` if unreadable."""
    match = _AIRLINE_TIME.match(cell or "")
    if not match:
        return None
    day, month, year, hour, minute = (int(g) for g in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        return None
    return format_timestamp(moment.timestamp())


def brand_slug(name: str) -> str:
    """A brand name as the config spells brands: ``"US Airways"`` -> ``"us_airways"``."""
    return _NOT_BRAND_CHARS.sub("_", name.strip().lower()).strip("_")


def _airline_row(row: dict[str, str], number: int, source: str) -> dict[str, Any]:
    handle = (row.get("name") or "").strip()
    wire: dict[str, Any] = {
        "id": f"{source}-{number:06d}",
        "platform": "twitter",
        "text": row.get("text", ""),
        # An unreadable time is passed on as it is, so that validation rejects the post visibly.
        "created_at": airline_timestamp(row.get("tweet_created", "")) or row.get("tweet_created", ""),
        "author": {"id": f"twitter:{handle}" if handle else f"{source}-author-{number:06d}", "handle": handle,
                   "followers": 0},
        "lang": "en",
    }
    if row.get("airline"):
        wire["brand"] = brand_slug(row["airline"])
    reshares = _int_or_text(row.get("retweet_count"))
    if isinstance(reshares, int) and reshares > 0:
        wire["engagement"] = {"reshares": reshares}
    wire["labels"] = {"sentiment": row.get("airline_sentiment") or None,
                      "negative_reason": row.get("negativereason") or None}
    return wire


def sort_by_time(records: Iterable[RawPost]) -> list[RawPost]:
    """All records in ``created_at`` order (loads them into memory).

    An unreadable record keeps its place after the readable record that preceded it in the file,
    so that dead letters still arrive at roughly the point of the stream where they were.
    """
    keyed: list[tuple[float, int, RawPost]] = []
    last = float("-inf")
    for index, record in enumerate(records):
        if record.created_at is not None:
            last = record.created_at
        keyed.append((last, index, record))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in keyed]


def count_records(path: str | Path) -> int:
    """How many records :func:`read_posts` will yield (one pass over the file; for a progress total)."""
    return sum(1 for _ in read_posts(path))


# --------------------------------------------------------------------------- pacing


def parse_speed(text: str) -> float | None:
    """``"max"`` -> ``None`` (as fast as possible); ``"10"``, ``"10x"``, ``"0.5x"`` -> the factor.

    Raises ``ValueError`` with a message fit for the command line.
    """
    cleaned = str(text).strip().lower()
    if cleaned in ("max", "fast", "asap"):
        return None
    number = cleaned[:-1] if cleaned.endswith("x") else cleaned
    try:
        speed = float(number)
    except ValueError:
        speed = float("nan")
    if not (speed > 0 and speed != float("inf")):
        raise ValueError(f"invalid speed {text!r}: expected a positive number of times real time such as "
                         "1x, 10x or 60, or 'max' for as fast as possible")
    return speed


class Pacer:
    """Sleep so that posts go out at ``speed`` times the pace of their own timestamps.

    The first post fixes the origin: a post ``d`` seconds of event time after it is due ``d / speed``
    seconds of wall time after the first was sent. Gaps shorter than ``min_sleep`` are not slept one
    by one; because the schedule is absolute, they add up until one sleep covers them. A replay that
    falls behind (a slow broker) catches up by not sleeping. ``speed=None`` never sleeps. Posts
    without a readable time (``None``) go out at once.
    """

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, min_sleep: float = 0.05) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be positive or None, got {speed}")
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self.min_sleep = min_sleep
        self._origin: tuple[float, float] | None = None   # (event time, wall time) of the first post
        self.slept = 0.0

    def wait(self, created_at: float | None) -> None:
        if self.speed is None or created_at is None:
            return
        if self._origin is None:
            self._origin = (created_at, self.clock())
            return
        event0, wall0 = self._origin
        delay = wall0 + (created_at - event0) / self.speed - self.clock()
        if delay >= self.min_sleep:
            self.sleep(delay)
            self.slept += delay


# --------------------------------------------------------------------------- sending


class Producer(Protocol):
    """What :func:`replay` needs of kafka-python's ``KafkaProducer``."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
             timestamp_ms: int | None = None) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass(slots=True)
class ReplayStats:
    sent: int = 0          # records handed to the producer
    malformed: int = 0     # of which not readable as a post (forwarded for the dead-letter path)
    failed: int = 0        # deliveries the producer reported as failed by the time it was flushed
    seconds: float = 0.0   # wall time of the replay, flush included


def replay(posts: Iterable[RawPost], producer: Producer, topic: str, speed: float | None = None,
           progress: bool = True, total: int | None = None, *, event_time: bool = False,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    """Send ``posts`` to ``topic``, paced at ``speed`` (``None``: as fast as possible), then flush.

    ``progress`` shows a tqdm bar on stderr when stderr is a terminal. ``total`` (e.g. from
    :func:`count_records`) lets the bar show an ETA. ``event_time=True`` sets each message's Kafka
    timestamp to the post's ``created_at`` instead of the time of sending. Errors raised by
    ``producer.send`` (a broker that cannot be reached, a message over the size limit) propagate.
    """
    stats = ReplayStats()
    pacer = Pacer(speed, clock=clock, sleep=sleep)
    began = clock()

    def failed(_exc: BaseException) -> None:
        stats.failed += 1

    bar = tqdm(total=total, unit=" posts", file=sys.stderr, mininterval=0.5, dynamic_ncols=True,
               disable=not (progress and sys.stderr.isatty()))
    try:
        for record in posts:
            pacer.wait(record.created_at)
            timestamp_ms = round(record.created_at * 1000) if event_time and record.created_at is not None else None
            future = producer.send(topic, value=record.value, key=record.key, timestamp_ms=timestamp_ms)
            add_errback = getattr(future, "add_errback", None)
            if add_errback is not None:
                add_errback(failed)
            stats.sent += 1
            stats.malformed += not record.readable
            bar.update(1)
    finally:
        producer.flush()
        bar.close()
        stats.seconds = clock() - began
    return stats
