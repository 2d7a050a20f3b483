"""The per-brand monitor (shared by the worker and the backtest) and the backtest on the generated scenario."""

from __future__ import annotations

import json
import math

import orjson
import pytest

from alerts.incidents import IncidentTracker
from streams.backtest import load_labels, run_backtest, score_against_labels
from streams.config import load_config
from streams.generate import Scenario, write_scenario
from streams.monitor import BrandMonitor, MonitorParams
from streams.post import Post
from tests.conftest import REPO

T0 = 1_795_000_020.0 // 60 * 60


def post(i: int, t: float, text: str = "hello skyway", author: str | None = None, **kw) -> Post:
    return Post(id=f"p{i}", platform="twitter", text=text, created_at=t, author_id=author or f"a{i}",
                author_handle=f"h{i}", author_followers=100, **kw)


def monitor(state=None) -> BrandMonitor:
    return BrandMonitor("skyway", MonitorParams(bucket_seconds=60, allowed_lateness_seconds=60),
                        IncidentTracker(), ignore_terms=("skyway",), state=state)


def feed(m: BrandMonitor, posts: list[Post]) -> list:
    out = []
    for p in posts:
        out.extend(m.add_post(p, 0.1, False))
    return out


def test_buckets_close_after_the_lateness_and_count_their_posts():
    m = monitor()
    closed = feed(m, [post(i, T0 + i * 10) for i in range(30)])  # 5 minutes, 6 posts a minute
    assert [e.bucket_start - T0 for e in closed] == [0, 60, 120]  # the last one closable at T0+290-60
    assert all(e.posts == 6 for e in closed)
    assert all(0.0 <= e.volume.score <= 1.0 for e in closed)


def test_a_bucket_is_judged_without_posts_that_came_after_it():
    early = [post(i, T0 + i * 10) for i in range(12)]
    burst = [post(100 + i, T0 + 300 + i * 0.1, text="skyway lost my bag again today at the gate", author=f"b{i}")
             for i in range(200)]
    first = feed(monitor(), early + burst)
    second = feed(monitor(), [*early, post(99, T0 + 300)])
    # Whatever came after the watermark that closed bucket 0 did not change its evaluation.
    assert first[0].volume == second[0].volume
    assert first[0].top_stories == second[0].top_stories


def test_quiet_minutes_between_posts_are_real_zeros_but_a_long_silence_is_a_gap():
    m = monitor()
    closed = feed(m, [post(0, T0), post(1, T0 + 600)])
    assert [e.posts for e in closed] == [1] + [0] * 8
    m2 = BrandMonitor("skyway", MonitorParams(bucket_seconds=60, allowed_lateness_seconds=60, max_gap_buckets=5),
                      IncidentTracker())
    closed = feed(m2, [post(0, T0), post(1, T0 + 6 * 3600)])
    assert len(closed) == 1, "hours of silence are not scored as thousands of zero buckets"


def test_late_posts_join_stories_but_do_not_reopen_closed_buckets():
    m = monitor()
    feed(m, [post(0, T0), post(1, T0 + 300)])
    before = m.late_posts
    m.add_post(post(2, T0 + 5), 0.9, True)
    assert m.late_posts == before + 1
    assert m.stories.story_id_of("p2") is not None


def test_state_round_trips_through_json():
    posts = [post(i, T0 + i * 7, text=f"skyway flight {i % 5} delayed again") for i in range(400)]
    a = monitor()
    feed(a, posts[:200])
    b = monitor(json.loads(orjson.dumps(a.to_state())))
    rest_a, rest_b = feed(a, posts[200:]), feed(b, posts[200:])
    assert [(e.bucket_start, e.posts, e.volume.score, e.decision.severity) for e in rest_a] == \
           [(e.bucket_start, e.posts, e.volume.score, e.decision.severity) for e in rest_b]


def test_nan_free_snapshot_series_for_the_chart():
    m = monitor()
    feed(m, [post(i, T0 + i * 20) for i in range(60)])
    points = m.series_points()
    assert points and all(len(point) == 5 and all(math.isfinite(v) for v in point) for point in points)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    write_scenario(Scenario(seed=7, days=2.0, scale=0.6), out)
    return out


def test_backtest_finds_every_scripted_incident_in_time_and_pages_nobody_for_the_launch(scenario):
    config = load_config(REPO / "crisiswatch.yaml")
    from detectors.negativity import load_scorer

    lines = (scenario / "posts.jsonl").read_bytes().splitlines()
    result = run_backtest(iter(lines), config, load_scorer("default"), keep_evaluations=False)
    labels = load_labels(json.loads((scenario / "labels.json").read_text()))
    report = score_against_labels(result.events, labels, page_at="critical")
    by_kind = {s.label["kind"]: s for s in report.per_label}

    viral = by_kind["viral_complaint"]
    assert viral.detected_at is not None and viral.paged
    assert viral.delay_seconds <= 45 * 60, f"viral complaint found after {viral.delay_seconds / 60:.0f} min"
    assert by_kind["negative_drift"].detected_at is not None
    assert not by_kind["negative_drift"].paged
    launch = by_kind["product_launch"]
    assert launch.detected_at is None and not launch.paged
    assert report.false_pages == []
    assert len(report.false_alarms) <= 1
    # One crisis is one incident: the viral complaint opened exactly one incident.
    opened = {e["incident_id"] for e in result.events if e["brand"] == "skyway" and e["kind"] == "open"}
    assert len(opened) == 1
    assert any(e["kind"] == "resolve" and e["incident_id"] in opened for e in result.events)


def test_a_first_post_decades_old_does_not_break_the_detectors():
    """A valid post dated 1970, then today's: the volume detector used to infer a bucket of 56 years from
    the gap, learn a burst rate of 0 and raise on the next bucket (log of 0)."""
    m = monitor()
    feed(m, [post(0, 0.0)])
    evaluations = feed(m, [post(i, T0 + 60 * i) for i in range(1, 20)])
    assert evaluations and all(math.isfinite(e.volume.expected) for e in evaluations)
    assert m.volume.bucket == 60
    json.dumps(m.to_state())


def test_an_alert_quotes_the_posts_driving_the_story_however_many_posts_came_since():
    # The root of a viral complaint, then thousands of unrelated one-off posts, then its reshares:
    # the alert still quotes the root with its author and link (the quote travels with the story).
    m = BrandMonitor("skyway", MonitorParams(bucket_seconds=60, allowed_lateness_seconds=60),
                     IncidentTracker(), ignore_terms=("skyway",))
    root = Post(id="root", platform="twitter", text="skyway lost my bag and nobody answers", created_at=T0,
                author_id="a-root", author_handle="@angry_flyer", author_followers=5000,
                url="https://social.example/p/root", reshares=900)
    m.add_post(root, 0.9, True)
    noise = [post(i, T0 + 1 + i * 0.05, text=f"skyway thing number {i} " * 2) for i in range(3000)]
    feed(m, noise)
    reshares = [post(10_000 + i, T0 + 200 + i * 0.5, text="RT skyway lost my bag", author=f"r{i}", reshare_of="root")
                for i in range(600)]
    evaluations = [e for p in reshares for e in m.add_post(p, 0.9, True)]
    quoted = [event["figures"]["top_posts"] for e in evaluations for event in e.events
              if event["figures"].get("story_id") == "root"]
    assert quoted, "the viral reshares opened an incident about the story"
    first = quoted[-1][0]
    assert (first["text"], first["author_handle"], first["url"]) == (root.text, "@angry_flyer", root.url)


def test_state_from_before_quotes_travelled_with_stories_still_loads():
    m = monitor()
    feed(m, [post(i, T0 + i * 7, text="skyway flight delayed again at the gate", reshare_of="p0" if i else None)
             for i in range(50)])
    state = json.loads(orjson.dumps(m.to_state()))
    for story in state["stories"]["stories"]:
        story["top_posts"] = [top[:4] for top in story["top_posts"]]  # [post id, author id, reshares, followers]
    state["quotable"] = {"p0": ["old text", "@h", None]}
    restored = monitor(state)
    top = restored.stories.snapshot("p0", T0 + 400).top_posts[0]
    assert (top.post_id, top.author_handle, top.text) == ("p0", "", "skyway flight delayed again at the gate")


def test_backtest_scoring_pages_a_brand_from_its_own_level():
    events = [{"kind": "open", "brand": brand, "severity": "warning", "time": T0 + 60, "incident_id": brand}
              for brand in ("flagship", "skyway")]
    labels = [{"brand": "flagship", "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T23:00:00Z"}]
    report = score_against_labels(events, labels, page_at="critical", page_at_by_brand={"flagship": "warning"})
    assert [p["brand"] for p in report.false_pages] == ["flagship"]  # paged, outside its labelled window
    assert score_against_labels(events, labels, page_at="critical").false_pages == []


def test_a_brand_volume_is_a_count_series_whatever_it_is_fed():
    # The detector alone would read a negative value in its warm-up as "this is a measurement series"
    # and start afresh; the monitor feeds post counts, says so, and a bad count stays bad input.
    m = monitor()
    assert m.volume.value_type == "counts"
    m.volume.update(T0, -3.0)
    assert not m.volume.measurements
