"""The volume detector on crafted series: spikes, seasonality, near-zero counts, incidents, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.base import Detector, Stateful
from detectors.volume import ExceedanceTail, VolumeDetector, VolumeResult, anscombe, inverse_anscombe

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
START = 1_700_006_400.0  # 2023-11-15 00:00 UTC, a Wednesday


def feed(detector: VolumeDetector, counts, start: float = START, step: float = MINUTE) -> list[VolumeResult]:
    return [detector.update(start + i * step, float(c)) for i, c in enumerate(counts)]


def daily_sinusoid(days: float, step: float = MINUTE, seed: int = 1, low: float = 5.0,
                   high: float = 60.0) -> np.ndarray:
    """Poisson counts whose rate swings daily between ``low`` and ``high`` (peak at 15:00 UTC)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(days * DAY / step)) * step
    rate = low + (high - low) * 0.5 * (1 + np.sin(2 * np.pi * (t / DAY - 0.375)))
    return rng.poisson(rate * step / MINUTE)


def test_follows_the_protocols():
    detector = VolumeDetector()
    assert isinstance(detector, Detector)
    assert isinstance(detector, Stateful)


def test_anscombe_round_trip():
    for count in (0.0, 1.0, 7.0, 12345.0):
        assert inverse_anscombe(anscombe(count)) == pytest.approx(count)


def test_a_spike_is_found_after_warm_up_but_not_during_it():
    rng = np.random.default_rng(0)
    counts = list(rng.poisson(20, size=int(2 * DAY / MINUTE)))
    detector = VolumeDetector()
    early = feed(detector, counts[:600])
    assert not any(r.alert for r in early), "no alert during warm-up"
    quiet = feed(detector, counts[600:], start=START + 600 * MINUTE)
    assert sum(r.alert for r in quiet) == 0
    spike = detector.update(START + len(counts) * MINUTE, 120.0)
    assert spike.alert
    assert spike.score > 0.5
    assert spike.expected == pytest.approx(20, rel=0.2)
    assert spike.lower < spike.expected < spike.upper < 120


def test_daily_seasonality_peaks_are_not_alerted():
    counts = daily_sinusoid(days=5)
    detector = VolumeDetector()
    results = feed(detector, counts)
    after_warmup = results[int(DAY / MINUTE):]
    assert sum(r.alert for r in after_warmup) == 0
    # The expectation follows the daily cycle: afternoon peak well above the night trough.
    peak = next(r for r in reversed(results) if (r.timestamp % DAY) == 15 * HOUR)
    trough = next(r for r in reversed(results) if (r.timestamp % DAY) == 3 * HOUR)
    assert peak.expected > 40 > 15 > trough.expected
    # ... while a burst at the trough, which the peak would not even notice, alerts.
    night = START + 5 * DAY + 3 * HOUR
    assert detector.update(night, 60.0).alert


def test_works_with_five_minute_buckets_without_being_told():
    counts = daily_sinusoid(days=6, step=300.0, seed=3)
    detector = VolumeDetector()
    results = feed(detector, counts, step=300.0)
    assert detector.bucket == 300.0
    assert sum(r.alert for r in results) == 0
    assert detector.update(START + 6 * DAY + 3 * HOUR, 400.0).alert


def test_near_zero_counts_are_quiet_and_a_jump_to_15_alerts():
    rng = np.random.default_rng(5)
    counts = np.where(rng.random(int(3 * DAY / MINUTE)) < 0.05, rng.integers(1, 3, size=int(3 * DAY / MINUTE)), 0)
    assert counts.max() <= 2
    detector = VolumeDetector()
    results = feed(detector, counts)
    assert sum(r.alert for r in results) == 0
    jump = detector.update(START + len(counts) * MINUTE, 15.0)
    assert jump.alert
    assert jump.expected < 1.0


def test_all_zero_series_then_a_few_posts_is_not_a_crisis():
    detector = VolumeDetector()
    feed(detector, [0] * int(2 * DAY / MINUTE))
    few = detector.update(START + 2 * DAY, 3.0)
    assert not few.alert  # below min_alert_count
    assert 0.0 <= few.score <= 1.0


def test_a_long_incident_is_not_learnt_into_the_baseline():
    rng = np.random.default_rng(7)
    detector = VolumeDetector()
    baseline = list(rng.poisson(10, size=int(7 * DAY / MINUTE)))  # a brand with a week of history
    feed(detector, baseline)
    before = detector.update(START + len(baseline) * MINUTE, 10.0).expected
    plateau_start = START + (len(baseline) + 1) * MINUTE
    plateau = feed(detector, rng.poisson(60, size=120), start=plateau_start)
    assert sum(r.alert for r in plateau) >= 0.75 * len(plateau), "the incident stays alerted"
    assert all(r.alert for r in plateau[:60])
    after = detector.update(plateau_start + 120 * MINUTE, 10.0).expected
    assert before == pytest.approx(10, rel=0.1)
    assert after == pytest.approx(before, rel=0.25)
    assert after < 0.25 * 60


def test_a_lasting_level_change_is_absorbed_eventually():
    rng = np.random.default_rng(8)
    detector = VolumeDetector()
    feed(detector, rng.poisson(10, size=int(2 * DAY / MINUTE)))
    shifted = feed(detector, rng.poisson(30, size=int(4 * DAY / MINUTE)), start=START + 2 * DAY)
    last_day = shifted[-int(DAY / MINUTE):]
    assert sum(r.alert for r in last_day) == 0
    assert last_day[-1].expected == pytest.approx(30, rel=0.2)


def test_a_slow_drift_is_followed_without_alerts():
    # A brand whose audience grows 1% an hour (×4 in six days, on a daily cycle) is not a crisis:
    # the level keeps up with it, so that nothing alerts. There is no trend term, so expected lags
    # the rate by about a day's growth (0.79 of it at the end here), which the spread absorbs.
    rng = np.random.default_rng(12)
    days = 6
    t = np.arange(int(days * DAY / MINUTE)) * MINUTE
    rate = 10.0 * 1.01 ** (t / HOUR) * (1 + 0.5 * np.sin(2 * np.pi * t / DAY))
    results = feed(VolumeDetector(), rng.poisson(rate))
    after_warm_up = results[int(DAY / MINUTE):]
    assert sum(r.alert for r in after_warm_up) == 0
    last_hour = slice(-60, None)
    lag = np.mean([r.expected for r in results[last_hour]]) / np.mean(rate[last_hour])
    assert 0.7 < lag < 1.05
    # and the same detector still sees a real spike on top of the drift
    spike = VolumeDetector()
    feed(spike, rng.poisson(rate))
    assert spike.update(float(t[-1] + MINUTE), 6 * rate[-1]).alert


def test_huge_bursts_score_higher_than_big_ones_without_overflow():
    rng = np.random.default_rng(9)
    detector = VolumeDetector()
    feed(detector, rng.poisson(50, size=int(2 * DAY / MINUTE)))
    t = START + 2 * DAY
    scores = [detector.score_one((t, c)) for c in (200.0, 2_000.0, 2e6, 2e12)]
    assert scores == sorted(scores) and len(set(scores)) == 4
    assert all(0.5 < s < 1.0 for s in scores)


def test_state_round_trip_gives_identical_scores():
    counts = daily_sinusoid(days=2, seed=11)
    original = VolumeDetector(alert_return_period_hours=100.0)
    feed(original, counts[:2000])
    state = json.loads(json.dumps(original.to_state()))
    restored = VolumeDetector.from_state(state, alert_return_period_hours=100.0)
    rest = START + 2000 * MINUTE
    a = feed(original, counts[2000:], start=rest)
    b = feed(restored, counts[2000:], start=rest)
    assert a == b


def _numbers(state) -> int:
    if isinstance(state, dict):
        return sum(_numbers(v) for v in state.values())
    if isinstance(state, list):
        return sum(_numbers(v) for v in state)
    return 1


def test_state_is_bounded():
    detector = VolumeDetector()
    feed(detector, daily_sinusoid(days=1))
    numbers_after_one_day = _numbers(detector.to_state())
    feed(detector, daily_sinusoid(days=8, seed=2), start=START + DAY)
    assert _numbers(detector.to_state()) == numbers_after_one_day
    assert len(json.dumps(detector.to_state())) < 10_000


@pytest.mark.parametrize("bad", [math.nan, -1.0, math.inf])
def test_bad_counts_are_scored_zero_and_not_learnt(bad):
    detector = VolumeDetector(value_type="counts")
    feed(detector, [10] * 2000)
    state = detector.to_state()
    result = detector.update(START + 2000 * MINUTE, bad)
    assert result.score == 0.0 and not result.alert
    assert detector.to_state() == state


def test_backwards_and_repeated_timestamps_are_scored_but_not_learnt():
    rng = np.random.default_rng(4)
    detector = VolumeDetector()
    feed(detector, rng.poisson(10, size=int(1.5 * DAY / MINUTE)))
    state = detector.to_state()
    last = START + (int(1.5 * DAY / MINUTE) - 1) * MINUTE
    late = detector.update(last - 30 * MINUTE, 200.0)
    repeated = detector.update(last, 10.0)
    assert late.alert  # a late burst is still a burst
    assert not repeated.alert
    assert detector.to_state() == state


def test_gaps_are_tolerated_and_do_not_shrink_the_bucket():
    rng = np.random.default_rng(6)
    detector = VolumeDetector()
    counts = rng.poisson(10, size=int(2 * DAY / MINUTE))
    keep = rng.random(len(counts)) > 0.3  # 30% of the buckets missing
    results = [detector.update(START + i * MINUTE, float(c)) for i, c in enumerate(counts) if keep[i]]
    # a six-hour hole, then business as usual
    results += feed(detector, rng.poisson(10, size=600), start=START + 2 * DAY + 6 * HOUR)
    assert detector.bucket == MINUTE
    assert sum(r.alert for r in results) == 0


@pytest.mark.parametrize("params", [
    {"alert_return_period_hours": 0}, {"min_alert_count": -1}, {"level_halflife_hours": 0},
    {"learn_clip_z": math.nan}, {"bucket_seconds": 0}, {"utc_offset_hours": 30}, {"refractory_hours": -1},
    {"prior_bursts_per_hour": 0}, {"long_tail_halflife_days": 0}, {"tail_learn_cap_periods": 0},
    {"value_type": "floats"},
])
def test_invalid_hyper_parameters_are_rejected_by_name(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        VolumeDetector(**params)


def _quiet_week(seed: int) -> tuple[VolumeDetector, float]:
    """A detector that has seen a week of Poisson(10) per minute, and the next timestamp."""
    rng = np.random.default_rng(seed)
    detector = VolumeDetector()
    counts = rng.poisson(10, size=int(7 * DAY / MINUTE))
    feed(detector, counts)
    return detector, START + len(counts) * MINUTE


def test_the_score_rises_once_per_incident_while_the_alert_lasts():
    detector, t = _quiet_week(12)
    incident = feed(detector, [60.0] * 30, start=t)
    assert all(r.alert for r in incident), "every bucket of the incident is rare"
    assert incident[0].score > 0.5
    assert all(r.score == 0.0 for r in incident[1:]), "buckets no rarer than the first do not score again"
    assert [r.raises_alert for r in incident] == [True] + [False] * 29, "one incident raises one alert"
    # The same burst again three hours later is an aftershock within the refractory period: it
    # neither scores nor alerts, though it is as rare as the first ...
    again = detector.update(t + 3 * HOUR, 60.0)
    assert again.return_period_hours > detector.alert_return_period_hours
    assert not again.alert and again.score == 0.0
    # ... a bigger wave is news, and alerts for as long as it lasts ...
    bigger = feed(detector, [200.0, 150.0, 120.0], start=t + 3 * HOUR + MINUTE)
    assert bigger[0].score > incident[0].score
    assert all(r.alert for r in bigger) and [r.score for r in bigger[1:]] == [0.0, 0.0]
    assert [r.raises_alert for r in bigger] == [True, False, False]
    # ... and once the refractory period is over, a burst like the first scores again.
    over = 3 * HOUR + detector.refractory_hours * HOUR + HOUR
    feed(detector, [10.0] * int((over - 4 * HOUR) / MINUTE), start=t + 4 * HOUR)
    later = detector.update(t + over, 60.0)
    assert later.alert and later.score > 0.5


def test_without_refractory_period_every_rare_bucket_scores():
    rng = np.random.default_rng(13)
    detector = VolumeDetector(refractory_hours=0.0)
    counts = rng.poisson(10, size=int(7 * DAY / MINUTE))
    feed(detector, counts)
    incident = feed(detector, [60.0] * 30, start=START + len(counts) * MINUTE)
    assert all(r.score > 0.5 for r in incident)


def test_score_one_is_the_score_update_returns_and_does_not_learn():
    detector, t = _quiet_week(14)
    feed(detector, [60.0] * 5, start=t)
    state = detector.to_state()
    held = detector.score_one((t + 5 * MINUTE, 60.0))
    assert detector.to_state() == state
    assert held == detector.update(t + 5 * MINUTE, 60.0).score == 0.0


def test_a_long_incident_is_one_burst_for_the_calibration():
    # The tail counts bursts, not buckets: a two-hour incident raises the burst rate by one burst's
    # worth, the same in one-minute and five-minute buckets, so the alert level does not depend on
    # the bucket length (counting buckets would add 120 or 24 exceedances).
    steps = []
    for step in (MINUTE, 5 * MINUTE):
        detector = VolumeDetector()
        per_bucket = 10 * step / MINUTE
        feed(detector, [per_bucket] * int(7 * DAY / step), step=step)
        before = detector._tail.rate_per_hour
        t = START + 7 * DAY
        feed(detector, [6 * per_bucket] * int(2 * HOUR / step), start=t, step=step)
        feed(detector, [per_bucket] * int(2 * HOUR / step), start=t + 2 * HOUR, step=step)
        steps.append(detector._tail.rate_per_hour - before)
    one_burst = 1 - 0.5 ** (1 / (detector.tail_halflife_days * 24))  # EWMA weight of one hour, times 1 burst/hour
    assert steps[0] == pytest.approx(steps[1], rel=0.05)
    assert 0.5 * one_burst < steps[0] < 1.5 * one_burst


def test_states_saved_before_the_refractory_period_still_load():
    detector, t = _quiet_week(16)
    state = json.loads(json.dumps(detector.to_state()))
    del state["held"]
    restored = VolumeDetector.from_state(state)
    assert restored.update(t, 60.0).score > 0.5


def test_states_saved_before_the_long_tail_start_it_from_the_short_one():
    detector, t = _quiet_week(17)
    state = json.loads(json.dumps(detector.to_state()))
    del state["long_tail"]
    restored = VolumeDetector.from_state(state)
    assert restored.to_state()["long_tail"] == state["tail"]
    assert restored.update(t, 60.0).score > 0.5



def test_the_tail_learns_how_far_a_burst_went_beyond_its_threshold():
    # The tail is taught bursts already capped at the alert level by the detector; it must then learn
    # their excess as it is. (It used to clip it again at 3 mean excesses, so a brand whose bursts
    # routinely go far beyond the threshold never learnt how far, and kept alerting on them.)
    tail = ExceedanceTail(2.0, prior_rate=0.1, prior_excess=0.5)
    step_hours = 1 / 12
    step_weight = 1 - 0.5 ** (step_hours / 72)
    tail.learn(12.0, START, step_weight, step_hours)  # a burst 10 z beyond the threshold ...
    weight = min(1.0, step_weight / (tail.rate_per_hour * step_hours))
    tail.learn(0.0, START + 2 * HOUR, step_weight, step_hours)  # ... over once the gap has passed
    assert tail.mean_excess == pytest.approx(0.5 + weight * (10.0 - 0.5))
    assert tail.mean_excess > 0.5 + weight * (3 * 0.5 - 0.5) * 2


def test_a_burst_scores_once_at_the_alert_level_however_it_grows():
    detector, t = _quiet_week(19)
    ramp = feed(detector, [60.0, 100.0, 200.0, 400.0, 800.0], start=t)
    assert ramp[0].score > 0.5
    assert [r.score for r in ramp[1:]] == [0.0] * 4, "growth of the same burst is not a new onset"
    assert all(r.alert for r in ramp), "every bucket of it is still rare"


def test_a_burst_below_the_alert_level_still_scores_as_it_grows():
    # Whatever threshold is set on the score, a ramp must cross it: until the burst is alert-worthy,
    # each rarer bucket scores.
    detector, t = _quiet_week(20)
    first = detector.update(t, 22.0)
    assert 0.0 < first.score < 0.5
    second = detector.update(t + MINUTE, 60.0)
    assert second.score > 0.5
    assert detector.update(t + 2 * MINUTE, 200.0).score == 0.0


def test_a_new_burst_rarer_than_the_last_scores_within_the_refractory_period():
    detector, t = _quiet_week(21)
    assert feed(detector, [60.0] * 10, start=t)[0].score > 0.5
    feed(detector, [10.0] * 180, start=t + 10 * MINUTE)  # three quiet hours: that burst is over
    assert detector.update(t + 190 * MINUTE, 400.0).score > 0.5


def test_the_burst_under_way_survives_a_state_round_trip():
    detector, t = _quiet_week(22)
    feed(detector, [60.0] * 3, start=t)
    restored = VolumeDetector.from_state(json.loads(json.dumps(detector.to_state())))
    assert restored.update(t + 3 * MINUTE, 400.0).score == detector.update(t + 3 * MINUTE, 400.0).score == 0.0


def test_the_spread_remembers_about_a_week():
    # A brand noisy on weekdays and calm at the weekend keeps a spread for the week, not for the
    # last three days: three calm days after four noisy ones take off well under half of the
    # noisy excess (a three-day memory would take off half, more with clipping).
    rng = np.random.default_rng(23)
    detector = VolumeDetector()
    noisy = rng.negative_binomial(2, 2 / (2 + 10), size=int(4 * DAY / MINUTE))  # mean 10, overdispersed
    feed(detector, noisy)
    noisy_spread = detector._spread()
    calm = rng.poisson(10, size=int(3 * DAY / MINUTE))
    feed(detector, calm, start=START + len(noisy) * MINUTE)
    calm_spread = 0.5  # Poisson noise on the Anscombe scale
    retained = (detector._spread() - calm_spread) / (noisy_spread - calm_spread)
    assert retained > 0.55


def test_a_burst_recurring_at_one_hour_is_learnt_as_seasonality_more_slowly_than_a_level():
    # Half an hour a day at three times the usual volume: the hour-of-day profile learns it under a
    # tighter clip (profile_clip_z) than the level's, so a week later less of it is expected there.
    rng = np.random.default_rng(3)
    days = 8
    minute_of_day = np.arange(int(days * DAY / MINUTE)) % int(DAY / MINUTE)
    burst = (minute_of_day >= 600) & (minute_of_day < 630)
    counts = rng.poisson(np.where(burst, 60.0, 20.0))
    expected_in_burst = {}
    for clip in (1.5, 2.5):
        detector = VolumeDetector(profile_clip_z=clip)
        results = feed(detector, counts)
        last_burst = [r for r, b in zip(results[-int(DAY / MINUTE):], burst[-int(DAY / MINUTE):], strict=True) if b]
        expected_in_burst[clip] = float(np.mean([r.expected for r in last_burst]))
    assert VolumeDetector().profile_clip_z == 1.5
    assert 20.0 < expected_in_burst[1.5] < expected_in_burst[2.5] * 0.95, expected_in_burst


# -- measurement series (NAB's other files: CPU load, prices, sensor readings) -------------------------


def noisy_measurements(days: float, level: float, noise: float, seed: int, step: float = 5 * MINUTE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + noise * rng.standard_normal(int(days * DAY / step))


def test_counts_stay_counts_and_a_fractional_value_makes_a_measurement_series():
    counts = VolumeDetector()
    feed(counts, [3, 0, 12, 7])
    assert not counts.measurements
    floats = VolumeDetector()
    feed(floats, [0.12, 0.11, 0.13])
    assert floats.measurements
    pinned = VolumeDetector(value_type="counts")
    feed(pinned, [0.12, 0.11, 0.13])
    assert not pinned.measurements


@pytest.mark.parametrize("level, noise", [(0.1, 0.005), (50.0, 0.5), (-10.0, 0.2)])
def test_a_jump_in_a_small_or_steady_measurement_is_found(level, noise):
    # As counts, every one of these is hidden under Poisson noise (0.5 on the square-root scale) or
    # is not a count at all; as measurements, a jump of 20 noise widths is news.
    values = noisy_measurements(4, level, noise, seed=8)
    jump = len(values) - 30
    values[jump] += 20 * noise
    for value_type, should_alert in (("auto", True), ("counts", False)):
        results = feed(VolumeDetector(value_type=value_type), values, step=5 * MINUTE)
        assert max(r.score for r in results[:jump]) < 0.5, value_type
        assert (results[jump].score >= 0.5 and results[jump].alert) == should_alert, value_type
    measured = feed(VolumeDetector(), values[:jump], step=5 * MINUTE)[-1]
    assert measured.lower < level < measured.upper  # the band is on the measurement's own scale


def test_measurements_only_alert_on_rises_like_counts():
    values = noisy_measurements(4, 50.0, 0.5, seed=9)
    values[-30] -= 10.0
    results = feed(VolumeDetector(), values, step=5 * MINUTE)
    assert max(r.score for r in results) < 0.5


def test_a_measurement_series_survives_a_state_round_trip():
    values = noisy_measurements(3, 0.1, 0.005, seed=10)
    detector = VolumeDetector()
    feed(detector, values[:-100], step=5 * MINUTE)
    restored = VolumeDetector.from_state(json.loads(json.dumps(detector.to_state())))
    assert restored.measurements
    start = START + (len(values) - 100) * 5 * MINUTE
    assert [r.score for r in feed(restored, values[-100:], start=start, step=5 * MINUTE)] == \
        [r.score for r in feed(detector, values[-100:], start=start, step=5 * MINUTE)]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.floats(-600.0, 3600.0, allow_nan=False),
                          st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                    st.integers(0, 10**6).map(float))),
                min_size=1, max_size=400),
       st.sampled_from(["auto", "counts", "measurements"]))
def test_any_series_scores_in_the_unit_interval_and_round_trips(steps, value_type):
    # Any values (NaN, infinities, negatives, 1e308, counts) at any steps (gaps, repeats, going back).
    detector = VolumeDetector(value_type=value_type, warmup_hours=0.5)
    timestamp = START
    for step, value in steps:
        timestamp += step
        result = detector.update(timestamp, value)
        assert 0.0 <= result.score <= 1.0
    restored = VolumeDetector.from_state(json.loads(json.dumps(detector.to_state())),
                                         value_type=value_type, warmup_hours=0.5)
    assert restored.to_state() == detector.to_state()
