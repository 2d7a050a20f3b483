"""The Numenta Anomaly Benchmark's scoring rules, re-implemented so the team can measure detectors.

This follows NAB v1.1 (``nab/sweeper.py`` and the normalisation in ``nab/runner.py``):

* The first ``min(floor(0.15 * rows), 750)`` rows of a file are probationary and not scored.
* A detection inside a labelled window is a true positive; only the window's
  earliest detection counts, weighted by the scaled sigmoid of its position, so
  that the left edge earns the full ``tp_weight`` and the right edge about 0. A
  window without detection costs ``-fn_weight``.
* A detection outside every window is a false positive costing ``fp_weight``
  times the scaled sigmoid of its distance past the previous window's right
  edge (in window widths): near 0 just after a window, -1 from three widths on
  or before the file's first window.
* The threshold sweep: every distinct anomaly score is tried as a threshold
  (detections are rows with ``score >= threshold``) on all files at once, and
  the best corpus total is kept, once per profile.
* Normalisation: ``100 * (raw - null) / (perfect - null)``, where the null
  detector never detects (``-fn_weight`` per window) and the perfect one detects
  every window at its left edge (``tp_weight`` per window).

Everything here is pure arithmetic on lists; reading files is in :mod:`detectors.nab`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    """A NAB application profile: the weights of true positives, false positives and misses."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


#: NAB's ``config/profiles.json``.
PROFILES = (
    Profile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    Profile("reward_low_FP_rate", tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    Profile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
)

PROBATION_PERCENT = 0.15
MAX_PROBATION_ROWS = 750  # NAB: probationPercent * 5000


def probation_length(rows: int, probation_percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of a file that are not scored."""
    return int(min(math.floor(probation_percent * rows), probation_percent * 5000))


def scaled_sigmoid(relative_position: float) -> float:
    """NAB's weighting: ~+0.987 at -1 (a window's left edge), 0 at its right edge, -> -1 beyond.

    Positions from 3.0 on are "far past any window" and cost exactly -1.
    """
    if relative_position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * relative_position)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


@dataclass(frozen=True, slots=True)
class ScoredRow:
    """One scorable row: the detector's score, where the row sits, and what detecting it is worth.

    ``window`` names the window the row is in (unique across files) or is
    ``None`` outside windows. ``position_value`` is unweighted: in a window, the
    true-positive value in (0, 1] (exactly 1 at the left edge); outside, the
    false-positive value in [-1, 0).
    """

    anomaly_score: float
    window: str | None
    position_value: float


def label_rows(file_name: str, timestamps: Sequence[str], anomaly_scores: Sequence[float],
               windows: Iterable[tuple[str, str]],
               probation_percent: float = PROBATION_PERCENT) -> list[ScoredRow]:
    """The scorable rows of one file (probation dropped), as NAB's ``calcSweepScore`` lays them out.

    ``timestamps`` and the window limits must be comparable as they are (the
    caller normalises their text); each limit must be one of the timestamps.
    """
    if len(timestamps) != len(anomaly_scores):
        raise ValueError(f"{file_name}: {len(timestamps)} timestamps but {len(anomaly_scores)} scores")
    index: dict[str, int] = {}
    for i, timestamp in enumerate(timestamps):
        index.setdefault(timestamp, i)  # a repeated timestamp is found at its first row, as NAB's list.index
    spans = []
    for start, end in sorted(windows):
        if start not in index or end not in index:
            raise ValueError(f"{file_name}: window [{start}, {end}] does not start and end on rows of the file")
        spans.append((index[start], index[end]))
    probation = probation_length(len(timestamps), probation_percent)

    rows: list[ScoredRow] = []
    next_span = 0
    current: tuple[int, int] | None = None
    previous: tuple[int, int] | None = None
    for i, score in enumerate(anomaly_scores):
        if current is None and next_span < len(spans) and i == spans[next_span][0]:
            current = spans[next_span]
            next_span += 1
        if current is not None:
            left, right = current
            width = right - left + 1
            value = scaled_sigmoid(-(right - i + 1) / width) / _MAX_TP
            window: str | None = f"{file_name}|{timestamps[left]}"
        else:
            if previous is None:
                value = -1.0
            else:
                left, right = previous
                width = right - left + 1
                value = scaled_sigmoid(abs(right - i) / (width - 1)) if width > 1 else -1.0
            window = None
        if i >= probation:
            rows.append(ScoredRow(float(score), window, value))
        if current is not None and i == current[1]:
            previous, current = current, None
    return rows


@dataclass(frozen=True, slots=True)
class ThresholdScore:
    """The raw NAB score of detecting every row with ``anomaly_score >= threshold``."""

    threshold: float
    score: float
    tp: int
    fp: int


def scores_by_threshold(rows: Iterable[ScoredRow], profile: Profile) -> list[ThresholdScore]:
    """Raw scores for every distinct threshold, from "detect nothing" (1.1) downwards.

    Rows are visited from the highest anomaly score down; each one becomes a
    detection. A window's contribution is ``-fn_weight`` until its first
    detection and then its best (= earliest) detection's weighted value.
    """
    ordered = sorted(rows, key=lambda row: row.anomaly_score, reverse=True)
    window_parts = {row.window: -profile.fn_weight for row in ordered if row.window is not None}
    window_total = sum(window_parts.values())
    fp_total = 0.0
    tp = fp = 0
    threshold = 1.1
    results: list[ThresholdScore] = []
    for row in ordered:
        if row.anomaly_score != threshold:
            results.append(ThresholdScore(threshold, window_total + fp_total, tp, fp))
            threshold = row.anomaly_score
        if row.window is None:
            fp += 1
            fp_total += profile.fp_weight * row.position_value
        else:
            tp += 1
            value = profile.tp_weight * row.position_value
            if value > window_parts[row.window]:
                window_total += value - window_parts[row.window]
                window_parts[row.window] = value
    results.append(ThresholdScore(threshold, window_total + fp_total, tp, fp))
    return results


def score_at_threshold(rows: Iterable[ScoredRow], profile: Profile, threshold: float) -> ThresholdScore:
    """The raw score of detecting exactly the rows with ``anomaly_score >= threshold``.

    Written directly from the rules rather than through the sweep, so that the
    two can check each other.
    """
    rows = list(rows)
    best_in_window = {row.window: -profile.fn_weight for row in rows if row.window is not None}
    fp_total = 0.0
    tp = fp = 0
    for row in rows:
        if row.anomaly_score < threshold:
            continue
        if row.window is None:
            fp += 1
            fp_total += profile.fp_weight * row.position_value
        else:
            tp += 1
            best_in_window[row.window] = max(best_in_window[row.window], profile.tp_weight * row.position_value)
    return ThresholdScore(threshold, sum(best_in_window.values()) + fp_total, tp, fp)


def best_threshold(rows: Iterable[ScoredRow], profile: Profile) -> ThresholdScore:
    """NAB's threshold optimisation: the threshold with the highest raw score over all rows given.

    On a tie the higher threshold (fewer detections) wins, as a stable sort of NAB's list does.
    """
    return max(scores_by_threshold(rows, profile), key=lambda result: result.score)


def window_count(rows: Iterable[ScoredRow]) -> int:
    return len({row.window for row in rows if row.window is not None})


def normalised_score(raw: float, windows: int, profile: Profile) -> float:
    """``100 * (raw - null) / (perfect - null)``: 0 for never detecting, 100 for perfect."""
    null = -profile.fn_weight * windows
    perfect = profile.tp_weight * windows
    if perfect == null:
        raise ValueError("cannot normalise a score without windows")
    return 100.0 * (raw - null) / (perfect - null)
