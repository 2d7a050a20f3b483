"""The Grafana boards and the metrics catalogue: structure, references, and agreement with the code.

That the queries return data on a real Prometheus is tests/test_prometheus_proof.py's job; here every
board is checked offline: generated from grafana/build.py, unique ids, no overlapping panels, every
target an expression on the templated datasource, every variable defined, every unit set, and every
metric it names defined in the code (or recorded by a rule) and listed in docs/metrics.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import alerts.metrics  # noqa: F401  (registers the alert delivery metrics)
import streams.metrics  # registers the pipeline and detector metrics
import streams.stall  # noqa: F401  (registers the stall watchdog's counter)

REPO = Path(__file__).resolve().parent.parent
BOARD_DIR = REPO / "grafana" / "dashboards"
BOARDS = {path.name: json.loads(path.read_text()) for path in sorted(BOARD_DIR.glob("*.json"))}
CATALOGUE = REPO / "docs" / "metrics.md"
RECORDING_RULES = REPO / "deploy" / "prometheus" / "rules" / "recording.yml"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
#: Grafana's own variables a query may use.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}
#: Units a panel may declare (Grafana unit ids).
UNITS = {"short", "reqps", "s", "percentunit", "bytes", "none"}
PROMETHEUS_SERIES = {"up"}  # added by Prometheus itself to every target
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_names(prefixes: tuple[str, ...] = ("crisiswatch_",)) -> set[str]:
    """Names as they appear on /metrics: counters with ``_total``, histograms by their base name."""
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith(prefixes):
            names.add(family.name + "_total" if family.type == "counter" else family.name)
    return names


def catalogue_rows() -> list[list[str]]:
    """Cells of every table row of docs/metrics.md whose first cell is a code span."""
    rows = []
    for line in CATALOGUE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and re.fullmatch(r"`[^`]+`", cells[0]):
            rows.append([cells[0].strip("`"), *cells[1:]])
    return rows


def recorded_names() -> set[str]:
    groups = yaml.safe_load(RECORDING_RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"]}


def targets(board: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, target) for panel in board["panels"] for target in panel["targets"]]


def variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


# --------------------------------------------------------------------------- the catalogue


def test_catalogue_lists_every_crisiswatch_metric_in_the_code_and_nothing_else() -> None:
    in_code = exported_names()
    listed = {row[0] for row in catalogue_rows() if row[0].startswith("crisiswatch_")}
    assert len(in_code) >= 30
    assert in_code - listed == set(), "metrics missing from docs/metrics.md"
    assert listed - in_code == set(), "docs/metrics.md lists metrics the code no longer defines"


def test_catalogue_types_match_the_code() -> None:
    types = {}
    for family in REGISTRY.collect():
        if family.name.startswith("crisiswatch_"):
            types[family.name + "_total" if family.type == "counter" else family.name] = family.type
    for name, kind, *_ in catalogue_rows():
        if name in types:
            assert kind == types[name], f"{name}: catalogue says {kind}, code says {types[name]}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process collector only exists on Linux")
def test_catalogue_lists_the_default_process_and_python_collectors() -> None:
    defaults = exported_names(("process_", "python_"))
    listed = {row[0] for row in catalogue_rows() if row[0].startswith(("process_", "python_"))}
    assert defaults == listed


def test_catalogue_lists_exactly_the_recorded_series() -> None:
    listed = {row[0] for row in catalogue_rows() if ":" in row[0]}
    assert listed == recorded_names()


def test_every_catalogue_row_has_type_unit_and_meaning() -> None:
    for name, kind, unit, _labels, meaning in (r for r in catalogue_rows() if ":" not in r[0]):
        assert kind in {"counter", "gauge", "histogram"}, name
        assert unit or name == "python_info", f"{name}: no unit"
        assert len(meaning) > 15, f"{name}: no meaning"
        assert kind != "counter" or name.endswith("_total"), name


# --------------------------------------------------------------------------- the boards


def test_the_json_files_are_what_build_py_generates() -> None:
    done = subprocess.run([sys.executable, str(REPO / "grafana" / "build.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_four_boards_exist_with_unique_uids() -> None:
    assert set(BOARDS) == {"pr.json", "oncall.json", "tuning.json", "pipeline.json"}
    uids = [board["uid"] for board in BOARDS.values()]
    assert len(set(uids)) == len(uids)
    for board in BOARDS.values():
        assert board["schemaVersion"] >= 36 and board["title"].startswith("crisiswatch / ")
        assert board["panels"], board["uid"]
        assert board.get("id") is None, "provisioned boards must not carry a database id"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panel_ids_are_unique_and_panels_do_not_overlap(name: str) -> None:
    panels = BOARDS[name]["panels"]
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    cells: dict[tuple[int, int], int] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_target_is_an_expression_on_the_templated_datasource(name: str) -> None:
    board = BOARDS[name]
    assert variables(board)["datasource"]["type"] == "datasource"
    assert variables(board)["datasource"]["query"] == "prometheus"
    for panel, target in targets(board):
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert target["datasource"] == DATASOURCE_REF, panel["title"]
        assert target["expr"].strip(), panel["title"]
        assert target["refId"], panel["title"]
        assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    for variable in variables(board).values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE_REF, variable["name"]
    ref_ids = [[t["refId"] for t in p["targets"]] for p in board["panels"]]
    assert all(len(set(r)) == len(r) for r in ref_ids)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_variable_used_is_defined(name: str) -> None:
    board = BOARDS[name]
    defined = set(variables(board)) | BUILTIN_VARIABLES
    used: set[str] = set()
    texts = [t["expr"] for _, t in targets(board)] + [p["title"] for p in board["panels"]]
    texts += [p["repeat"] for p in board["panels"] if "repeat" in p]
    for text in texts:
        used |= {a or b for a, b in re.findall(r"\$\{(\w+)[^}]*\}|\$(\w+)", text)}
    used |= {p["repeat"] for p in board["panels"] if "repeat" in p}
    assert used - defined == set()
    assert not [v for v in variables(board) if v != "datasource" and v not in used], "unused variables"


def test_brand_and_job_variables() -> None:
    for name in ("pr.json", "oncall.json", "tuning.json"):
        brand = variables(BOARDS[name])["brand"]
        assert brand["query"]["query"] == 'label_values(crisiswatch_posts_total{outcome="matched"}, brand)'
        assert brand["multi"] and brand["includeAll"]
    job = variables(BOARDS["pipeline.json"])["job"]
    assert job["query"]["query"].startswith("label_values(") and job["query"]["query"].endswith(", job)")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_panel_has_a_unit_and_a_description(name: str) -> None:
    for panel in BOARDS[name]["panels"]:
        assert panel["fieldConfig"]["defaults"].get("unit") in UNITS, panel["title"]
        assert len(panel["description"]) > 20, panel["title"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_no_hard_coded_instance_job_or_datasource(name: str) -> None:
    text = json.dumps(BOARDS[name])
    for _, target in targets(BOARDS[name]):
        assert not re.search(r'\b(instance|pod|job)\s*=~?\s*"[^$]', target["expr"]), target["expr"]
    assert "crisiswatch-prometheus" not in text, "boards must reach Prometheus through ${datasource}"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_metric_a_board_names_exists(name: str) -> None:
    """No typo survives: each name is defined in the code, recorded by a rule, or added by Prometheus."""
    known = exported_names(("crisiswatch_", "process_", "python_")) | recorded_names() | PROMETHEUS_SERIES
    for _, target in targets(BOARDS[name]):
        expr = re.sub(r'"[^"]*"', '""', target["expr"])  # label values are not metric names
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{\[)])|[a-zA-Z_:][a-zA-Z0-9_:]*$", expr):
            if not (token.startswith(("crisiswatch_", "process_", "python_")) or ":" in token or token == "up"):
                continue
            base = token
            for suffix in HISTOGRAM_SUFFIXES:
                if token.endswith(suffix) and token[: -len(suffix)] in known:
                    base = token[: -len(suffix)]
            assert base in known, f"{name}: unknown metric {token} in {target['expr']}"


def test_board_queries_cover_the_catalogue() -> None:
    """Every crisiswatch metric is on some board, so a new metric without a panel is noticed."""
    exprs = " ".join(t["expr"] for board in BOARDS.values() for _, t in targets(board))
    recorded_from = yaml.safe_dump(yaml.safe_load(RECORDING_RULES.read_text()))
    missing = [m for m in exported_names() if m not in exprs and m not in recorded_from]
    assert not missing, f"metrics no board shows: {missing}"


def test_severity_timeline_maps_every_severity_level() -> None:
    panel = next(p for p in BOARDS["oncall.json"]["panels"] if p["type"] == "state-timeline")
    mapping = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {v["text"] for v in mapping.values()} == {"none", "watch", "warning", "critical"}


# --------------------------------------------------------------------------- provisioning


def test_provisioning_points_at_the_dashboards_and_a_prometheus_datasource() -> None:
    provisioning = REPO / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True and source["url"].startswith("http")
    providers = yaml.safe_load((provisioning / "dashboards" / "crisiswatch.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
