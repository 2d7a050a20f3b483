"""Per-brand negativity shift: has the share of negative posts risen above its own baseline?

An observation is one window of a brand's posts: ``(timestamp, negative_count,
total_count)``. The detector keeps two exponentially weighted pools of
(negatives, total) counts:

* the **baseline**, with a memory of days (``baseline_halflife_hours``): what
  share of this brand's posts is usually negative;
* the **recent** pool, with a memory of hours (``recent_halflife_hours``).

Each observation is tested twice against the baseline share, with the signed
root of the binomial log-likelihood ratio (the G statistic). Unlike a normal
approximation it is well-behaved for small counts, and it grows with the
number of posts, so 2 negatives out of 3 posts carry little evidence:

* the **window** test: is this window's share too high? (a sudden shift)
* the **drift** test: is the recent pool's share too high? A slow rise that no
  single window reveals accumulates there. The baseline follows a drift too,
  but more slowly, and only at a clipped rate (below), so a sustained drift
  ends up flagged instead of quietly becoming the new normal.

The score is the larger of the two evidences, squashed into [0, 1] with 0.5 at
``alert_z``. An alert also needs ``min_total`` posts in the window (or in the
recent pool, for the drift test) and a share at least ``min_share_increase``
above the baseline: statistically sure but tiny shifts are not crises.

What the baseline learns is clipped: a window's negatives are capped at the
count that would give evidence ``learn_clip_z``, so an incident lasting hours
does not become the baseline while it lasts. Bad input (NaN, negative counts,
more negatives than posts) and late or repeated timestamps are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Self

from detectors.base import check_range

Observation = tuple[float, float, float]
"""``(timestamp in seconds, negative posts, all posts)`` for one window of one brand."""

HOUR = 3600.0


def signed_binomial_evidence(negatives: float, total: float, baseline_share: float) -> float:
    """Signed root of the binomial G statistic: ~N(0, 1) when the share is the baseline's.

    Positive when ``negatives / total`` is above ``baseline_share``. Works for
    fractional (weighted) counts too.
    """
    if total <= 0:
        return 0.0
    share = negatives / total
    p = min(max(baseline_share, 1e-6), 1 - 1e-6)

    def term(observed: float, expected: float) -> float:
        return observed * math.log(observed / expected) if observed > 0 else 0.0

    g = 2.0 * (term(negatives, total * p) + term(total - negatives, total * (1 - p)))
    root = math.sqrt(max(g, 0.0))
    return root if share >= p else -root


def _valid(x: Observation) -> bool:
    timestamp, negatives, total = x
    return (all(isinstance(v, int | float) and math.isfinite(v) for v in x)
            and 0 <= negatives <= total and timestamp == timestamp)


@dataclass(frozen=True, slots=True)
class ShiftResult:
    """What :meth:`ShiftDetector.update` says about one window."""

    timestamp: float
    score: float
    baseline_share: float
    current_share: float  # this window's share (0 when it has no posts)
    recent_share: float  # the recent pool's share, for the slow-drift view
    alert: bool

    @property
    def share(self) -> float:
        """The share the incident decision compares with the baseline: the recent pool's, steadier than one window."""
        return self.recent_share


class ShiftDetector:
    """Detect a rise in a brand's share of negative posts against its own baseline.

    Parameters
    ----------
    alert_z
        Evidence (signed root G, roughly standard deviations) needed to alert;
        ``score`` is 0.5 there.
    min_total
        Fewest posts in the window (or in the recent pool) for an alert.
    min_share_increase
        Least rise of the share over the baseline for an alert (0.1 = 10 points).
    baseline_halflife_hours, recent_halflife_hours
        Memories of the two pools.
    learn_clip_z
        The baseline learns a window's negatives capped at this evidence.
    prior_share, prior_posts
        Baseline before any data: ``prior_share`` worth ``prior_posts`` posts.
    warmup_posts
        No alert until the baseline has seen this many posts.
    """

    def __init__(self, *, alert_z: float = 4.0, min_total: float = 20.0, min_share_increase: float = 0.1,
                 baseline_halflife_hours: float = 24.0 * 7, recent_halflife_hours: float = 2.0,
                 learn_clip_z: float = 2.0, prior_share: float = 0.2, prior_posts: float = 20.0,
                 warmup_posts: float = 200.0) -> None:
        check_range("alert_z", alert_z, 0.0, low_open=True)
        check_range("min_total", min_total, 0.0)
        check_range("min_share_increase", min_share_increase, 0.0, 1.0)
        check_range("baseline_halflife_hours", baseline_halflife_hours, 0.0, low_open=True)
        check_range("recent_halflife_hours", recent_halflife_hours, 0.0, low_open=True)
        if recent_halflife_hours >= baseline_halflife_hours:
            raise ValueError("recent_halflife_hours must be < baseline_halflife_hours")
        check_range("learn_clip_z", learn_clip_z, 0.0, low_open=True)
        check_range("prior_share", prior_share, 0.0, 1.0, low_open=True, high_open=True)
        check_range("prior_posts", prior_posts, 0.0, low_open=True)
        check_range("warmup_posts", warmup_posts, 0.0)
        self.alert_z = alert_z
        self.min_total = min_total
        self.min_share_increase = min_share_increase
        self.baseline_halflife_hours = baseline_halflife_hours
        self.recent_halflife_hours = recent_halflife_hours
        self.learn_clip_z = learn_clip_z
        self.prior_share = prior_share
        self.prior_posts = prior_posts
        self.warmup_posts = warmup_posts

        self._baseline = [prior_share * prior_posts, prior_posts]  # [negatives, total], decayed
        self._recent = [0.0, 0.0]
        self._seen_posts = 0.0
        self._last_time: float | None = None

    # -- model ---------------------------------------------------------------------------------

    @property
    def baseline_share(self) -> float:
        negatives, total = self._baseline
        # After a silence of about a thousand half-lives (decades with the defaults: a brand's
        # first post dated 1970, the next today) the decayed pool underflows to nothing: then
        # nothing is known beyond the prior.
        return negatives / total if total > 0 else self.prior_share

    def _decayed(self, pool: list[float], timestamp: float, halflife_hours: float) -> list[float]:
        if self._last_time is None or timestamp <= self._last_time:
            return list(pool)
        factor = 0.5 ** ((timestamp - self._last_time) / (halflife_hours * HOUR))
        return [pool[0] * factor, pool[1] * factor]

    def _evidence(self, x: Observation) -> tuple[float, float, list[float]]:
        """(window evidence, drift evidence, recent pool including ``x``)."""
        timestamp, negatives, total = x
        recent = self._decayed(self._recent, timestamp, self.recent_halflife_hours)
        recent = [recent[0] + negatives, recent[1] + total]
        p0 = self.baseline_share
        return (signed_binomial_evidence(negatives, total, p0),
                signed_binomial_evidence(recent[0], recent[1], p0), recent)

    def _score(self, evidence: float) -> float:
        return evidence / (evidence + self.alert_z) if evidence > 0 else 0.0

    # -- protocol ------------------------------------------------------------------------------

    def score_one(self, x: Observation) -> float:
        """Score in [0, 1] of one window ``(timestamp, negatives, total)``; 0 for bad input."""
        if not _valid(x):
            return 0.0
        window, drift, _ = self._evidence(x)
        return self._score(max(window, drift))

    def learn_one(self, x: Observation) -> None:
        """Learn one window; bad input and late or repeated timestamps are ignored."""
        if not _valid(x):
            return
        timestamp, negatives, total = x
        if self._last_time is not None and timestamp <= self._last_time:
            return
        p0 = self.baseline_share
        # Cap what the baseline learns at the negatives count giving evidence learn_clip_z.
        cap = total * p0 + self.learn_clip_z * math.sqrt(total * p0 * (1 - p0))
        baseline = self._decayed(self._baseline, timestamp, self.baseline_halflife_hours)
        recent = self._decayed(self._recent, timestamp, self.recent_halflife_hours)
        self._baseline = [baseline[0] + min(negatives, cap), baseline[1] + total]
        self._recent = [recent[0] + negatives, recent[1] + total]
        self._seen_posts += total
        self._last_time = timestamp

    def update(self, timestamp: float, negatives: float, total: float) -> ShiftResult:
        """Score the window against the past, then learn it."""
        x = (timestamp, negatives, total)
        baseline_share = self.baseline_share
        if not _valid(x):
            recent_share = self._recent[0] / self._recent[1] if self._recent[1] > 0 else baseline_share
            return ShiftResult(timestamp, 0.0, baseline_share, 0.0, recent_share, False)
        window, drift, recent = self._evidence(x)
        current_share = negatives / total if total > 0 else 0.0
        recent_share = recent[0] / recent[1] if recent[1] > 0 else baseline_share
        warmed_up = self._seen_posts >= self.warmup_posts
        window_alert = (window >= self.alert_z and total >= self.min_total
                        and current_share - baseline_share >= self.min_share_increase)
        drift_alert = (drift >= self.alert_z and recent[1] >= self.min_total
                       and recent_share - baseline_share >= self.min_share_increase)
        result = ShiftResult(timestamp, self._score(max(window, drift)), baseline_share, current_share,
                             recent_share, warmed_up and (window_alert or drift_alert))
        self.learn_one(x)
        return result

    # -- state ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {"baseline": list(self._baseline), "recent": list(self._recent),
                "seen_posts": self._seen_posts, "last_time": self._last_time}

    @classmethod
    def from_state(cls, state: dict[str, Any], **params: Any) -> Self:
        detector = cls(**params)
        detector._baseline = [float(v) for v in state["baseline"]]
        detector._recent = [float(v) for v in state["recent"]]
        detector._seen_posts = float(state["seen_posts"])
        detector._last_time = state["last_time"]
        return detector
