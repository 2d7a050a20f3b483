"""Building the alerting pieces from crisiswatch.yaml and the environment."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from alerts.factory import notifiers_from_config, tracker_from_config
from alerts.slack import SlackNotifier
from tests.fakes import FakePagerDuty, FakeSlack
from tests.fakes.scenario import crisis_events

CONFIG = yaml.safe_load((Path(__file__).resolve().parent.parent / "crisiswatch.yaml").read_text())


def test_tracker_takes_its_hyper_parameters_from_the_alerts_section():
    tracker = tracker_from_config(CONFIG)
    assert tracker.resolve_after_seconds == CONFIG["alerts"]["resolve_after_seconds"]
    assert tracker.cooldown_seconds == CONFIG["alerts"]["cooldown_seconds"]


def test_only_receivers_with_a_secret_are_built():
    stream = io.StringIO()
    assert [n.kind for n in notifiers_from_config(CONFIG, slack_messages={}, env={}, stream=stream)] == ["console"]


def test_configured_receivers_deliver_to_the_fakes():
    with FakeSlack() as slack, FakePagerDuty() as pagerduty:
        env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url,
               "PAGERDUTY_ROUTING_KEY": pagerduty.routing_key, "PAGERDUTY_EVENTS_URL": pagerduty.events_url}
        notifiers = notifiers_from_config(CONFIG, slack_messages={}, env=env, stream=io.StringIO())
        assert [n.kind for n in notifiers] == ["console", "slack", "pagerduty"]
        slack_notifier = notifiers[1]
        assert isinstance(slack_notifier, SlackNotifier)
        slack_notifier.limiter.interval_seconds = 0
        for event in crisis_events(brand="voltmobile"):
            for notifier in notifiers:
                notifier.send(event)
        assert len(slack.channel_messages("#volt-comms")) == 1
        assert [p["status"] for p in pagerduty.pages.values()] == ["resolved"]


def test_a_brand_with_its_own_paging_level_is_paged_from_it():
    config = {**CONFIG, "brands": [*CONFIG["brands"],
                                   {"name": "flagship", "terms": ["flagship"],
                                    "alerts": {"pagerduty": {"page_at": "warning"}}}]}
    with FakePagerDuty() as pagerduty:
        env = {"PAGERDUTY_ROUTING_KEY": pagerduty.routing_key, "PAGERDUTY_EVENTS_URL": pagerduty.events_url}
        [pager] = [n for n in notifiers_from_config(config, slack_messages={}, env=env, stream=io.StringIO())
                   if n.kind == "pagerduty"]
        for brand in ("flagship", "skyway"):
            warning = {**crisis_events(brand=brand)[0], "severity": "warning"}
            assert pager.send(warning) == (brand == "flagship")
        assert [p["payload"]["component"] for p in pagerduty.pages.values()] == ["flagship"]
