"""Build the alerting pieces from ``crisiswatch.yaml`` (already parsed) and the environment.

The worker calls these once at start-up; tests and the demo may build the pieces by hand instead.
Secrets never come from the YAML file: Slack's token from ``SLACK_BOT_TOKEN`` (or ``..._FILE``),
PagerDuty's routing key from ``PAGERDUTY_ROUTING_KEY`` (or ``..._FILE``), a webhook URL from
``CRISISWATCH_WEBHOOK_URL`` (or ``..._FILE``). A receiver without its secret is simply not built.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, TextIO

from alerts.console import ConsoleNotifier
from alerts.incidents import IncidentTracker
from alerts.notifier import Notifier
from alerts.pagerduty import PagerDutyNotifier
from alerts.ratelimit import MinIntervalLimiter
from alerts.slack import SlackNotifier, SlackRouting
from alerts.webhook import WebhookNotifier

_TRACKER_KEYS = ("resolve_after_seconds", "cooldown_seconds", "open_at", "growth_ratio",
                 "min_update_interval_seconds", "bucket_seconds", "max_incidents", "max_series_points")


def tracker_from_config(config: Mapping[str, Any]) -> IncidentTracker:
    """An :class:`IncidentTracker` with the hyper-parameters found under ``alerts``."""
    alerts = config.get("alerts") or {}
    return IncidentTracker(**{key: alerts[key] for key in _TRACKER_KEYS if key in alerts})


def notifiers_from_config(config: Mapping[str, Any], *, slack_messages: MutableMapping[str, Any],
                          env: Mapping[str, str] | None = None, stream: TextIO | None = None,
                          slack_limiter: MinIntervalLimiter | None = None, timeout: float = 10.0) -> list[Notifier]:
    """The notifiers that are configured and have their secret: console, Slack, PagerDuty, webhook."""
    alerts = config.get("alerts") or {}
    dashboard_url = alerts.get("dashboard_url")
    notifiers: list[Notifier] = []
    if alerts.get("console", False):
        notifiers.append(ConsoleNotifier(stream))
    if alerts.get("slack") is not None:
        routing = SlackRouting.from_config(alerts["slack"], config.get("brands") or [])
        slack = SlackNotifier.from_env(routing, slack_messages, env=env, timeout=timeout, limiter=slack_limiter,
                                       dashboard_url=dashboard_url)
        if slack is not None:
            notifiers.append(slack)
    if alerts.get("pagerduty") is not None:
        pagerduty_config = alerts["pagerduty"] or {}
        pagerduty = PagerDutyNotifier.from_env(env=env, timeout=timeout,
                                               page_at=pagerduty_config.get("page_at", "critical"),
                                               page_at_by_brand=_page_at_by_brand(config.get("brands") or []),
                                               source=pagerduty_config.get("source", "crisiswatch"),
                                               dashboard_url=dashboard_url)
        if pagerduty is not None:
            notifiers.append(pagerduty)
    webhook = WebhookNotifier.from_env(env=env, timeout=timeout)
    if webhook is not None:
        notifiers.append(webhook)
    return notifiers


def _page_at_by_brand(brands: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``brands[].alerts.pagerduty.page_at``, for the brands that set one."""
    own = {b["name"]: ((b.get("alerts") or {}).get("pagerduty") or {}).get("page_at") for b in brands}
    return {name: value for name, value in own.items() if value}
