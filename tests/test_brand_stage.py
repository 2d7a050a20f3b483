"""The per-brand stage without Kafka: counts table rows, and a failing monitor costs one post, not the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace

import orjson
import pytest
from prometheus_client import REGISTRY, generate_latest

from streams import brand_stage as brand_stage_module
from streams.backtest import tracker_from
from streams.brand_stage import LIVE, BrandStage, unpack_state
from streams.config import load_config
from streams.localstack import REPO

T0 = 1_795_000_020.0 // 60 * 60


class Table:
    def __init__(self) -> None:
        self.data: dict = {}
        self.changelog: list = []

    def send_changelog(self, partition: int, key: str, value: object) -> None:
        self.changelog.append((partition, key, value))


def event(i: int, brand: str, platform: str = "twitter", t: float = T0, source: str = "w") -> SimpleNamespace:
    message = {"id": f"p{i}", "platform": platform, "text": "hello", "created_at": "x", "created_at_s": t + i,
               "author": {"id": "a", "handle": "h", "followers": 1}, "brand": brand, "negativity": 0.1,
               "complaint": False, "wm": t + i, "src": source}
    return SimpleNamespace(value=orjson.dumps(message), message=SimpleNamespace(topic="t", partition=0, offset=i))


def stage(clock: Callable[[], float] = time.time) -> tuple[BrandStage, Table]:
    config = load_config(REPO / "crisiswatch.yaml")
    counts = Table()
    return BrandStage(config, counts, Table(), tracker_from(config), clock), counts


async def acknowledged(brand: str, event: dict) -> asyncio.Future:
    """A ``send`` whose record the broker has acknowledged at once."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def handle(brand_stage: BrandStage, events: list) -> list:
    return asyncio.run(brand_stage.handle(events, acknowledged))


def test_platforms_are_folded_like_the_metrics_so_total_stays_the_total():
    """A platform named "total" used to add to the brand's total a second time."""
    brand_stage, counts = stage()
    brand_stage.process([event(0, "skyway", "total"), event(1, "skyway", "twitter"), event(2, "skyway", "myspace")])
    [row] = counts.data.values()
    assert row == {"total": 3, "other": 2, "twitter": 1}


def test_a_monitor_that_raises_dead_letters_its_post_and_the_other_brands_go_on(monkeypatch):
    brand_stage, counts = stage()
    broken = brand_stage.monitor("brewbox")

    def fail(*args, **kwargs):
        raise ZeroDivisionError("a detector bug")

    monkeypatch.setattr(broken, "add_post", fail)
    monkeypatch.setattr(broken, "advance", fail)
    events = [event(0, "skyway"), event(1, "brewbox"), event(2, "skyway")]
    _, failed = brand_stage.process(events)
    assert [(f.event.message.offset, f.reason) for f in failed] == [(1, "ZeroDivisionError('a detector bug')")]
    assert orjson.loads(failed[0].raw)["brand"] == "brewbox"  # the post itself goes to the DLQ
    assert {key.split("|")[0]: row["total"] for key, row in counts.data.items()} == {"skyway": 2}


def test_a_batch_message_carries_many_posts_and_a_broken_one_fails_alone():
    """``posts.by_brand`` records are JSON arrays of posts (see streams/posts_reader.py)."""
    brand_stage, counts = stage()
    posts = [orjson.loads(event(i, "skyway" if i % 2 else "brewbox").value) for i in range(6)]
    del posts[3]["author"]  # a bug upstream: only this post fails
    batch = SimpleNamespace(value=orjson.dumps(posts), message=SimpleNamespace(topic="t", partition=0, offset=0))
    _, failed = brand_stage.process([batch])
    assert [orjson.loads(f.raw)["id"] for f in failed] == ["p3"]
    assert {key.split("|")[0]: row["total"] for key, row in counts.data.items()} == {"skyway": 2, "brewbox": 3}


def test_a_state_that_cannot_be_saved_costs_that_save_not_the_batch(monkeypatch):
    brand_stage, counts = stage()
    broken = brand_stage.monitor("brewbox")
    monkeypatch.setattr(broken, "to_state", lambda: {"reach": 1 << 70})  # orjson refuses ints past 64 bits
    events = [event(i, "skyway" if i % 2 else "brewbox", t=T0 + 50 * i) for i in range(10)]
    failed = handle(brand_stage, events)
    assert failed == []
    assert {key.split("|")[0] for key in counts.data} == {"skyway", "brewbox"}
    saved = {key for _, key, _ in brand_stage.monitor_states.changelog}
    assert "skyway" in saved and "brewbox" not in saved  # tried again with the next batch
    monkeypatch.undo()
    handle(brand_stage, [event(20, "brewbox", t=T0 + 1000)])
    assert "brewbox" in {key for _, key, _ in brand_stage.monitor_states.changelog}


def test_a_live_monitors_state_is_held_once_and_put_back_into_the_table_on_a_rebalance():
    brand_stage, _ = stage()
    states = brand_stage.monitor_states
    handle(brand_stage, [event(i, "skyway", t=T0 + 20 * i) for i in range(30)])
    [packed] = [value for _, key, value in states.changelog if key == "skyway"][-1:]
    assert states.data["skyway"] == LIVE, "the packed state goes to the changelog, not into memory too"
    live = brand_stage.monitor("skyway").to_state()
    assert unpack_state(packed)["stories"] == live["stories"]

    brand_stage.forget()  # partitions revoked
    assert unpack_state(states.data["skyway"]) == orjson.loads(orjson.dumps(live))
    rebuilt = brand_stage.monitor("skyway")  # the partition stayed: rebuilt from the table's memory
    assert orjson.loads(orjson.dumps(rebuilt.to_state())) == orjson.loads(orjson.dumps(live))
    assert states.data["skyway"] == LIVE


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_post_after_its_bucket_closed_is_counted_as_late_on_the_metrics():
    """The monitor counts late posts; the stage exports them (this counter was once never incremented)."""
    brand_stage, counts = stage()
    before = _sample("crisiswatch_late_posts_total", brand="skyway")
    on_time = [event(0, "skyway", t=T0), event(1, "skyway", t=T0 + 600)]  # the second closes T0's bucket
    brand_stage.process(on_time)
    assert _sample("crisiswatch_late_posts_total", brand="skyway") == before
    brand_stage.process([event(2, "skyway", t=T0 - 2)])  # lands in T0's bucket, closed ten minutes ago
    brand_stage.process([event(3, "skyway", t=T0 + 601)])  # exported once, not again with the next batch
    assert _sample("crisiswatch_late_posts_total", brand="skyway") == before + 1
    assert sum(row["total"] for row in counts.data.values()) == 4  # the table still counts it


def test_every_configured_brand_has_its_event_counters_at_zero_before_any_event():
    """``increase()`` loses a counter's first event if its series is born at 1 (see streams/metrics.py)."""
    brand_stage, _ = stage()
    exposed = generate_latest(REGISTRY).decode()
    for brand in brand_stage.known:
        for name, labels in (("crisiswatch_incident_events_total", f'brand="{brand}",kind="open"'),
                             ("crisiswatch_detector_alerts_total", f'brand="{brand}",detector="story"'),
                             ("crisiswatch_complaint_posts_total", f'brand="{brand}"'),
                             ("crisiswatch_late_posts_total", f'brand="{brand}"')):
            assert f"{name}{{{labels}}}" in exposed, (name, labels)
    assert 'crisiswatch_dlq_posts_total{reason="not_json"}' in exposed


def test_a_batchs_incident_events_are_acknowledged_before_the_state_after_them_is_saved(monkeypatch):
    """The other order could save a state whose events never reach the outbox: after a crash they are never
    decided again (the restored monitor has them behind it), and the incident never opens or resolves."""
    brand_stage, _ = stage()
    states = brand_stage.monitor_states
    incident = {"kind": "open", "incident_id": "skyway-1"}
    process = brand_stage.process
    monkeypatch.setattr(brand_stage, "process", lambda events: (process(events)[0] + [("skyway", incident)], []))

    async def batch(outcome: BaseException | None) -> list:
        sent, acknowledgement = [], asyncio.get_running_loop().create_future()

        async def send(brand: str, event: dict) -> asyncio.Future:
            sent.append((brand, event))
            return acknowledgement

        handling = asyncio.create_task(brand_stage.handle([event(len(states.changelog), "skyway")], send))
        await asyncio.sleep(0.05)
        assert sent == [("skyway", incident)] and not handling.done()
        saved_before = len(states.changelog)
        if outcome is None:
            acknowledgement.set_result(None)
        else:
            acknowledgement.set_exception(outcome)
        await handling
        return [saved_before, [key for _, key, _ in states.changelog]]

    assert asyncio.run(batch(None)) == [0, ["skyway"]]
    with pytest.raises(ConnectionError):  # the broker refused it: the agent fails, nothing is saved
        asyncio.run(batch(ConnectionError("broker gone")))
    assert [key for _, key, _ in states.changelog] == ["skyway"]


@pytest.mark.parametrize("quiet_seconds", [60, 3600])
def test_a_tick_closes_buckets_once_a_stopped_workers_stamps_expire_with_no_post_arriving(quiet_seconds):
    """A worker restarted after a kill re-reads the dead ingest worker's last stamps; they hold the watermark
    back for ``worker.source_timeout_seconds``. With the stream quiet after that, only a tick closes the buckets
    (the kill test on the real broker once waited 240 s for an incident that never resolved)."""
    now = [1_000_000.0]
    brand_stage, _ = stage(clock=lambda: now[0])
    dead = event(0, "skyway", t=T0, source="dead-worker")
    alive = [event(i, "skyway", t=T0 + 60 * i, source="new-worker") for i in range(1, 31)]
    brand_stage.process([dead])  # re-read first: it sits before the restarted worker's posts in the partition
    now[0] += 1
    brand_stage.process(alive)
    monitor = brand_stage.monitor("skyway")
    held_at = monitor.next_bucket
    assert held_at is not None and held_at <= T0 + 60, "the dead worker's stamp holds time back"
    assert brand_stage.advance() == [] and monitor.next_bucket == held_at, "within its ttl it still does"

    now[0] += quiet_seconds  # the dead worker's stamps expire (and with 3600, everybody's); no post arrives
    asyncio.run(brand_stage.tick(acknowledged))
    assert monitor.next_bucket >= T0 + 25 * 60
    assert sum(1 for _, key, _ in brand_stage.monitor_states.changelog if key == "skyway") >= 1


def test_a_monitor_is_saved_again_only_once_it_changed(monkeypatch):
    """Ticks run every few seconds on an idle worker: unchanged states are not written to the changelog again."""
    monkeypatch.setattr(brand_stage_module, "STATE_FLUSH_SECONDS", 0.0)
    now = [1_000_000.0]
    brand_stage, _ = stage(clock=lambda: now[0])
    changelog = brand_stage.monitor_states.changelog
    handle(brand_stage, [event(0, "skyway", t=T0)])
    assert [key for _, key, _ in changelog] == ["skyway"]
    for _ in range(3):
        now[0] += 5
        asyncio.run(brand_stage.tick(acknowledged))
    assert len(changelog) == 1
    handle(brand_stage, [event(1, "skyway", t=T0 + 300)])
    assert len(changelog) == 2


def test_each_detector_that_fired_in_a_closed_bucket_is_counted_under_its_name():
    brand_stage, _ = stage()
    closed = SimpleNamespace(
        brand="skyway", posts=3, live_stories=1, top_stories=[], open_incidents=1, events=[],
        volume=SimpleNamespace(expected=1.0, lower=0.0, upper=2.0, score=0.9, alert=True),
        shift=SimpleNamespace(current_share=0.1, baseline_share=0.1, score=0.1, alert=False),
        decision=SimpleNamespace(signals=["viral_story"], severity="warning"))
    detectors = ("volume", "shift", "story")
    before = [_sample("crisiswatch_detector_alerts_total", brand="skyway", detector=d) for d in detectors]
    brand_stage._export(closed)
    after = [_sample("crisiswatch_detector_alerts_total", brand="skyway", detector=d) for d in detectors]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 0, 1]
