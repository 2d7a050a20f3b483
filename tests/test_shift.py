"""The negativity-shift detector: sudden shifts, small-count guard, slow drift, state, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from detectors.base import Detector, Stateful
from detectors.shift import ShiftDetector, signed_binomial_evidence

MINUTE = 60.0
START = 1_700_000_000.0


def feed(detector: ShiftDetector, windows, start: float = START, step: float = MINUTE):
    return [detector.update(start + i * step, float(neg), float(tot)) for i, (neg, tot) in enumerate(windows)]


def steady(share: float, posts: int, minutes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    totals = rng.poisson(posts, size=minutes)
    return [(rng.binomial(t, share), t) for t in totals]


def test_follows_the_protocols():
    assert isinstance(ShiftDetector(), Detector)
    assert isinstance(ShiftDetector(), Stateful)


def test_evidence_is_signed_and_grows_with_the_number_of_posts():
    assert signed_binomial_evidence(2, 10, 0.2) == pytest.approx(0.0)
    assert signed_binomial_evidence(0, 10, 0.2) < 0
    assert 0 < signed_binomial_evidence(6, 10, 0.2) < signed_binomial_evidence(60, 100, 0.2)
    assert signed_binomial_evidence(0, 0, 0.2) == 0.0


def test_steady_share_is_quiet_and_the_baseline_learns_it():
    detector = ShiftDetector()
    results = feed(detector, steady(0.15, 30, 3000))
    assert sum(r.alert for r in results) == 0
    assert detector.baseline_share == pytest.approx(0.15, abs=0.02)


def test_a_sudden_shift_alerts():
    detector = ShiftDetector()
    feed(detector, steady(0.15, 30, 3000))
    crisis = detector.update(START + 3000 * MINUTE, 20.0, 35.0)
    assert crisis.alert
    assert crisis.score > 0.5
    assert crisis.current_share == pytest.approx(20 / 35)
    assert crisis.baseline_share == pytest.approx(0.15, abs=0.02)


def test_two_of_three_negative_posts_is_not_an_alert():
    detector = ShiftDetector()
    feed(detector, steady(0.1, 3, 5000, seed=2))
    result = detector.update(START + 5000 * MINUTE, 2.0, 3.0)
    assert not result.alert


def test_a_long_shift_is_not_learnt_while_it_lasts():
    detector = ShiftDetector()
    feed(detector, steady(0.1, 30, 3000, seed=3))
    before = detector.baseline_share
    crisis = feed(detector, steady(0.5, 30, 180, seed=4), start=START + 3000 * MINUTE)
    assert sum(r.alert for r in crisis) >= 0.9 * len(crisis)
    assert detector.baseline_share < before + 0.05


def test_a_slow_drift_is_eventually_flagged():
    """The share creeps from 10% to 40% over four days: no window stands out, the drift does."""
    rng = np.random.default_rng(5)
    detector = ShiftDetector()
    feed(detector, steady(0.1, 10, 2 * 1440, seed=6))
    minutes = 4 * 1440
    shares = np.linspace(0.1, 0.4, minutes)
    totals = rng.poisson(10, size=minutes)
    windows = [(rng.binomial(t, s), t) for t, s in zip(totals, shares, strict=True)]
    results = feed(detector, windows, start=START + 2 * 1440 * MINUTE)
    assert not any(r.alert for r in results[:600]), "no alert in the first hours of a slow drift"
    assert any(r.alert for r in results), "the drift is flagged"
    flagged = next(r for r in results if r.alert)
    assert flagged.recent_share - flagged.baseline_share >= 0.1


def test_state_round_trip_gives_identical_results():
    windows = steady(0.2, 20, 2000, seed=7) + [(15, 20)] * 30
    original = ShiftDetector()
    feed(original, windows[:1500])
    restored = ShiftDetector.from_state(json.loads(json.dumps(original.to_state())))
    rest = START + 1500 * MINUTE
    assert feed(original, windows[1500:], start=rest) == feed(restored, windows[1500:], start=rest)


@pytest.mark.parametrize("negatives,total", [(math.nan, 10.0), (-1.0, 10.0), (5.0, 3.0), (1.0, math.inf)])
def test_bad_input_is_scored_zero_and_not_learnt(negatives, total):
    detector = ShiftDetector()
    feed(detector, steady(0.2, 20, 500))
    state = detector.to_state()
    result = detector.update(START + 500 * MINUTE, negatives, total)
    assert result.score == 0.0 and not result.alert
    assert detector.to_state() == state


def test_late_windows_are_not_learnt():
    detector = ShiftDetector()
    feed(detector, steady(0.2, 20, 500))
    state = detector.to_state()
    detector.update(START, 10.0, 20.0)
    assert detector.to_state() == state


def test_empty_windows_are_fine():
    detector = ShiftDetector()
    results = feed(detector, [(0, 0)] * 100)
    assert all(r.score == 0.0 and not r.alert for r in results)


@pytest.mark.parametrize("params", [
    {"alert_z": 0}, {"min_share_increase": 2}, {"prior_share": 1.0},
    {"recent_halflife_hours": 500.0}, {"learn_clip_z": math.nan},
])
def test_invalid_hyper_parameters_are_rejected(params):
    with pytest.raises(ValueError, match="must"):
        ShiftDetector(**params)


def test_a_silence_of_decades_falls_back_to_the_prior_instead_of_dividing_by_zero():
    """A brand's first post dated 1970 and the next one today: the decayed baseline underflows to 0."""
    detector = ShiftDetector()
    detector.update(0.0, 1.0, 1.0)
    detector.update(START, 0.0, 0.0)  # an empty window 54 years later: the pool decays to [0, 0]
    assert detector.baseline_share == detector.prior_share
    assert detector.update(START + MINUTE, 1.0, 2.0).baseline_share == detector.prior_share
