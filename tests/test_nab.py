"""NAB scoring rules checked on hand-computable cases, and the runner + CLI end to end."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.nab import load_windows, read_results, run_corpus, score_results
from detectors.nab_scoring import (
    PROFILES,
    ScoredRow,
    best_threshold,
    label_rows,
    normalised_score,
    probation_length,
    scaled_sigmoid,
    score_at_threshold,
    scores_by_threshold,
)
from streams.cli import main

STANDARD, LOW_FP, LOW_FN = PROFILES
NAB_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nab-realTweets"


def stamps(n: int) -> list[str]:
    start = datetime(2015, 3, 1, tzinfo=UTC)
    return [(start + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


def test_profiles_match_nab_config():
    assert (STANDARD.tp_weight, STANDARD.fp_weight, STANDARD.fn_weight) == (1.0, 0.11, 1.0)
    assert (LOW_FP.tp_weight, LOW_FP.fp_weight, LOW_FP.fn_weight) == (1.0, 0.22, 1.0)
    assert (LOW_FN.tp_weight, LOW_FN.fp_weight, LOW_FN.fn_weight) == (1.0, 0.11, 2.0)


def test_scaled_sigmoid_values():
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.98661
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


def test_probation_length():
    assert probation_length(1000) == 150
    assert probation_length(15902) == 750
    assert probation_length(6) == 0


# One small file: 40 rows, probation 6 rows, one window over rows 20..29 (width 10).
TIMES = stamps(40)
WINDOWS = [(TIMES[20], TIMES[29])]


def rows_for(detections: set[int]) -> list[ScoredRow]:
    return label_rows("f.csv", TIMES, [1.0 if i in detections else 0.0 for i in range(40)], WINDOWS)


def raw(detections: set[int], profile=STANDARD) -> float:
    return score_at_threshold(rows_for(detections), profile, 0.5).score


def test_probationary_rows_are_not_scored():
    assert len(rows_for(set())) == 40 - 6
    assert raw({0, 1, 5}) == pytest.approx(-1.0)  # only the miss counts


def test_hand_computed_cases():
    # never detecting: one missed window
    assert raw(set()) == pytest.approx(-1.0)
    # left edge: the full tp weight
    assert raw({20}) == pytest.approx(1.0)
    # row 24: position -(29 - 24 + 1) / 10 = -0.6
    assert raw({24}) == pytest.approx(scaled_sigmoid(-0.6) / scaled_sigmoid(-1.0))
    # only the earliest detection in a window counts
    assert raw({24, 21, 28}) == pytest.approx(scaled_sigmoid(-0.9) / scaled_sigmoid(-1.0))
    # before the first window: -fp_weight each, plus the miss
    assert raw({10, 11}) == pytest.approx(-1.0 - 2 * 0.11)
    # after the window: sigmoid of the distance past its right edge, in (width - 1) rows
    assert raw({20, 31}) == pytest.approx(1.0 + 0.11 * scaled_sigmoid(2 / 9))
    assert raw({20, 31}, LOW_FP) == pytest.approx(1.0 + 0.22 * scaled_sigmoid(2 / 9))
    assert raw(set(), LOW_FN) == pytest.approx(-2.0)


def test_a_repeated_timestamp_is_a_window_limit_at_its_first_row_as_in_nab():
    # NAB finds a window's right edge with list.index, the first row with that timestamp (NAB's own
    # exchange-2_cpm_results.csv repeats one): a row repeating the end stamp is then past the window.
    times = [*TIMES[:30], TIMES[29], *TIMES[30:39]]
    rows = label_rows("f.csv", times, [0.0] * 40, WINDOWS)
    assert [row.window is not None for row in rows[20 - 6:31 - 6]] == [True] * 10 + [False]


def test_perfect_detector_scores_100_and_null_detector_0():
    for profile in PROFILES:
        perfect = normalised_score(raw({20}, profile), 1, profile)
        null = normalised_score(raw(set(), profile), 1, profile)
        assert perfect == pytest.approx(100.0)
        assert null == pytest.approx(0.0)


def test_sweep_agrees_with_direct_scoring_at_every_threshold():
    scores = [((i * 37) % 41) / 41 for i in range(40)]
    rows = label_rows("f.csv", TIMES, scores, WINDOWS)
    sweep = scores_by_threshold(rows, STANDARD)
    assert sweep[0].threshold == 1.1 and sweep[0].score == pytest.approx(-1.0)
    for result in sweep:
        assert result.score == pytest.approx(score_at_threshold(rows, STANDARD, result.threshold).score)
    best = best_threshold(rows, STANDARD)
    assert best.score == max(r.score for r in sweep)


def test_sweep_picks_the_threshold_across_files():
    # File a's window is hit at its left edge at score 0.9; file b has a false positive at 0.8
    # and its window is only hit at 0.7: the best global threshold is 0.7 (two TPs beat one FP).
    a = label_rows("a.csv", TIMES, [0.9 if i == 20 else 0.0 for i in range(40)], WINDOWS)
    b = label_rows("b.csv", TIMES, [0.8 if i == 10 else 0.7 if i == 20 else 0.0 for i in range(40)], WINDOWS)
    best = best_threshold(a + b, STANDARD)
    assert best.threshold == 0.7
    assert best.score == pytest.approx(2.0 - 0.11)
    assert normalised_score(best.score, 2, STANDARD) == pytest.approx(100 * (2.0 - 0.11 + 2) / 4)


def write_series(path: Path, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows(zip(stamps(len(values)), values, strict=True))


def test_runner_and_cli_end_to_end(tmp_path, capsys):
    data = tmp_path / "data"
    values = [20.0 + (i % 7) for i in range(1200)]
    values[1000] = 400.0
    write_series(data / "deep" / "folder" / "spiky.csv", values)
    (data / "notes.txt").write_text("not data")
    (data / "other.csv").write_text("a,b\n1,2\n")
    times = stamps(1200)
    windows = {"realTweets/spiky.csv": [[times[980] + ".000000", times[1020] + ".000000"]]}
    (data / "windows.json").write_text(json.dumps(windows))

    code = main(["nab", str(data), "--out", str(tmp_path / "res"), "--windows", str(data / "windows.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "skip notes.txt" in out and "skip other.csv" in out
    result = tmp_path / "res" / "deep" / "folder" / "spiky.csv"
    with result.open() as handle:
        assert handle.readline().strip() == "timestamp,value,anomaly_score,alert"
    _, scores, alerts = read_results(result)
    assert max(range(1200), key=scores.__getitem__) == 1000
    assert alerts[1000] == 1.0
    assert "standard" in out and "reward_low_FN_rate" in out

    score = score_results(tmp_path / "res", load_windows(data / "windows.json"), log=lambda _: None)
    standard = score.profiles[0]
    assert 0.0 < standard.threshold <= scores[1000]
    # The sweep may find a lower threshold that detects earlier in the window (small zig-zag scores
    # that the refractory period leaves inside it); it must do at least as well as detecting the
    # spike at row 1000 of the 41-row window starting at 980: position -(1020 - 1000 + 1) / 41.
    at_the_spike = scaled_sigmoid(-21 / 41) / scaled_sigmoid(-1.0)
    assert standard.swept_raw >= at_the_spike - 1e-9

    # --score-only re-scores what is there without running again
    assert main(["nab", str(data), "--out", str(tmp_path / "res"), "--windows",
                 str(data / "windows.json"), "--score-only"]) == 0


def test_run_is_causal(tmp_path):
    """Truncating the input does not change the scores of the rows that remain."""
    values = [float(10 + (i * 7919) % 13) for i in range(900)]
    write_series(tmp_path / "full" / "s.csv", values)
    write_series(tmp_path / "cut" / "s.csv", values[:500])
    run_corpus(tmp_path / "full", tmp_path / "out_full", log=lambda _: None)
    run_corpus(tmp_path / "cut", tmp_path / "out_cut", log=lambda _: None)
    _, full, _ = read_results(tmp_path / "out_full" / "s.csv")
    _, cut, _ = read_results(tmp_path / "out_cut" / "s.csv")
    assert full[:500] == cut


@pytest.mark.skipif(not NAB_DATA.is_dir(), reason=f"NAB data folder absent: {NAB_DATA}")
def test_nab_real_tweets_subsample(tmp_path):
    """Two real files through the whole pipeline: scores are finite and beat the null detector."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("Twitter_volume_FB.csv", "Twitter_volume_KO.csv"):
        (data / name).symlink_to(NAB_DATA / name)
    run_corpus(data, tmp_path / "res", log=lambda _: None)
    score = score_results(tmp_path / "res", load_windows(NAB_DATA / "windows.json"), log=lambda _: None)
    assert score.files == 2 and score.windows == 5
    for profile_score in score.profiles:
        assert 0.0 < profile_score.swept <= 100.0
        assert math.isfinite(profile_score.fixed)


@pytest.mark.skipif(not NAB_DATA.is_dir(), reason=f"NAB data folder absent: {NAB_DATA}")
def test_nab_real_tweets_beats_the_best_published_score(tmp_path):
    """The issue's bar on the ten realTweets files: above ARTime's 83.2 (standard, threshold swept).

    Also the detector's own decision (the ``alert`` column) must stay close to what a threshold
    tuned on the labels earns. A change to the volume detector that fails this has to say why.
    """
    run_corpus(NAB_DATA, tmp_path / "res", log=lambda _: None)
    score = score_results(tmp_path / "res", load_windows(NAB_DATA / "windows.json"), log=lambda _: None)
    assert score.files == 10 and score.windows == 33
    standard = next(p for p in score.profiles if p.profile == STANDARD)
    assert standard.swept > 83.2
    assert standard.fixed > 82.5
