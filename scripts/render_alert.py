"""Render the alert the demo scenario's viral complaint produces: Slack Block Kit JSON and the PNG chart.

    .venv/bin/python scripts/render_alert.py SCENARIO_DIR OUT_DIR

Runs the backtest (the same code as the worker) over ``SCENARIO_DIR/posts.jsonl``, takes the first
escalation to critical of the first paged incident, and writes ``alert-blocks.json`` (what
``chat.postMessage`` receives) and ``alert-chart.png`` (what is uploaded into the thread).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from alerts.chart import render_chart
from alerts.slack_message import build_message
from detectors.negativity import load_scorer
from streams.backtest import run_backtest
from streams.config import load_config
from streams.localstack import REPO


def main(scenario: str, out: str) -> int:
    config = load_config(REPO / "crisiswatch.yaml")
    lines = (Path(scenario) / "posts.jsonl").read_bytes().splitlines()
    events = run_backtest(iter(lines), config, load_scorer("default"), keep_evaluations=False).events
    event = next(e for e in events if e["severity"] == "critical")
    blocks, text = build_message(event)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "alert-blocks.json").write_text(json.dumps({"text": text, "blocks": blocks}, indent=2))
    png = render_chart(event["series"], title=f"{event['brand']}: posts per minute against the expected band",
                       alert_time=event["opened_at"])
    (out_dir / "alert-chart.png").write_bytes(png)
    print(f"{event['incident_id']} #{event['sequence']} {event['kind']} {event['severity']}: "
          f"{out_dir / 'alert-blocks.json'}, {out_dir / 'alert-chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
