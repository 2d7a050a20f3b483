"""A ten-minute outage of Slack and PagerDuty at once, in accelerated time, with several incidents under way.

Both fakes answer 5xx, 429 with ``Retry-After`` and the odd timeout for ten minutes of each delivery's
own fake clock (its sleeps move the clock on, so the outage passes in a second of real time). The
updates of three incidents are interleaved, as the outbox would carry them. Afterwards every event
must have been delivered exactly once, in order per incident, within one backoff of the receivers
coming back, and the retry counters must count every failed attempt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from prometheus_client import REGISTRY

from alerts.delivery import Deliverer, Delivery
from alerts.incidents import IncidentTracker
from alerts.pagerduty import PagerDutyClient, PagerDutyNotifier
from alerts.ratelimit import MinIntervalLimiter
from alerts.retry import Backoff
from alerts.slack import SlackNotifier, SlackRouting, build_client
from tests.fakes import Failure, FakePagerDuty, FakeSlack
from tests.fakes.scenario import FakeClock, crisis_events

OUTAGE_SECONDS = 600.0
MAX_BACKOFF = 60.0
FAILURES = [Failure(503), Failure(429, headers={"Retry-After": "30"}), Failure(500),
            Failure(429, headers={"Retry-After": "45"}), Failure(502), Failure(503, delay=0.4)]  # the last: a timeout


def sample(name: str, notifier: str) -> float:
    return REGISTRY.get_sample_value(name, {"notifier": notifier}) or 0.0


def interleaved_incidents() -> list[dict]:
    """The events of three incidents in the order the outbox carries them (by time, then brand)."""
    events = [e for brand in ("skyway", "brewbox", "voltmobile")
              for e in crisis_events(brand, tracker=IncidentTracker(resolve_after_seconds=600,
                                                                    min_update_interval_seconds=300))]
    return sorted(events, key=lambda e: (e["time"], e["brand"]))


def down_for(clock: FakeClock, log: list[tuple[float, bool]]) -> Callable[[], bool]:
    """The outage condition of one receiver: its delivery's clock is less than ten minutes on."""
    end = clock.now + OUTAGE_SECONDS

    def active() -> bool:
        log.append((clock.now, clock.now < end))
        return clock.now < end

    return active


def test_ten_minutes_of_5xx_and_429_then_every_alert_arrives_in_order():
    events = interleaved_incidents()
    assert len({e["incident_id"] for e in events}) == 3 and [e["brand"] for e in events[:3]] == [
        "brewbox", "skyway", "voltmobile"]
    before = {(name, kind): sample(f"crisiswatch_alerts_{name}_total", kind)
              for name in ("retried", "sent") for kind in ("slack", "pagerduty")}
    slack_clock, pager_clock = FakeClock(start=events[0]["time"]), FakeClock(start=events[0]["time"])
    slack_seen: list[tuple[float, bool]] = []
    pager_seen: list[tuple[float, bool]] = []

    def jitter() -> Callable[[], float]:  # full jitter, reproducible: one sequence per delivery thread
        return iter([0.9, 0.35, 0.7, 0.1, 0.55] * 200).__next__

    with FakeSlack() as slack, FakePagerDuty() as pager:
        slack.outage(down_for(slack_clock, slack_seen), FAILURES)
        pager.outage(down_for(pager_clock, pager_seen), FAILURES)
        notifier = SlackNotifier(build_client(slack.token, base_url=slack.api_url, timeout=0.2),
                                 SlackRouting("#crisiswatch"), {}, charts=False,
                                 limiter=MinIntervalLimiter(1.0, clock=slack_clock, sleep=slack_clock.sleep))
        pagerduty = PagerDutyNotifier(PagerDutyClient(pager.routing_key, url=pager.events_url, timeout=0.2))
        deliveries = [
            Delivery(notifier, {}, sleep=slack_clock.sleep, clock=slack_clock,
                     backoff=Backoff(max_seconds=MAX_BACKOFF, random=jitter())),
            Delivery(pagerduty, {}, sleep=pager_clock.sleep, clock=pager_clock,
                     backoff=Backoff(max_seconds=MAX_BACKOFF, random=jitter())),
        ]
        with Deliverer(deliveries) as deliverer:
            outcomes = [deliverer.deliver(event) for event in events]

    # nothing lost: every event reached Slack, and every one at the paging level reached PagerDuty
    assert all(o["slack"] == "delivered" for o in outcomes)
    paged = [e for e, o in zip(events, outcomes, strict=True) if o["pagerduty"] == "delivered"]
    assert all(o["pagerduty"] in ("delivered", "not_applicable") for o in outcomes)
    assert len(paged) == 9  # per incident: escalation to critical, growth, resolve

    # in order per incident, once each: one Slack message per incident, its replies in the events' order
    messages = slack.all_messages()
    assert len(messages) == 3
    for message in messages:
        assert message["edits"] == 3 and "Resolved" in message["blocks"][0]["text"]["text"]
        assert [r["text"].split(" ")[0] for r in message["replies"]] == ["Severity", "Still", ":white_check_mark:"]
    assert len(pager.pages) == 3
    for incident_id, page in pager.pages.items():
        sent = [e for e in paged if e["incident_id"] == incident_id]
        assert [e["event_action"] for e in page["events"]] == ["trigger", "trigger", "resolve"]
        sequences = [e["payload"]["custom_details"]["sequence"] for e in page["events"] if "payload" in e]
        assert sequences == [e["sequence"] for e in sent if e["kind"] != "resolve"] == sorted(sequences)
        assert page["status"] == "resolved"

    # the receivers were down for ten minutes of each clock, and were used again within one backoff
    for seen, clock, fake in ((slack_seen, slack_clock, slack), (pager_seen, pager_clock, pager)):
        failed = [r for r in fake.requests if r.status != 200 and r.status != 202]
        down = [t for t, is_down in seen if is_down]
        up = [t for t, is_down in seen if not is_down]
        assert len(down) == len(failed) >= 10
        assert up[0] - down[0] >= OUTAGE_SECONDS and up[0] - (down[0] + OUTAGE_SECONDS) <= MAX_BACKOFF
        assert 30.0 in clock.sleeps and 45.0 in clock.sleeps  # Retry-After honoured
        assert max(clock.sleeps) <= MAX_BACKOFF
        print(f"{type(fake).__name__}: {len(failed)} failed attempts over {down[-1] - down[0]:.0f} s of outage, "
              f"first success {up[0] - (down[0] + OUTAGE_SECONDS):.1f} s after it ended")

    # the metrics show it: every failed attempt counted as a retry, every delivery as sent
    for kind, fake, delivered in (("slack", slack, len(events)), ("pagerduty", pager, len(paged))):
        failed = sum(1 for r in fake.requests if r.status not in (200, 202))
        assert sample("crisiswatch_alerts_retried_total", kind) - before[("retried", kind)] == failed
        assert sample("crisiswatch_alerts_sent_total", kind) - before[("sent", kind)] == delivered
    assert Counter(r.status for r in slack.requests if r.status != 200).keys() == {429, 500, 502, 503}
