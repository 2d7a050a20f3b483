"""The per-brand stage without Kafka: counts table rows, and a failing monitor costs one post, not the agent."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
from prometheus_client import REGISTRY, generate_latest

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


def event(i: int, brand: str, platform: str = "twitter", t: float = T0) -> SimpleNamespace:
    message = {"id": f"p{i}", "platform": platform, "text": "hello", "created_at": "x", "created_at_s": t + i,
               "author": {"id": "a", "handle": "h", "followers": 1}, "brand": brand, "negativity": 0.1,
               "complaint": False, "wm": t + i, "src": "w"}
    return SimpleNamespace(value=orjson.dumps(message), message=SimpleNamespace(topic="t", partition=0, offset=i))


def stage() -> tuple[BrandStage, Table]:
    config = load_config(REPO / "crisiswatch.yaml")
    counts = Table()
    return BrandStage(config, counts, Table(), tracker_from(config)), counts


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
    _, failed = brand_stage.process(events)
    assert failed == []
    assert {key.split("|")[0] for key in counts.data} == {"skyway", "brewbox"}
    saved = {key for _, key, _ in brand_stage.monitor_states.changelog}
    assert "skyway" in saved and "brewbox" not in saved  # tried again with the next batch
    monkeypatch.undo()
    brand_stage.process([event(20, "brewbox", t=T0 + 1000)])
    assert "brewbox" in {key for _, key, _ in brand_stage.monitor_states.changelog}


def test_a_live_monitors_state_is_held_once_and_put_back_into_the_table_on_a_rebalance():
    brand_stage, _ = stage()
    states = brand_stage.monitor_states
    brand_stage.process([event(i, "skyway", t=T0 + 20 * i) for i in range(30)])
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
