"""Injection: whatever the posts say, Slack and PagerDuty receive it as plain text (through the real clients).

Hypothesis puts mentions, links, markup, entities, zero-width and bidi characters into post texts,
author handles, URLs, story ids and terms; the events go through the full notifiers (slack-sdk and
requests) to the fake servers, and the checks run on the JSON those received (see
``tests/slack_safety.py``). The end-to-end version, on the real pipeline, is in
``tests/test_alerts_e2e.py``.
"""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.chart import PNG_SIGNATURE
from alerts.delivery import Deliverer, Delivery
from alerts.pagerduty import PagerDutyClient, PagerDutyNotifier
from alerts.ratelimit import MinIntervalLimiter
from alerts.slack import SlackNotifier, SlackRouting, build_client
from alerts.slack_message import escape
from tests.fakes import FakePagerDuty, FakeSlack
from tests.fakes.scenario import HOSTILE_TEXT, FakeClock, crisis_events
from tests.fuzz import HOSTILE_SNIPPETS, hostile_text
from tests.slack_safety import check_slack, text_objects

MARK = "QZJX"  # wraps each public string, so that it can be told from our own text
DASHBOARD = "https://grafana.example/d/cw?var-brand={brand}&var-incident={incident_id}"

hostile = st.one_of(hostile_text(0, 120), st.sampled_from(HOSTILE_SNIPPETS), st.just(HOSTILE_TEXT))
urls = st.one_of(st.none(), hostile, st.builds(lambda s: "https://social.example/" + s, hostile),
                 st.sampled_from(["javascript:alert(1)", "https://evil.example/a>b|c<!channel>", "http://x.example"]))


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(texts=st.lists(hostile, min_size=3, max_size=3), handles=st.lists(hostile, min_size=3, max_size=3),
       urls=st.lists(urls, min_size=3, max_size=3), story=hostile, terms=st.lists(hostile, max_size=3))
def test_public_strings_reach_slack_and_pagerduty_as_plain_text(texts, handles, urls, story, terms):
    events = crisis_events()
    public = {"text": [MARK + t + MARK for t in texts], "handle": [MARK + h + MARK for h in handles],
              "story": MARK + story + MARK}
    for event in events:
        event["story_id"] = public["story"]
        figures = event.get("figures") or {}
        figures["top_terms"] = [MARK + t + MARK for t in terms]
        for post, text, handle, url in zip(figures.get("top_posts", []), public["text"], public["handle"], urls,
                                           strict=True):
            post.update(text=text, author_handle=handle, url=url)
    clock = FakeClock()
    # The chart's pixels are not under test here (its title and upload are): a stand-in saves a second per example.
    with FakeSlack() as slack, FakePagerDuty() as pager, \
            patch("alerts.slack.render_chart", lambda *args, **kwargs: PNG_SIGNATURE + b"chart"):
        slack_notifier = SlackNotifier(build_client(slack.token, base_url=slack.api_url), SlackRouting("#crisiswatch"),
                                       {}, dashboard_url=DASHBOARD,
                                       limiter=MinIntervalLimiter(1.0, clock=clock, sleep=clock.sleep))
        pager_notifier = PagerDutyNotifier(PagerDutyClient(pager.routing_key, url=pager.events_url),
                                           dashboard_url=DASHBOARD)
        with Deliverer([Delivery(slack_notifier, {}), Delivery(pager_notifier, {})]) as deliverer:
            outcomes = [deliverer.deliver(event) for event in events]
    assert all(o["slack"] == "delivered" for o in outcomes)

    everything = [*public["text"], *public["handle"], public["story"], *figures["top_terms"],
                  *(u for u in urls if u)]
    checked = check_slack(slack.requests, everything)
    assert checked["chat.postMessage"] >= 4 and checked["chat.update"] == 3  # message and thread replies, edits
    assert checked.get("files.completeUploadExternal") == 1
    [first] = [r.body for r in slack.calls("chat.postMessage") if "thread_ts" not in r.body]
    shown = "\n".join(text for kind, text, _ in text_objects(first) if kind == "plain_text")
    assert all(escape(t) in shown for t in public["text"] + public["handle"]), "quoted posts shown, escaped"

    # PagerDuty: the summary is ours alone; the posts travel as JSON data, unchanged; links only to the dashboard
    for page in pager.pages.values():
        for sent in page["events"]:
            if sent["event_action"] != "trigger":
                continue
            assert MARK not in sent["payload"]["summary"]
            details = sent["payload"]["custom_details"]
            assert [p["text"] for p in details["top_posts"]] == [t[:499] + "…" if len(t) > 500 else t
                                                                 for t in public["text"]]
            assert [p["author_handle"] for p in details["top_posts"]] == public["handle"]
            assert [link["href"].split("?")[0] for link in sent["links"]] == ["https://grafana.example/d/cw"]
