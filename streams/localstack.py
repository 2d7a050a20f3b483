"""Run crisiswatch processes on this machine: used by the demo, the benchmarks and the tests.

:class:`WorkerProcess` starts ``crisiswatch worker`` as a subprocess with its own
metrics and web ports and data directory, waits for Faust to report it ready,
reads its metrics, and stops it with SIGTERM (or kills it). :class:`LocalBroker`
is the project's local Kafka broker on fixed free ports, which can be stopped and
started again on the same data directory (fault tests) and can offer a SASL_SSL
listener with a SCRAM user (security tests).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from streams.posts_reader import ASSIGNED_MARKER

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ScramLogin:
    """What a client needs to log in to a :class:`LocalBroker`'s SASL_SSL listener; ``repr`` hides the password."""

    bootstrap: str
    ca_file: Path
    username: str
    password: str = field(repr=False)
    mechanism: str = "SCRAM-SHA-512"


class LocalBroker:
    """A broker from ``deploy/kafka/broker.py`` that this process started and may stop and start again.

    The ports and the data directory are fixed when the object is made, so a restart brings the
    same broker back where its clients left it, with its topics, offsets and SCRAM users.
    """

    def __init__(self, data_dir: Path, port: int | None = None, *, scram_user: tuple[str, str] | None = None,
                 mechanism: str = "SCRAM-SHA-512") -> None:
        from streams.commands.broker import load_broker_module

        self._module = load_broker_module()
        sasl_ssl = None
        self.login: ScramLogin | None = None
        if scram_user:
            tls = self._module.make_tls_files(data_dir / "tls")
            sasl_ssl = self._module.SaslSslListener(port=free_port(), keystore=tls.keystore, mechanism=mechanism,
                                                    users=(scram_user,))
            self.login = ScramLogin(sasl_ssl.bootstrap, tls.ca_cert, scram_user[0], scram_user[1], mechanism)
        self.cfg = self._module.BrokerConfig(data_dir=data_dir, port=port or free_port(),
                                             controller_port=free_port(), sasl_ssl=sasl_ssl)

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listener."""
        return self.cfg.bootstrap

    @property
    def pid(self) -> int | None:
        return self._module.running_pid(self.cfg)

    def start(self) -> float:
        """Start (or start again) and wait until the client ports answer; return the seconds it took."""
        began = time.monotonic()
        self._module.start(self.cfg)
        return time.monotonic() - began

    def stop(self) -> float:
        """SIGTERM (SIGKILL after the broker module's timeout); return the seconds until the process was gone."""
        began = time.monotonic()
        self._module.stop(self.cfg)
        return time.monotonic() - began


@contextmanager
def running_broker(data_dir: Path, port: int | None = None, *, scram_user: tuple[str, str] | None = None,
                   mechanism: str = "SCRAM-SHA-512") -> Iterator[LocalBroker]:
    """A :class:`LocalBroker` in ``data_dir`` on free ports, started, and stopped at the end.

    ``scram_user`` (name, password) adds a SASL_SSL listener with that SCRAM user and a throw-away
    CA in ``data_dir/tls`` (see ``broker.py``).
    """
    broker = LocalBroker(data_dir, port, scram_user=scram_user, mechanism=mechanism)
    seconds = broker.start()
    extra = f", SASL_SSL on {broker.login.bootstrap}" if broker.login else ""
    print(f"local Kafka broker ready on {broker.bootstrap}{extra} in {seconds:.1f} s", file=sys.stderr)
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def local_broker(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """Start the project's local Kafka broker in ``data_dir`` on free ports; yield its bootstrap address.

    With ``$CRISISWATCH_TEST_BOOTSTRAP`` set, yield that address instead and start nothing.
    """
    external = os.environ.get("CRISISWATCH_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    with running_broker(data_dir, port) as broker:
        yield broker.bootstrap


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
        """Wait until Faust reports the worker ready (it has joined the group and restored its tables)
        and its posts reader has been assigned its partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            text = self.log_path.read_text(errors="replace")
            # Faust's own readiness, and the posts reader having joined its consumer group.
            if "Worker ready" in text and ASSIGNED_MARKER in text:
                return self
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout} s:\n{self.log_tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def counts(self) -> dict[str, dict[str, int]]:
        """The worker's ``/counts/`` page: per-brand totals (and per platform) of the partitions it owns."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/counts/", timeout=5) as r:
            return json.loads(r.read())

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
