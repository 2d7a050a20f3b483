"""The incident lifecycle: from per-minute evaluations to ``open`` / ``update`` / ``resolve`` events.

Every minute the worker evaluates each brand and gets a :class:`Decision` (how bad is it, and why)
plus a :class:`Snapshot` of the figures a human needs (posts per minute, reach, top posts...).
Alerting on every evaluation would page people sixty times an hour, so
:class:`IncidentTracker` turns that stream into a few *lifecycle events*:

* ``open``: the first evaluation at or above ``open_at`` for a brand and story;
* ``update``: only when something material changed: the severity went up (at once) or down
  (at most every ``min_update_interval_seconds``), the volume grew by ``growth_ratio`` since the
  last event, the incident learnt which story it is about, or it flared up again after being
  resolved, within ``cooldown_seconds`` (a re-flare *reopens* the same incident, so one crisis
  does not open five);
* ``resolve``: once no evaluation at ``watch`` or above has concerned the incident for
  ``resolve_after_seconds``. Calm evaluations (severity ``none``) must keep coming in for
  this to happen: resolution is driven by event time, never by a clock.

Incidents are grouped per brand and story: two different complaint stories are two incidents,
an evaluation without a story joins the brand's latest incident.

The tracker is pure like a detector: state is a JSON-compatible dict per brand (the worker keeps
it in a Faust table) and :meth:`IncidentTracker.observe` returns a new state and the events, each
a JSON-serialisable dict that goes to the ``incidents`` outbox topic before any delivery. Incident
ids are deterministic (brand + story + opening minute), so replaying the same evaluations gives the
same ids, and every event carries a per-incident ``sequence`` that only grows, which is what lets
the delivery side drop redelivered events.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detectors.base import check_range

#: Severities from calm to worst; a decision's severity is one of these.
SEVERITIES = ("none", "watch", "warning", "critical")
#: Event kinds, in the order an incident goes through them.
KINDS = ("open", "update", "resolve")
#: Version of the event dict layout, bumped on incompatible changes.
EVENT_VERSION = 1

MAX_POST_TEXT_IN_STATE = 560
MAX_TOP_POSTS = 3
MAX_TOP_TERMS = 10


def severity_rank(severity: str) -> int:
    """Position of ``severity`` in :data:`SEVERITIES` (``ValueError`` if unknown)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the detectors concluded about a brand for one evaluation."""

    severity: str
    reason: str = ""
    signals: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        severity_rank(self.severity)


@dataclass(frozen=True, slots=True)
class TopPost:
    """One of the most-shared posts, as quoted in an alert."""

    text: str
    author_handle: str
    reshares: int = 0
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "author_handle": self.author_handle,
                "reshares": int(self.reshares), "url": self.url}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The figures shown in an alert, as they are at the time of the evaluation.

    ``series`` feeds the chart: ``(t, observed, expected, lower, upper)`` per minute, oldest first.
    """

    posts_per_minute: float
    expected_per_minute: float
    reach: int = 0
    negative_share: float = 0.0
    top_terms: Sequence[str] = ()
    top_posts: Sequence[TopPost] = ()
    story_id: str | None = None
    series: Sequence[Sequence[float]] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        """Build a snapshot from the JSON form (the inverse of :meth:`to_figures` plus ``series``)."""
        return cls(
            posts_per_minute=float(data.get("posts_per_minute", 0.0)),
            expected_per_minute=float(data.get("expected_per_minute", 0.0)),
            reach=int(data.get("reach", 0)),
            negative_share=float(data.get("negative_share", 0.0)),
            top_terms=tuple(str(term) for term in data.get("top_terms", ())),
            top_posts=tuple(TopPost(text=str(p.get("text", "")), author_handle=str(p.get("author_handle", "")),
                                    reshares=int(p.get("reshares", 0)), url=p.get("url"))
                            for p in data.get("top_posts", ())),
            story_id=data.get("story_id"),
            series=tuple(tuple(point) for point in data.get("series", ())),
        )

    def to_figures(self) -> dict[str, Any]:
        """The JSON figures of an event (without the series, which is sent separately)."""
        return {
            "posts_per_minute": _finite(self.posts_per_minute),
            "expected_per_minute": _finite(self.expected_per_minute),
            "reach": int(self.reach),
            "negative_share": _finite(self.negative_share),
            "top_terms": [str(term) for term in list(self.top_terms)[:MAX_TOP_TERMS]],
            "top_posts": [post.to_dict() for post in list(self.top_posts)[:MAX_TOP_POSTS]],
            "story_id": self.story_id,
        }


class IncidentTracker:
    """Turn per-brand evaluations into incident lifecycle events (see the module docstring).

    Parameters
    ----------
    resolve_after_seconds
        An open incident resolves once nothing at ``watch`` or above concerned it for this long.
    cooldown_seconds
        A flare-up this soon after an incident resolved reopens it instead of opening a new one.
    open_at
        Lowest severity that opens (or reopens) an incident: ``watch``, ``warning`` or ``critical``.
    growth_ratio
        An update is sent when posts per minute reach this multiple of the figure last reported.
    min_update_interval_seconds
        Growth and de-escalation updates are at least this far apart (escalations are immediate).
    bucket_seconds
        Width of the opening bucket that goes into the deterministic incident id.
    max_incidents
        Most incidents (open or cooling down) kept per brand, which bounds the state.
    max_series_points
        Most chart points carried by one event.
    """

    def __init__(self, *, resolve_after_seconds: float = 1800.0, cooldown_seconds: float = 3600.0,
                 open_at: str = "warning", growth_ratio: float = 1.5,
                 min_update_interval_seconds: float = 300.0, bucket_seconds: float = 60.0,
                 max_incidents: int = 20, max_series_points: int = 180) -> None:
        check_range("resolve_after_seconds", resolve_after_seconds, 0, low_open=True)
        check_range("cooldown_seconds", cooldown_seconds, 0)
        if open_at not in SEVERITIES[1:]:
            raise ValueError(f"open_at must be one of {SEVERITIES[1:]}, got {open_at!r}")
        check_range("growth_ratio", growth_ratio, 1, low_open=True)
        check_range("min_update_interval_seconds", min_update_interval_seconds, 0)
        check_range("bucket_seconds", bucket_seconds, 0, low_open=True)
        check_range("max_incidents", max_incidents, 1)
        check_range("max_series_points", max_series_points, 0)
        self.resolve_after_seconds = float(resolve_after_seconds)
        self.cooldown_seconds = float(cooldown_seconds)
        self.open_at = open_at
        self.growth_ratio = float(growth_ratio)
        self.min_update_interval_seconds = float(min_update_interval_seconds)
        self.bucket_seconds = float(bucket_seconds)
        self.max_incidents = int(max_incidents)
        self.max_series_points = int(max_series_points)

    @staticmethod
    def initial_state() -> dict[str, Any]:
        """The state of a brand that never had an incident."""
        return {"incidents": []}

    def observe(self, state: Mapping[str, Any] | None, brand: str, time: float, decision: Decision,
                snapshot: Snapshot) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Take one evaluation of ``brand`` at event ``time`` (epoch seconds).

        Returns the brand's new state (``state`` itself is not modified) and the lifecycle events
        it caused, usually none. Resolutions come first, in the order the incidents were opened.
        """
        if not math.isfinite(time):
            raise ValueError(f"time must be finite, got {time!r}")
        new_state = copy.deepcopy(dict(state)) if state else self.initial_state()
        incidents: list[dict[str, Any]] = new_state.setdefault("incidents", [])
        events: list[dict[str, Any]] = []
        rank = severity_rank(decision.severity)
        incidents[:] = [i for i in incidents  # past their cooldown, resolved incidents are forgotten
                        if i["status"] == "open" or time - i["resolved_at"] <= self.cooldown_seconds]
        incident = self._match(incidents, snapshot.story_id) if rank >= 1 else None
        for other in incidents:
            if other is not incident and other["status"] == "open" \
                    and time - other["last_active_at"] >= self.resolve_after_seconds:
                events.append(self._resolve(brand, other, time))

        if rank >= severity_rank(self.open_at) and incident is None:
            incident = self._open_slot(incidents, brand, snapshot.story_id, time)
            if incident is None:  # every slot is taken by an open incident: join the newest
                incident = self._match(incidents, None)
            else:
                events.append(self._event("open", brand, incident, time, decision, snapshot, ["opened"]))
                return new_state, events
        if incident is not None:
            event = self._follow(brand, incident, time, decision, snapshot)
            if event is not None:
                events.append(event)
        return new_state, events

    # -- matching an evaluation to an incident -------------------------------------------------

    @staticmethod
    def _match(incidents: list[dict[str, Any]], story_id: str | None) -> dict[str, Any] | None:
        """The incident an evaluation about ``story_id`` belongs to, open ones first, newest first."""
        ranked = sorted(incidents, key=lambda i: (i["status"] == "open", i["opened_at"]), reverse=True)
        if story_id is not None:
            for incident in ranked:
                if incident["story_id"] == story_id:
                    return incident
            for incident in ranked:
                if incident["story_id"] is None:
                    return incident
            return None
        return ranked[0] if ranked else None

    def _open_slot(self, incidents: list[dict[str, Any]], brand: str, story_id: str | None,
                   time: float) -> dict[str, Any] | None:
        if len(incidents) >= self.max_incidents:
            resolved = [i for i in incidents if i["status"] == "resolved"]
            if not resolved:
                return None
            incidents.remove(min(resolved, key=lambda i: i["resolved_at"]))
        bucket = math.floor(time / self.bucket_seconds) * self.bucket_seconds
        incident = {
            "id": incident_id(brand, story_id, bucket),
            "story_id": story_id,
            "status": "open",
            "opened_at": time,
            "resolved_at": None,
            "sequence": 0,
            "severity": "none",
            "peak_severity": "none",
            "reported_posts_per_minute": 0.0,
            "peak_posts_per_minute": 0.0,
            "last_event_at": time,
            "last_active_at": time,
            "figures": {},
        }
        incidents.append(incident)
        return incident

    # -- the lifecycle steps -------------------------------------------------------------------

    def _follow(self, brand: str, incident: dict[str, Any], time: float, decision: Decision,
                snapshot: Snapshot) -> dict[str, Any] | None:
        """An evaluation at ``watch`` or above concerning an existing incident: update it if material."""
        rank, current = severity_rank(decision.severity), severity_rank(incident["severity"])
        if incident["status"] == "resolved":
            if rank < severity_rank(self.open_at):
                return None  # a murmur after resolution does not reopen
            incident.update(status="open", resolved_at=None)
            changes = ["reopened"]
            if snapshot.story_id is not None and incident["story_id"] is None:
                incident["story_id"] = snapshot.story_id
                changes.append("story")
            return self._event("update", brand, incident, time, decision, snapshot, changes)
        incident["last_active_at"] = time
        quiet_long_enough = time - incident["last_event_at"] >= self.min_update_interval_seconds
        changes = []
        if rank > current:
            changes.append("escalated")
        elif rank < current and quiet_long_enough:
            changes.append("deescalated")
        if snapshot.story_id is not None and incident["story_id"] is None:
            incident["story_id"] = snapshot.story_id
            changes.append("story")
        reported = incident["reported_posts_per_minute"]
        if quiet_long_enough and snapshot.posts_per_minute >= max(reported, 1e-9) * self.growth_ratio:
            changes.append("growth")
        if not changes:
            incident["peak_posts_per_minute"] = max(incident["peak_posts_per_minute"],
                                                    _finite(snapshot.posts_per_minute))
            return None
        severity = decision.severity if ("escalated" in changes or "deescalated" in changes) \
            else incident["severity"]
        return self._event("update", brand, incident, time, decision, snapshot, changes, severity)

    def _resolve(self, brand: str, incident: dict[str, Any], time: float) -> dict[str, Any]:
        incident.update(status="resolved", resolved_at=time)
        incident["sequence"] += 1
        incident["last_event_at"] = time
        event = self._base_event("resolve", brand, incident, time, ["resolved"])
        event.update(severity=incident["severity"], previous_severity=incident["severity"],
                     reason="signals calm", signals={}, figures=copy.deepcopy(incident["figures"]), series=[],
                     calm_since=incident["last_active_at"])
        return event

    def _event(self, kind: str, brand: str, incident: dict[str, Any], time: float, decision: Decision,
               snapshot: Snapshot, changes: list[str], severity: str | None = None) -> dict[str, Any]:
        """Record an open/update in ``incident`` and build its event."""
        previous = incident["severity"]
        severity = severity or decision.severity
        if kind == "open" or "reopened" in changes:
            severity = decision.severity
        figures = snapshot.to_figures()
        figures["story_id"] = incident["story_id"] if snapshot.story_id is None else snapshot.story_id
        incident["sequence"] += 1
        incident["severity"] = severity
        if severity_rank(severity) > severity_rank(incident["peak_severity"]):
            incident["peak_severity"] = severity
        incident["reported_posts_per_minute"] = figures["posts_per_minute"]
        incident["peak_posts_per_minute"] = max(incident["peak_posts_per_minute"], figures["posts_per_minute"])
        incident["last_event_at"] = time
        incident["last_active_at"] = time
        incident["figures"] = _figures_for_state(figures)
        event = self._base_event(kind, brand, incident, time, changes)
        event.update(
            severity=severity,
            previous_severity=None if kind == "open" else previous,
            reason=decision.reason,
            signals={str(k): _json_scalar(v) for k, v in decision.signals.items()},
            figures=figures,
            series=_series(snapshot.series, self.max_series_points),
        )
        return event

    @staticmethod
    def _base_event(kind: str, brand: str, incident: dict[str, Any], time: float,
                    changes: list[str]) -> dict[str, Any]:
        return {
            "version": EVENT_VERSION,
            "incident_id": incident["id"],
            "sequence": incident["sequence"],
            "kind": kind,
            "brand": brand,
            "story_id": incident["story_id"],
            "changes": changes,
            "time": time,
            "opened_at": incident["opened_at"],
            "resolved_at": incident["resolved_at"],
            "peak_severity": incident["peak_severity"],
            "peak_posts_per_minute": incident["peak_posts_per_minute"],
        }


def incident_id(brand: str, story_id: str | None, bucket_start: float) -> str:
    """A readable, deterministic id: ``<brand>-<opening minute UTC>-<hash of brand, story, bucket>``.

    Deterministic so that a replay, or a worker that restarts and re-evaluates, names the incident
    the same way; the id is also PagerDuty's ``dedup_key`` (at most 255 characters).
    """
    digest = hashlib.sha256(f"{brand}\x1f{story_id or ''}\x1f{bucket_start:.0f}".encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", brand.lower()).strip("-")[:40] or "brand"
    minute = datetime.fromtimestamp(bucket_start, tz=UTC).strftime("%Y%m%dT%H%MZ")
    return f"{slug}-{minute}-{digest}"


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def _json_scalar(value: Any) -> Any:
    """A signal value as JSON: numbers finite, strings and booleans as they are, anything else as text."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return _finite(value)
    return str(value)


def _series(points: Iterable[Sequence[float]], limit: int) -> list[list[float]]:
    series = [[_finite(v) for v in point[:5]] for point in points if len(point) >= 5]
    return series[-limit:] if limit else []


def _figures_for_state(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures kept in the state for the resolve message, with post texts cut to bound its size."""
    kept = copy.deepcopy(figures)
    for post in kept["top_posts"]:
        post["text"] = post["text"][:MAX_POST_TEXT_IN_STATE]
        post["author_handle"] = post["author_handle"][:256]
        if post["url"] is not None:
            post["url"] = str(post["url"])[:2048]
    kept["top_terms"] = [term[:100] for term in kept["top_terms"]]
    return kept
