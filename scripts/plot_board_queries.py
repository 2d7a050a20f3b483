"""Plot each Grafana board's main query as Prometheus returns it: one PNG per board.

    .venv/bin/python scripts/plot_board_queries.py --prometheus http://127.0.0.1:9090 --out plots/
        [--minutes 10] [--brand skyway] [--rate-interval 1m]

For a note or a review, where a running Grafana is not at hand: the query of each board's main panel
(:data:`MAIN_PANELS`) is read from ``grafana/dashboards/<board>.json``, its template variables are filled
in (``$brand``, ``$job``, ``$__rate_interval``), it is run with ``/api/v1/query_range`` over the last
``--minutes`` and drawn with matplotlib, one line per returned series, into ``<out>/<board uid>.png``.
The proof test (``tests/test_prometheus_proof.py``) calls :func:`plot_boards` when ``PROOF_PLOTS_DIR`` is set.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "grafana" / "dashboards"

#: The panel that best sums up each board, by board uid.
MAIN_PANELS = {
    "crisiswatch-pr": "Volume against the expected band: $brand",
    "crisiswatch-oncall": "Incident severity timeline",
    "crisiswatch-tuning": "Volume anomaly score",
    "crisiswatch-pipeline": "Throughput by outcome",
}


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Fill Grafana template variables (``$name``, ``${name}``) with fixed values, as Grafana would."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return variables[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def prometheus_get(base_url: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """GET a Prometheus HTTP API endpoint; the ``data`` of a successful answer, else ``RuntimeError``."""
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def main_panel(board: dict[str, Any]) -> dict[str, Any]:
    title = MAIN_PANELS[board["uid"]]
    for panel in board["panels"]:
        if panel["title"] == title:
            return panel
    raise KeyError(f"board {board['uid']} has no panel {title!r}")


def legend(metric: dict[str, str], legend_format: str) -> str:
    if legend_format and legend_format != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), legend_format)
    labels = {k: v for k, v in metric.items() if k not in ("__name__", "job", "instance")}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or metric.get("__name__", "value")


def plot_boards(base_url: str, out_dir: Path, variables: dict[str, str], minutes: float = 10.0,
                dashboards: Path = DASHBOARDS) -> list[Path]:
    """Render every board's main query over the last ``minutes``; returns the PNG paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    end = time.time()
    start = end - minutes * 60
    step = max(1.0, minutes * 60 / 600)
    written = []
    for path in sorted(dashboards.glob("*.json")):
        board = json.loads(path.read_text())
        if board["uid"] not in MAIN_PANELS:
            continue
        panel = main_panel(board)
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        fig, ax = plt.subplots(figsize=(10, 4.5))
        scale, x_unit = (1, "seconds") if minutes <= 10 else (60, "minutes")
        lines = 0
        for target in panel["targets"]:
            expr = substitute(target["expr"], variables)
            data = prometheus_get(base_url, "/api/v1/query_range",
                                  {"query": expr, "start": start, "end": end, "step": step})
            for series in data["result"]:
                points = [(float(t) - end, float(v)) for t, v in series["values"] if math.isfinite(float(v))]
                if not points:
                    continue
                xs, ys = zip(*points, strict=True)
                ax.plot([x / scale for x in xs], ys, label=legend(series["metric"], target.get("legendFormat", "")))
                lines += 1
        title = substitute(panel["title"], variables)
        ax.set_title(f"{board['title']}: {title}", fontsize=10)
        ax.set_xlabel(f"{x_unit} before now")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize=8, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        target_path = out_dir / f"{board['uid']}.png"
        fig.tight_layout()
        fig.savefig(target_path, dpi=100)
        plt.close(fig)
        written.append(target_path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--out", type=Path, required=True, help="directory for the PNG files")
    parser.add_argument("--minutes", type=float, default=10.0, help="time range to plot (default 10)")
    parser.add_argument("--brand", default="skyway", help="value of $brand (default skyway)")
    parser.add_argument("--job", default="crisiswatch", help="value of $job (default crisiswatch)")
    parser.add_argument("--rate-interval", default="1m", help="value of $__rate_interval (default 1m)")
    args = parser.parse_args(argv)
    variables = {"brand": args.brand, "job": args.job, "__rate_interval": args.rate_interval}
    for path in plot_boards(args.prometheus, args.out, variables, args.minutes):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
