"""The crisiswatch demo: a local broker, a worker, the generated scenario replayed, live counts.

    make demo            # or: .venv/bin/python scripts/demo.py [--days 2] [--speed max] [--keep]

1. Starts the project's local Apache Kafka broker (``deploy/kafka/broker.py``).
2. Generates the seeded scenario (``crisiswatch generate``): three brands, two
   days, a product launch, a slow negative drift and a viral complaint.
3. Starts one ``crisiswatch worker`` and replays the scenario into Kafka.
4. Prints live per-brand counts (from the worker's ``/counts/`` page) and the
   metrics endpoint's headline series until every post is processed, then the
   alerts the worker raised. Stops what it started unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from streams.localstack import REPO, WorkerProcess, local_broker, write_config

DEMO_DIR = REPO / ".cache" / "demo"


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def show(worker: WorkerProcess, expected: int, began: float) -> int:
    counts = json.loads(get(f"http://127.0.0.1:{worker.web_port}/counts/"))
    done = sum(row.get("total", 0) for row in counts.values())
    cells = "  ".join(f"{brand}={row.get('total', 0):,}" for brand, row in sorted(counts.items()))
    print(f"[{time.monotonic() - began:5.0f} s] counted {done:,}/{expected:,} brand mentions  {cells}", flush=True)
    return done


def headline_metrics(worker: WorkerProcess) -> list[str]:
    wanted = ("crisiswatch_posts_total", "crisiswatch_dlq_posts_total", "crisiswatch_consumer_lag_messages",
              "crisiswatch_volume_", "crisiswatch_incidents")
    return [line for line in worker.metrics().splitlines() if line.startswith(wanted)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=2.0, help="days of generated traffic (default 2)")
    parser.add_argument("--speed", default="max", help="replay speed: max (default) or e.g. 600x")
    parser.add_argument("--keep", action="store_true", help="leave the broker and worker running at the end")
    args = parser.parse_args()

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    scenario = DEMO_DIR / f"scenario-{args.days:g}d"
    if not (scenario / "posts.jsonl").exists():
        subprocess.run([sys.executable, "-m", "streams.cli", "generate", "--out", str(scenario),
                        "--days", str(args.days)], check=True)
    brand_mentions = _expected_brand_mentions(scenario / "posts.jsonl")

    shutil.rmtree(DEMO_DIR / "kafka", ignore_errors=True)  # a fresh broker each run
    with local_broker(DEMO_DIR / "kafka") as bootstrap:
        name = f"demo-{uuid.uuid4().hex[:6]}"
        config = write_config(DEMO_DIR / "crisiswatch.yaml", bootstrap, app_id=name, topic_prefix=f"{name}.")
        worker = WorkerProcess(config, DEMO_DIR).start()
        try:
            worker.wait_ready(timeout=120)
            print(f"worker ready: metrics http://127.0.0.1:{worker.metrics_port}/metrics, "
                  f"counts http://127.0.0.1:{worker.web_port}/counts/, log {worker.log_path}")
            replay = subprocess.Popen([sys.executable, "-m", "streams.cli", "replay", str(scenario / "posts.jsonl"),
                                       "--config", str(config), "--speed", args.speed], cwd=REPO)
            began = time.monotonic()
            while show(worker, brand_mentions, began) < brand_mentions:
                if replay.poll() not in (None, 0):
                    raise SystemExit(f"replay failed with exit code {replay.returncode}")
                time.sleep(3)
            replay.wait()
            print("\n/metrics (headline series):")
            print("\n".join(headline_metrics(worker)))
            _print_alerts(worker)
            if args.keep:
                print(f"\nleft running: broker {bootstrap}, worker pid {worker.proc.pid}; "
                      "stop with `make broker-stop` and kill the worker")
                return 0
        finally:
            if not args.keep:
                worker.stop()
    return 0


def _expected_brand_mentions(path: Path) -> int:
    """Brand mentions the worker will count: one per (post, brand) it matches, as the config's matcher sees it."""
    import orjson

    from streams.config import load_config
    from streams.matching import BrandMatcher

    matcher = BrandMatcher(load_config(REPO / "crisiswatch.yaml").brands)
    n = 0
    with path.open("rb") as lines:
        for line in lines:
            post = orjson.loads(line)
            n += 1 if post.get("brand") else len(matcher.match(post["text"]))
    return n


def _print_alerts(worker: WorkerProcess) -> None:
    lines = [line for line in worker.log_path.read_text(errors="replace").splitlines()
             if "] incident " in line or line.startswith("    ")]
    print(f"\nalerts (console notifier): {sum('] incident ' in line for line in lines)} events")
    for line in lines:
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
