"""The backbone on a real Apache Kafka broker: posts in, exact counts out, malformed posts in the DLQ."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
from kafka import KafkaProducer

from streams.app import INGEST_BATCH
from streams.localstack import WorkerProcess, write_config
from streams.post import REASONS
from tests.conftest import unique_name
from tests.kafka_helpers import (
    expected_counts,
    make_posts,
    metric_samples,
    metric_total,
    posts_by_brand_platform,
    produce,
    read_topic,
    table_totals,
    wait_for,
)

pytestmark = pytest.mark.kafka


def _matched_only(expected: Counter) -> Counter:
    return Counter({k: v for k, v in expected.items() if k[0] != "none"})


def _with_brand_totals(expected: Counter) -> Counter:
    """The table's view of ``expected``: per-brand platform counts plus a per-brand ``total``."""
    out: Counter = Counter()
    for (brand, platform), n in _matched_only(expected).items():
        out[(brand, platform)] += n
        out[(brand, "total")] += n
    return out


@pytest.fixture
def setup(kafka, tmp_path):
    name = unique_name("t")
    config = write_config(tmp_path / "crisiswatch.yaml", kafka, app_id=name, topic_prefix=f"{name}.")
    return kafka, config, name


def test_counts_are_exact_and_malformed_posts_reach_the_dlq(setup, tmp_path, workers):
    from streams.generate import malformed_examples

    bootstrap, config, name = setup
    good = make_posts(3000, seed=1)
    expected = expected_counts(good)
    bad = malformed_examples()
    values = [p.raw for p in good[:1500]] + [raw for raw, _ in bad] + [p.raw for p in good[1500:]]
    worker = WorkerProcess(config, tmp_path).start()
    workers.append(worker)
    worker.wait_ready()
    produce(bootstrap, f"{name}.posts", values)

    wait_for(lambda: posts_by_brand_platform([worker.metrics()]) == expected, 90,
             "every valid post counted on /metrics")
    metrics = worker.metrics()
    dlq_counts = {dict(k)["reason"]: v for k, v in metric_samples(metrics, "crisiswatch_dlq_posts_total").items()}
    assert set(dlq_counts) == set(REASONS), "every reason has a series from the start (at 0 until it happens)"
    assert {reason: n for reason, n in dlq_counts.items() if n} == dict(Counter(reason for _, reason in bad))

    changelog = f"{name}-brand_minute_counts-changelog"
    wait_for(lambda: table_totals(bootstrap, changelog) == _with_brand_totals(expected), 30,
             "the counts table's changelog to hold the exact counts")

    dead = read_topic(bootstrap, f"{name}.posts.dlq")
    assert len(dead) == len(bad)
    received = Counter((r.value, dict(r.headers)["crisiswatch.reason"].decode()) for r in dead)
    assert received == Counter((raw or b"", reason) for raw, reason in bad)
    assert all(dict(r.headers)["crisiswatch.detail"] for r in dead)


def test_two_workers_share_partitions_and_totals_stay_exact(setup, tmp_path, workers):
    bootstrap, config, name = setup
    good = make_posts(4000, seed=2)
    expected = expected_counts(good)
    first = WorkerProcess(config, tmp_path).start()
    second = WorkerProcess(config, tmp_path).start()
    workers.extend([first, second])
    first.wait_ready()
    second.wait_ready()
    produce(bootstrap, f"{name}.posts", [p.raw for p in good])

    wait_for(lambda: posts_by_brand_platform([first.metrics(), second.metrics()]) == expected, 120,
             "both workers together to count every post exactly once")
    each = [sum(posts_by_brand_platform([w.metrics()]).values()) for w in (first, second)]
    assert all(n > 0 for n in each), f"one worker did no work: {each}"
    wait_for(lambda: table_totals(bootstrap, f"{name}-brand_minute_counts-changelog")
             == _with_brand_totals(expected), 30, "exact table counts")


def test_restarted_worker_resumes_from_committed_offsets(setup, tmp_path, workers):
    bootstrap, config, name = setup
    good = make_posts(4000, seed=3)
    first_half, second_half = good[:2000], good[2000:]
    expected_first, expected_second = expected_counts(first_half), expected_counts(second_half)
    worker = WorkerProcess(config, tmp_path).start()
    workers.append(worker)
    worker.wait_ready()
    produce(bootstrap, f"{name}.posts", [p.raw for p in first_half])
    wait_for(lambda: posts_by_brand_platform([worker.metrics()]) == expected_first, 90, "first half counted")
    assert worker.stop() == 0, worker.log_tail()

    produce(bootstrap, f"{name}.posts", [p.raw for p in second_half])  # arrives while no worker runs
    restarted = WorkerProcess(config, tmp_path).start()
    workers.append(restarted)
    restarted.wait_ready()
    # Nothing is lost: the new worker counts at least the whole second half. Delivery is at least
    # once, so the posts of a batch whose offsets were not yet committed at the stop come again;
    # that is bounded by one ingest batch.
    def counted() -> Counter:
        return posts_by_brand_platform([restarted.metrics()])

    wait_for(lambda: not (expected_second - counted()), 90, "the whole second half counted by the restarted worker",
             state=lambda: f"missing {expected_second - counted()}")
    duplicates = sum((counted() - expected_second).values())
    assert duplicates <= INGEST_BATCH, f"{duplicates} posts counted twice"
    assert not (counted() - expected_second - expected_first), "only first-half posts may come twice"
    wait_for(lambda: not (_with_brand_totals(expected_first + expected_second)
                          - table_totals(bootstrap, f"{name}-brand_minute_counts-changelog")),
             30, "table counts of both halves")


def test_a_quiet_stream_closes_its_buckets_once_a_stopped_workers_watermark_expires(kafka, tmp_path, workers):
    """A worker restarted after a crash first re-reads what the dead worker forwarded, stamped with the dead
    worker's watermark; that holds event time back until ``worker.source_timeout_seconds`` pass. If the stream
    is quiet by then, no post comes to move time on: the worker's timer must (a CI run once waited 240 s for
    an incident that never resolved). Here the dead worker's record is written to ``posts.by_brand`` directly."""
    from streams.app import BY_BRAND_MESSAGE_BYTES, forward_value
    from streams.config import load_config
    from streams.ingest import Ingestor
    from streams.matching import BrandMatcher
    from streams.posts_reader import chunk_json_array, partition_for_key

    name = unique_name("quiet")
    config_path = write_config(tmp_path / "crisiswatch.yaml", kafka, app_id=name, topic_prefix=f"{name}.",
                               extra={"worker": {"source_timeout_seconds": 5}})
    config = load_config(config_path)
    start = 1_795_000_000.0 // 60 * 60
    raw = [orjson.dumps({"id": f"q{i}", "platform": "twitter", "text": f"flying @SkywayAir again ({i})",
                         "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60 * i)),
                         "author": {"id": f"u{i}", "handle": f"user{i}", "followers": 10}})
           for i in range(181)]
    [dead] = Ingestor(BrandMatcher(config.brands), config.brand_names).process(raw[:1], time.time()).forwarded
    assert dead.brand == "skyway"
    [dead_record] = chunk_json_array([forward_value(dead, {"wm": start, "src": "dead-worker:1", "ts": time.time()})],
                                     BY_BRAND_MESSAGE_BYTES)

    worker = WorkerProcess(config_path, tmp_path).start()
    workers.append(worker)
    worker.wait_ready()
    producer = KafkaProducer(bootstrap_servers=kafka)
    producer.send(f"{name}.posts.by_brand", dead_record,
                  partition=partition_for_key(b"skyway", config.kafka.topic_partitions))
    producer.flush()
    producer.close()
    produce(kafka, f"{name}.posts", raw[1:])  # three hours of posts, read by the worker's own ingest step

    def closed() -> float:
        return metric_total(worker.metrics(), "crisiswatch_buckets_closed_total", brand="skyway")

    # Closable: up to the last post's minute, less the allowed lateness and the bucket still open.
    wait_for(lambda: closed() >= 175, 60, "the buckets up to the newest watermark closed", state=closed)
    assert metric_total(worker.metrics(), "crisiswatch_posts_total", brand="skyway") == 180
