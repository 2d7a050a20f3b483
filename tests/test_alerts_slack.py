"""Slack notifier against the local fake Slack Web API: messages, edits, threads, chart, routing, escaping."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.chart import PNG_SIGNATURE, render_chart
from alerts.credentials import get_logger
from alerts.delivery import Delivery
from alerts.notifier import PermanentError
from alerts.ratelimit import MinIntervalLimiter
from alerts.slack import SlackNotifier, SlackRouting, build_client
from alerts.slack_message import MAX_FALLBACK_CHARS, build_message, escape, link, truncate
from tests.fakes import FakeSlack
from tests.fakes.scenario import HOSTILE_TEXT, T0, FakeClock, crisis_events

CONFIG = {"channel": "#crisiswatch", "channels_by_severity": {"critical": "#crisiswatch-critical"}}
BRANDS = [{"name": "skyway"}, {"name": "voltmobile", "alerts": {"slack": {"channel": "#volt-comms"}}}]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def make_notifier(slack: FakeSlack, *, messages: dict | None = None, routing: SlackRouting | None = None,
                  token: str | None = None, timeout: float = 5.0, **kwargs: Any) -> SlackNotifier:
    client = build_client(token or slack.token, base_url=slack.api_url, timeout=timeout)
    clock = FakeClock()
    return SlackNotifier(client, routing or SlackRouting("#crisiswatch"), {} if messages is None else messages,
                         limiter=MinIntervalLimiter(1.0, clock=clock, sleep=clock.sleep), **kwargs)


def all_texts(body: dict) -> list[str]:
    """Every mrkdwn/plain text of a chat.postMessage / chat.update body, fallback text included."""
    texts = [body.get("text") or ""]
    for block in body.get("blocks") or []:
        for item in [block.get("text"), *(block.get("elements") or []), *(block.get("fields") or [])]:
            if isinstance(item, dict):
                texts.append(item.get("text", ""))
    return texts


def test_open_posts_one_message_with_the_figures_and_the_chart_in_its_thread(slack):
    event = crisis_events()[0]
    assert make_notifier(slack).send(event) is True

    [message] = slack.channel_messages("#crisiswatch")
    [post] = slack.calls("chat.postMessage")
    body = post.body
    assert body["channel"] == "#crisiswatch" and "thread_ts" not in body
    texts = "\n".join(all_texts(body))
    assert body["blocks"][0]["type"] == "header" and "WARNING: skyway" in body["blocks"][0]["text"]["text"]
    assert "*Posts/min:* 100 (expected 15)" in texts and "*Reach:* 1.2M" in texts and "*Negative:* 64%" in texts
    assert "`lost bag`, `refund`, `delayed`" in texts
    assert texts.count("\n— ") == 3 and "812 reshares" in texts and "“Lost my bag again, @SkywayAir”" in texts
    quoted = [b["text"] for b in body["blocks"] if b["type"] == "section" and "reshares" in b["text"]["text"]]
    assert len(quoted) == 3 and all(t["type"] == "plain_text" for t in quoted)
    assert "<https://social.example/p/1|open post>" in texts
    assert event["incident_id"] in texts
    assert message["text"].startswith("WARNING skyway: 100 posts/min")

    # the chart went through the three-step external upload, to this same server, into the thread
    assert [r.method for r in slack.requests[1:]] == ["files.getUploadURLExternal", "upload",
                                                        "files.completeUploadExternal"]
    [chart] = slack.files.values()
    assert chart["data"].startswith(PNG_SIGNATURE) and len(chart["data"]) == chart["length"]
    assert chart["completed"] and chart["thread_ts"] == message["ts"] and chart["channel_id"] == message["channel"]
    assert message["files"] == [chart["id"]]


def test_updates_edit_the_message_and_reply_in_its_thread_until_resolved(slack):
    events = crisis_events()
    notifier = make_notifier(slack)
    for event in events:
        notifier.send(event)

    [message] = slack.all_messages()
    assert len([c for c in slack.calls("chat.postMessage") if "thread_ts" not in c.body]) == 1
    assert message["edits"] == 3
    replies = [r["text"] for r in message["replies"]]
    assert len(replies) == 3
    assert "Severity warning → *critical*" in replies[0]
    assert "Still growing" in replies[1] and "400 posts/min" in replies[1]
    assert replies[2].startswith(":white_check_mark: Resolved") and "Peak critical" in replies[2]
    assert "Resolved: skyway (peak critical)" in message["blocks"][0]["text"]["text"]
    assert message["text"].startswith("RESOLVED skyway")
    assert len(slack.files) == 1  # the chart is attached once


def test_routing_by_brand_and_severity():
    routing = SlackRouting.from_config(CONFIG, BRANDS)
    assert routing.channel_for("skyway", "warning") == "#crisiswatch"
    assert routing.channel_for("skyway", "critical") == "#crisiswatch-critical"
    assert routing.channel_for("voltmobile", "critical") == "#volt-comms"
    assert routing.channel_for("unknown-brand", "watch") == "#crisiswatch"
    assert SlackRouting(None).channel_for("skyway", "critical") is None


def test_escalation_posts_in_the_critical_channel_and_keeps_both_messages_current(slack):
    notifier = make_notifier(slack, routing=SlackRouting.from_config(CONFIG, BRANDS))
    for event in crisis_events():
        notifier.send(event)
    [general] = slack.channel_messages("#crisiswatch")
    [critical] = slack.channel_messages("#crisiswatch-critical")
    [first_post] = [c.body for c in slack.calls("chat.postMessage") if c.body["channel"] == "#crisiswatch-critical"]
    assert "CRITICAL: skyway" in first_post["blocks"][0]["text"]["text"]
    assert "Resolved" in general["blocks"][0]["text"]["text"] and "Resolved" in critical["blocks"][0]["text"]["text"]
    assert critical["files"] and general["files"]
    assert [r["text"][:9] for r in critical["replies"]] == ["Still gro", ":white_ch"]

    for event in crisis_events(brand="voltmobile"):
        notifier.send(event)
    [volt] = slack.channel_messages("#volt-comms")
    assert "voltmobile" in volt["blocks"][0]["text"]["text"] and len(volt["replies"]) == 3


def test_user_text_cannot_ping_or_disguise_links(slack):
    events = crisis_events(text=HOSTILE_TEXT)
    for event in events:
        event["reason"] = "spike <!channel> & <@U777>"
        event["figures"]["top_terms"] = ["<!everyone>"]
        event["figures"]["top_posts"][1].update(author_handle="<@U123|boss>", url="https://ok.example/a|<!here>")
        event["figures"]["top_posts"][2].update(url="javascript:alert(1)")
    notifier = make_notifier(slack, dashboard_url="https://grafana.example/d/cw?var-brand={brand}")
    for event in events:
        notifier.send(event)

    sent = [r.body for r in slack.requests if r.method in ("chat.postMessage", "chat.update")]
    assert len(sent) == 7
    texts = [t for body in sent for t in all_texts(body)]
    joined = "\n".join(texts)
    for dangerous in ("<!channel>", "<!here>", "<@U123", "<@U777>", "<!everyone>", "<http://evil.example"):
        assert dangerous not in joined
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt;" in joined
    assert "&lt;http://evil.example|your bank&gt; &amp; more" in joined
    assert "javascript:alert(1)" in joined and "<javascript" not in joined
    # the only <...> sequences left are the links we built ourselves
    links = {m for t in texts for m in re.findall(r"<([^>]*)>", t)}
    assert links == {"https://social.example/p/1|open post", "https://ok.example/a%7C%3C!here%3E|open post",
                     "https://grafana.example/d/cw?var-brand=skyway|dashboard"}


def test_link_and_escape_helpers():
    assert escape("a & <b> c") == "a &amp; &lt;b&gt; c"
    assert link("https://x.example/?a=1&b=<2>", "go <now>") == "<https://x.example/?a=1&amp;b=%3C2%3E|go &lt;now&gt;>"
    assert link("ftp://x.example/", "x") == "ftp://x.example/"
    assert link("<!channel>", "x") == "&lt;!channel&gt;"
    cut = truncate(escape("<" * 2000), 3000)
    assert len(cut) <= 3000 and cut.endswith("&lt;…")


def test_messages_stay_within_block_kit_limits(slack):
    [event] = crisis_events()[:1]
    event["brand"] = "b" * 300
    event["reason"] = "<" * 5000
    event["figures"]["top_terms"] = ["term"] * 200
    for post in event["figures"]["top_posts"]:
        post.update(text="&" * 10_000, author_handle="h" * 1000)
    blocks, text = build_message(event)
    assert len(blocks) <= 50 and len(text) <= MAX_FALLBACK_CHARS
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks[1:]:
        for item in [block.get("text"), *(block.get("elements") or [])]:
            if item:
                assert len(item["text"]) <= 3000
                assert not re.search(r"&[a-z]{0,3}…", item["text"])  # no entity cut in half
    make_notifier(slack).send(event)  # the fake applies Slack's limits too
    assert [r.ok for r in slack.calls("chat.postMessage", succeeded=False)] == [True]


def test_a_message_deleted_in_slack_is_posted_again(slack):
    events = crisis_events()
    messages: dict = {}
    notifier = make_notifier(slack, messages=messages)
    notifier.send(events[0])
    slack.messages.clear()
    notifier.send(events[1])
    [message] = slack.all_messages()
    assert "CRITICAL" in message["blocks"][0]["text"]["text"]
    assert messages[events[0]["incident_id"]]["channels"]["#crisiswatch"]["ts"] == message["ts"]


def test_bad_token_is_a_permanent_error(slack):
    notifier = make_notifier(slack, token="xoxb-wrong-token-000000")
    with pytest.raises(PermanentError, match="invalid_auth"):
        notifier.send(crisis_events()[0])
    assert slack.all_messages() == []


def test_unknown_channel_is_dead_lettered_and_later_events_still_go_out(slack):
    slack.missing_channels.add("#crisiswatch")
    letters: list = []
    events = crisis_events()
    delivery = Delivery(make_notifier(slack), {}, on_dead_letter=letters.append, sleep=FakeClock().sleep)
    assert delivery.deliver(events[0]) == "dead_letter"
    assert [(dl.kind, dl.reason) for dl in letters] == [("open", "slack chat.postMessage: channel_not_found")]
    slack.missing_channels.clear()  # someone created the channel
    assert delivery.deliver(events[1]) == "delivered"
    [message] = slack.channel_messages("#crisiswatch")
    assert "CRITICAL" in message["blocks"][0]["text"]["text"]


def test_from_env_reads_the_token_from_a_secret_file(slack, tmp_path):
    secret = tmp_path / "token"
    secret.write_text(slack.token + "\n")
    env = {"SLACK_BOT_TOKEN_FILE": str(secret), "SLACK_API_URL": slack.api_url.rstrip("/")}
    notifier = SlackNotifier.from_env(SlackRouting("#crisiswatch"), {}, env=env, limiter=MinIntervalLimiter(0))
    assert notifier is not None and notifier.client.auth_test()["ok"]
    assert notifier.send(crisis_events()[0])
    assert SlackNotifier.from_env(SlackRouting("#x"), {}, env={}) is None


def test_the_token_never_reaches_logs_events_or_metrics(slack, caplog, tmp_path):
    from prometheus_client import REGISTRY, generate_latest

    secret = tmp_path / "token"
    secret.write_text(slack.token)
    env = {"SLACK_BOT_TOKEN_FILE": str(secret), "SLACK_API_URL": slack.api_url}
    caplog.set_level(logging.DEBUG)
    notifier = SlackNotifier.from_env(SlackRouting("#crisiswatch"), {}, env=env)
    assert notifier is not None
    notifier.limiter = MinIntervalLimiter(0)
    slack.fail_next(429, method="chat.update", headers={"Retry-After": "1"})
    slack.fail_next_error("channel_not_found", method="chat.postMessage")
    clock = FakeClock()
    delivery = Delivery(notifier, {}, sleep=clock.sleep, clock=clock)
    events = crisis_events()
    outcomes = [delivery.deliver(event) for event in events]
    assert outcomes == ["dead_letter", "delivered", "delivered", "delivered"]
    get_logger("alerts.test").warning("oops, formatted a secret: %s", slack.token)

    assert caplog.records, "expected log lines to check"
    assert slack.token not in caplog.text
    assert all(slack.token not in r.getMessage() for r in caplog.records)
    assert "oops, formatted a secret: [redacted]" in caplog.text
    assert slack.token not in json.dumps(events)
    assert slack.token not in generate_latest(REGISTRY).decode()


def test_chart_png():
    series = [(T0 + 60 * i, 10 + (i > 50) * 40, 10, 5, 15) for i in range(60)]
    png = render_chart(series, title="skyway", alert_time=T0 + 60 * 51)
    assert png.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 320)
    with pytest.raises(ValueError, match="empty"):
        render_chart([])
