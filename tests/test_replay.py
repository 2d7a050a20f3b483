"""Replaying files: JSONL/CSV/airline reading, malformed lines kept, pacing with a fake clock, sending."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import orjson
import pytest

from streams.generate import Scenario, generate_posts, malformed_examples, write_scenario
from streams.post import InvalidPost, Post, parse_post, parse_timestamp
from streams.replay import (
    FLAT_COLUMNS,
    Pacer,
    RawPost,
    airline_timestamp,
    brand_slug,
    count_records,
    parse_speed,
    read_posts,
    replay,
    sort_by_time,
)

REPO = Path(__file__).resolve().parent.parent
AIRLINE_CSV = REPO.parent / "shared" / "data" / "airline-sentiment" / "airline_dev.csv"
NOW = parse_timestamp("2026-11-25T00:00:00Z")


def good(post_id: str, created_at: str, **extra) -> bytes:
    return orjson.dumps({"id": post_id, "platform": "twitter", "text": "@SkywayAir lost my bag",
                         "created_at": created_at, "author": {"id": "u1", "handle": "ana", "followers": 3}, **extra})


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeFuture:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def add_errback(self, callback) -> None:
        if self.fail:
            callback(RuntimeError("delivery failed"))


class FakeProducer:
    def __init__(self, fail_every: int = 0) -> None:
        self.sent: list[dict] = []
        self.flushes = 0
        self.fail_every = fail_every

    def send(self, topic, value=None, key=None, timestamp_ms=None):
        self.sent.append({"topic": topic, "value": value, "key": key, "timestamp_ms": timestamp_ms})
        return FakeFuture(bool(self.fail_every) and len(self.sent) % self.fail_every == 0)

    def flush(self, timeout=None) -> None:
        self.flushes += 1


# --------------------------------------------------------------------------- JSONL


def test_jsonl_lines_are_forwarded_unchanged_and_malformed_ones_kept(tmp_path: Path):
    lines = [
        good("a", "2026-11-20T09:00:00Z"),
        b"this is not json",
        b"",                                       # blank lines are not records
        b"\xff\xfe broken bytes",
        b"[1, 2]",
        good("b", "2026-11-20T09:00:10.500+01:00"),
        good("c", "2026-11-20T09:00:20"),         # naive timestamp: unreadable time, still forwarded
    ]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\r\n")
    records = list(read_posts(path))
    assert [r.value for r in records] == [line for line in lines if line]
    assert [r.source_line for r in records] == [1, 2, 4, 5, 6, 7]
    assert [r.key for r in records] == [b"a", None, None, None, b"b", b"c"]
    assert records[0].created_at == parse_timestamp("2026-11-20T09:00:00Z")
    assert records[4].created_at == parse_timestamp("2026-11-20T08:00:10.5Z")
    assert [r.readable for r in records] == [True, False, False, False, True, False]


def test_generated_file_reads_back_completely_also_gzipped(tmp_path: Path):
    write_scenario(Scenario(seed=3, days=0.1, scale=0.2), tmp_path)
    plain = tmp_path / "posts.jsonl"
    zipped = tmp_path / "posts.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    records = list(read_posts(plain))
    assert records == list(read_posts(zipped))
    assert [r.value for r in records] == plain.read_bytes().splitlines()
    assert all(r.readable for r in records)
    assert count_records(plain) == len(records) > 100


def test_malformed_examples_survive_a_file_round_trip(tmp_path: Path):
    single_line = [(raw, reason) for raw, reason in malformed_examples(include_too_large=False)
                   if raw.strip() and b"\n" not in raw]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(raw for raw, _ in single_line) + b"\n")
    records = list(read_posts(path))
    assert [r.value for r in records] == [raw for raw, _ in single_line]
    for record, (_, reason) in zip(records, single_line, strict=True):
        with pytest.raises(InvalidPost) as caught:
            parse_post(record.value, NOW)
        assert caught.value.reason == reason


# --------------------------------------------------------------------------- CSV


def flat_row(post: Post) -> dict:
    wire = post.to_wire()
    return {"id": post.id, "platform": post.platform, "text": post.text, "created_at": wire["created_at"],
            "author_id": post.author_id, "author_handle": post.author_handle,
            "author_followers": str(post.author_followers), "brand": post.brand or "",
            "reshare_of": post.reshare_of or "", "reply_to": post.reply_to or "", "lang": post.lang or "",
            "url": post.url or "", "likes": str(post.likes), "reshares": str(post.reshares),
            "replies": str(post.replies)}


def test_flat_csv_round_trips_posts_and_passes_bad_cells_on(tmp_path: Path):
    posts = [p for _, p in zip(range(300), generate_posts(Scenario(seed=4, days=0.1, scale=0.3)), strict=False)]
    path = tmp_path / "posts.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
        writer.writerows(flat_row(p) for p in posts)
        writer.writerow({**flat_row(posts[0]), "id": "bad", "author_followers": "lots"})
        writer.writerow({**flat_row(posts[0]), "id": "late", "created_at": "yesterday"})
    records = list(read_posts(path))
    assert len(records) == len(posts) + 2
    assert [parse_post(r.value, NOW) for r in records[:-2]] == posts
    assert records[0].key == posts[0].id.encode()
    for record in records[-2:]:
        with pytest.raises(InvalidPost) as caught:
            parse_post(record.value, NOW)
        assert caught.value.reason == "invalid_field"
    assert not records[-1].readable


def test_csv_with_only_the_required_columns(tmp_path: Path):
    path = tmp_path / "few.csv"
    path.write_text("id,platform,text,created_at,author_id,author_handle,author_followers\n"
                    'x1,Reddit,"hello, @BrewBox",2026-11-20T10:00:00Z,u9,bo,12\n', encoding="utf-8")
    (record,) = read_posts(path)
    post = parse_post(record.value, NOW)
    assert (post.id, post.platform, post.text, post.author_followers) == ("x1", "reddit", "hello, @BrewBox", 12)
    assert post.brand is None and post.likes == 0


def test_airline_csv_flavour_is_detected_and_mapped(tmp_path: Path):
    path = tmp_path / "airline_sample.csv"
    path.write_text(
        "tweet_id,airline,airline_sentiment,negativereason,retweet_count,name,tweet_created,text\n"
        "5.67588E+17,US Airways,negative,Late Flight,2,brenduch,16-02-2015 23.36,@USAirways late again\n"
        "5.67588E+17,Virgin America,positive,,0,nesi,17-02-2015 0.01,\"@VirginAmerica thanks, great crew\"\n"
        "5.67588E+17,United,neutral,,0,,31-02-2015 10.00,@united when do you board?\n",
        encoding="utf-8")
    records = list(read_posts(path))
    assert len(records) == 3
    first, second = (parse_post(r.value, NOW) for r in records[:2])
    assert (first.id, second.id) == ("airline_sample-000001", "airline_sample-000002")  # tweet_id repeats
    assert first.brand == "us_airways" and second.brand == "virgin_america"
    assert first.platform == "twitter" and first.author_handle == "brenduch" and first.author_followers == 0
    assert first.reshares == 2
    assert first.created_at == parse_timestamp("2015-02-16T23:36:00Z")
    assert second.created_at == parse_timestamp("2015-02-17T00:01:00Z")
    assert orjson.loads(records[0].value)["labels"] == {"sentiment": "negative", "negative_reason": "Late Flight"}
    with pytest.raises(InvalidPost) as caught:  # 31 February: forwarded as it is, rejected by validation
        parse_post(records[2].value, NOW)
    assert caught.value.reason == "invalid_field"


@pytest.mark.skipif(not AIRLINE_CSV.exists(), reason=f"data set not present at {AIRLINE_CSV}")
def test_the_airline_data_set_reads_as_valid_unique_posts():
    records = list(read_posts(AIRLINE_CSV))
    assert len(records) == 10_247
    posts = [parse_post(r.value, NOW) for r in records]
    assert len({p.id for p in posts}) == len(posts)
    assert {p.brand for p in posts} == {"virgin_america", "united", "southwest", "delta", "us_airways", "american"}
    ordered = sort_by_time(records)
    stamps = [r.created_at for r in ordered]
    assert stamps == sorted(stamps)
    assert 5 < (stamps[-1] - stamps[0]) / 86400 < 20  # about a week of February 2015


def test_unknown_csv_header_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "other.csv"
    path.write_text("when,what\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown CSV header"):
        list(read_posts(path))


def test_airline_helpers():
    assert airline_timestamp("05-02-2015 7.5") == "2015-02-05T07:05:00.000Z"
    assert airline_timestamp("2015-02-05 07:05") is None
    assert brand_slug(" US Airways ") == "us_airways"


def test_sort_by_time_keeps_unreadable_records_after_their_predecessor():
    records = [RawPost(b"c", 30.0, None, 1), RawPost(b"bad", None, None, 2), RawPost(b"a", 10.0, None, 3),
               RawPost(b"b", 20.0, None, 4)]
    assert [r.value for r in sort_by_time(records)] == [b"a", b"b", b"c", b"bad"]


# --------------------------------------------------------------------------- pacing


@pytest.mark.parametrize(("text", "speed"), [("max", None), ("MAX", None), ("10x", 10.0), ("10", 10.0),
                                             ("1x", 1.0), (" 0.5X ", 0.5), ("60", 60.0)])
def test_parse_speed(text, speed):
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["", "x", "0", "0x", "-2x", "ten", "10xx", "inf", "nan", "1e999"])
def test_parse_speed_rejects_nonsense_clearly(text):
    with pytest.raises(ValueError, match=r"invalid speed .*'max'"):
        parse_speed(text)


def test_pacer_sleeps_the_scaled_gaps():
    clock = FakeClock()
    pacer = Pacer(10.0, clock=clock, sleep=clock.sleep)
    for t in range(0, 60, 10):
        pacer.wait(1_000_000.0 + t)
    assert clock.sleeps == pytest.approx([1.0] * 5)


def test_pacer_batches_tiny_gaps_and_catches_up_when_late():
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep, min_sleep=0.05)
    for i in range(1000):
        pacer.wait(i * 0.001)  # one post per millisecond for one second
    assert 15 <= len(clock.sleeps) <= 21
    assert sum(clock.sleeps) == pytest.approx(0.95, abs=0.05)
    clock.now += 5.0  # the broker stalled: five seconds behind schedule
    pacer.wait(2.0)
    pacer.wait(None)
    assert len(clock.sleeps) <= 21


def test_pacer_without_speed_never_sleeps():
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    for t in (0.0, 100.0, 5000.0):
        pacer.wait(t)
    assert clock.sleeps == []


# --------------------------------------------------------------------------- sending


def records_a_minute_apart(n: int) -> list[RawPost]:
    return [RawPost(good(f"p{i}", f"2026-11-20T09:{i:02d}:00Z"), parse_timestamp(f"2026-11-20T09:{i:02d}:00Z"),
                    f"p{i}".encode(), i + 1) for i in range(n)]


def test_replay_sends_everything_as_fast_as_possible():
    records = [*records_a_minute_apart(5), RawPost(b"not json", None, None, 6)]
    producer = FakeProducer()
    clock = FakeClock()
    stats = replay(records, producer, "posts", speed=None, progress=False, clock=clock, sleep=clock.sleep)
    assert (stats.sent, stats.malformed, stats.failed) == (6, 1, 0)
    assert [m["value"] for m in producer.sent] == [r.value for r in records]
    assert [m["key"] for m in producer.sent] == [b"p0", b"p1", b"p2", b"p3", b"p4", None]
    assert {m["topic"] for m in producer.sent} == {"posts"}
    assert all(m["timestamp_ms"] is None for m in producer.sent)  # Kafka time = time of sending
    assert producer.flushes == 1 and clock.sleeps == []


def test_replay_paces_by_post_time_and_can_stamp_event_time():
    records = records_a_minute_apart(4)  # a minute apart
    producer = FakeProducer(fail_every=2)
    clock = FakeClock()
    stats = replay(records, producer, "posts", speed=60.0, progress=False, event_time=True,
                   clock=clock, sleep=clock.sleep)
    assert clock.sleeps == pytest.approx([1.0, 1.0, 1.0])
    assert stats.seconds == pytest.approx(3.0)
    assert stats.failed == 2
    assert [m["timestamp_ms"] for m in producer.sent] == [round(r.created_at * 1000) for r in records]


def test_replay_flushes_even_when_sending_fails():
    class Broken(FakeProducer):
        def send(self, topic, value=None, key=None, timestamp_ms=None):
            raise ConnectionError("no broker")

    producer = Broken()
    with pytest.raises(ConnectionError):
        replay(records_a_minute_apart(2), producer, "posts", progress=False)
    assert producer.flushes == 1
