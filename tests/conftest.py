"""Shared fixtures: the real Kafka broker and crisiswatch worker processes.

The ``kafka`` fixture starts the project's own local Apache Kafka broker
(``deploy/kafka/broker.py``) once per test session, in a fresh data directory
on free loopback ports, and stops it at the end (SIGTERM, then SIGKILL).
Set ``CRISISWATCH_TEST_BOOTSTRAP`` to run the Kafka tests against another
broker instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from streams.commands.broker import load_broker_module

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


broker = load_broker_module()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for this test session."""
    external = os.environ.get("CRISISWATCH_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    cfg = broker.BrokerConfig(data_dir=tmp_path_factory.mktemp("kafka"), port=free_port(),
                              controller_port=free_port())
    began = time.monotonic()
    broker.start(cfg)
    print(f"\nlocal Kafka broker ready on {cfg.bootstrap} in {time.monotonic() - began:.1f} s", file=sys.stderr)
    try:
        yield cfg.bootstrap
    finally:
        broker.stop(cfg)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_config(path: Path, bootstrap: str, *, app_id: str, topic_prefix: str, partitions: int = 4,
                 extra: dict | None = None) -> Path:
    """A config like the demo's ``crisiswatch.yaml``, pointed at ``bootstrap`` with its own topics."""
    config = yaml.safe_load((REPO / "crisiswatch.yaml").read_text())
    config["kafka"].update(bootstrap_servers=bootstrap, topic_partitions=partitions, topic_prefix=topic_prefix)
    config["worker"]["app_id"] = app_id
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class WorkerProcess:
    """One ``crisiswatch worker`` subprocess with its own ports and data directory."""

    config: Path
    workdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    metrics_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"worker-{self.metrics_port}.log"

    def start(self) -> WorkerProcess:
        env = {**os.environ, "CRISISWATCH_METRICS_PORT": str(self.metrics_port),
               "CRISISWATCH_WEB_PORT": str(self.web_port),
               "CRISISWATCH_DATA_DIR": str(self.workdir / f"data-{self.web_port}"),
               "PYTHONUNBUFFERED": "1", **self.env_extra}
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker", "--config", str(self.config)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 90.0) -> WorkerProcess:
        """Wait until Faust reports the worker ready (it has joined the group and restored its tables)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if "Worker ready" in self.log_path.read_text(errors="replace"):
                return self
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout} s:\n{self.log_tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """A list the test appends its workers to; every one is stopped at the end."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()
