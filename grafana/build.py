"""Generate the crisiswatch Grafana dashboards (``grafana/dashboards/*.json``) from this one file.

    .venv/bin/python grafana/build.py          # rewrite the JSON files
    .venv/bin/python grafana/build.py --check  # exit 1 if a JSON file differs from what this file makes

Why generate instead of exporting from the Grafana UI: the boards stay reviewable (one Python line per
query), panel ids and grid positions are computed and therefore unique and non-overlapping, and every
board shares the same datasource variable, units and conventions. The JSON files are committed so that
Grafana's file provisioning (``grafana/provisioning/``) needs nothing but the files; ``tests/test_grafana.py``
checks they match this script.

Conventions (Grafana 10/11 dashboard schema):

* every query uses the ``${datasource}`` template variable, never a fixed datasource uid;
* ``$brand`` (multi-value) filters brands with ``brand=~"$brand"``; ``$job`` selects the worker job;
* rates use ``$__rate_interval``, except the heavy ones that read recording rules
  (``deploy/prometheus/rules/recording.yml``);
* every panel sets a unit.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11.x
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BRAND = 'brand=~"$brand"'
JOB = 'job=~"$job"'
GRID_WIDTH = 24
SEVERITY_NAMES = {0: ("none", "green"), 1: ("watch", "yellow"), 2: ("warning", "orange"), 3: ("critical", "red")}


# --------------------------------------------------------------------------- building blocks


def query(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> dict[str, Any]:
    """One Prometheus target; ``refId`` is filled in by :class:`Panel`."""
    target: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto",
                              "range": not instant, "instant": instant, "editorMode": "code"}
    if table:
        target["format"] = "table"
    return target


@dataclass
class Panel:
    """A panel before layout: what it shows and how wide/high it is (grid units; 24 across)."""

    title: str
    kind: str  # timeseries | stat | table | state-timeline
    targets: list[dict[str, Any]]
    unit: str
    description: str
    width: int = 12
    height: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        targets = [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(self.targets)]
        panel = {
            "id": panel_id, "type": self.kind, "title": self.title, "description": self.description,
            "datasource": DATASOURCE, "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": self.unit, **self.defaults,
                                         **({"custom": self.custom} if self.custom else {})},
                            "overrides": self.overrides},
            "options": self.options,
        }
        if self.transformations:
            panel["transformations"] = self.transformations
        panel.update(self.extra)
        return panel


def timeseries(title: str, targets: list[dict[str, Any]], unit: str, description: str, *, width: int = 12,
               height: int = 8, bars: bool = False, min_: float | None = None, max_: float | None = None,
               threshold: float | None = None, fill: int = 10, **kwargs: Any) -> Panel:
    custom: dict[str, Any] = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": fill,
                              "showPoints": "never", "spanNulls": False}
    defaults: dict[str, Any] = {}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if threshold is not None:
        # A dashed red line at the alert threshold, so a score's distance to it reads at a glance.
        custom["thresholdsStyle"] = {"mode": "dashed"}
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                 {"color": "red", "value": threshold}]}
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return Panel(title, "timeseries", targets, unit, description, width, height, options=options,
                 defaults=defaults, custom=custom, **kwargs)


def stat(title: str, target: dict[str, Any], unit: str, description: str, *, width: int = 6, height: int = 4,
         red_at: float | None = None, no_value: str | None = None) -> Panel:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red_at is not None:
        steps.append({"color": "red", "value": red_at})
    defaults: dict[str, Any] = {"thresholds": {"mode": "absolute", "steps": steps}}
    if no_value is not None:
        defaults["noValue"] = no_value  # no series yet (no notifier configured, no scrape yet): show 0, not "No data"
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "colorMode": "background", "graphMode": "area", "textMode": "auto", "justifyMode": "auto"}
    return Panel(title, "stat", [target], unit, description, width, height, options=options, defaults=defaults)


def severity_mappings() -> list[dict[str, Any]]:
    return [{"type": "value", "options": {str(value): {"text": name, "color": color, "index": value}
                                          for value, (name, color) in SEVERITY_NAMES.items()}}]


def by_name(name: str, **properties: Any) -> dict[str, Any]:
    """A field override for the series whose display name is ``name``."""
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": key, "value": value} for key, value in properties.items()]}


# --------------------------------------------------------------------------- variables


def datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def query_variable(name: str, label: str, expr: str, *, multi: bool) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "definition": expr, "query": {"query": expr, "refId": f"{name}-variable"},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": multi, "current": {}, "hide": 0,
            "regex": "", "options": []}


def brand_variable() -> dict[str, Any]:
    # outcome="matched" leaves out brand="none" (unmatched and invalid posts).
    return query_variable("brand", "Brand", 'label_values(crisiswatch_posts_total{outcome="matched"}, brand)',
                          multi=True)


def job_variable() -> dict[str, Any]:
    # The unlabelled latency histogram is exported by every worker from its start, so every job shows up.
    return query_variable("job", "Job", "label_values(crisiswatch_post_latency_seconds_count, job)", multi=True)


# --------------------------------------------------------------------------- layout and dashboard


def layout(panels: list[Panel]) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping at 24 columns; ids count up from 1 (unique per board)."""
    placed: list[dict[str, Any]] = []
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(panel.to_json(panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def dashboard(uid: str, title: str, description: str, panels: list[Panel],
              variables: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["crisiswatch"],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True, "graphTooltip": 1,
        "timezone": "browser", "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False, "id": None,
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "crisiswatch boards", "type": "dashboards", "tags": ["crisiswatch"], "asDropdown": True,
                   "includeVars": True, "keepTime": True}],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": layout(panels),
    }


# --------------------------------------------------------------------------- the boards


def pr_board() -> dict[str, Any]:
    """For PR teams: is a brand louder or angrier than usual, is there an incident, which stories spread."""
    # Repeated once per selected brand (``$brand`` is then a single brand), so that the series have fixed
    # names and the band can be shaded between its two edges.
    band = [query('crisiswatch_volume_observed_posts{brand="$brand"}', "observed"),
            query('crisiswatch_volume_expected_posts{brand="$brand"}', "expected"),
            query('crisiswatch_volume_band_lower_posts{brand="$brand"}', "band lower"),
            query('crisiswatch_volume_band_upper_posts{brand="$brand"}', "band upper")]
    band_style = [
        by_name("band upper", **{"custom.fillBelowTo": "band lower", "custom.lineWidth": 0,
                                 "custom.fillOpacity": 20, "color": {"mode": "fixed", "fixedColor": "blue"}}),
        by_name("band lower", **{"custom.lineWidth": 0, "color": {"mode": "fixed", "fixedColor": "blue"}}),
        by_name("expected", **{"custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                               "color": {"mode": "fixed", "fixedColor": "text"}}),
        by_name("observed", **{"custom.lineWidth": 2, "color": {"mode": "fixed", "fixedColor": "orange"}}),
    ]
    per_brand = {"repeat": "brand", "repeatDirection": "h", "maxPerRow": 3}
    panels = [
        stat("Open incidents", query(f"sum(crisiswatch_incidents_open{{{BRAND}}})", instant=True), "short",
             "Incidents of the selected brands that are open (not resolved yet).", red_at=1, no_value="0"),
        stat("Brand mentions per second", query(f"sum(brand:crisiswatch_posts:rate5m{{{BRAND}}})", instant=True),
             "reqps", "Posts mentioning the selected brands, per second over the last 5 minutes."),
        stat("Complaints per second", query(f"sum(brand:crisiswatch_complaint_posts:rate5m{{{BRAND}}})",
                                            instant=True),
             "reqps", "Posts the negativity model flags as complaints, per second over the last 5 minutes."),
        stat("Live stories", query(f"sum(crisiswatch_stories_live{{{BRAND}}})", instant=True), "short",
             "Complaint stories the trackers follow right now (not yet expired)."),
        timeseries("Volume against the expected band: $brand", band, "short",
                   "Posts per closed bucket (one minute by default) against what the volume detector expected "
                   "for that time of day and week, with its normal band shaded. Outside the band = unusual.",
                   width=24, height=9, fill=0, overrides=band_style, extra=per_brand),
        timeseries("Negative share against baseline: $brand",
                   [query('crisiswatch_negative_share_ratio{brand="$brand"}', "negative share"),
                    query('crisiswatch_negative_share_baseline_ratio{brand="$brand"}', "baseline")],
                   "percentunit",
                   "Share of complaint posts in the last closed bucket against the brand's usual share "
                   "(the shift detector's baseline).", width=24, min_=0, max_=1, fill=0, extra=per_brand,
                   overrides=[by_name("baseline", **{"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}})]),
        timeseries("Mentions per second by brand", [query(f"brand:crisiswatch_posts:rate5m{{{BRAND}}}",
                                                          "{{brand}}")],
                   "reqps", "Posts mentioning each brand, per second (5-minute rate; recording rule)."),
        timeseries("Open incidents by brand", [query(f"crisiswatch_incidents_open{{{BRAND}}}", "{{brand}}")],
                   "short", "Open incidents per brand over time.", min_=0),
        timeseries("Fastest story velocity", [query(f"crisiswatch_story_velocity_posts_per_minute{{{BRAND}}}",
                                                    "{{brand}}")],
                   "short", "Growth of each brand's fastest story, in posts per minute over its recent window.",
                   min_=0),
        Panel("Top stories", "table",
              [query(f"crisiswatch_story_top_posts{{{BRAND}}}", instant=True, table=True),
               query(f"crisiswatch_story_top_velocity_posts_per_minute{{{BRAND}}}", instant=True, table=True)],
              "short", "The brands' top stories by velocity (rank 1 is the fastest): posts so far and posts "
                       "per minute. Story texts are in the incident alerts.",
              width=24, height=8,
              options={"showHeader": True, "sortBy": [{"displayName": "posts per minute", "desc": True}]},
              transformations=[
                  {"id": "merge", "options": {}},
                  {"id": "organize", "options": {
                      "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                      "renameByName": {"Value #A": "posts", "Value #B": "posts per minute"},
                      "indexByName": {"brand": 0, "rank": 1, "Value #A": 2, "Value #B": 3}}}]),
    ]
    return dashboard("crisiswatch-pr", "crisiswatch / PR: brands",
                     "Volume and negativity of each brand against its usual level, open incidents, top stories.",
                     panels, [brand_variable()])


def oncall_board() -> dict[str, Any]:
    """For on-call comms: which incidents are open and how bad, what happened, did the alerts get out."""
    delivery = [
        query("sum by (notifier) (increase(crisiswatch_alerts_sent_total[$__rate_interval]))", "{{notifier}} sent"),
        query("sum by (notifier) (increase(crisiswatch_alerts_failed_total[$__rate_interval]))",
              "{{notifier}} failed"),
        query("sum by (notifier) (increase(crisiswatch_alerts_retried_total[$__rate_interval]))",
              "{{notifier}} retried"),
        query("sum by (notifier) (increase(crisiswatch_alerts_duplicates_skipped_total[$__rate_interval]))",
              "{{notifier}} duplicates skipped"),
    ]
    panels = [
        stat("Open incidents", query(f"sum(crisiswatch_incidents_open{{{BRAND}}})", instant=True), "short",
             "Incidents of the selected brands that are open.", red_at=1, no_value="0"),
        stat("Critical brands", query(f"count(crisiswatch_incident_severity{{{BRAND}}} >= 3)", instant=True),
             "short", "Brands whose last closed bucket the incident decision rated critical.", red_at=1,
             no_value="0"),
        stat("Alerts failed (24 h)", query("sum(increase(crisiswatch_alerts_failed_total[24h]))", instant=True),
             "short", "Incident events given up on after non-retryable errors in the last day.", red_at=1,
             no_value="0"),
        stat("Alerts delivered (24 h)", query("sum(increase(crisiswatch_alerts_sent_total[24h]))", instant=True),
             "short", "Incident events delivered to a receiver in the last day.", no_value="0"),
        Panel("Incident severity timeline", "state-timeline",
              [query(f"max by (brand) (crisiswatch_incident_severity{{{BRAND}}})", "{{brand}}")], "short",
              "Severity the incident decision gave each brand's closed buckets: none, watch, warning, critical.",
              width=24, height=7,
              options={"showValue": "never", "mergeValues": True, "alignValue": "left", "rowHeight": 0.8,
                       "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
              defaults={"mappings": severity_mappings(), "color": {"mode": "thresholds"},
                        "thresholds": {"mode": "absolute", "steps": [
                            {"color": "green", "value": None}, {"color": "yellow", "value": 1},
                            {"color": "orange", "value": 2}, {"color": "red", "value": 3}]}},
              custom={"fillOpacity": 80, "lineWidth": 0}),
        timeseries("Incident events by kind",
                   [query(f"sum by (kind) (increase(crisiswatch_incident_events_total{{{BRAND}}}"
                          "[$__rate_interval]))", "{{kind}}")],
                   "short", "Incident lifecycle events written to the outbox: open, update, resolve.", bars=True,
                   fill=80),
        timeseries("Open incidents by brand", [query(f"crisiswatch_incidents_open{{{BRAND}}}", "{{brand}}")],
                   "short", "Open incidents per brand over time.", min_=0),
        timeseries("Alert delivery", delivery, "short",
                   "Incident events per notifier: delivered, given up on, retried (429, 5xx, timeouts) and "
                   "redeliveries skipped as duplicates.", bars=True, fill=80),
        timeseries("Alert delivery latency (p50, p90)",
                   [query("histogram_quantile(0.5, sum by (notifier, le) "
                          "(rate(crisiswatch_alert_delivery_latency_seconds_bucket[$__rate_interval])))",
                          "{{notifier}} p50"),
                    query("histogram_quantile(0.9, sum by (notifier, le) "
                          "(rate(crisiswatch_alert_delivery_latency_seconds_bucket[$__rate_interval])))",
                          "{{notifier}} p90")],
                   "s", "Seconds from an incident event's time to its delivery, per notifier."),
    ]
    return dashboard("crisiswatch-oncall", "crisiswatch / On-call: incidents and alerts",
                     "Incident timeline and severity, incident events, and whether the alerts reached people.",
                     panels, [brand_variable()])


def tuning_board() -> dict[str, Any]:
    """For engineers: how close the detectors are to their thresholds, and how often they fire."""
    panels = [
        timeseries("Volume anomaly score", [query(f"crisiswatch_volume_anomaly_score{{{BRAND}}}", "{{brand}}")],
                   "short", "Volume anomaly score of each closed bucket, 0 to 1; the detector alerts at 0.5 "
                            "(dashed line).", min_=0, max_=1, threshold=0.5, fill=0),
        timeseries("Negativity shift score", [query(f"crisiswatch_negative_shift_score{{{BRAND}}}", "{{brand}}")],
                   "short", "Negativity-shift score of each closed bucket, 0 to 1; 0.5 is the detector's alert_z "
                            "(dashed line).", min_=0, max_=1, threshold=0.5, fill=0),
        timeseries("Observed volume and expected band",
                   [query(f"crisiswatch_volume_observed_posts{{{BRAND}}}", "{{brand}} observed"),
                    query(f"crisiswatch_volume_expected_posts{{{BRAND}}}", "{{brand}} expected"),
                    query(f"crisiswatch_volume_band_lower_posts{{{BRAND}}}", "{{brand}} lower"),
                    query(f"crisiswatch_volume_band_upper_posts{{{BRAND}}}", "{{brand}} upper")],
                   "short", "What the volume detector saw, expected and would have accepted per bucket.", fill=0),
        timeseries("Negative share and baseline",
                   [query(f"crisiswatch_negative_share_ratio{{{BRAND}}}", "{{brand}} share"),
                    query(f"crisiswatch_negative_share_baseline_ratio{{{BRAND}}}", "{{brand}} baseline")],
                   "percentunit", "The shift detector's input (share of complaints per bucket) and baseline.",
                   min_=0, max_=1, fill=0),
        timeseries("Detector alerts fired",
                   [query(f"sum by (brand, detector) (increase(crisiswatch_detector_alerts_total{{{BRAND}}}"
                          "[$__rate_interval]))", "{{brand}} {{detector}}")],
                   "short", "Closed buckets in which a detector's own alert decision fired, per detector.",
                   bars=True, fill=80),
        timeseries("Incident severity", [query(f"crisiswatch_incident_severity{{{BRAND}}}", "{{brand}}")],
                   "short", "What the incident decision made of the detectors: 0 none, 1 watch, 2 warning, "
                            "3 critical.", min_=0, max_=3, fill=0),
        timeseries("Live stories and fastest velocity",
                   [query(f"crisiswatch_stories_live{{{BRAND}}}", "{{brand}} live stories"),
                    query(f"crisiswatch_story_velocity_posts_per_minute{{{BRAND}}}", "{{brand}} fastest, posts/min")],
                   "short", "Stories each brand's tracker holds, and the growth of its fastest one.", fill=0),
        timeseries("Buckets closed and late posts",
                   [query(f"sum by (brand) (rate(crisiswatch_buckets_closed_total{{{BRAND}}}[$__rate_interval]))",
                          "{{brand}} buckets closed"),
                    query(f"sum by (brand) (rate(crisiswatch_late_posts_total{{{BRAND}}}[$__rate_interval]))",
                          "{{brand}} late posts")],
                   "reqps", "Buckets handed to the detectors per second (event time moving on), and posts that "
                            "came after their bucket closed (raise allowed_lateness_seconds if they grow).",
                   fill=0),
    ]
    return dashboard("crisiswatch-tuning", "crisiswatch / Engineering: detector tuning",
                     "Detector scores against their thresholds, expected bands, and alerts fired over time.",
                     panels, [brand_variable()])


def pipeline_board() -> dict[str, Any]:
    """For whoever runs the workers: are they up, keeping up, and how fast."""
    quantiles = "p{{quantile}}"
    panels = [
        stat("Workers up", query(f"sum(up{{{JOB}}})", instant=True), "short",
             "Worker targets Prometheus scraped successfully."),
        stat("Posts per second", query("sum(outcome:crisiswatch_posts:rate5m)", instant=True), "reqps",
             "Posts processed per second, all outcomes (5-minute rate)."),
        stat("Consumer lag", query("sum(topic:crisiswatch_consumer_lag_messages:sum)", instant=True), "short",
             "Messages not yet read, over every source topic and worker.", red_at=10000),
        stat("Dead letters per second", query("sum(reason:crisiswatch_dlq_posts:rate5m)", instant=True), "reqps",
             "Malformed posts sent to the dead-letter topic (5-minute rate).", no_value="0"),
        timeseries("Throughput by outcome", [query("outcome:crisiswatch_posts:rate5m", "{{outcome}}")], "reqps",
                   "Posts per second: matched (per brand mentioned), unmatched (no brand, dropped), invalid "
                   "(dead-lettered).", width=12),
        timeseries("Throughput per worker",
                   [query(f"sum by (instance) (rate(crisiswatch_posts_total{{{JOB}}}[$__rate_interval]))",
                          "{{instance}}")],
                   "reqps", "Posts per second per worker: uneven when partitions are unevenly spread."),
        timeseries("Consumer lag by topic",
                   [query("topic:crisiswatch_consumer_lag_messages:sum", "{{topic}}"),
                    query(f"sum by (instance, topic) (crisiswatch_consumer_lag_messages{{{JOB}}})",
                          "{{instance}} {{topic}}")],
                   "short", "Messages not yet read per topic, in total and per worker."),
        timeseries("Dead-letter rate by reason", [query("reason:crisiswatch_dlq_posts:rate5m", "{{reason}}")],
                   "reqps", "Malformed posts per second by reason (the crisiswatch.reason header)."),
        timeseries("Post latency (created_at to processed)",
                   [query("quantile:crisiswatch_post_latency_seconds:rate5m", quantiles)], "s",
                   "Event-time latency percentiles over every worker: includes the time before the post reached "
                   "Kafka, so a replay of old posts shows their age."),
        timeseries("Kafka latency (record timestamp to processed)",
                   [query("quantile:crisiswatch_kafka_latency_seconds:rate5m", quantiles)], "s",
                   "Time posts wait in Kafka plus processing: the pipeline's own delay."),
        timeseries("End-to-end latency (record timestamp to the brand's counts)",
                   [query("quantile:crisiswatch_pipeline_latency_seconds:rate5m", quantiles)], "s",
                   "Both hops: ingest, posts.by_brand, the per-brand stage. What a burst of posts waits before "
                   "the detectors see it."),
        timeseries("Batch processing time (p90)",
                   [query("agent_quantile:crisiswatch_batch_processing_seconds:rate5m", "{{agent}}")], "s",
                   "Wall time an agent spends on one batch, 90th percentile."),
        timeseries("Worker resident memory", [query(f"process_resident_memory_bytes{{{JOB}}}", "{{instance}}")],
                   "bytes", "Resident memory of each worker process."),
        timeseries("Worker CPU", [query(f"rate(process_cpu_seconds_total{{{JOB}}}[$__rate_interval])",
                                        "{{instance}}")],
                   "percentunit", "CPU time per second of each worker process (1 = one core)."),
        timeseries("Stalled partitions restarted",
                   [query(f"sum by (instance, topic) (increase(crisiswatch_partition_stalls_total{{{JOB}}}"
                          "[$__rate_interval]))", "{{instance}} {{topic}}")],
                   "short", "Source partitions the watchdog found not fetched while others moved, and restarted "
                   "(a faust-streaming bug after rebalances). Anything above 0 is worth a look at the worker log."),
        timeseries("Buckets closed per second",
                   [query(f"sum by (instance) (rate(crisiswatch_buckets_closed_total{{{JOB}}}[$__rate_interval]))",
                          "{{instance}}")],
                   "reqps", "Per-brand buckets closed and handed to the detectors, per worker."),
    ]
    return dashboard("crisiswatch-pipeline", "crisiswatch / Pipeline health",
                     "Workers up, throughput, consumer lag, dead letters, latency percentiles, batch times.",
                     panels, [job_variable()])


BOARDS = {"pr.json": pr_board, "oncall.json": oncall_board, "tuning.json": tuning_board,
          "pipeline.json": pipeline_board}


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed JSON files")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    stale = []
    for name, make in BOARDS.items():
        path = args.out / name
        text = render(make())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run grafana/build.py): " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
