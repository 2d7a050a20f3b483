"""A fake PagerDuty Events API v2 (``POST /v2/enqueue``) that validates events like the real one.

Valid events get HTTP 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}``;
invalid ones (bad routing key, unknown ``event_action``, a trigger without summary, source or a
known severity, a summary over 1,024 characters, acknowledge/resolve without ``dedup_key``) get
400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.

Inspect ``pages[dedup_key]``: ``status`` (triggered / acknowledged / resolved), ``events`` (every
accepted body for that key, in order) and ``payload`` (of the latest trigger); and ``requests``.
Script failures with ``fail_next(429)``, ``fail_next(500)``, ``fail_next(400)``,
``fail_next(503, delay=1.0)``.
"""

from __future__ import annotations

import itertools
from typing import Any

from ._http import Failure, FakeServer, RecordedRequest

ACTIONS = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
SEVERITIES = {"critical", "error", "warning", "info"}


class FakePagerDuty(FakeServer):
    """A local PagerDuty Events API v2 (see the module docstring)."""

    def __init__(self, routing_key: str = "R0UT1NGKEY0123456789abcdefABCDEF") -> None:
        super().__init__()
        self.routing_key = routing_key
        self.pages: dict[str, dict[str, Any]] = {}
        self._keys = itertools.count(1)

    @property
    def events_url(self) -> str:
        """What to pass as ``PAGERDUTY_EVENTS_URL``."""
        return f"{self.base_url}/v2/enqueue"

    def method_of(self, path: str) -> str:
        return "enqueue" if path.split("?", 1)[0] == "/v2/enqueue" else path

    def failure_body(self, failure: Failure) -> Any:
        if failure.body is not None:
            return failure.body
        if failure.status == 400:
            return {"status": "invalid event", "message": "Event object is invalid", "errors": ["scripted"]}
        if failure.status == 429:
            return {"status": "throttle event", "message": "Requests for this service are arriving too quickly."}
        return {"status": "error", "message": "scripted failure"}

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        if request.method != "enqueue":
            return 404, {}, {"status": "error", "message": "not found"}
        event = request.body if isinstance(request.body, dict) else None
        errors = _validate(event, self.routing_key)
        if errors:
            return 400, {}, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        assert event is not None
        dedup_key = event.get("dedup_key") or f"generated-{next(self._keys)}"
        page = self.pages.setdefault(dedup_key, {"status": None, "events": [], "payload": None})
        page["events"].append(event)
        page["status"] = ACTIONS[event["event_action"]]
        if event["event_action"] == "trigger":
            page["payload"] = event["payload"]
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def _validate(event: dict[str, Any] | None, routing_key: str) -> list[str]:
    if event is None:
        return ["Body is not a JSON object"]
    errors = []
    if event.get("routing_key") != routing_key:
        errors.append("'routing_key' is invalid")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    elif action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary:
                errors.append("'payload.summary' is missing")
            elif len(summary) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
            if not payload.get("source"):
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' must be one of critical, error, warning, info")
    elif not event.get("dedup_key"):
        errors.append(f"'dedup_key' is required for {action}")
    return errors
