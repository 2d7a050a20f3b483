"""``crisiswatch tune``: a threshold sweep over a generated scenario, through the production detectors."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from detectors.negativity import load_scorer
from streams.backtest import ingest, load_labels, replay, run_backtest
from streams.cli import main as cli_main
from streams.config import load_config, parse_config
from streams.generate import Scenario, write_scenario
from streams.post import parse_timestamp
from streams.tune import (
    TUNABLES,
    WEEK_SECONDS,
    TuneRow,
    brands_overriding,
    current_value,
    measure,
    parse_range,
    recommend,
    tunable,
    with_value,
)
from tests.conftest import REPO

PARAM = "incident.story_authors.warning"
#: Swept over the sensitive config below, whose own value (8) is deliberately not among them, so that the
#: recommendation is a change and the command prints the YAML for it.
VALUES = "3,5,12,20,60"
TARGET = 1.0


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["tune", *argv])
    return code, out.getvalue(), err.getvalue()


def parse_table(stdout: str) -> list[dict[str, Any]]:
    """The rows of the printed trade-off table."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["value", "alerts"])
    header_has_labels = "recall" in lines[start]
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells, _, marks = line.partition("<-")
        c = cells.split()
        row: dict[str, Any] = {"value": float(c[0]), "alerts": int(c[1]), "pages": int(c[2]),
                               "false_alarms": int(c[3]), "per_week": float(c[4]),
                               "marks": {m.strip() for m in marks.split(",") if m.strip()}}
        if header_has_labels:
            row.update(false_pages=int(c[5]), recall=None if c[6] == "n/a" else float(c[6]),
                       delay_min=None if c[7] == "-" else float(c[7]))
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tune-scenario")
    write_scenario(Scenario(seed=11, days=2.0, scale=0.25), out)
    return out


@pytest.fixture(scope="module")
def sensitive_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's config with story thresholds low enough that small complaint clusters open incidents,
    so that the sweep has false alarms to trade against (the default thresholds have none on this scenario)."""
    raw = yaml.safe_load((REPO / "crisiswatch.yaml").read_text())
    raw["detectors"]["incident"] = {"story_velocity": [0.5, 1.0, 20.0], "story_authors": [3, 8, 200],
                                    "story_doubling_seconds": [3600, 3000, 600]}
    path = tmp_path_factory.mktemp("tune-config") / "sensitive.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def labelled_sweep(scenario: Path, sensitive_config: Path) -> tuple[int, str, str]:
    return cli(str(scenario / "posts.jsonl"), "--config", str(sensitive_config), "--labels",
               str(scenario / "labels.json"), "--param", PARAM, "--values", VALUES,
               "--target-false-alarms-per-week", str(TARGET))


def data_weeks(scenario: Path) -> float:
    """The scenario's span from its own posts, independently of the command."""
    times = [parse_timestamp(orjson.loads(line)["created_at"])
             for line in (scenario / "posts.jsonl").read_bytes().splitlines()]
    return (max(times) - min(times)) / WEEK_SECONDS


def test_false_alarms_fall_as_the_threshold_rises(labelled_sweep, scenario):
    code, out, err = labelled_sweep
    assert code == 0, err
    rows = parse_table(out)
    assert [r["value"] for r in rows] == sorted(float(v) for v in VALUES.split(","))
    false_alarms = [r["false_alarms"] for r in rows]
    alerts = [r["alerts"] for r in rows]
    # Monotone-ish: a stricter value may open an incident at another time, but never adds more than one.
    assert all(b <= a + 1 for a, b in itertools.pairwise(false_alarms)), false_alarms
    assert all(b <= a + 1 for a, b in itertools.pairwise(alerts)), alerts
    assert false_alarms[0] > false_alarms[-1], f"no trade-off to tune: {false_alarms}"
    assert rows[-1]["recall"] <= rows[0]["recall"]
    # The weeks come from the data's own time span.
    weeks = data_weeks(scenario)
    for r in rows:
        assert r["per_week"] == pytest.approx(r["false_alarms"] / weeks, abs=0.006)
        assert r["false_alarms"] <= r["alerts"]


def test_the_recommended_value_meets_the_target_with_the_best_recall(labelled_sweep):
    code, out, _ = labelled_sweep
    assert code == 0
    rows = parse_table(out)
    recommended = [r for r in rows if "recommended" in r["marks"]]
    assert len(recommended) == 1
    best = recommended[0]
    assert best["per_week"] <= TARGET
    affordable = [r for r in rows if r["per_week"] <= TARGET]
    assert all(r["recall"] <= best["recall"] for r in affordable)
    assert all(r["delay_min"] >= best["delay_min"] for r in affordable if r["recall"] == best["recall"])
    assert f"Recommended: {PARAM} = {best['value']:g}" in out


def test_the_printed_yaml_makes_the_backtest_do_what_the_table_said(labelled_sweep, scenario, sensitive_config,
                                                                     tmp_path):
    code, out, _ = labelled_sweep
    assert code == 0
    best = next(r for r in parse_table(out) if "recommended" in r["marks"])
    snippet = yaml.safe_load(out.split(f"In {sensitive_config}:\n", 1)[1])
    raw = yaml.safe_load(sensitive_config.read_text())
    raw["detectors"]["incident"].update(snippet["detectors"]["incident"])
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(yaml.safe_dump(raw))
    config = load_config(tuned)
    assert current_value(config, tunable(PARAM)) == best["value"]
    # A plain backtest with the edited file: same incidents, false alarms and recall as the table's row.
    lines = (scenario / "posts.jsonl").read_bytes().splitlines()
    result = run_backtest(iter(lines), config, load_scorer("default"), keep_evaluations=False)
    labels = load_labels(json.loads((scenario / "labels.json").read_text()))
    row = measure(result.events, labels, best["value"], data_weeks(scenario))
    assert (row.alerts, row.pages, row.false_alarms, row.false_pages) == \
           (best["alerts"], best["pages"], best["false_alarms"], best["false_pages"])
    assert row.recall == pytest.approx(best["recall"], abs=0.005)


def test_an_impossible_target_exits_non_zero_and_says_why(scenario):
    # Without labels every incident opened counts as a false alarm, and the viral complaint opens one.
    code, out, err = cli(str(scenario / "posts.jsonl"), "--config", str(REPO / "crisiswatch.yaml"),
                         "--param", PARAM, "--values", "20,60", "--brand", "skyway",
                         "--target-false-alarms-per-week", "0")
    assert code == 1
    assert f"no value of {PARAM} meets the target of 0 false alarms per week" in err
    assert "Recommended" not in out
    rows = parse_table(out)
    assert len(rows) == 2 and all(r["per_week"] > 0 and r["false_alarms"] == r["alerts"] for r in rows)
    assert "upper bound" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--param", "incident.bogus"], "unknown --param 'incident.bogus'; valid choices: "),
    (["--param", "incident.negative_share", "--values", "0.5,1.5"],
     "incident.negative_share = 1.5: negative_share must be a number in [0, 1]"),
    (["--param", PARAM, "--values", "300"], "story_authors must grow from watch to critical"),
    (["--param", PARAM, "--values", "12.5"], "expected a whole number"),
    (["--param", PARAM, "--range", "10:50"], "--range: expected LOW:HIGH:STEPS"),
    (["--brand", "nope"], "configured brands: skyway, brewbox, voltmobile"),
    (["--target-false-alarms-per-week", "-1"], "must be a number >= 0"),
])
def test_bad_arguments_fail_clearly_before_reading_the_data(argv, message, tmp_path):
    missing = tmp_path / "not-read.jsonl"  # reading it would raise: the arguments are checked first
    code, out, err = cli(str(missing), "--config", str(REPO / "crisiswatch.yaml"), *argv)
    assert code == 2
    assert message in err
    assert out == ""


def test_an_unknown_param_lists_every_valid_one(tmp_path):
    _, _, err = cli(str(tmp_path / "x.jsonl"), "--config", str(REPO / "crisiswatch.yaml"), "--param", "volume")
    assert all(name in err for name in TUNABLES)


def test_a_brand_replayed_alone_opens_exactly_what_it_opens_in_the_full_replay(scenario):
    config = load_config(REPO / "crisiswatch.yaml")
    lines = (scenario / "posts.jsonl").read_bytes().splitlines()
    batches = list(ingest(iter(lines), config, load_scorer("default")))
    full = [e for e in replay(batches, config, keep_evaluations=False).events if e["brand"] == "skyway"]
    alone = replay(batches, config, keep_evaluations=False, brands={"skyway"}).events
    assert full and alone == full


def test_overrides_go_where_the_snippet_says():
    config = parse_config({
        "detectors": {"incident": {"story_authors": [10, 40, 200]}},
        "brands": [{"name": "a", "terms": ["A"]},
                   {"name": "b", "terms": ["B"], "detectors": {"incident": {"story_authors": [5, 20, 100]}}}],
    })
    t = tunable(PARAM)
    assert brands_overriding(config, t) == ["b"]
    assert current_value(config, t) == 40 and current_value(config, t, "b") == 20
    everyone = with_value(config, t, 60)
    assert everyone.detector_params("a", "incident")["story_authors"] == [10, 60, 200]
    assert everyone.detector_params("b", "incident")["story_authors"] == [5, 20, 100]  # its own value wins
    only_b = with_value(config, t, 30, brand="b")
    assert only_b.detector_params("b", "incident")["story_authors"] == [5, 30, 100]
    assert only_b.detector_params("a", "incident")["story_authors"] == [10, 40, 200]
    assert config.detector_params("b", "incident")["story_authors"] == [5, 20, 100]  # not mutated


def row(value: float, false_alarms: int, recall: float | None = None, delay: float | None = None,
        alerts: int | None = None, labelled: bool = True) -> TuneRow:
    return TuneRow(value, alerts if alerts is not None else false_alarms, 0, false_alarms, false_alarms / 0.5,
                   false_pages=0 if labelled else None, recall=recall, median_delay_seconds=delay)


def test_recommend_prefers_recall_then_the_earliest_detection_within_the_budget():
    rows = [row(1, 3, 1.0, 60), row(2, 0, 1.0, 600), row(3, 0, 1.0, 300), row(4, 0, 0.5, 60)]
    assert recommend(rows, target_per_week=1.0).value == 3
    assert recommend(rows, target_per_week=6.0).value == 1
    assert recommend(rows, target_per_week=1.0, current=2).value == 3  # the current value only breaks ties
    assert recommend([row(1, 2, 1.0, 60), row(2, 1, 1.0, 60)], target_per_week=0.0) is None
    unlabelled = [row(v, n, labelled=False) for v, n in ((1, 3), (2, 1), (3, 0))]
    assert recommend(unlabelled, target_per_week=2.0).value == 2  # the most sensitive affordable one


def test_parse_range():
    assert parse_range("0.1:0.5:5") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_range("10:12:5", integer=True) == [10.0, 11.0, 12.0]
    with pytest.raises(ValueError, match="STEPS must be at least 2"):
        parse_range("1:2:1")
    with pytest.raises(ValueError, match="LOW must not exceed HIGH"):
        parse_range("2:1:3")
