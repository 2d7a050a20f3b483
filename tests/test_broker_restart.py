"""The broker stops mid-stream and comes back on the same data directory: the worker resumes by itself, nothing is lost.

The test has its own broker (the session's shared one must not go away under other tests). A
``crisiswatch replay`` is sending posts at a steady pace and the worker is counting them when the
broker is stopped with SIGTERM; it is started again on the same ports and data directory. Neither
the worker nor the replay is restarted or told anything: the replay's producer keeps its records
until the broker is back, the worker's consumer reconnects and goes on from its committed offsets.

Delivery is at least once, so the posts whose offsets were read but not yet committed when the
broker stopped may be counted twice; the test measures that and bounds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.app import INGEST_BATCH
from streams.config import load_config
from streams.localstack import REPO, LocalBroker, WorkerProcess, running_broker, write_config
from tests.conftest import unique_name
from tests.kafka_helpers import (
    counts_page_view,
    expected_counts,
    flat_counts_page,
    make_posts,
    posts_by_brand_platform,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.kafka

POSTS = 6000
#: make_posts spaces posts 0.2 s apart, so 50x sends 250 posts/s: the replay lasts about 24 s.
SPEED = "50x"
#: At least once: what was read but not yet committed when the broker stopped may come again, should the
#: group rebalance on its return. Faust commits every second, so that is at most the batch in flight.
MAX_DUPLICATES = INGEST_BATCH


def test_worker_resumes_after_a_broker_restart_and_counts_every_post(tmp_path):
    with running_broker(tmp_path / "kafka") as broker:
        name = unique_name("restart")
        config = write_config(tmp_path / "crisiswatch.yaml", broker.bootstrap, app_id=name, topic_prefix=f"{name}.")
        posts = make_posts(POSTS, seed=81)
        expected = expected_counts(posts)
        jsonl = tmp_path / "posts.jsonl"
        jsonl.write_bytes(b"\n".join(p.raw for p in posts) + b"\n")

        worker = WorkerProcess(config, tmp_path).start()
        try:
            worker.wait_ready()
            _replay_across_a_restart(broker, worker, config, jsonl, expected, tmp_path)
            # Stopped while its broker is still there, so that it can leave the group cleanly.
            assert worker.stop() == 0, worker.log_tail()
        finally:
            worker.kill()


def _replay_across_a_restart(broker: LocalBroker, worker: WorkerProcess, config: Path, jsonl: Path,
                             expected: Counter, tmp_path: Path) -> None:
    def counted() -> Counter:
        return posts_by_brand_platform([worker.metrics()])

    def log_lines() -> int:
        return len(worker.log_path.read_bytes().splitlines())

    replay_log = tmp_path / "replay.log"
    with open(replay_log, "wb") as log:
        replay = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "replay", str(jsonl), "--config", str(config),
             "--speed", SPEED, "--quiet"],
            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Mid-stream: the worker has counted a quarter of the posts and the replay is still sending.
        wait_for(lambda: sum(counted().values()) >= POSTS // 4, 90, "a quarter of the posts counted", interval=0.2)
        before_stop, lines_before = sum(counted().values()), log_lines()
        assert replay.poll() is None, "the replay finished before the broker was stopped"

        down_at = time.monotonic()
        stop_s = broker.stop()
        start_s = broker.start()
        up_at = time.monotonic()
        lines_outage = log_lines() - lines_before
        after_restart = sum(counted().values())

        wait_for(lambda: sum(counted().values()) > after_restart, 90,
                 "the worker to count new posts after the restart", interval=0.2)
        resumed_s = time.monotonic() - up_at
        replay_rc = replay.wait(timeout=120)
        replay_done_s = time.monotonic() - up_at
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait()
    replay_out = replay_log.read_text(errors="replace")
    assert replay_rc == 0, replay_out[-3000:]
    assert f"sent {POSTS:,} records" in replay_out and "; 0 failed" in replay_out, replay_out[-3000:]

    wait_for(lambda: not (expected - counted()), 120, "every post counted after the restart",
             state=lambda: f"missing {sum((expected - counted()).values())} of {sum(expected.values())}")
    caught_up_s = time.monotonic() - up_at
    page_expected = counts_page_view(expected)
    wait_for(lambda: not (page_expected - flat_counts_page(worker.counts())), 60,
             "every post in the per-brand counts table (/counts/)")
    time.sleep(3)  # let a re-read still in flight show before duplicates are measured
    final, page = counted(), flat_counts_page(worker.counts())
    duplicates = sum((final - expected).values())
    page_duplicates = sum(n for (_, key), n in (page - page_expected).items() if key == "total")

    on_topic = Counter(orjson.loads(r.value)["id"] for r in read_topic(broker.bootstrap, worker_topic(config)))
    print(f"\nbroker restart: stop {stop_s:.1f} s + start {start_s:.1f} s = outage {up_at - down_at:.1f} s "
          f"(worker wrote {lines_outage} log lines meanwhile); worker had counted {before_stop} before the stop, "
          f"counted again {resumed_s:.1f} s after the broker was back; replay finished {replay_done_s:.1f} s after, "
          f"all counted {caught_up_s:.1f} s after. Posts {POSTS}, records on topic {sum(on_topic.values())} "
          f"({len(on_topic)} distinct); worker metrics {sum(final.values())} brand-posts for "
          f"{sum(expected.values())} expected ({duplicates} duplicates); /counts/ duplicates {page_duplicates}")

    assert worker.proc.poll() is None, "the worker did not survive the broker restart:\n" + worker.log_tail()
    # The client's retry errors collapse to one line per kind and interval (17,000 lines before).
    assert lines_outage < 500, worker.log_tail()
    assert len(on_topic) == POSTS and sum(on_topic.values()) == POSTS, "a post is missing or twice on the topic"
    assert not (expected - final)
    assert duplicates <= MAX_DUPLICATES, f"{duplicates} posts counted twice"
    assert not (final - expected - expected), "no post may be counted more than twice"
    assert not (page_expected - page) and 0 <= page_duplicates <= MAX_DUPLICATES, page


def worker_topic(config: Path) -> str:
    """The posts topic the config names."""
    return load_config(config, env={}).kafka.topic("posts")
