"""The incident lifecycle: open, material updates only, resolve after calm, cooldown, deterministic ids."""

from __future__ import annotations

import itertools
import json

import pytest

from alerts.incidents import Decision, IncidentTracker, Snapshot, incident_id
from tests.fakes.scenario import T0, crisis_events, snapshot


def run(tracker: IncidentTracker, plan: list[tuple[float, str, float, str | None]], brand: str = "skyway",
        state: dict | None = None) -> tuple[dict, list[dict]]:
    """Feed ``(minute, severity, posts_per_minute, story_id)`` evaluations; return final state and all events."""
    events: list[dict] = []
    for minute, severity, ppm, story in plan:
        t = T0 + 60 * minute
        state, new = tracker.observe(state, brand, t, Decision(severity, "why"), snapshot(ppm, story_id=story, t=t))
        events.extend(new)
    return state or {}, events


def test_a_crisis_opens_updates_on_material_changes_and_resolves():
    events = crisis_events()
    assert [(e["kind"], e["changes"], e["severity"]) for e in events] == [
        ("open", ["opened"], "warning"),
        ("update", ["escalated"], "critical"),
        ("update", ["growth"], "critical"),
        ("resolve", ["resolved"], "critical"),
    ]
    assert len({e["incident_id"] for e in events}) == 1
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    assert events[1]["previous_severity"] == "warning"
    resolve = events[-1]
    assert resolve["time"] - resolve["calm_since"] >= 600
    assert resolve["peak_severity"] == "critical" and resolve["peak_posts_per_minute"] == 400.0
    # the resolve event still shows what the incident looked like, for the edited message
    assert resolve["figures"]["top_posts"][0]["author_handle"] == "@angry_flyer"


def test_events_are_json_serialisable_with_the_figures_and_series():
    event = crisis_events()[0]
    assert json.loads(json.dumps(event)) == event
    assert event["brand"] == "skyway" and event["story_id"] == "story-1"
    figures = event["figures"]
    assert figures["posts_per_minute"] == 100.0 and figures["expected_per_minute"] == 15.0
    assert figures["reach"] == 1_250_000 and figures["negative_share"] == 0.64
    assert len(figures["top_posts"]) == 3 and figures["top_posts"][0]["reshares"] == 812
    assert len(event["series"]) == 30 and len(event["series"][0]) == 5


def test_steady_evaluations_do_not_emit_an_update_every_minute():
    tracker = IncidentTracker(growth_ratio=1.5, min_update_interval_seconds=300)
    _, events = run(tracker, [(m, "warning", 100.0 + m, "s") for m in range(30)])
    assert [e["kind"] for e in events] == ["open"]


def test_growth_is_reported_at_most_every_min_update_interval():
    tracker = IncidentTracker(growth_ratio=1.5, min_update_interval_seconds=300)
    # volume doubles every minute, but growth updates come at most every 5 minutes
    _, events = run(tracker, [(m, "warning", 10.0 * 2**m, "s") for m in range(12)])
    assert [e["kind"] for e in events] == ["open", "update", "update"]
    times = [e["time"] for e in events]
    assert all(b - a >= 300 for a, b in itertools.pairwise(times))


def test_escalation_is_immediate_and_deescalation_waits():
    tracker = IncidentTracker(min_update_interval_seconds=300)
    plan = [(0, "warning", 50, "s"), (1, "critical", 50, "s"), (2, "warning", 50, "s"), (3, "warning", 50, "s"),
            (6, "warning", 50, "s")]
    _, events = run(tracker, plan)
    assert [(e["time"] - T0) / 60 for e in events] == [0, 1, 6]
    assert [e["severity"] for e in events] == ["warning", "critical", "warning"]
    assert events[2]["changes"] == ["deescalated"]


def test_watch_does_not_open_but_keeps_an_open_incident_alive():
    tracker = IncidentTracker(open_at="warning", resolve_after_seconds=600)
    _, events = run(tracker, [(m, "watch", 50, "s") for m in range(5)])
    assert events == []
    plan = [(0, "warning", 50, "s")] + [(m, "watch", 50, "s") for m in range(1, 20)] + [(30, "none", 10, None)]
    _, events = run(tracker, plan)
    assert [(e["kind"], e["severity"]) for e in events] == [("open", "warning"), ("update", "watch"),
                                                            ("resolve", "watch")]
    assert events[1]["changes"] == ["deescalated"]
    assert events[2]["time"] == T0 + 60 * 30 and events[2]["peak_severity"] == "warning"


def test_resolution_needs_calm_for_resolve_after_seconds():
    tracker = IncidentTracker(resolve_after_seconds=1800)
    plan = [(0, "critical", 200, "s")] + [(m, "none", 10, None) for m in range(1, 40)]
    _, events = run(tracker, plan)
    assert [e["kind"] for e in events] == ["open", "resolve"]
    assert events[1]["time"] == T0 + 60 * 30  # last active at minute 0, resolved 30 minutes later


def test_reflare_within_cooldown_reopens_the_same_incident():
    tracker = IncidentTracker(resolve_after_seconds=300, cooldown_seconds=3600)
    plan = [(0, "critical", 200, "s")] + [(m, "none", 10, None) for m in range(1, 10)] + [(20, "warning", 90, "s")]
    _, events = run(tracker, plan)
    assert [e["kind"] for e in events] == ["open", "resolve", "update"]
    assert events[2]["changes"] == ["reopened"] and events[2]["severity"] == "warning"
    assert len({e["incident_id"] for e in events}) == 1
    assert [e["sequence"] for e in events] == [1, 2, 3]


def test_a_flare_after_the_cooldown_opens_a_new_incident():
    tracker = IncidentTracker(resolve_after_seconds=300, cooldown_seconds=600)
    plan = [(0, "critical", 200, "s"), (6, "none", 10, None), (30, "critical", 200, "s")]
    state, events = run(tracker, plan)
    assert [e["kind"] for e in events] == ["open", "resolve", "open"]
    assert events[0]["incident_id"] != events[2]["incident_id"]
    assert events[2]["sequence"] == 1
    assert len(state["incidents"]) == 1  # the old one aged out of the state


def test_different_stories_are_different_incidents_and_storyless_evaluations_join():
    tracker = IncidentTracker()
    plan = [(0, "warning", 50, "bags"), (1, "warning", 50, "delays"), (2, "warning", 50, None)]
    state, events = run(tracker, plan)
    assert [e["kind"] for e in events] == ["open", "open"]
    assert {e["story_id"] for e in events} == {"bags", "delays"}
    assert len(state["incidents"]) == 2


def test_an_incident_without_story_adopts_the_first_story_seen():
    tracker = IncidentTracker()
    _, events = run(tracker, [(0, "warning", 50, None), (1, "warning", 50, "bags")])
    assert [e["kind"] for e in events] == ["open", "update"]
    assert events[1]["changes"] == ["story"] and events[1]["story_id"] == "bags"


def test_brands_are_independent_states():
    tracker = IncidentTracker()
    _, skyway = run(tracker, [(0, "warning", 50, "s")], brand="skyway")
    _, brewbox = run(tracker, [(0, "warning", 50, "s")], brand="brewbox")
    assert skyway[0]["incident_id"] != brewbox[0]["incident_id"]
    assert skyway[0]["incident_id"].startswith("skyway-20251123T0920Z-")


def test_incident_ids_are_deterministic_and_replays_give_the_same_events():
    assert crisis_events() == crisis_events()
    assert incident_id("skyway", "s", T0) == incident_id("skyway", "s", T0)
    assert incident_id("skyway", "s", T0) != incident_id("skyway", "t", T0)
    assert incident_id("skyway", "s", T0) != incident_id("skyway", "s", T0 + 60)
    # any time within the opening minute gives the same id
    tracker = IncidentTracker()
    _, a = run(tracker, [(0, "warning", 50, "s")])
    _state, b = tracker.observe(None, "skyway", T0 + 59, Decision("warning"), snapshot(50, story_id="s"))
    assert a[0]["incident_id"] == b[0]["incident_id"]


def test_state_round_trips_through_json_and_observe_does_not_mutate_it():
    tracker = IncidentTracker(resolve_after_seconds=600)
    state, _ = run(tracker, [(0, "warning", 50, "s")])
    frozen = json.dumps(state, sort_keys=True)
    restored = json.loads(frozen)
    _, direct = run(tracker, [(1, "critical", 90, "s")], state=state)
    _, via_json = run(tracker, [(1, "critical", 90, "s")], state=restored)
    assert direct == via_json and direct[0]["changes"] == ["escalated"]
    assert json.dumps(state, sort_keys=True) == frozen


def test_state_is_bounded_by_max_incidents():
    tracker = IncidentTracker(max_incidents=3)
    state, events = run(tracker, [(m, "warning", 50, f"story-{m}") for m in range(10)])
    assert len(state["incidents"]) == 3
    assert [e["kind"] for e in events].count("open") == 3


def test_state_keeps_post_texts_short():
    tracker = IncidentTracker()
    state, _ = tracker.observe(None, "skyway", T0, Decision("warning"), snapshot(50, text="x" * 10_000))
    assert len(json.dumps(state)) < 5_000


def test_series_is_capped():
    tracker = IncidentTracker(max_series_points=10)
    _, events = tracker.observe(None, "skyway", T0, Decision("warning"), snapshot(50, series_points=100))
    assert len(events[0]["series"]) == 10


@pytest.mark.parametrize("kwargs", [{"resolve_after_seconds": 0}, {"cooldown_seconds": -1}, {"open_at": "none"},
                                    {"growth_ratio": 1.0}, {"bucket_seconds": 0}, {"max_incidents": 0}])
def test_invalid_hyper_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        IncidentTracker(**kwargs)


def test_unknown_severity_is_rejected():
    with pytest.raises(ValueError, match="severity"):
        Decision("panic")


def test_snapshot_from_dict_round_trip():
    original = snapshot(80)
    restored = Snapshot.from_dict({**original.to_figures(), "series": [list(p) for p in original.series]})
    assert restored.to_figures() == original.to_figures()
    assert [list(p) for p in restored.series] == [list(p) for p in original.series]
