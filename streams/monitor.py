"""Everything crisiswatch watches about one brand, fed post by post in event time.

:class:`BrandMonitor` is the per-brand step that both the Faust agent
(``streams/app.py``) and the offline backtest (``crisiswatch backtest``) run, so
that an engineer tunes exactly what production runs. It is pure: no Kafka, no
clocks; time comes from the posts' ``created_at`` and from the watermark the
caller advances.

Per post it updates the story tracker and the counts of the post's time bucket.
When the watermark (the newest event time seen, minus the allowed lateness)
passes a bucket's end, the bucket is *closed*: the volume and negativity-shift
detectors score and learn it, the incident decision combines them with the
fastest story, and the incident lifecycle turns that into ``open`` / ``update``
/ ``resolve`` events. Buckets without posts between two closed ones are real
zeros and are closed too (up to ``max_gap_buckets``; a longer silence is a gap
in the data, and the detectors are told nothing about it).

A post that arrives after its bucket closed is *late*: it still joins its
story, but the closed bucket is not scored again.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.incidents import Decision, IncidentTracker, Snapshot, TopPost
from detectors.incident import IncidentDecision, IncidentThresholds, decide
from detectors.shift import ShiftDetector, ShiftResult
from detectors.stories import StorySnapshot, StoryTracker
from detectors.volume import VolumeDetector, VolumeResult
from streams.post import Post

SERIES_POINTS = 180
SERIES_FIELDS = 5
TOP_STORIES = 5
QUOTE_CHARS = 280
MAX_PENDING_POSTS = 50_000


@dataclass(frozen=True)
class MonitorParams:
    """The hyper-parameters of one brand's detectors (the ``detectors`` config section, merged per brand)."""

    bucket_seconds: int = 60
    allowed_lateness_seconds: int = 120
    max_gap_buckets: int = 1440
    volume: Mapping[str, Any] = field(default_factory=dict)
    shift: Mapping[str, Any] = field(default_factory=dict)
    stories: Mapping[str, Any] = field(default_factory=dict)
    incident: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of closing one bucket: every detector output, the decision and the lifecycle events."""

    brand: str
    bucket_start: float
    posts: int
    complaints: int
    volume: VolumeResult
    shift: ShiftResult
    top_stories: Sequence[StorySnapshot]
    live_stories: int
    decision: IncidentDecision
    events: Sequence[dict[str, Any]]
    open_incidents: int


def post_from_message(message: Mapping[str, Any]) -> Post:
    """A :class:`Post` from a ``posts.by_brand`` message (already validated by the ingest step)."""
    author = message["author"]
    engagement = message.get("engagement") or {}
    return Post(
        id=message["id"], platform=message["platform"], text=message["text"], created_at=message["created_at_s"],
        author_id=author["id"], author_handle=author.get("handle", ""), author_followers=author["followers"],
        brand=message.get("brand"), reshare_of=message.get("reshare_of"), reply_to=message.get("reply_to"),
        lang=message.get("lang"), url=message.get("url"), likes=engagement.get("likes") or 0,
        reshares=engagement.get("reshares") or 0, replies=engagement.get("replies") or 0,
    )


class BrandMonitor:
    """The detectors and the incident lifecycle of one brand (see the module docstring)."""

    def __init__(self, brand: str, params: MonitorParams, tracker: IncidentTracker,
                 ignore_terms: Sequence[str] = (), state: Mapping[str, Any] | None = None) -> None:
        self.brand = brand
        self.params = params
        self.tracker = tracker
        self.thresholds = IncidentThresholds.from_config(dict(params.incident))
        story_params = {"ignore_terms": tuple(ignore_terms), **params.stories}
        state = state or {}
        # The buckets are fixed: say so, rather than let the detector infer its bucket from the
        # smallest gap between timestamps. A brand whose first two buckets were years apart (a
        # post dated 1970, then today's) made it infer a bucket of years, learn a burst rate of
        # exactly 0 and fail on the next bucket (log of 0), and the per-brand agent with it.
        # The buckets hold post counts: say so too, so that a bad (negative) count stays bad input
        # rather than making the detector read the brand's volume as a measurement series.
        volume_params = {"bucket_seconds": params.bucket_seconds, "value_type": "counts", **params.volume}
        self.volume = (VolumeDetector.from_state(state["volume"], **volume_params) if "volume" in state
                       else VolumeDetector(**volume_params))
        self.shift = (ShiftDetector.from_state(state["shift"], **params.shift) if "shift" in state
                      else ShiftDetector(**params.shift))
        self.stories = (StoryTracker.from_state(state["stories"], **story_params) if "stories" in state
                        else StoryTracker(**story_params))
        #: bucket start -> [posts, complaints], for buckets not closed yet
        self.open_buckets: dict[int, list[int]] = {int(k): v for k, v in state.get("open_buckets", {}).items()}
        self.next_bucket: int | None = state.get("next_bucket")
        self.incidents: dict[str, Any] = state.get("incidents") or {}
        #: the last SERIES_POINTS closed buckets as flat (start, posts, expected, lower, upper) runs: an
        #: array of doubles, not lists of floats, because 10,000 brands keep one each
        self.series = array("d", (value for point in state.get("series") or [] for value in point))
        self.watermark: float = state.get("watermark") or float("-inf")
        #: late posts since the owner last read and reset this (the worker exports it as a counter)
        self.late_posts = 0
        #: posts ahead of the watermark, applied once it reaches them (not saved: see streams/brand_stage.py)
        self.pending: list[tuple[float, int, Post, float, bool]] = []
        self._sequence = 0

    # --- feeding -------------------------------------------------------------------------

    def add_post(self, post: Post, negativity: float, complaint: bool,
                 watermark: float | None = None) -> list[Evaluation]:
        """Take one post; return the evaluations of the buckets the watermark closes.

        ``watermark`` is how far the caller knows it has read in event time (see
        :mod:`streams.watermark`); a file in time order leaves it out, and the post's own time is
        used. A post ahead of the watermark waits in a buffer until the watermark reaches it, so
        that posts from a partition read ahead are applied in time order, after the buckets before
        them closed: a bucket is judged on the posts up to its end plus the allowed lateness, never
        on later ones, however the caller batches and interleaves partitions.
        """
        heapq.heappush(self.pending, (post.created_at, self._sequence, post, negativity, complaint))
        self._sequence += 1
        if len(self.pending) > MAX_PENDING_POSTS:  # a partition stalled far behind: stop waiting for it
            watermark = max(watermark or float("-inf"), self.pending[0][0])
        return self.advance(post.created_at if watermark is None else watermark)

    def _apply(self, post: Post, negativity: float, complaint: bool) -> None:
        size = self.params.bucket_seconds
        bucket = int(post.created_at // size * size)
        if self.next_bucket is None:
            self.next_bucket = bucket
        if bucket >= self.next_bucket:
            counts = self.open_buckets.setdefault(bucket, [0, 0])
            counts[0] += 1
            counts[1] += int(complaint)
        else:
            self.late_posts += 1
        self.stories.learn(post, negativity, complaint)

    def advance(self, watermark: float) -> list[Evaluation]:
        """Apply the waiting posts up to ``watermark`` in time order, closing buckets as time passes them.

        A bucket closes once the watermark is ``allowed_lateness_seconds`` past its end.
        """
        watermark = self.watermark = max(watermark, self.watermark)  # late posts apply at once
        evaluations: list[Evaluation] = []
        while self.pending and self.pending[0][0] <= watermark:
            created_at, _, post, negativity, complaint = heapq.heappop(self.pending)
            evaluations.extend(self._close_until(created_at))
            self._apply(post, negativity, complaint)
        evaluations.extend(self._close_until(watermark))
        return evaluations

    def _close_until(self, now: float) -> list[Evaluation]:
        if self.next_bucket is None:
            return []
        size = self.params.bucket_seconds
        last_closable = (now - self.params.allowed_lateness_seconds) // size * size - size
        evaluations = []
        while self.next_bucket <= last_closable:
            if self.next_bucket not in self.open_buckets:
                # Quiet minutes are real zeros; a silence longer than max_gap_buckets is a gap in
                # the data: skip to the next bucket with posts without scoring zeros.
                later = [b for b in self.open_buckets if b > self.next_bucket]
                resume = min(later) if later else int(last_closable + size)
                if resume - self.next_bucket > self.params.max_gap_buckets * size:
                    self.next_bucket = int(resume)
                    continue
            posts, complaints = self.open_buckets.pop(self.next_bucket, (0, 0))
            evaluations.append(self._close(self.next_bucket, posts, complaints))
            self.next_bucket += size
        return evaluations

    # --- closing a bucket ------------------------------------------------------------------

    def _close(self, bucket: int, posts: int, complaints: int) -> Evaluation:
        end = bucket + self.params.bucket_seconds
        volume = self.volume.update(bucket, posts)
        shift = self.shift.update(bucket, complaints, posts)
        self.stories.expire(end)
        top = self.stories.top_stories(end + self.params.allowed_lateness_seconds, k=TOP_STORIES)
        decision = decide(volume, shift, top[0] if top else None, self.thresholds)
        self.series.extend((bucket, posts, _finite(volume.expected), _finite(volume.lower), _finite(volume.upper)))
        del self.series[:-SERIES_POINTS * SERIES_FIELDS]
        # The incident is about the story only when the story alone is worth an incident; otherwise it is
        # about the brand, and joins the brand's latest incident instead of opening one per passing story.
        about_story = top[0] if top and decide(None, None, top[0], self.thresholds).is_incident else None
        # Otherwise the alert quotes the brand's fastest mostly-negative story, if any: quoting a happy
        # story under a negativity alert would mislead.
        featured = about_story or next((s for s in top if s.negative_share >= 0.5), None)
        snapshot = self._snapshot(volume, shift, featured, about_story is not None)
        signals = {name: 1.0 for name in decision.signals}
        signals.update(volume_score=_finite(volume.score), shift_score=_finite(shift.score))
        decided_at = end + self.params.allowed_lateness_seconds  # the earliest a worker knows the bucket
        self.incidents, events = self.tracker.observe(
            self.incidents, self.brand, decided_at, Decision(str(decision.severity), decision.reason, signals),
            snapshot)
        return Evaluation(self.brand, bucket, posts, complaints, volume, shift, top, len(self.stories), decision,
                          events, self.open_incident_count())

    def _snapshot(self, volume: VolumeResult, shift: ShiftResult, story: StorySnapshot | None,
                  about_story: bool) -> Snapshot:
        minutes = self.params.bucket_seconds / 60
        top_posts: list[TopPost] = []
        if story is not None:
            for top in story.top_posts[:3]:
                top_posts.append(TopPost(text=top.text[:QUOTE_CHARS], author_handle=top.author_handle,
                                         reshares=top.reshares, url=top.url))
        return Snapshot(
            posts_per_minute=volume.count / minutes,
            expected_per_minute=_finite(volume.expected) / minutes,
            reach=story.reach if story else 0,
            negative_share=_finite(shift.current_share),
            top_terms=[term for term, _ in story.top_terms] if story else [],
            top_posts=top_posts,
            story_id=story.story_id if story and about_story else None,
            series=self.series_points(),
        )

    # --- state ------------------------------------------------------------------------------

    def series_points(self) -> list[tuple[float, ...]]:
        """The recent closed buckets as (start, posts, expected, lower, upper), oldest first."""
        s = self.series
        return [tuple(s[i:i + SERIES_FIELDS]) for i in range(0, len(s), SERIES_FIELDS)]

    def open_incident_count(self) -> int:
        return sum(1 for incident in self.incidents.get("incidents") or [] if incident.get("status") == "open")

    def to_state(self) -> dict[str, Any]:
        return {
            "volume": self.volume.to_state(),
            "shift": self.shift.to_state(),
            "stories": self.stories.to_state(),
            "open_buckets": {str(k): v for k, v in self.open_buckets.items()},
            "next_bucket": self.next_bucket,
            "watermark": self.watermark if math.isfinite(self.watermark) else None,
            "incidents": self.incidents,
            "series": self.series_points(),
        }


def _finite(value: float) -> float:
    return float(value) if value is not None and math.isfinite(value) else 0.0
