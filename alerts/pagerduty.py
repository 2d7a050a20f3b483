"""PagerDuty Events API v2: page on-call for incidents at or above the paging level.

:class:`PagerDutyClient` speaks the API (``POST /v2/enqueue``, ``trigger`` / ``acknowledge`` /
``resolve``) with ``requests``. :class:`PagerDutyNotifier` decides what an incident event means:

* ``open`` or ``update`` with severity at or above ``page_at`` -> ``trigger``. PagerDuty
  deduplicates by ``dedup_key`` (the incident id), so repeated triggers add to the same alert
  and a redelivered event never pages twice;
* ``resolve`` of an incident whose *peak* severity reached ``page_at`` -> ``resolve``, so an
  incident paged once is always resolved, even if it calmed down below the paging level first;
* anything else is not for PagerDuty.

The routing key is a secret: it is read from ``PAGERDUTY_ROUTING_KEY`` (or ``..._FILE``) and sent
only in request bodies, which are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from alerts.credentials import read_secret
from alerts.incidents import severity_rank
from alerts.notifier import PermanentError, RetryableError

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: Our severities in PagerDuty's terms (PagerDuty has critical, error, warning, info).
SEVERITY_MAP = {"critical": "critical", "warning": "warning", "watch": "info"}
MAX_SUMMARY_CHARS = 1024
MAX_DETAIL_TEXT_CHARS = 500


class PagerDutyClient:
    """Send events to the PagerDuty Events API v2; failures become DeliveryErrors."""

    def __init__(self, routing_key: str, *, url: str = DEFAULT_EVENTS_URL, session: requests.Session | None = None,
                 timeout: float = 10.0) -> None:
        if not routing_key:
            raise ValueError("routing_key must not be empty")
        self._routing_key = routing_key
        self.url = url
        self.session = session or requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the routing key
        return f"PagerDutyClient(url={self.url!r})"

    def trigger(self, dedup_key: str, *, summary: str, source: str, severity: str,
                timestamp: float | None = None, component: str | None = None, group: str | None = None,
                event_class: str | None = None, custom_details: Mapping[str, Any] | None = None,
                links: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """Open (or add to) the alert ``dedup_key``; ``severity`` is critical/error/warning/info."""
        payload: dict[str, Any] = {"summary": _cut(summary, MAX_SUMMARY_CHARS), "source": source[:255],
                                   "severity": severity}
        if timestamp is not None:
            payload["timestamp"] = datetime.fromtimestamp(timestamp, tz=UTC).isoformat()
        for key, value in (("component", component), ("group", group), ("class", event_class)):
            if value:
                payload[key] = value[:255]
        if custom_details:
            payload["custom_details"] = dict(custom_details)
        body: dict[str, Any] = {"event_action": "trigger", "dedup_key": dedup_key, "payload": payload}
        if links:
            body["links"] = links
        return self._enqueue(body)

    def acknowledge(self, dedup_key: str) -> dict[str, Any]:
        """Acknowledge the alert ``dedup_key`` (stops escalation, keeps it open)."""
        return self._enqueue({"event_action": "acknowledge", "dedup_key": dedup_key})

    def resolve(self, dedup_key: str) -> dict[str, Any]:
        """Resolve the alert ``dedup_key``."""
        return self._enqueue({"event_action": "resolve", "dedup_key": dedup_key})

    def _enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        action = body["event_action"]
        try:
            response = self.session.post(self.url, json={"routing_key": self._routing_key, **body},
                                         timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise RetryableError(f"pagerduty {action}: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise PermanentError(f"pagerduty {action}: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            try:
                return response.json()
            except ValueError:
                return {}
        if status == 429 or status >= 500:
            raise RetryableError(f"pagerduty {action}: HTTP {status}", retry_after=_retry_after(response))
        raise PermanentError(f"pagerduty {action}: HTTP {status} {_errors(response)}".rstrip())


class PagerDutyNotifier:
    """Page for incidents at or above ``page_at`` (see the module docstring)."""

    kind = "pagerduty"

    def __init__(self, client: PagerDutyClient, *, page_at: str = "critical", source: str = "crisiswatch",
                 name: str = "pagerduty", dashboard_url: str | None = None,
                 page_at_by_brand: Mapping[str, str] | None = None) -> None:
        page_at_by_brand = dict(page_at_by_brand or {})
        for value in (page_at, *page_at_by_brand.values()):
            if value not in SEVERITY_MAP:
                raise ValueError(f"page_at must be one of {tuple(SEVERITY_MAP)}, got {value!r}")
        self.client = client
        self.page_at = page_at
        #: brands paged at another severity than ``page_at`` (e.g. a flagship brand from "warning")
        self.page_at_by_brand = page_at_by_brand
        self.source = source
        self.name = name
        self.dashboard_url = dashboard_url

    @classmethod
    def from_env(cls, *, env: Mapping[str, str] | None = None, timeout: float = 10.0,
                 **kwargs: Any) -> PagerDutyNotifier | None:
        """From ``PAGERDUTY_ROUTING_KEY`` (or ``..._FILE``) and ``PAGERDUTY_EVENTS_URL``; ``None`` if no key."""
        env = os.environ if env is None else env
        key = read_secret("PAGERDUTY_ROUTING_KEY", env)
        if key is None:
            return None
        client = PagerDutyClient(key, url=env.get("PAGERDUTY_EVENTS_URL") or DEFAULT_EVENTS_URL, timeout=timeout)
        return cls(client, **kwargs)

    def send(self, event: dict[str, Any]) -> bool:
        threshold = severity_rank(self.page_at_by_brand.get(str(event.get("brand")), self.page_at))
        if event["kind"] == "resolve":
            if severity_rank(event.get("peak_severity", "none")) < threshold:
                return False
            self.client.resolve(event["incident_id"])
            return True
        if severity_rank(event["severity"]) < threshold:
            return False
        self.client.trigger(
            event["incident_id"],
            summary=summary(event),
            source=self.source,
            severity=SEVERITY_MAP[event["severity"]],
            timestamp=float(event["time"]),
            component=str(event["brand"]),
            group="brand-reputation",
            event_class="social-media-crisis",
            custom_details=custom_details(event),
            links=[{"href": self._dashboard(event), "text": "crisiswatch dashboard"}] if self.dashboard_url else None,
        )
        return True

    def _dashboard(self, event: dict[str, Any]) -> str:
        assert self.dashboard_url is not None
        return (self.dashboard_url.replace("{brand}", quote(str(event["brand"]), safe=""))
                .replace("{incident_id}", quote(str(event["incident_id"]), safe="")))


def summary(event: dict[str, Any]) -> str:
    """``[CRITICAL] skyway: 240 posts/min vs 15 expected, 64% negative - reason``, at most 1,024 characters."""
    figures = event.get("figures") or {}
    text = (f"[{event['severity'].upper()}] {event['brand']}: {figures.get('posts_per_minute', 0):.0f} posts/min "
            f"vs {figures.get('expected_per_minute', 0):.0f} expected, "
            f"{100 * float(figures.get('negative_share', 0)):.0f}% negative")
    if event.get("reason"):
        text += f" - {event['reason']}"
    return _cut(text, MAX_SUMMARY_CHARS)


def custom_details(event: dict[str, Any]) -> dict[str, Any]:
    """What the responder sees in PagerDuty, with post texts cut to keep the event small."""
    figures = event.get("figures") or {}
    return {
        "incident_id": event["incident_id"],
        "sequence": event["sequence"],
        "changes": event.get("changes", []),
        "story_id": event.get("story_id"),
        "posts_per_minute": figures.get("posts_per_minute"),
        "expected_per_minute": figures.get("expected_per_minute"),
        "reach": figures.get("reach"),
        "negative_share": figures.get("negative_share"),
        "top_terms": figures.get("top_terms", []),
        "top_posts": [{**post, "text": _cut(str(post.get("text", "")), MAX_DETAIL_TEXT_CHARS)}
                      for post in figures.get("top_posts", [])],
        "signals": event.get("signals", {}),
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, TypeError, ValueError):
        return None


def _errors(response: requests.Response) -> str:
    """PagerDuty's own explanation of a rejected event, short."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    return _cut("; ".join(str(e) for e in errors), 300)
