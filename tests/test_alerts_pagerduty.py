"""PagerDuty Events API v2 notifier against the local fake: trigger / acknowledge / resolve by dedup_key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.incidents import Decision, IncidentTracker
from alerts.notifier import PermanentError, RetryableError
from alerts.pagerduty import PagerDutyClient, PagerDutyNotifier
from tests.fakes import FakePagerDuty
from tests.fakes.scenario import T0, crisis_events, snapshot


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


def notifier(fake: FakePagerDuty, page_at: str = "critical", **kwargs) -> PagerDutyNotifier:
    return PagerDutyNotifier(PagerDutyClient(fake.routing_key, url=fake.events_url, timeout=5), page_at=page_at,
                             **kwargs)


def test_critical_incident_is_triggered_with_its_id_as_dedup_key_and_then_resolved(pagerduty):
    events = crisis_events()
    sent = [notifier(pagerduty).send(e) for e in events]
    assert sent == [False, True, True, True]  # the warning open is below page_at=critical
    incident_id = events[0]["incident_id"]
    assert list(pagerduty.pages) == [incident_id]
    page = pagerduty.pages[incident_id]
    assert [e["event_action"] for e in page["events"]] == ["trigger", "trigger", "resolve"]
    assert page["status"] == "resolved"
    trigger = page["events"][0]
    assert trigger["routing_key"] == pagerduty.routing_key and trigger["dedup_key"] == incident_id
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "crisiswatch"
    assert payload["summary"].startswith("[CRITICAL] skyway: 160 posts/min vs 15 expected, 64% negative")
    assert payload["component"] == "skyway" and payload["timestamp"].startswith("2025-11-23T09:23:00")
    details = payload["custom_details"]
    assert details["incident_id"] == incident_id and details["posts_per_minute"] == 160.0
    assert details["top_posts"][0]["author_handle"] == "@angry_flyer"
    assert all(r.status == 202 for r in pagerduty.requests)


@pytest.mark.parametrize(("page_at", "expected"), [("watch", "info"), ("warning", "warning")])
def test_severity_mapping_and_paging_level(pagerduty, page_at, expected):
    tracker = IncidentTracker(open_at="watch")
    _, [event] = tracker.observe(None, "brewbox", T0, Decision(page_at), snapshot())
    assert notifier(pagerduty, page_at=page_at).send(event)
    assert pagerduty.pages[event["incident_id"]]["payload"]["severity"] == expected
    assert not notifier(pagerduty, page_at="critical").send(event)


def test_an_incident_paged_once_is_resolved_even_after_calming_below_the_paging_level(pagerduty):
    events = crisis_events()
    deescalated = {**events[2], "severity": "warning", "changes": ["deescalated"]}
    resolve = {**events[3], "severity": "warning", "sequence": 5}
    pd = notifier(pagerduty)
    assert [pd.send(e) for e in (events[1], deescalated, resolve)] == [True, False, True]
    assert pagerduty.pages[events[0]["incident_id"]]["status"] == "resolved"


def test_an_incident_never_paged_is_not_resolved_in_pagerduty(pagerduty):
    events = crisis_events()
    warning_only = [e for e in events if e["kind"] == "open"] + [{**events[-1], "peak_severity": "warning"}]
    assert [notifier(pagerduty).send(e) for e in warning_only] == [False, False]
    assert pagerduty.requests == []


def test_acknowledge(pagerduty):
    client = PagerDutyClient(pagerduty.routing_key, url=pagerduty.events_url)
    client.trigger("k1", summary="s", source="crisiswatch", severity="warning")
    answer = client.acknowledge("k1")
    assert answer == {"status": "success", "message": "Event processed", "dedup_key": "k1"}
    assert pagerduty.pages["k1"]["status"] == "acknowledged"


def test_summary_is_cut_to_1024_characters(pagerduty):
    event = crisis_events()[1]
    event["reason"] = "x" * 5000
    notifier(pagerduty).send(event)
    assert len(pagerduty.pages[event["incident_id"]]["payload"]["summary"]) == 1024


def test_invalid_events_are_permanent_and_overload_is_retryable(pagerduty):
    bad_key = PagerDutyNotifier(PagerDutyClient("not-the-key-000000", url=pagerduty.events_url))
    with pytest.raises(PermanentError, match="HTTP 400 'routing_key' is invalid"):
        bad_key.send(crisis_events()[1])
    pagerduty.fail_next(429, headers={"Retry-After": "3"})
    with pytest.raises(RetryableError) as caught:
        notifier(pagerduty).send(crisis_events()[1])
    assert caught.value.retry_after == 3.0
    pagerduty.fail_next(502)
    with pytest.raises(RetryableError, match="HTTP 502"):
        notifier(pagerduty).send(crisis_events()[1])
    pagerduty.fail_next(503, delay=1.0)
    slow = PagerDutyNotifier(PagerDutyClient(pagerduty.routing_key, url=pagerduty.events_url, timeout=0.2))
    with pytest.raises(RetryableError, match="Timeout"):
        slow.send(crisis_events()[1])
    assert pagerduty.pages == {}


def test_from_env_reads_the_routing_key_from_a_secret_file(pagerduty, tmp_path):
    secret = tmp_path / "routing_key"
    secret.write_text(pagerduty.routing_key + "\n")
    env = {"PAGERDUTY_ROUTING_KEY_FILE": str(secret), "PAGERDUTY_EVENTS_URL": pagerduty.events_url}
    pd = PagerDutyNotifier.from_env(env=env, page_at="warning")
    assert pd is not None and pd.send(crisis_events()[0])
    assert pagerduty.routing_key not in repr(pd.client)
    assert PagerDutyNotifier.from_env(env={}) is None
