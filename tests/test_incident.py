"""The incident decision on crafted detector outputs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from detectors.incident import IncidentThresholds, Severity, decide
from detectors.stories import StoryTracker
from streams.post import Post


@dataclass(frozen=True)
class Volume:
    score: float
    observed: float
    expected: float
    alert: bool


@dataclass(frozen=True)
class VolumeWithCount:  # the shape of detectors.volume.VolumeResult: ``count`` rather than ``observed``
    score: float
    count: float
    expected: float
    alert: bool


@dataclass(frozen=True)
class Shift:
    score: float
    share: float
    baseline_share: float
    alert: bool


@dataclass(frozen=True)
class Story:
    velocity: float
    acceleration: float
    doubling_time_seconds: float
    negative_share: float
    posts: int
    unique_authors: int
    reach: int


CALM_VOLUME = Volume(score=0.1, observed=80, expected=75, alert=False)
CALM_SHIFT = Shift(score=0.05, share=0.16, baseline_share=0.15, alert=False)
SMALL_STORY = Story(velocity=0.2, acceleration=0.0, doubling_time_seconds=math.inf, negative_share=0.5,
                    posts=3, unique_authors=3, reach=300)


def viral_story(authors: int, doubling_minutes: float, velocity: float, negative_share: float = 0.84) -> Story:
    return Story(velocity=velocity, acceleration=velocity / 2, doubling_time_seconds=doubling_minutes * 60,
                 negative_share=negative_share, posts=int(authors * 1.3), unique_authors=authors,
                 reach=authors * 2_000)


def test_nothing_is_none():
    assert decide(None, None, None).severity is Severity.NONE
    decision = decide(CALM_VOLUME, CALM_SHIFT, SMALL_STORY)
    assert decision.severity is Severity.NONE
    assert decision.signals == ()
    assert decision.reason == "no signal"
    assert not decision.is_incident


def test_a_benign_positive_spike_is_at_most_watch():
    spike = Volume(score=0.97, observed=2_400, expected=80, alert=True)  # 30x: a product launch
    happy = Shift(score=0.0, share=0.08, baseline_share=0.15, alert=False)
    happy_story = viral_story(authors=900, doubling_minutes=3, velocity=60, negative_share=0.05)
    decision = decide(spike, happy, happy_story)
    assert decision.severity is Severity.WATCH
    assert decision.signals == ("volume_spike",)
    assert "30.0x expected" in decision.reason and "only 8% negative" in decision.reason
    assert not decision.is_incident


def test_a_viral_complaint_escalates_as_it_grows():
    quiet_shift = Shift(score=0.3, share=0.3, baseline_share=0.15, alert=False)
    stages = [
        (viral_story(authors=12, doubling_minutes=30, velocity=0.8), Severity.WATCH),
        (viral_story(authors=60, doubling_minutes=15, velocity=4), Severity.WARNING),
        (viral_story(authors=312, doubling_minutes=6, velocity=35), Severity.CRITICAL),
    ]
    for story, expected in stages:
        decision = decide(CALM_VOLUME, quiet_shift, story)
        assert decision.severity is expected, (story, decision)
        assert decision.signals == ("viral_story",)
    decision = decide(CALM_VOLUME, quiet_shift, stages[-1][0])
    assert decision.reason.startswith("story doubling every 6 min, 84% negative, 312 authors")
    assert decision.is_incident


def test_a_viral_complaint_with_a_negative_volume_spike_is_critical():
    spike = Volume(score=0.9, observed=420, expected=81, alert=True)
    angry = Shift(score=0.9, share=0.61, baseline_share=0.15, alert=True)
    decision = decide(spike, angry, viral_story(authors=312, doubling_minutes=6, velocity=35))
    assert decision.severity is Severity.CRITICAL
    assert decision.signals[0] == "viral_story"
    assert set(decision.signals) == {"viral_story", "negative_volume", "negative_shift"}
    assert "volume 5.2x expected (420 vs 81), 61% negative" in decision.reason


def test_a_negative_spike_alone_is_a_warning_then_critical_when_large():
    angry = Shift(score=0.9, share=0.7, baseline_share=0.15, alert=True)
    moderate = decide(Volume(score=0.8, observed=200, expected=80, alert=True), angry, None)
    huge = decide(Volume(score=0.99, observed=800, expected=80, alert=True), angry, None)
    assert moderate.severity is Severity.WARNING
    assert huge.severity is Severity.CRITICAL
    assert huge.signals == ("negative_volume", "negative_shift")


def test_a_warning_story_and_a_negative_spike_agree_into_critical():
    spike = Volume(score=0.8, observed=200, expected=80, alert=True)  # 2.5x: a warning on its own
    angry = Shift(score=0.5, share=0.65, baseline_share=0.6, alert=False)
    story = viral_story(authors=60, doubling_minutes=15, velocity=4)  # a warning on its own
    assert decide(spike, angry, None).severity is Severity.WARNING
    assert decide(CALM_VOLUME, angry, story).severity is Severity.WARNING
    together = decide(spike, angry, story)
    assert together.severity is Severity.CRITICAL
    assert together.signals[0] == "agreement"
    no_escalation = IncidentThresholds(escalate_on_agreement=False)
    assert decide(spike, angry, story, no_escalation).severity is Severity.WARNING


def test_a_slow_negative_drift_is_watch_or_warning_never_critical():
    small_drift = Shift(score=0.7, share=0.27, baseline_share=0.15, alert=True)
    large_drift = Shift(score=1.0, share=0.95, baseline_share=0.15, alert=True)
    assert decide(CALM_VOLUME, small_drift, SMALL_STORY).severity is Severity.WATCH
    decision = decide(CALM_VOLUME, large_drift, SMALL_STORY)
    assert decision.severity is Severity.WARNING
    assert decision.signals == ("negative_shift",)
    assert decision.reason == "negative share 95% vs 15% usual"


def test_a_spike_without_any_negativity_figure_is_only_watch():
    decision = decide(Volume(score=0.99, observed=900, expected=50, alert=True), None, None)
    assert decision.severity is Severity.WATCH
    assert "negativity unknown" in decision.reason


def test_the_story_share_stands_in_when_there_is_no_shift_result():
    spike = Volume(score=0.9, observed=420, expected=81, alert=True)
    negative_story = viral_story(authors=5, doubling_minutes=60, velocity=0.5, negative_share=0.9)
    assert decide(spike, None, negative_story).severity is Severity.CRITICAL  # 5.2x and 90% negative


def test_volume_results_with_count_instead_of_observed_plug_in():
    spike = VolumeWithCount(score=0.9, count=420, expected=81, alert=True)
    angry = Shift(score=0.9, share=0.7, baseline_share=0.15, alert=True)
    decision = decide(spike, angry, None)
    assert decision.severity is Severity.CRITICAL
    assert "(420 vs 81)" in decision.reason


def test_dead_or_not_negative_stories_do_not_fire():
    dead = Story(velocity=0.0, acceleration=-3.0, doubling_time_seconds=math.inf, negative_share=0.95,
                 posts=5_000, unique_authors=4_000, reach=10**7)
    assert decide(None, None, dead).severity is Severity.NONE
    steady = viral_story(authors=500, doubling_minutes=math.inf, velocity=25)
    assert decide(None, None, steady).severity is Severity.CRITICAL  # 25 posts/min, not growing
    assert "story at 25.0 posts/min" in decide(None, None, steady).reason


def test_nan_inputs_never_fire():
    nan = float("nan")
    assert decide(Volume(nan, nan, nan, False), Shift(nan, nan, nan, False),
                  Story(nan, nan, nan, nan, 0, 0, 0)).severity is Severity.NONE


def test_per_brand_thresholds_change_the_decision():
    story = viral_story(authors=60, doubling_minutes=15, velocity=4)
    strict = IncidentThresholds.from_config({"story_authors": [5, 20, 50], "story_velocity": [0.5, 1, 3],
                                             "story_doubling_seconds": [7200, 3600, 1800]})
    assert strict.story_authors == (5, 20, 50)
    assert decide(None, None, story).severity is Severity.WARNING
    assert decide(None, None, story, strict).severity is Severity.CRITICAL


def test_decision_on_a_tracked_viral_complaint():
    """End to end: a complaint retweeted faster and faster, read through StoryTracker.top_stories."""
    tracker = StoryTracker(window_seconds=300)
    t0 = 1_700_001_000.0
    n = 0
    for minute in range(30):
        per_minute = int(2 * 1.25 ** minute)  # doubling about every 3 minutes
        for j in range(per_minute):
            t = t0 + minute * 60 + j * 60 / per_minute
            post = Post(id=f"p{n}", platform="x", text="@SkywayAir lost my bag AGAIN" if n == 0 else "RT",
                        created_at=t, author_id=f"a{n}", author_handle=f"a{n}", author_followers=150,
                        reshare_of="p0" if n else None)
            tracker.update(post, 0.9)
            n += 1
    fastest = tracker.top_stories(tracker.clock, k=1)[0]
    decision = decide(CALM_VOLUME, None, fastest)
    assert fastest.unique_authors > 200
    assert decision.severity is Severity.CRITICAL
    assert decision.reason.startswith("story doubling every 3 min")


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"negative_share": 1.5}, "negative_share"),
    ({"volume_score": float("nan")}, "volume_score"),
    ({"critical_volume_ratio": 0.5}, "critical_volume_ratio"),
    ({"story_authors": (50, 10, 200)}, "story_authors"),
    ({"story_velocity": (1.0, 5.0)}, "story_velocity"),
    ({"story_doubling_seconds": (600, 1200, 3600)}, "story_doubling_seconds"),
    ({"story_doubling_seconds": "600"}, "story_doubling_seconds"),
    ({"escalate_on_agreement": "yes"}, "escalate_on_agreement"),
])
def test_invalid_thresholds_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        IncidentThresholds(**kwargs)


def test_unknown_config_keys_are_rejected():
    with pytest.raises(ValueError, match="story_autors"):
        IncidentThresholds.from_config({"story_autors": [1, 2, 3]})
    assert IncidentThresholds.from_config(None) == IncidentThresholds()


def test_severity_names():
    assert Severity.parse(" Critical ") is Severity.CRITICAL
    assert str(Severity.WARNING) == "warning"
    assert Severity.WATCH < Severity.WARNING
    with pytest.raises(ValueError, match="watch, warning"):
        Severity.parse("panic")


def test_a_fast_doubling_of_a_barely_moving_story_is_at_most_watch():
    # 1 post, then 2: "doubling every 2 minutes" with many authors over a long life, but 0.4 posts/min.
    crawling = viral_story(authors=80, doubling_minutes=2, velocity=0.4)
    assert decide(CALM_VOLUME, None, crawling).severity is Severity.WATCH
    moving = viral_story(authors=80, doubling_minutes=2, velocity=1.5)
    assert decide(CALM_VOLUME, None, moving).severity is Severity.WARNING
