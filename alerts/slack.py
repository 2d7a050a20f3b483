"""Slack notifier: one message per incident and channel, edited as the incident evolves.

On ``open`` the notifier posts the Block Kit message (:mod:`alerts.slack_message`) with
``chat.postMessage`` and attaches the volume chart in its thread (``files_upload_v2``). Every
later event edits that message with ``chat.update`` and adds a short thread reply; ``resolve``
edits it to show the incident resolved. The channel comes from :class:`SlackRouting` (per brand
and severity); if an escalation routes the incident to another channel, a message is posted
there too and both are kept up to date.

Idempotence: where each message lives (channel id, ``ts``) and which steps are done (thread reply
for a sequence, chart) are written to ``messages`` (a Faust table in production) right after each
step, so a retried or redelivered event edits instead of posting again. A new message is the one
step whose outcome can be unknown: Slack may post it and the answer be lost (a timeout), or the
worker may die before the store write. So the attempt is written down first (``pending``), the
message carries the incident id as Slack message metadata, and the next attempt after an
unfinished one looks in the channel's recent history (``conversations.history``, the channel id
found with ``conversations.list`` when the route is a name) and adopts the message it finds
instead of posting a second one. That needs the ``channels:history`` and ``channels:read`` scopes
(``groups:*`` for private channels); without them the lookup is logged and skipped, and the
message may be posted twice (at-least-once), as it would be without the lookup.

Retries: the ``WebClient`` is built with ``retry_handlers=[]``: slack-sdk's own handlers would
retry connection errors and (if enabled) 429s inside the call, with their own sleeps that tests
cannot control and that :mod:`alerts.delivery` would neither count nor bound. Instead every
failure is translated here into a retryable or permanent :class:`~alerts.notifier.DeliveryError`.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from alerts.chart import render_chart
from alerts.credentials import get_logger, read_secret
from alerts.incidents import severity_rank
from alerts.notifier import PermanentError, RetryableError
from alerts.ratelimit import MinIntervalLimiter
from alerts.slack_message import build_message, headline, thread_reply

DEFAULT_API_URL = "https://slack.com/api/"

METADATA_EVENT_TYPE = "crisiswatch_incident"
"""The Slack message metadata type of an incident's message; its payload names the incident."""
HISTORY_PAGE = 200
"""Messages read back when checking whether an unfinished attempt posted after all."""
CHANNEL_PAGE = 200
CLOCK_MARGIN_SECONDS = 120.0
"""How much earlier than our clock's record of the attempt Slack's timestamp may be."""

#: Slack ``error`` codes that mean "try again later"; any other error is permanent.
RETRYABLE_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
    "request_timeout", "team_added_to_org", "timeout",
})

log = get_logger(__name__)


class SlackRouting:
    """Which channel an incident goes to, by brand and severity.

    Precedence, most specific first: the brand's ``channels_by_severity``, the brand's
    ``channel``, the global ``channels_by_severity``, the global ``channel``. This is the shape of
    ``alerts.slack`` and of each brand's ``alerts.slack`` in ``crisiswatch.yaml``.
    """

    def __init__(self, channel: str | None, channels_by_severity: Mapping[str, str] | None = None,
                 brands: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.channel = channel
        self.channels_by_severity = dict(channels_by_severity or {})
        self.brands = {name: dict(cfg) for name, cfg in (brands or {}).items()}
        for severity in self.channels_by_severity:
            severity_rank(severity)

    @classmethod
    def from_config(cls, slack_config: Mapping[str, Any] | None,
                    brands: Sequence[Mapping[str, Any]] = ()) -> SlackRouting:
        """From ``alerts.slack`` and the ``brands`` list of the configuration."""
        slack_config = slack_config or {}
        per_brand = {b["name"]: ((b.get("alerts") or {}).get("slack") or {}) for b in brands}
        return cls(slack_config.get("channel"), slack_config.get("channels_by_severity"),
                   {name: cfg for name, cfg in per_brand.items() if cfg})

    def channel_for(self, brand: str, severity: str) -> str | None:
        """The channel for ``brand`` at ``severity``, or ``None`` if nothing is configured."""
        own = self.brands.get(brand, {})
        return ((own.get("channels_by_severity") or {}).get(severity) or own.get("channel")
                or self.channels_by_severity.get(severity) or self.channel)


def build_client(token: str, *, base_url: str | None = None, timeout: float = 10.0) -> WebClient:
    """A ``WebClient`` without built-in retries, logging through the redacting logger."""
    base_url = base_url or DEFAULT_API_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[],
                     logger=get_logger("alerts.slack_sdk"))


class SlackNotifier:
    """Post, edit and thread incident messages in Slack (see the module docstring).

    Parameters
    ----------
    client
        A ``WebClient``, best from :func:`build_client`.
    routing
        Channel per brand and severity.
    messages
        Incident id -> ``{"channels": {route: {"channel", "ts", "replied", "chart"}}, "pending": {route:
        when a new message was last attempted there, until its answer is stored}}``; a dict in tests.
    limiter
        Spaces calls per channel (one per second by default).
    dashboard_url
        Optional link template for the message, with ``{brand}`` and ``{incident_id}``.
    charts
        Attach the volume chart to new messages when the event carries a series.
    clock
        Wall-clock seconds, to compare with Slack's message timestamps.
    """

    kind = "slack"

    def __init__(self, client: WebClient, routing: SlackRouting, messages: MutableMapping[str, Any], *,
                 limiter: MinIntervalLimiter | None = None, name: str = "slack",
                 dashboard_url: str | None = None, charts: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.routing = routing
        self.messages = messages
        self.limiter = limiter or MinIntervalLimiter(1.0)
        self.name = name
        self.dashboard_url = dashboard_url
        self.charts = charts
        self.clock = clock
        self._channel_ids: dict[str, str] = {}  # channel name -> id, learnt from conversations.list

    @classmethod
    def from_env(cls, routing: SlackRouting, messages: MutableMapping[str, Any], *,
                 env: Mapping[str, str] | None = None, timeout: float = 10.0, **kwargs: Any) -> SlackNotifier | None:
        """Built from ``SLACK_BOT_TOKEN`` (or ``SLACK_BOT_TOKEN_FILE``) and ``SLACK_API_URL``; ``None`` if no token."""
        env = os.environ if env is None else env
        token = read_secret("SLACK_BOT_TOKEN", env)
        if token is None:
            return None
        client = build_client(token, base_url=env.get("SLACK_API_URL"), timeout=timeout)
        return cls(client, routing, messages, **kwargs)

    def send(self, event: dict[str, Any]) -> bool:
        incident_id = event["incident_id"]
        record = _copied(self.messages.get(incident_id) or {"channels": {}})
        # A route with an unfinished post has a message to find even if none was stored.
        routes = list(record["channels"]) + [r for r in record["pending"] if r not in record["channels"]]
        target = self.routing.channel_for(event["brand"], event["severity"])
        if target is not None and target not in routes and event["kind"] != "resolve":
            routes.append(target)
        if not routes:
            return False
        blocks, text = build_message(event, dashboard_url=self.dashboard_url)
        sequence = int(event["sequence"])

        def save() -> None:
            self.messages[incident_id] = _copied(record)

        sent = False
        for route in routes:
            message = record["channels"].get(route)
            if message is None and route in record["pending"]:
                message = self._find_earlier_post(incident_id, route, record["pending"][route])
                if message is not None:
                    record["channels"][route] = message
                    del record["pending"][route]
                    save()
                elif event["kind"] == "resolve":
                    continue  # the incident was never announced there: nothing to mark resolved
            if message is not None and not self._edit(message, blocks, text, route):
                message = None  # the message was deleted in Slack: post a fresh one
            if message is None:
                record["pending"][route] = self.clock()
                save()
                response = self._call("chat.postMessage", self.client.chat_postMessage, route, channel=route,
                                      blocks=blocks, text=text, unfurl_links=False, unfurl_media=False,
                                      metadata={"event_type": METADATA_EVENT_TYPE,
                                                "event_payload": {"incident_id": incident_id, "sequence": sequence}})
                message = {"channel": response["channel"], "ts": response["ts"], "replied": sequence, "chart": False}
                record["channels"][route] = message
                del record["pending"][route]
                save()
            if message["replied"] < sequence:
                self._call("chat.postMessage", self.client.chat_postMessage, route, channel=message["channel"],
                           thread_ts=message["ts"], text=thread_reply(event), unfurl_links=False)
                message["replied"] = sequence
                save()
            if self.charts and not message["chart"] and event.get("series") and event["kind"] != "resolve":
                self._upload_chart(event, message, route)
                message["chart"] = True
                save()
            sent = True
        return sent

    def _find_earlier_post(self, incident_id: str, route: str, attempted_at: float) -> dict[str, Any] | None:
        """The message an unfinished attempt may have posted in ``route``, from the channel's history.

        Only messages since the attempt (less a margin for clocks) are read, newest first, one page
        of ``HISTORY_PAGE``: a retry comes minutes later, not hundreds of messages later. ``None``
        when nothing was posted, or when Slack will not say (a missing scope, an unknown channel):
        then the caller posts, at least once.
        """
        try:
            channel_id = self._channel_id(route)
            if channel_id is None:
                log.warning("slack: channel %s not found by name; cannot check for an earlier post", route)
                return None
            history = self._call("conversations.history", self.client.conversations_history, route,
                                 channel=channel_id, oldest=f"{attempted_at - CLOCK_MARGIN_SECONDS:.6f}",
                                 limit=HISTORY_PAGE, include_all_metadata=True)
        except PermanentError as exc:
            log.warning("slack: cannot check %s for an earlier post (%s); posting", route, exc.reason)
            return None
        for item in history.get("messages") or []:
            metadata = item.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT_TYPE and payload.get("incident_id") == incident_id:
                log.info("slack: adopting the message %s an earlier attempt posted in %s", item["ts"], route)
                return {"channel": channel_id, "ts": item["ts"], "replied": int(payload.get("sequence") or 0),
                        "chart": False}
        return None

    def _channel_id(self, route: str) -> str | None:
        """Slack's id of the channel ``route`` names (``#name`` or ``name``); a route that is an id is one."""
        if route[:1] in ("C", "G") and route.isalnum() and route.isupper():  # Slack names are lower case
            return route
        name = route.lstrip("#")
        if name not in self._channel_ids:
            cursor = None
            while True:
                page = self._call("conversations.list", self.client.conversations_list, route,
                                  types="public_channel,private_channel", exclude_archived=True,
                                  limit=CHANNEL_PAGE, cursor=cursor)
                self._channel_ids.update((c["name"], c["id"]) for c in page.get("channels") or [])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if name in self._channel_ids or not cursor:
                    break
        return self._channel_ids.get(name)

    def _edit(self, message: dict[str, Any], blocks: list[dict[str, Any]], text: str, route: str) -> bool:
        try:
            self._call("chat.update", self.client.chat_update, route, channel=message["channel"],
                       ts=message["ts"], blocks=blocks, text=text)
        except PermanentError as exc:
            if exc.reason.endswith(": message_not_found"):
                log.warning("slack: message %s in %s was deleted, posting a new one", message["ts"], route)
                return False
            raise
        return True

    def _upload_chart(self, event: dict[str, Any], message: dict[str, Any], route: str) -> None:
        opened = event.get("opened_at")
        png = render_chart(event["series"], title=headline(event), alert_time=opened)
        self._call("files.upload", self.client.files_upload_v2, route, channel=message["channel"],
                   thread_ts=message["ts"], file=png, filename=f"{event['incident_id']}.png",
                   title=f"Posts per minute, {event['brand']}", alt_txt="posts per minute against the expected range")

    def _call(self, method: str, function: Callable[..., Any], route: str, **kwargs: Any) -> Any:
        """Call the Slack API once, paced per channel, mapping every failure to a DeliveryError."""
        self.limiter.acquire(route)
        try:
            return function(**kwargs)
        except SlackApiError as exc:
            raise _api_error(method, exc) from None
        except urllib.error.HTTPError as exc:  # raised by the upload step of files_upload_v2
            if exc.code == 429 or exc.code >= 500:
                raise RetryableError(f"slack {method}: HTTP {exc.code}",
                                     retry_after=_retry_after(exc.headers)) from None
            raise PermanentError(f"slack {method}: HTTP {exc.code}") from None
        except (OSError, http.client.HTTPException, SlackClientError) as exc:
            # URLError, TimeoutError, ConnectionError, RemoteDisconnected, an upload answered oddly
            raise RetryableError(f"slack {method}: {type(exc).__name__}") from None


def _copied(record: Mapping[str, Any]) -> dict[str, Any]:
    """A deep enough copy of a message record, so that the store never shares dicts with our working copy."""
    return {"channels": {route: dict(message) for route, message in record["channels"].items()},
            "pending": dict(record.get("pending") or {})}


def _api_error(method: str, exc: SlackApiError) -> Exception:
    response = exc.response
    status = getattr(response, "status_code", 200)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error") or "")[:100]
    if status == 429 or error in ("ratelimited", "rate_limited"):
        return RetryableError(f"slack {method}: rate limited", retry_after=_retry_after(response.headers))
    if status >= 500:
        return RetryableError(f"slack {method}: HTTP {status} {error}".rstrip())
    if error in RETRYABLE_ERRORS:
        return RetryableError(f"slack {method}: {error}")
    return PermanentError(f"slack {method}: {error}")


def _retry_after(headers: Any) -> float | None:
    """``Retry-After`` in seconds, whatever the case of the header name; ``None`` if absent or a date."""
    if not headers:
        return None
    for name, value in dict(headers).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None
