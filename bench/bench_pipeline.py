"""Throughput and latency of the crisiswatch worker against a raw aiokafka consumer, on the same posts, in one run.

    .venv/bin/python bench/bench_pipeline.py [--posts 1000000] [--bootstrap HOST:PORT] [--profile OUT.txt]

1. Starts the local Apache Kafka broker (or uses ``--bootstrap``), produces
   ``--posts`` generated posts to a fresh ``posts`` topic (``--partitions``, 4).
2. (a) A raw aiokafka consumer reads them all and decodes each with orjson.
3. (b) One ``crisiswatch worker`` (a subprocess, as in production) processes
   them all: validate, match brands, score negativity, re-key by brand, count,
   run every brand's detectors. Timed from the worker being ready until its
   table holds every post; its CPU seconds and peak RSS are read from /proc.
4. Scale: ``--scale-workers`` workers (2) of a new app share the same topic.
5. (c) Latency: a fresh worker and topic, posts produced live at half of (b)'s
   rate for ``--latency-seconds``; the percentiles of the worker's
   ``crisiswatch_pipeline_latency_seconds`` histogram (Kafka timestamp on
   ``posts`` to the brand's counts including the post).
6. Prints the rates and, on the last line, ``throughput_ratio=<(b)/(a)>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
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
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.localstack import WorkerProcess, local_broker, write_config

BRAND_WORDS = ["Skyway Airlines", "@SkywayAir", "#flyskyway", "BrewBox", "#brewbox", "Volt Mobile", "@VoltMobile"]
OPENERS = ["honestly", "so", "ugh", "wow", "just saw", "", "lol", "update:", "PSA:"]
BODIES = ["my flight got delayed again", "love the new flavour", "no signal all day", "customer service was great",
          "still waiting for a refund", "the app keeps crashing", "best coffee in town", "lost my bag",
          "billing charged me twice", "new phone plan looks good", "what a launch", "worst experience ever"]


def generated_post(rng: random.Random, i: int, created_at: float) -> bytes:
    text = f"{rng.choice(OPENERS)} {rng.choice(BRAND_WORDS)} {rng.choice(BODIES)} #{rng.randrange(1000)}"
    return orjson.dumps({
        "id": f"b{i}", "platform": rng.choice(["twitter", "reddit", "facebook", "tiktok"]), "text": text,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created_at)),
        "author": {"id": f"u{rng.randrange(100_000)}", "handle": f"user{i}", "followers": rng.randrange(50_000)},
    })


def generated_posts(n: int, seed: int = 11) -> list[bytes]:
    """``n`` posts about the three demo brands, spread evenly over the hour before now."""
    rng = random.Random(seed)
    start = time.time() - 3600
    return [generated_post(rng, i, start + i * 3600 / n) for i in range(n)]


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    admin.close()


async def produce(bootstrap: str, topic: str, values: list[bytes], partitions: int, create: bool = True) -> float:
    """Write ``values`` round-robin over the partitions in large record batches (fast: the bench's setup)."""
    if create:
        create_topic(bootstrap, topic, partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1024 * 1024, acks=1,
                                max_request_size=8 * 1024 * 1024)
    await producer.start()
    began = time.perf_counter()
    try:
        sends = []
        for partition in range(partitions):
            batch = producer.create_batch()
            for value in values[partition::partitions]:
                if batch.append(key=None, value=value, timestamp=None) is None:
                    sends.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=None, value=value, timestamp=None)
            sends.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return time.perf_counter() - began


async def produce_live(bootstrap: str, topic: str, rate: float, seconds: float) -> int:
    """Generated posts stamped now, at ``rate`` per second for ``seconds`` (sent in 20 ms slices)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    rng = random.Random(7)
    sent = 0
    began = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - began) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                await producer.send(topic, generated_post(rng, sent, time.time()))
                sent += 1
            await asyncio.sleep(0.02)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


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


def _py_spy() -> str:
    """py-spy from this virtualenv (the ``bench`` extra), else from PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: pip install -e '.[bench]' (make install does)")
    return found


def _start_profiler(pid: int, out: str) -> subprocess.Popen:
    return subprocess.Popen([_py_spy(), "record", "--pid", str(pid), "--format", "raw", "--output", out,
                             "--rate", "50", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed_workers(tmp: Path, bootstrap: str, name: str, partitions: int, values: list[bytes], workers: int = 1,
                  profile: str | None = None) -> tuple[float, float, float]:
    """Start ``workers`` workers of app ``name``, then write ``values`` to its ``posts`` and time them counting it all.

    The posts are written once every worker is ready (a burst arriving at a running
    deployment), so that no worker gets a head start. Returns (wall seconds from the first
    post written to the last counted, CPU seconds of all workers, largest peak RSS in MiB).
    """
    config = write_config(tmp / f"{name}.yaml", bootstrap, app_id=name, topic_prefix=f"{name}.",
                          partitions=partitions)
    create_topic(bootstrap, f"{name}.posts", partitions)
    started = [WorkerProcess(config, tmp).start() for _ in range(workers)]
    try:
        for worker in started:
            worker.wait_ready(timeout=180)
        time.sleep(5)  # let the ingest readers' own group settle too
        cpu0 = sum(proc_stats(w.proc.pid)[0] for w in started)
        profiler = _start_profiler(started[0].proc.pid, profile) if profile else None
        began = time.perf_counter()
        asyncio.run(produce(bootstrap, f"{name}.posts", values, partitions, create=False))
        while sum(counted(w) for w in started) < len(values):
            if time.perf_counter() - began > 3600:
                raise SystemExit("the workers did not finish within an hour")
            time.sleep(0.25)
        seconds = time.perf_counter() - began
        stats = [proc_stats(w.proc.pid) for w in started]
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
            print(f"profile of the worker written to {profile}")
    finally:
        for worker in started:
            worker.stop()
    return seconds, sum(cpu for cpu, _ in stats) - cpu0, max(peak for _, peak in stats)


def latency_percentiles(metrics_text: str, name: str, quantiles: tuple[float, ...]) -> tuple[int, list[float]]:
    """(observations, quantiles) of a histogram in a /metrics scrape, interpolated in its buckets as Prometheus does."""
    buckets: list[tuple[float, float]] = []
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    out = []
    for q in quantiles:
        rank, lower, below = q * total, 0.0, 0.0
        value = float("nan")
        for upper, count in buckets:
            if count >= rank:
                value = upper if upper == float("inf") else lower + (upper - lower) * (rank - below) / max(
                    count - below, 1e-9)
                break
            lower, below = upper, count
        out.append(value)
    return int(total), out


def measure_latency(tmp: Path, bootstrap: str, partitions: int, rate: float, seconds: float) -> None:
    name = f"lat-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, f"{name}.posts", partitions)
    config = write_config(tmp / f"{name}.yaml", bootstrap, app_id=name, topic_prefix=f"{name}.",
                          partitions=partitions)
    worker = WorkerProcess(config, tmp).start().wait_ready(timeout=180)
    try:
        sent = asyncio.run(produce_live(bootstrap, f"{name}.posts", rate, seconds))
        deadline = time.perf_counter() + 120
        while counted(worker) < sent and time.perf_counter() < deadline:
            time.sleep(0.25)
        done = counted(worker)
        scrape = worker.metrics()
        _, peak = proc_stats(worker.proc.pid)
    finally:
        worker.stop()
    observed, (p50, p95, p99) = latency_percentiles(scrape, "crisiswatch_pipeline_latency_seconds",
                                                    (0.5, 0.95, 0.99))
    print(f"(c) latency at {rate:,.0f} posts/s (half of (b)) for {seconds:.0f} s: {sent:,} sent, {done:,} counted; "
          f"Kafka timestamp -> counted p50 {p50 * 1000:,.0f} ms, p95 {p95 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms "
          f"({observed:,} observations; interpolated in the histogram's buckets); peak RSS {peak:.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--scale-workers", type=int, default=2, help="workers of the scale run (0: skip it)")
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="length of the latency run (0: skip)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting the local one")
    parser.add_argument("--profile", metavar="OUT.txt",
                        help="record the worker of (b) with py-spy (the bench extra) into a collapsed-stack file")
    args = parser.parse_args()
    if args.profile:
        _py_spy()  # fail now rather than after producing the posts

    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker_cm = nullcontext(args.bootstrap) if args.bootstrap else local_broker(tmp / "kafka")
        with broker_cm as bootstrap:
            name = f"bench-{uuid.uuid4().hex[:6]}"
            values = generated_posts(args.posts)
            seconds = asyncio.run(produce(bootstrap, f"{name}.posts", values, args.partitions))
            print(f"produced {len(values):,} posts to {args.partitions} partitions in {seconds:.1f} s "
                  f"({len(values) / seconds:,.0f}/s); (b) gets the same posts, written once its workers are ready")

            raw_s = asyncio.run(raw_consume(bootstrap, f"{name}.posts", len(values)))
            raw_rate = len(values) / raw_s
            print(f"(a) raw aiokafka consumer + orjson: {raw_rate:,.0f} posts/s ({raw_s:.1f} s)")

            worker_s, cpu, peak = timed_workers(tmp, bootstrap, f"{name}-w1", args.partitions, values,
                                                profile=args.profile)
            worker_rate = len(values) / worker_s
            print(f"(b) crisiswatch worker, full pipeline: {worker_rate:,.0f} posts/s ({worker_s:.1f} s, "
                  f"{cpu:.1f} s CPU = {cpu / len(values) * 1e6:.0f} us per post, peak RSS {peak:.0f} MiB)")

            if args.scale_workers > 1:
                scale_name = f"{name}-x{args.scale_workers}"
                scale_s, scale_cpu, _ = timed_workers(tmp, bootstrap, scale_name, args.partitions, values,
                                                      workers=args.scale_workers)
                print(f"    {args.scale_workers} workers of one app on the same {args.partitions} partitions: "
                      f"{len(values) / scale_s:,.0f} posts/s ({scale_s:.1f} s, {scale_cpu:.1f} s CPU, "
                      f"{os.cpu_count()} cores, the broker and the workers sharing them; "
                      f"x{worker_s / scale_s:.2f} of one worker)")

            if args.latency_seconds > 0:
                measure_latency(tmp, bootstrap, args.partitions, worker_rate / 2, args.latency_seconds)
            print(f"throughput_ratio={worker_rate / raw_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
