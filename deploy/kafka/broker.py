#!/usr/bin/env python3
"""Fetch, start and stop a single-node Apache Kafka broker (KRaft) on loopback.

The broker is the official Apache Kafka release, taken as jars from Maven Central
(``pom.xml`` beside this file) into an ignored cache folder, fetched once and
reused. No Docker, no download mirrors: Java 17 and Maven are all it needs.

    python deploy/kafka/broker.py fetch
    python deploy/kafka/broker.py start [--data-dir DIR] [--port 9092]
    python deploy/kafka/broker.py status|stop [--data-dir DIR]

``crisiswatch broker ...`` runs the same functions, and the pytest fixture in
``tests/conftest.py`` imports this module. Standard library only, so that it
also works before the project's dependencies are installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KAFKA_VERSION = "4.1.1"
CACHE_DIR = Path(os.environ.get("CRISISWATCH_CACHE", REPO / ".cache"))
LIBS_DIR = CACHE_DIR / "kafka" / f"libs-{KAFKA_VERSION}"
DEFAULT_DATA_DIR = CACHE_DIR / "kafka" / "data"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


class BrokerError(RuntimeError):
    """Something the user can act on; the message says what."""


@dataclass(frozen=True)
class BrokerConfig:
    """Where the broker lives and which loopback ports it listens on."""

    data_dir: Path = DEFAULT_DATA_DIR
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    #: Extra ``server.properties`` lines, e.g. a SASL_SSL listener for security tests.
    extra_properties: tuple[str, ...] = ()
    #: Extra listeners as ``NAME://host:port`` with their protocol, e.g. ("SASL_SSL", "SASL_SSL://127.0.0.1:9094").
    extra_listeners: tuple[tuple[str, str], ...] = ()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"


def require_tool(name: str, package_hint: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BrokerError(f"'{name}' was not found on PATH: install {package_hint} to run the local Kafka broker")
    return path


def fetch(quiet: bool = False) -> Path:
    """Resolve the broker's runtime jars from Maven Central into the cache (once)."""
    marker = LIBS_DIR / ".complete"
    if marker.exists():
        return LIBS_DIR
    mvn = require_tool("mvn", "Maven 3.8+ (Debian: apt-get install maven)")
    require_tool("java", "Java 17+ (Debian: apt-get install openjdk-17-jre-headless)")
    LIBS_DIR.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=LIBS_DIR.parent))
    cmd = [
        mvn, "-B", "-q", "-f", str(HERE / "pom.xml"),
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]
    if not quiet:
        print(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central ...", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(f"Maven could not fetch the Kafka jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    (staging / ".complete").write_text(KAFKA_VERSION)
    if LIBS_DIR.exists():  # a half-finished earlier fetch
        shutil.rmtree(LIBS_DIR)
    staging.rename(LIBS_DIR)
    return LIBS_DIR


def _server_properties(cfg: BrokerConfig) -> str:
    listeners = [f"PLAINTEXT://127.0.0.1:{cfg.port}", f"CONTROLLER://127.0.0.1:{cfg.controller_port}"]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    for protocol, listener in cfg.extra_listeners:
        listeners.append(listener)
        protocols.append(f"{listener.split('://')[0]}:{protocol}")
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{cfg.controller_port}",
        f"listeners={','.join(listeners)}",
        f"advertised.listeners={','.join(x for x in listeners if not x.startswith('CONTROLLER'))}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"listener.security.protocol.map={','.join(protocols)}",
        f"log.dirs={cfg.data_dir / 'logs'}",
        "num.partitions=4",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.retention.hours=168",
        *cfg.extra_properties,
    ]
    return "\n".join(lines) + "\n"


_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
"""


def _java_cmd(cfg: BrokerConfig, main_class: str, *args: str) -> list[str]:
    java = require_tool("java", "Java 17+ (Debian: apt-get install openjdk-17-jre-headless)")
    return [
        java, f"-Xms{cfg.heap}", f"-Xmx{cfg.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={cfg.data_dir / 'log4j2.properties'}",
        "-cp", str(LIBS_DIR / "*"), main_class, *args,
    ]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def running_pid(cfg: BrokerConfig) -> int | None:
    """The broker's pid from its pid file, if that process is alive."""
    try:
        pid = int(cfg.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:  # a zombie left by our own process counts as dead
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        if state == "Z":
            return None
    except OSError:
        pass
    return pid


def start(cfg: BrokerConfig = BrokerConfig(), timeout: float = READY_TIMEOUT_S) -> int:
    """Start the broker in the background and wait until its client port answers; return the pid."""
    pid = running_pid(cfg)
    if pid:
        if port_open(cfg.port):
            return pid
        raise BrokerError(f"a broker (pid {pid}) owns {cfg.data_dir} but port {cfg.port} does not answer")
    if port_open(cfg.port):
        raise BrokerError(f"port {cfg.port} is already taken by another process; choose --port")
    fetch()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    props = cfg.data_dir / "server.properties"
    props.write_text(_server_properties(cfg))
    (cfg.data_dir / "log4j2.properties").write_text(_LOG4J2)
    if not (cfg.data_dir / "logs" / "meta.properties").exists():
        cluster_id = subprocess.run(
            _java_cmd(cfg, "kafka.tools.StorageTool", "random-uuid"),
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        fmt = subprocess.run(
            _java_cmd(cfg, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                      "-c", str(props)),
            capture_output=True, text=True,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"formatting the KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
    log = open(cfg.log_file, "ab")  # noqa: SIM115  (handed to the child process)
    proc = subprocess.Popen(
        _java_cmd(cfg, "kafka.Kafka", str(props)),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    cfg.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"the broker exited with code {proc.returncode}; see {cfg.log_file}:\n"
                              + _tail(cfg.log_file))
        if port_open(cfg.port):
            return proc.pid
        time.sleep(0.2)
    stop(cfg)
    raise BrokerError(f"the broker did not open port {cfg.port} within {timeout:.0f} s; see {cfg.log_file}")


def stop(cfg: BrokerConfig = BrokerConfig(), timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the broker, then SIGKILL after ``timeout``; return whether one was running."""
    pid = running_pid(cfg)
    if not pid:
        cfg.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(cfg):
        _reap(pid)
        time.sleep(0.2)
    if running_pid(cfg):
        os.kill(pid, signal.SIGKILL)
        while running_pid(cfg):
            _reap(pid)
            time.sleep(0.1)
    cfg.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def status(cfg: BrokerConfig = BrokerConfig()) -> str:
    pid = running_pid(cfg)
    if not pid:
        return "stopped"
    return f"running (pid {pid}, {cfg.bootstrap}, {'ready' if port_open(cfg.port) else 'not answering'})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"broker data directory (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--port", type=int, default=9092, help="client port on 127.0.0.1 (default 9092)")
    parser.add_argument("--controller-port", type=int, default=9093)
    parser.add_argument("--heap", default="512m", help="JVM heap, e.g. 512m or 1g")


def run(args: argparse.Namespace) -> int:
    cfg = BrokerConfig(data_dir=args.data_dir.resolve(), port=args.port,
                       controller_port=args.controller_port, heap=args.heap)
    try:
        if args.action == "fetch":
            print(fetch())
        elif args.action == "start":
            began = time.monotonic()
            pid = start(cfg)
            print(f"kafka {KAFKA_VERSION} ready on {cfg.bootstrap} (pid {pid}, {time.monotonic() - began:.1f} s)")
        elif args.action == "stop":
            print("stopped" if stop(cfg) else "not running")
        else:
            print(status(cfg))
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local single-node Apache Kafka broker (KRaft).")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
