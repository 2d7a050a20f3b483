"""Developer tool: NAB score of ``VolumeDetector`` under parameter changes, with robustness checks.

    .venv/bin/python scripts/nab_sweep.py                            # defaults, all checks
    .venv/bin/python scripts/nab_sweep.py --set refractory_hours=12  # one change
    .venv/bin/python scripts/nab_sweep.py --grid refractory_hours=0,6,12,24   # sensitivity
    .venv/bin/python scripts/nab_sweep.py --windows-detail           # where each window is caught
    .venv/bin/python scripts/nab_sweep.py --half-detail              # each half's files at that half's threshold

For every setting it prints the normalised NAB score (threshold swept once over
all files, as NAB does) for the three profiles, and five robustness figures
for the standard profile:

* ``half A`` / ``half B``: the score on each half of the ten files (files 1, 3,
  5, ... and 2, 4, 6, ... in name order), threshold swept within the half. An
  idea that generalises should help on both halves.
* ``Afix`` / ``Bfix``: the ``alert`` column's standard score on each half.
* ``lofo``: leave-one-file-out threshold transfer. For each file, the threshold
  is swept on the other nine and applied to it; the held-out raw scores are
  summed and normalised. This is what a threshold chosen on past brands earns
  on a new brand, so it measures calibration across files.

The detector is run in-process on both cores; labels are read only by the scorer.
"""

from __future__ import annotations

import argparse
import itertools
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from detectors.nab import detect, load_windows, parse_timestamp, read_series
from detectors.nab_scoring import (
    PROFILES,
    ScoredRow,
    best_threshold,
    label_rows,
    normalised_score,
    score_at_threshold,
    window_count,
)
from detectors.volume import VolumeDetector

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nab-realTweets"
STANDARD = PROFILES[0]


def run_one(job: tuple[Path, dict]) -> tuple[str, list[str], list[float], list[float]]:
    path, params = job
    timestamps, values = read_series(path)
    scores, alerts = zip(*detect(timestamps, values, VolumeDetector(**params)), strict=True)
    return path.name, timestamps, list(scores), [float(alert) for alert in alerts]


def run_all(params: dict, pool: ProcessPoolExecutor) -> dict[str, tuple[list[str], list[float], list[float]]]:
    files = sorted(DATA.glob("*.csv"))
    return {name: (t, s, a) for name, t, s, a in pool.map(run_one, [(f, params) for f in files])}


def rows_of(runs, windows, names, column: int = 1) -> dict[str, list[ScoredRow]]:
    return {name: label_rows(name, [str(parse_timestamp(t).strftime("%Y-%m-%d %H:%M:%S")) for t in runs[name][0]],
                             runs[name][column], windows[name]) for name in names}


def swept(rows_by_file: dict[str, list[ScoredRow]], profile=STANDARD) -> tuple[float, float]:
    rows = list(itertools.chain.from_iterable(rows_by_file.values()))
    best = best_threshold(rows, profile)
    return normalised_score(best.score, window_count(rows), profile), best.threshold


def lofo(rows_by_file: dict[str, list[ScoredRow]], profile=STANDARD) -> float:
    total, windows = 0.0, 0
    for held_out, held_rows in rows_by_file.items():
        others = [row for name, rows in rows_by_file.items() if name != held_out for row in rows]
        threshold = best_threshold(others, profile).threshold
        total += score_at_threshold(held_rows, profile, threshold).score
        windows += window_count(held_rows)
    return normalised_score(total, windows, profile)


def evaluate(params: dict, pool: ProcessPoolExecutor, windows, detail: bool = False,
             half_detail: bool = False) -> dict[str, float]:
    runs = run_all(params, pool)
    names = sorted(runs)
    scores = rows_of(runs, windows, names, 1)
    alerts = rows_of(runs, windows, names, 2)
    figures: dict[str, float] = {}
    for profile in PROFILES:
        figures[f"{profile.name}"], figures[f"{profile.name}_thr"] = swept(scores, profile)
        all_alerts = list(itertools.chain.from_iterable(alerts.values()))
        fixed = score_at_threshold(all_alerts, profile, 0.5)
        figures[f"{profile.name}_fixed"] = normalised_score(fixed.score, window_count(all_alerts), profile)
    figures["half_A"], _ = swept({n: scores[n] for n in names[0::2]})
    figures["half_B"], _ = swept({n: scores[n] for n in names[1::2]})
    figures["lofo"] = lofo(scores)
    for half, half_names in (("A", names[0::2]), ("B", names[1::2])):
        half_alerts = list(itertools.chain.from_iterable(alerts[n] for n in half_names))
        fixed = score_at_threshold(half_alerts, STANDARD, 0.5)
        figures[f"half_{half}_fixed"] = normalised_score(fixed.score, window_count(half_alerts), STANDARD)
    if detail:
        print_detail(scores, figures["standard_thr"])
    if half_detail:
        for half, half_names in (("A", names[0::2]), ("B", names[1::2])):
            print_half_detail(half, {n: scores[n] for n in half_names})
    return figures


def print_half_detail(half: str, scores: dict[str, list[ScoredRow]]) -> None:
    """Per file of one half: raw standard score and false positives at the half's own swept threshold.

    When an idea helps the corpus but not one half, this shows which file pays for it.
    """
    best = best_threshold(itertools.chain.from_iterable(scores.values()), STANDARD)
    print(f"  half {half}: threshold {best.threshold:.3f}, {best.tp} TP rows, {best.fp} FP rows")
    for name, rows in scores.items():
        result = score_at_threshold(rows, STANDARD, best.threshold)
        print(f"    {name:<26} raw {result.score:6.2f}  FP: {result.fp:3d}")


def print_detail(scores: dict[str, list[ScoredRow]], threshold: float) -> None:
    """Per file: each window's first detection value (or MISS) and the false positives at ``threshold``."""
    for name, rows in scores.items():
        first: dict[str, float] = {}
        fps = []
        for row in rows:
            if row.window is not None:
                first.setdefault(row.window, float("nan"))
                if row.anomaly_score >= threshold and first[row.window] != first[row.window]:
                    first[row.window] = row.position_value
            elif row.anomaly_score >= threshold:
                fps.append(row.position_value)
        caught = " ".join("MISS" if v != v else f"{v:.2f}" for v in first.values())
        print(f"  {name:<26} windows: {caught:<28} FP: {len(fps):3d} (cost {sum(fps):6.2f})")


def parse_value(text: str) -> float | bool | None:
    if text in ("None", "none"):
        return None
    if text in ("True", "False"):
        return text == "True"
    return float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...")
    parser.add_argument("--windows-detail", action="store_true")
    parser.add_argument("--half-detail", action="store_true")
    args = parser.parse_args()
    windows = load_windows(DATA / "windows.json")
    base = {key: parse_value(value) for key, value in (item.split("=", 1) for item in args.set)}
    grid_names = [item.split("=", 1)[0] for item in args.grid]
    grid_values = [[parse_value(v) for v in item.split("=", 1)[1].split(",")] for item in args.grid]
    header = f"{'setting':<44} {'std':>5} {'fixed':>5} {'lowFP':>5} {'fixed':>5} {'lowFN':>5} {'fixed':>5}" \
             f" {'thr':>6} {'A':>5} {'B':>5} {'lofo':>5} {'Afix':>5} {'Bfix':>5}"
    print(header)
    with ProcessPoolExecutor(2) as pool:
        for combo in itertools.product(*grid_values) if grid_values else [()]:
            params = {**base, **dict(zip(grid_names, combo, strict=True))}
            f = evaluate(params, pool, windows, args.windows_detail, args.half_detail)
            label = json.dumps(params).replace("\"", "")[-44:] if params else "defaults"
            print(f"{label:<44} {f['standard']:5.1f} {f['standard_fixed']:5.1f} "
                  f"{f['reward_low_FP_rate']:5.1f} {f['reward_low_FP_rate_fixed']:5.1f} "
                  f"{f['reward_low_FN_rate']:5.1f} {f['reward_low_FN_rate_fixed']:5.1f} "
                  f"{f['standard_thr']:6.3f} {f['half_A']:5.1f} {f['half_B']:5.1f} {f['lofo']:5.1f} "
                  f"{f['half_A_fixed']:5.1f} {f['half_B_fixed']:5.1f}", flush=True)


if __name__ == "__main__":
    main()
