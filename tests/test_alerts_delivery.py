"""Delivery: retries (429 Retry-After, 5xx, timeouts), outages, ordering, redelivery, dead letters, metrics."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from alerts.console import ConsoleNotifier
from alerts.delivery import Deliverer, Delivery, DeliveryAborted
from alerts.notifier import RetryableError
from alerts.pagerduty import PagerDutyClient, PagerDutyNotifier
from alerts.ratelimit import MinIntervalLimiter
from alerts.retry import Backoff
from alerts.slack import SlackNotifier, SlackRouting, build_client
from alerts.webhook import WebhookNotifier
from tests.fakes import FakePagerDuty, FakeSlack, FakeWebhook
from tests.fakes.scenario import FakeClock, crisis_events


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


def slack_notifier(slack: FakeSlack, messages: dict, *, timeout: float = 5.0, charts: bool = True) -> SlackNotifier:
    clock = FakeClock()
    return SlackNotifier(build_client(slack.token, base_url=slack.api_url, timeout=timeout),
                         SlackRouting("#crisiswatch"), messages, charts=charts,
                         limiter=MinIntervalLimiter(1.0, clock=clock, sleep=clock.sleep))


def sample(name: str, notifier: str) -> float:
    return REGISTRY.get_sample_value(name, {"notifier": notifier}) or 0.0


def test_slack_429_honours_retry_after(slack):
    clock = FakeClock()
    slack.fail_next(429, method="chat.postMessage", headers={"Retry-After": "1"})
    retried = sample("crisiswatch_alerts_retried_total", "slack")
    delivery = Delivery(slack_notifier(slack, {}), {}, sleep=clock.sleep, backoff=Backoff(random=lambda: 0.999))
    assert delivery.deliver(crisis_events()[0]) == "delivered"
    assert clock.sleeps == [1.0]
    assert [r.status for r in slack.requests if r.method == "chat.postMessage"] == [429, 200]
    assert len(slack.all_messages()) == 1
    assert sample("crisiswatch_alerts_retried_total", "slack") == retried + 1


def test_slack_5xx_is_retried_with_jittered_exponential_backoff(slack):
    clock = FakeClock()
    slack.fail_next(500, count=3)
    delivery = Delivery(slack_notifier(slack, {}, charts=False), {}, sleep=clock.sleep,
                        backoff=Backoff(base_seconds=1, max_seconds=60, random=lambda: 0.5))
    assert delivery.deliver(crisis_events()[0]) == "delivered"
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(slack.all_messages()) == 1


def test_slack_timeout_is_retried_and_posts_once(slack):
    clock = FakeClock()
    slack.fail_next(503, method="chat.postMessage", delay=1.0)
    delivery = Delivery(slack_notifier(slack, {}, timeout=0.2, charts=False), {}, sleep=clock.sleep)
    assert delivery.deliver(crisis_events()[0]) == "delivered"
    assert len(clock.sleeps) == 1
    assert len(slack.calls("chat.postMessage", succeeded=False)) == 2
    assert len(slack.all_messages()) == 1


def test_a_post_whose_answer_was_lost_is_found_and_edited_not_posted_twice(slack):
    # Slack posts the message but the answer never arrives (the client times out): the retry finds
    # the message by its metadata in the channel's history and carries on with it.
    clock = FakeClock()
    slack.fail_next(503, method="chat.postMessage", delay=1.0, processed=True)
    messages: dict = {}
    events = crisis_events()
    delivery = Delivery(slack_notifier(slack, messages, timeout=0.2), {}, sleep=clock.sleep)
    assert delivery.deliver(events[0]) == "delivered"
    [message] = slack.all_messages()
    assert message["metadata"] == {"event_type": "crisiswatch_incident",
                                   "event_payload": {"incident_id": events[0]["incident_id"],
                                                     "sequence": events[0]["sequence"]}}
    assert len(slack.calls("conversations.history")) == 1 and len(message["files"]) == 1
    stored = messages[events[0]["incident_id"]]
    assert stored["pending"] == {} and stored["channels"]["#crisiswatch"]["ts"] == message["ts"]
    assert delivery.deliver(events[1]) == "delivered"  # later events edit the same message
    assert len(slack.all_messages()) == 1 and len(message["replies"]) == 1


def unanswered_opening(slack: FakeSlack, messages: dict) -> tuple[SlackNotifier, list[dict]]:
    """A notifier whose post of the opening event Slack carried out but answered with a 500."""
    events = crisis_events()
    slack.fail_next(500, method="chat.postMessage", processed=True)
    notifier = slack_notifier(slack, messages, charts=False)
    with pytest.raises(RetryableError):
        notifier.send(events[0])
    return notifier, events


def test_a_worker_restarted_after_an_unanswered_post_adopts_the_message(slack):
    messages: dict = {}
    _, events = unanswered_opening(slack, messages)
    assert "#crisiswatch" in messages[events[0]["incident_id"]]["pending"]
    restarted = slack_notifier(slack, messages, charts=False)  # new process: same store, nothing cached
    assert restarted.send(events[0]) is True
    assert len(slack.all_messages()) == 1
    # the channel id came from conversations.list (the route is a name), then one history read
    assert len(slack.calls("conversations.list")) == 1 and len(slack.calls("conversations.history")) == 1


def test_a_resolve_marks_resolved_the_message_an_unanswered_post_left(slack):
    notifier, events = unanswered_opening(slack, {})
    assert events[-1]["kind"] == "resolve" and notifier.send(events[-1]) is True
    [message] = slack.all_messages()
    assert message["text"].startswith("RESOLVED skyway") and message["edits"] == 1


def test_a_resolve_where_nothing_was_posted_posts_nothing(slack):
    messages: dict = {}
    events = crisis_events()
    notifier = slack_notifier(slack, messages, charts=False)
    notifier.client.chat_postMessage(channel="#crisiswatch", text="someone else's message")
    slack.fail_next(500, method="chat.postMessage")  # refused: nothing was posted
    with pytest.raises(RetryableError):
        notifier.send(events[0])
    assert notifier.send(events[-1]) is False  # nothing of this incident was ever posted here
    assert [m["text"] for m in slack.all_messages()] == ["someone else's message"]
    assert len(slack.calls("conversations.history")) == 1


def test_the_channel_id_is_found_on_a_later_page_of_the_channel_list(slack, monkeypatch):
    monkeypatch.setattr("alerts.slack.CHANNEL_PAGE", 2)
    notifier = slack_notifier(slack, {}, charts=False)
    for brand in ("a", "b", "c", "d"):
        notifier.client.chat_postMessage(channel=f"#other-{brand}", text="hello")
    notifier.client.chat_postMessage(channel="#crisiswatch", text="hello")
    assert notifier._channel_id("#crisiswatch") == slack.channel_ids["#crisiswatch"]
    assert len(slack.calls("conversations.list")) == 3
    assert notifier._channel_id("C0123ABCD") == "C0123ABCD"  # an id is its own id


def test_without_the_history_scope_an_unanswered_post_is_posted_again_and_said_so(slack, caplog):
    # The fallback is at-least-once: a second message, and a warning that names the reason.
    messages: dict = {}
    notifier, events = unanswered_opening(slack, messages)
    slack.fail_next_error("missing_scope", method="conversations.history")
    with caplog.at_level("WARNING", logger="alerts.slack"):
        assert notifier.send(events[0]) is True
    assert len(slack.all_messages()) == 2
    assert "missing_scope" in caplog.text and messages[events[0]["incident_id"]]["pending"] == {}


def test_a_ten_minute_outage_loses_nothing_and_keeps_order(slack):
    """Every call fails for 20 attempts (over ten minutes of backoff), then Slack is back."""
    clock = FakeClock()
    slack.fail_next(503, count=20)
    events = crisis_events()
    delivery = Delivery(slack_notifier(slack, {}), {}, sleep=clock.sleep, clock=clock,
                        backoff=Backoff(base_seconds=1, max_seconds=60, random=lambda: 1.0))
    assert [delivery.deliver(e) for e in events] == ["delivered"] * 4
    assert sum(clock.sleeps) >= 600 and max(clock.sleeps) == 60
    assert slack.pending_failures == 0
    [message] = slack.all_messages()
    assert message["edits"] == 3 and len(message["files"]) == 1
    replies = [r["text"] for r in message["replies"]]
    assert [r.split(" ")[0] for r in replies] == ["Severity", "Still", ":white_check_mark:"]


def test_redelivered_events_after_a_restart_are_not_duplicated(slack):
    cursors: dict = {}
    messages: dict = {}
    events = crisis_events()
    first = Delivery(slack_notifier(slack, messages), cursors)
    assert [first.deliver(e) for e in events] == ["delivered"] * 4
    requests_before = len(slack.requests)

    duplicates = sample("crisiswatch_alerts_duplicates_skipped_total", "slack")
    restarted = Delivery(slack_notifier(slack, messages), cursors)  # same stores, new client and notifier
    assert [restarted.deliver(e) for e in events] == ["duplicate"] * 4
    assert len(slack.requests) == requests_before
    assert sample("crisiswatch_alerts_duplicates_skipped_total", "slack") == duplicates + 4


def test_crash_after_posting_but_before_the_cursor_edits_instead_of_reposting(slack):
    messages: dict = {}
    events = crisis_events()
    Delivery(slack_notifier(slack, messages), {}).deliver(events[0])
    # the worker died before committing: the cursor is lost, the Slack message store is not
    replay = Delivery(slack_notifier(slack, messages), {})
    assert replay.deliver(events[0]) == "delivered"
    assert replay.deliver(events[1]) == "delivered"
    [message] = slack.all_messages()
    assert message["edits"] == 2 and len(message["replies"]) == 1 and len(slack.files) == 1


def test_partial_failure_inside_an_event_resumes_without_repeating_steps(slack):
    """The thread reply of an update succeeds, then the chart upload fails: the retry does not reply twice."""
    clock = FakeClock()
    messages: dict = {}
    events = crisis_events()
    notifier = slack_notifier(slack, messages)
    Delivery(notifier, {}, sleep=clock.sleep).deliver(events[0])
    messages[events[0]["incident_id"]]["channels"]["#crisiswatch"]["chart"] = False  # pretend it never uploaded
    slack.fail_next(500, method="files.completeUploadExternal")
    assert Delivery(notifier, {}, sleep=clock.sleep).deliver(events[1]) == "delivered"
    [message] = slack.all_messages()
    assert len(message["replies"]) == 1 and len(clock.sleeps) == 1 and len(message["files"]) == 2


def test_pagerduty_retries_then_dead_letters_invalid_events(pagerduty):
    clock = FakeClock()
    letters: list = []
    failed = sample("crisiswatch_alerts_failed_total", "pagerduty")
    notifier = PagerDutyNotifier(PagerDutyClient(pagerduty.routing_key, url=pagerduty.events_url, timeout=0.3))
    delivery = Delivery(notifier, {}, sleep=clock.sleep, on_dead_letter=letters.append,
                        backoff=Backoff(random=lambda: 0.5))
    events = crisis_events()
    pagerduty.fail_next(429, headers={"Retry-After": "2"})
    pagerduty.fail_next(500)
    pagerduty.fail_next(503, delay=1.0)
    assert delivery.deliver(events[1]) == "delivered"
    assert clock.sleeps == [2.0, 1.0, 2.0]
    pagerduty.fail_next(400)
    assert delivery.deliver(events[2]) == "dead_letter"
    assert [(dl.incident_id, dl.sequence, dl.reason) for dl in letters] == [
        (events[2]["incident_id"], 3, "pagerduty trigger: HTTP 400 scripted")]
    assert sample("crisiswatch_alerts_failed_total", "pagerduty") == failed + 1
    assert delivery.deliver(events[3]) == "delivered"
    page = pagerduty.pages[events[0]["incident_id"]]
    assert [e["event_action"] for e in page["events"]] == ["trigger", "resolve"]


def test_redelivered_pagerduty_events_are_skipped_and_dedup_key_is_stable(pagerduty):
    cursors: dict = {}
    notifier = PagerDutyNotifier(PagerDutyClient(pagerduty.routing_key, url=pagerduty.events_url))
    events = crisis_events()
    outcomes = [Delivery(notifier, cursors).deliver(e) for e in events + events]
    assert outcomes == ["not_applicable", "delivered", "delivered", "delivered"] + ["duplicate"] * 4
    assert len(pagerduty.requests) == 3


def test_webhook_posts_the_event_as_json_and_retries_5xx():
    clock = FakeClock()
    with FakeWebhook() as hook:
        hook.fail_next(502)
        delivery = Delivery(WebhookNotifier(hook.url, timeout=5), {}, sleep=clock.sleep)
        events = crisis_events()
        assert [delivery.deliver(e) for e in events] == ["delivered"] * 4
    assert hook.events == events and len(clock.sleeps) == 1


def test_console_notifier_escapes_control_characters():
    stream = io.StringIO()
    events = crisis_events(text="\x1b[2J\x1b[31mcleared your screen\nnew line")
    for event in events:
        ConsoleNotifier(stream).send(event)
    out = stream.getvalue()
    assert "\x1b" not in out and "\\x1b[2J\\x1b[31mcleared your screen new line" in out
    assert out.count("\n") >= 4 and "open" in out and "resolve" in out


def test_deliverer_fans_out_and_reports_each_outcome(slack, pagerduty):
    stream = io.StringIO()
    deliveries = [Delivery(slack_notifier(slack, {}), {}),
                  Delivery(PagerDutyNotifier(PagerDutyClient(pagerduty.routing_key, url=pagerduty.events_url)), {}),
                  Delivery(ConsoleNotifier(stream), {})]
    with Deliverer(deliveries) as deliverer:
        results = [deliverer.deliver(e) for e in crisis_events()]
    assert results[0] == {"slack": "delivered", "pagerduty": "not_applicable", "console": "delivered"}
    assert all(r == {"slack": "delivered", "pagerduty": "delivered", "console": "delivered"} for r in results[1:])
    with pytest.raises(ValueError, match="unique"):
        Deliverer([deliveries[0], deliveries[0]])


def test_stopping_while_retrying_aborts_without_moving_the_cursor(slack):
    cursors: dict = {}
    slack.fail_next(503, count=5)
    stops = itertools.chain([False, False], itertools.repeat(True))
    delivery = Delivery(slack_notifier(slack, {}), cursors, sleep=FakeClock().sleep, should_stop=lambda: next(stops))
    with pytest.raises(DeliveryAborted):
        delivery.deliver(crisis_events()[0])
    assert cursors == {} and slack.all_messages() == []


def test_sent_and_latency_metrics(slack):
    sent = sample("crisiswatch_alerts_sent_total", "slack")
    count = sample("crisiswatch_alert_delivery_latency_seconds_count", "slack")
    total = sample("crisiswatch_alert_delivery_latency_seconds_sum", "slack")
    events = crisis_events()
    clock = FakeClock(start=events[0]["time"] + 2.5)
    Delivery(slack_notifier(slack, {}, charts=False), {}, clock=clock).deliver(events[0])
    assert sample("crisiswatch_alerts_sent_total", "slack") == sent + 1
    assert sample("crisiswatch_alert_delivery_latency_seconds_count", "slack") == count + 1
    assert sample("crisiswatch_alert_delivery_latency_seconds_sum", "slack") == pytest.approx(total + 2.5)


def test_backoff_full_jitter_is_bounded_and_retry_after_wins():
    assert Backoff(random=lambda: 1.0).delay(0) == 1.0
    assert Backoff(random=lambda: 1.0).delay(3) == 8.0
    assert Backoff(random=lambda: 1.0).delay(50) == 60.0
    assert Backoff(random=lambda: 0.0).delay(10) == 0.0
    assert Backoff(random=lambda: 0.5).delay(10, retry_after=7) == 7
    assert Backoff().delay(0, retry_after=10_000) == 900
    with pytest.raises(ValueError, match="max_seconds"):
        Backoff(base_seconds=10, max_seconds=1)


def test_rate_limiter_spaces_calls_per_channel():
    clock = FakeClock(start=100.0)
    limiter = MinIntervalLimiter(1.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire("#a") for _ in range(3)] + [limiter.acquire("#b")]
    assert waits == [0.0, 1.0, 1.0, 0.0]
    clock.now += 5
    assert limiter.acquire("#a") == 0.0


def test_slack_calls_are_paced_one_per_second_per_channel(slack):
    clock = FakeClock()
    notifier = SlackNotifier(build_client(slack.token, base_url=slack.api_url), SlackRouting("#crisiswatch"), {},
                             charts=False, limiter=MinIntervalLimiter(1.0, clock=clock, sleep=clock.sleep))
    for event in crisis_events():
        notifier.send(event)
    assert len(slack.requests) == 7 and sum(clock.sleeps) == pytest.approx(6.0)


def test_console_notifier_leaves_out_an_unknown_author():
    stream = io.StringIO()
    event = crisis_events()[0]
    event["figures"]["top_posts"][0]["author_handle"] = ""
    ConsoleNotifier(stream).send(event)
    out = stream.getvalue()
    assert "(812 reshares)" in out and "(, " not in out and "(@commuter, 301 reshares)" in out


def test_a_notifiers_counters_exist_at_zero_before_its_first_event():
    """A series born at its first increment loses that increment to ``increase()`` on every board."""

    class FreshKind(ConsoleNotifier):
        kind = "fresh-kind-for-this-test"

    names = ("crisiswatch_alerts_sent_total", "crisiswatch_alerts_failed_total",
             "crisiswatch_alerts_retried_total", "crisiswatch_alerts_duplicates_skipped_total",
             "crisiswatch_alert_delivery_latency_seconds_count")
    assert [REGISTRY.get_sample_value(name, {"notifier": FreshKind.kind}) for name in names] == [None] * 5
    Delivery(FreshKind(io.StringIO()), {})
    assert [REGISTRY.get_sample_value(name, {"notifier": FreshKind.kind}) for name in names] == [0.0] * 5
