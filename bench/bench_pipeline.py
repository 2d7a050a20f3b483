"""Throughput of the crisiswatch worker against a raw aiokafka consumer, on the same posts, in one run.

    .venv/bin/python bench/bench_pipeline.py [--posts 200000] [--bootstrap HOST:PORT]

1. Starts the local Apache Kafka broker (or uses ``--bootstrap``), produces
   ``--posts`` generated posts to a fresh ``posts`` topic (4 partitions).
2. (a) A raw aiokafka consumer reads them all and decodes each with orjson.
3. (b) One ``crisiswatch worker`` (a subprocess, as in production) processes
   them all: validate, match brands, score negativity, re-key by brand, count.
   Timed from the worker being ready until its table holds every post.
4. Prints both rates, the worker's CPU seconds and peak RSS, and on the last
   line ``throughput_ratio=<(b)/(a)>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import nullcontext
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.localstack import WorkerProcess, local_broker, write_config

BRAND_WORDS = ["Skyway Airlines", "@SkywayAir", "#flyskyway", "BrewBox", "#brewbox", "Volt Mobile", "@VoltMobile"]
OPENERS = ["honestly", "so", "ugh", "wow", "just saw", "", "lol", "update:", "PSA:"]
BODIES = ["my flight got delayed again", "love the new flavour", "no signal all day", "customer service was great",
          "still waiting for a refund", "the app keeps crashing", "best coffee in town", "lost my bag",
          "billing charged me twice", "new phone plan looks good", "what a launch", "worst experience ever"]


def generated_posts(n: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)
    start = time.time() - 3600
    out = []
    for i in range(n):
        text = f"{rng.choice(OPENERS)} {rng.choice(BRAND_WORDS)} {rng.choice(BODIES)} #{rng.randrange(1000)}"
        out.append(orjson.dumps({
            "id": f"b{i}", "platform": rng.choice(["twitter", "reddit", "facebook", "tiktok"]), "text": text,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 3600 / n)),
            "author": {"id": f"u{rng.randrange(100_000)}", "handle": f"user{i}", "followers": rng.randrange(50_000)},
        }))
    return out


def produce(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> float:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024,
                             compression_type=None, acks=1)
    began = time.perf_counter()
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()
    return time.perf_counter() - began


async def raw_consume(bootstrap: str, topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    seen = 0
    began = None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if began is None and batches:
                began = time.perf_counter()
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                    seen += 1
        return time.perf_counter() - began
    finally:
        await consumer.stop()


def counted(worker: WorkerProcess) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/counts/", timeout=10) as r:
        return sum(row.get("total", 0) for row in json.loads(r.read()).values())


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MiB) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def _start_profiler(pid: int, out: str) -> subprocess.Popen:
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw", "--output", out,
                             "--rate", "50", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", help="use this broker instead of starting the local one")
    parser.add_argument("--profile", metavar="OUT.txt",
                        help="record the worker with py-spy (pip install py-spy) into a collapsed-stack file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker_cm = nullcontext(args.bootstrap) if args.bootstrap else local_broker(tmp / "kafka")
        with broker_cm as bootstrap:
            name = f"bench-{uuid.uuid4().hex[:6]}"
            values = generated_posts(args.posts)
            seconds = produce(bootstrap, f"{name}.posts", values, args.partitions)
            print(f"produced {len(values):,} posts in {seconds:.1f} s ({len(values) / seconds:,.0f}/s)")

            raw_s = asyncio.run(raw_consume(bootstrap, f"{name}.posts", len(values)))
            raw_rate = len(values) / raw_s
            print(f"(a) raw aiokafka consumer + orjson: {raw_rate:,.0f} posts/s ({raw_s:.1f} s)")

            config = write_config(tmp / "crisiswatch.yaml", bootstrap, app_id=name, topic_prefix=f"{name}.",
                                  partitions=args.partitions)
            worker = WorkerProcess(config, tmp).start().wait_ready(timeout=120)
            try:
                cpu0, _ = proc_stats(worker.proc.pid)
                profiler = _start_profiler(worker.proc.pid, args.profile) if args.profile else None
                began = time.perf_counter()
                while counted(worker) < len(values):
                    if time.perf_counter() - began > 3600:
                        raise SystemExit("worker did not finish within an hour")
                    time.sleep(0.5)
                worker_s = time.perf_counter() - began
                cpu1, peak_mib = proc_stats(worker.proc.pid)
                if profiler:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
                    print(f"profile of the worker written to {args.profile}")
            finally:
                worker.stop()
            worker_rate = len(values) / worker_s
            print(f"(b) crisiswatch worker, full pipeline: {worker_rate:,.0f} posts/s ({worker_s:.1f} s, "
                  f"{cpu1 - cpu0:.1f} s CPU, peak RSS {peak_mib:.0f} MiB)")
            print(f"throughput_ratio={worker_rate / raw_rate:.2f}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
