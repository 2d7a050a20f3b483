"""Every board panel and every Prometheus rule, proven on a real Prometheus scraping a real worker.

One worker runs against the session's Kafka broker; a generated scenario (plus a few malformed posts,
so the dead-letter series exist) is replayed into it as fast as possible; Debian's ``prometheus`` binary
scrapes the worker every second with the project's rule files loaded. Then every PromQL expression
of every dashboard panel, every recording rule and every alert rule is queried through the HTTP API
and must return data, except the few listed in :data:`EMPTY_MEANS_HEALTHY` (each with its reason).
``promtool`` checks the configuration, the rules, their unit tests and a live scrape of ``/metrics``.

Needs ``prometheus`` and ``promtool`` on PATH: ``scripts/install_prometheus.sh`` (run by ``make install``).
Set ``PROOF_PLOTS_DIR`` to also render each board's main query to a PNG there
(``scripts/plot_board_queries.py``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.localstack import REPO, WorkerProcess, free_port, write_config
from tests.conftest import unique_name
from tests.kafka_helpers import metric_samples, metric_total, produce, wait_for

pytestmark = pytest.mark.kafka

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))

#: The generated scenario: one day (the product launch at 15:00 is a volume spike the detectors see after
#: 12 calm hours of warm-up), at half the default rate to keep the replay short.
SCENARIO_DAYS = "1.6"  # includes the viral complaint, so incidents open and alerts are delivered
SCENARIO_SCALE = "0.5"
BRAND = "skyway"  # the brand of the viral complaint: every per-brand series, incidents included, exists for it
#: Template variable values. The rate window is longer than the whole run, so that sparse counters
#: (incident events, alerts sent) that moved at any point of the replay still show.
VARIABLES = {"brand": BRAND, "job": "crisiswatch", "__rate_interval": "5m"}

#: Expressions that are *expected* to return nothing on a healthy run, with the reason. The key is the
#: expression as written in the board or rule file (before variables are filled in).
EMPTY_MEANS_HEALTHY = {
    'count(crisiswatch_incident_severity{brand=~"$brand"} >= 3)':
        "the day-1 launch is a benign spike: at most watch, never critical",
}

#: Alert rules are empty when the pipeline is healthy. So that an alert is not empty merely because of
#: a typo in a metric name, each names the *signal* it compares with a threshold, which must return data.
ALERT_SIGNALS: dict[str, str] = {
    "CrisiswatchWorkerDown": 'up{job="crisiswatch"}',
    "CrisiswatchNoWorkers": 'up{job="crisiswatch"} == 1',
    "CrisiswatchConsumerLagGrowing": "sum by (job, topic) (crisiswatch_consumer_lag_messages)",
    "CrisiswatchDeadLetterRateHigh":
        "sum by (job) (rate(crisiswatch_dlq_posts_total[10m])) / sum by (job) (rate(crisiswatch_posts_total[10m]))",
    "CrisiswatchNotifierFailing": "sum by (job, notifier) (increase(crisiswatch_alerts_failed_total[15m]))",
    "CrisiswatchNoPostsProcessed": "sum by (job) (rate(crisiswatch_posts_total[15m]))",
}


def substitute(expr: str, variables: dict[str, str] = VARIABLES) -> str:
    """Fill Grafana template variables (``$name``, ``${name}``) the way Grafana would, for one value each."""
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: variables[m.group(1) or m.group(2)], expr)


def board_queries() -> list[tuple[str, str]]:
    """(where, expression) for every target of every panel of every board."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                out.append((f"{path.name} / {panel['title']} / {target['refId']}", target["expr"]))
    return out


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of ``kind`` ("record" or "alert") in the project's rule files."""
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(rule for rule in group["rules"] if kind in rule)
    return found


# --------------------------------------------------------------------------- the running stack


@dataclass
class Prometheus:
    url: str

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        result = data["result"]
        if data["resultType"] == "scalar":  # a bare number, e.g. vector(1) folded: one value
            return [{"metric": {}, "value": result}]
        return result


@dataclass
class Stack:
    prometheus: Prometheus
    worker: WorkerProcess
    records: int


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: run scripts/install_prometheus.sh (make install does)")
    return path


def _write_prometheus_config(path: Path, metrics_port: int) -> Path:
    """The project's rule files, a 1-second scrape of the worker under the job name the rules expect."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULE_FILES],
        "scrape_configs": [{"job_name": "crisiswatch",
                            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stack(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from streams.generate import malformed_examples

    prometheus_bin = _require("prometheus")
    tmp = tmp_path_factory.mktemp("proof")
    scenario = tmp / "scenario"
    subprocess.run([sys.executable, "-m", "streams.cli", "generate", "--out", str(scenario), "--days", SCENARIO_DAYS,
                    "--scale", SCENARIO_SCALE], cwd=REPO, check=True, capture_output=True)
    posts = scenario / "posts.jsonl"
    name = unique_name("proof")
    config = write_config(tmp / "crisiswatch.yaml", kafka, app_id=name, topic_prefix=f"{name}.")
    worker = WorkerProcess(config, tmp).start()
    port = free_port()
    with open(tmp / "prometheus.log", "wb") as log:
        prometheus = subprocess.Popen(
            [prometheus_bin, f"--config.file={_write_prometheus_config(tmp / 'prometheus.yml', worker.metrics_port)}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api = Prometheus(f"http://127.0.0.1:{port}")
        wait_for(lambda: _ready(api.url), 30, "Prometheus ready")
        worker.wait_ready(timeout=120)
        bad = [raw for raw, _ in malformed_examples(include_too_large=False)]
        produce(kafka, f"{name}.posts", bad)
        subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(posts), "--config", str(config),
                        "--quiet"], cwd=REPO, check=True, capture_output=True)
        records = sum(1 for line in posts.open("rb") if line.strip()) + len(bad)
        wait_for(lambda: _records_processed(worker) >= records, 150,
                 f"the worker to process all {records} records")
        # Ingest is only the first hop: the per-brand stage reads posts.by_brand, opens incidents and
        # hands them to the notifier through the outbox. The lag gauge is refreshed every few seconds, so a
        # 0 read right after ingest may predate the forwarded records; wait for the effects themselves.
        wait_for(lambda: _brand_stage_counted(worker) >= _posts_matched(worker), 150,
                 "the per-brand stage to count every matched post",
                 state=lambda: (_brand_stage_counted(worker), _posts_matched(worker)))
        wait_for(lambda: _total(worker, "crisiswatch_alerts_sent_total") > 0, 60,
                 "the scenario's viral complaint to open an incident and its alert to be delivered",
                 state=lambda: _total(worker, "crisiswatch_incident_events_total"))
        wait_for(lambda: _consumer_lag(worker) == 0, 30, "the worker to report that it caught up (lag 0)")
        # A few more scrapes and rule evaluations after the last post, then everything is in the TSDB.
        time.sleep(4)
        yield Stack(api, worker, records)
    finally:
        worker.stop()
        prometheus.terminate()
        try:
            prometheus.wait(timeout=15)
        except subprocess.TimeoutExpired:
            prometheus.kill()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def _consumer_lag(worker: WorkerProcess) -> float:
    samples = metric_samples(worker.metrics(), "crisiswatch_consumer_lag_messages")
    return sum(samples.values()) if samples else -1


def _total(worker: WorkerProcess, name: str, **labels: str) -> float:
    return metric_total(worker.metrics(), name, **labels)


def _posts_matched(worker: WorkerProcess) -> float:
    """Posts that ingest matched to a brand and forwarded to the per-brand stage."""
    return _total(worker, "crisiswatch_posts_total", outcome="matched")


def _brand_stage_counted(worker: WorkerProcess) -> float:
    """Every post the per-brand stage counts is observed once in the pipeline latency histogram."""
    return _total(worker, "crisiswatch_pipeline_latency_seconds_count")


def _records_processed(worker: WorkerProcess) -> float:
    """Every record the ingest agent took (valid or not) is observed once in the Kafka latency histogram."""
    return _total(worker, "crisiswatch_kafka_latency_seconds_count")


# --------------------------------------------------------------------------- promtool


def test_promtool_checks_the_config_rules_and_rule_unit_tests() -> None:
    promtool = _require("promtool")
    for args in (["check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
                 ["check", "rules", *map(str, RULE_FILES)],
                 ["test", "rules", *map(str, RULE_TESTS)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=PROMETHEUS_DIR)
        assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    assert len(RULE_TESTS) >= 2


def test_promtool_check_metrics_is_clean_on_a_live_scrape(stack: Stack) -> None:
    promtool = _require("promtool")
    scrape = stack.worker.metrics()
    assert "crisiswatch_posts_total" in scrape
    done = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


# --------------------------------------------------------------------------- the stack's answers


def test_prometheus_scrapes_the_worker_and_evaluates_every_rule_without_error(stack: Stack) -> None:
    targets = stack.prometheus.get("/api/v1/targets")["activeTargets"]
    assert [t["health"] for t in targets] == ["up"], targets
    groups = stack.prometheus.get("/api/v1/rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(rules("record")) + len(rules("alert"))
    failing = [(rule["name"], rule.get("lastError")) for rule in loaded if rule["health"] != "ok"]
    assert not failing, failing
    firing = [rule["name"] for rule in loaded if rule["type"] == "alerting" and rule["state"] != "inactive"]
    assert not firing, f"pipeline alerts pending or firing on a healthy run: {firing}"


def test_every_board_query_returns_data(stack: Stack) -> None:
    queries = board_queries()
    assert len(queries) > 40
    empty = []
    for where, expr in queries:
        result = stack.prometheus.query(substitute(expr))
        if expr in EMPTY_MEANS_HEALTHY:
            continue
        if not result:
            empty.append(f"{where}: {expr}")
    assert not empty, f"{len(empty)} of {len(queries)} panel queries returned no data:\n" + "\n".join(empty)


def test_empty_means_healthy_lists_only_expressions_that_exist_and_are_empty(stack: Stack) -> None:
    """The exceptions list is no hiding place: each one is in a board and does return nothing right now."""
    exprs = {expr for _, expr in board_queries()}
    unknown = set(EMPTY_MEANS_HEALTHY) - exprs
    assert not unknown, f"stale entries in EMPTY_MEANS_HEALTHY: {unknown}"
    not_empty = [expr for expr in EMPTY_MEANS_HEALTHY if stack.prometheus.query(substitute(expr))]
    assert not not_empty, f"these returned data, so they no longer need an exception: {not_empty}"


def test_every_recording_rule_returns_data(stack: Stack) -> None:
    empty = []
    for rule in rules("record"):
        matchers = ",".join(f'{key}="{value}"' for key, value in rule.get("labels", {}).items())
        selector = f"{rule['record']}{{{matchers}}}" if matchers else rule["record"]
        if not stack.prometheus.query(rule["expr"]) or not stack.prometheus.query(selector):
            empty.append(f"{rule['record']} {rule.get('labels', {})}: {rule['expr']}")
    assert not empty, "recording rules with no data:\n" + "\n".join(empty)


def test_alert_rules_are_quiet_and_the_signals_they_watch_have_data(stack: Stack) -> None:
    alerts = {rule["alert"]: rule["expr"] for rule in rules("alert")}
    assert set(alerts) == set(ALERT_SIGNALS), "every alert rule needs an entry in ALERT_SIGNALS"
    problems = []
    for name, expr in alerts.items():
        if stack.prometheus.query(expr):
            problems.append(f"{name} returns data on a healthy run: {expr}")
        signal = ALERT_SIGNALS[name]
        assert _normalise(signal) in _normalise(expr), f"{name}: its signal {signal!r} is not in {expr!r}"
        if not stack.prometheus.query(signal):
            problems.append(f"{name}: its signal returned no data: {signal}")
    assert not problems, "\n".join(problems)


def _normalise(expr: str) -> str:
    return re.sub(r"\s+", " ", expr).replace("( ", "(").strip()


def test_template_variable_queries_find_values(stack: Stack) -> None:
    """``label_values(metric{...}, label)`` of each board, run the way Grafana runs it (the series API)."""
    seen = {}
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
            assert match, variable["query"]
            selector, label = match.groups()
            values = stack.prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": selector})
            seen[(path.name, variable["name"])] = values
    assert seen
    for (board, name), values in seen.items():
        assert values, f"{board}: ${name} has no values"
        assert VARIABLES[name] in values, f"{board}: ${name} = {values} lacks {VARIABLES[name]}"
    brands = seen[("pr.json", "brand")]
    assert "none" not in brands, "posts with no brand must not be offered as a brand"


def test_board_main_queries_plot(stack: Stack, tmp_path: Path) -> None:
    """Draw each board's main query as Prometheus returns it (kept in $PROOF_PLOTS_DIR when set)."""
    out = os.environ.get("PROOF_PLOTS_DIR") or tmp_path
    spec = importlib.util.spec_from_file_location("plot_board_queries", REPO / "scripts" / "plot_board_queries.py")
    plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plots)
    written = plots.plot_boards(stack.prometheus.url, Path(out), {**VARIABLES, "__rate_interval": "1m"},
                                minutes=5)
    assert len(written) == len(DASHBOARDS)
    assert all(p.stat().st_size > 5000 for p in written)


def test_counter_boards_count_the_first_event_too(stack: Stack) -> None:
    """``increase()`` only sees a rise between two samples: a counter series born at 1 loses that 1.

    The worker creates the series of its event counters at 0 when it starts (for the configured brands
    and notifiers), so the on-call board's "Alerts delivered (24 h)" and the incidents opened per brand
    count every event, the first one included. The window covers the whole run; ``increase``
    extrapolates a little past the samples, so it may exceed the worker's own total, never fall below it.
    """
    worker_total = {
        "sum(increase(crisiswatch_alerts_sent_total[24h]))": _total(stack.worker, "crisiswatch_alerts_sent_total"),
        f'sum(increase(crisiswatch_incident_events_total{{brand="{BRAND}",kind="open"}}[24h]))':
            _total(stack.worker, "crisiswatch_incident_events_total", brand=BRAND, kind="open"),
    }
    for expr, total in worker_total.items():
        assert total >= 1, f"the scenario should have produced an event for {expr}"
        (sample,) = stack.prometheus.query(expr)
        assert float(sample["value"][1]) >= total - 0.01, f"{expr} = {sample['value'][1]}, the worker counted {total}"
