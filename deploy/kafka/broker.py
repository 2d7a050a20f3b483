#!/usr/bin/env python3
"""Fetch, start and stop a single-node Apache Kafka broker (KRaft) on loopback.

The broker is the official Apache Kafka release, taken as jars from Maven Central
(``pom.xml`` beside this file) into an ignored cache folder, fetched once and
reused. No Docker, no download mirrors: Java 17 and Maven are all it needs.

    python deploy/kafka/broker.py fetch
    python deploy/kafka/broker.py start [--data-dir DIR] [--port 9092]
    python deploy/kafka/broker.py start --sasl-ssl-port 9094 [--scram-user NAME]   # + a SASL_SSL listener
    python deploy/kafka/broker.py status|stop [--data-dir DIR]

With ``--sasl-ssl-port`` the broker also offers a SASL_SSL listener (SCRAM-SHA-512
over TLS) for trying the clients' security settings: a throw-away CA and a
certificate for ``localhost``/``127.0.0.1`` are made with ``openssl`` in
``DATA_DIR/tls`` (clients trust ``DATA_DIR/tls/ca.pem``), and the SCRAM user's
password is read from ``$CRISISWATCH_BROKER_SCRAM_PASSWORD``. SCRAM users are
written into the KRaft metadata when the storage is formatted, so they exist
only in a data directory that was created with them.

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
from dataclasses import dataclass, field
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


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
#: Characters the ``--add-scram`` syntax of ``kafka-storage format`` cannot carry in a name or password.
_SCRAM_FORBIDDEN = set(',[]="=') | {" "}


@dataclass(frozen=True)
class SaslSslListener:
    """A client listener that takes SCRAM logins over TLS, beside the PLAINTEXT one.

    The PLAINTEXT listener stays (inter-broker traffic and tests' own admin reads use it);
    clients under test are pointed at this one. ``keystore`` is a PEM file holding the
    broker's unencrypted PKCS#8 private key followed by its certificate chain (Kafka reads
    it with ``ssl.keystore.type=PEM``). Clients are not asked for certificates.
    """

    port: int
    keystore: Path
    mechanism: str = "SCRAM-SHA-512"
    #: (name, password) pairs created when the storage is formatted; ``repr`` hides them.
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> list[str]:
        if self.mechanism not in SCRAM_MECHANISMS:
            raise BrokerError(f"unsupported SASL mechanism {self.mechanism!r}; use one of {SCRAM_MECHANISMS}")
        mech = self.mechanism.lower()
        return [
            f"sasl.enabled.mechanisms={self.mechanism}",
            f"listener.name.sasl_ssl.sasl.enabled.mechanisms={self.mechanism}",
            f"listener.name.sasl_ssl.{mech}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl_ssl.ssl.keystore.type=PEM",
            f"listener.name.sasl_ssl.ssl.keystore.location={self.keystore}",
            "listener.name.sasl_ssl.ssl.client.auth=none",
        ]

    def scram_arguments(self) -> list[str]:
        """``--add-scram`` arguments for ``kafka-storage format``, one per user."""
        args: list[str] = []
        for name, password in self.users:
            if not name or not password or _SCRAM_FORBIDDEN & set(name + password):
                raise BrokerError("SCRAM user names and passwords must be non-empty and free of "
                                  "spaces and the characters , [ ] = \" (the format tool cannot quote them)")
            args += ["--add-scram", f"{self.mechanism}=[name={name},password={password}]"]
        return args


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and a broker certificate signed by it, as made by :func:`make_tls_files`."""

    ca_cert: Path    #: what clients trust (``ssl_cafile``)
    keystore: Path   #: the broker's key and certificate chain, PEM (``SaslSslListener.keystore``)


def make_tls_files(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
                   days: int = 7) -> TlsFiles:
    """Make a CA and a broker certificate for ``hosts`` with the ``openssl`` command; reuse them if present.

    The certificate names every host as a subject alternative name (IP addresses as ``IP:``),
    because clients check the name they dialled against it (kafka-python and aiokafka both
    verify host names by default).
    """
    files = TlsFiles(ca_cert=directory / "ca.pem", keystore=directory / "broker-keystore.pem")
    if files.ca_cert.exists() and files.keystore.exists():
        return files
    openssl = require_tool("openssl", "OpenSSL (Debian: apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, key, csr, cert = (directory / n for n in ("ca.key", "broker.key", "broker.csr", "broker.pem"))
    san = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}" for h in hosts)
    ext = directory / "broker-ext.cnf"
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,"
                   "keyEncipherment\nbasicConstraints=critical,CA:FALSE\n")
    steps = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-noenc", "-keyout", str(ca_key), "-out",
         str(files.ca_cert), "-days", str(days), "-subj", "/CN=crisiswatch local test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", "-newkey", "rsa:2048", "-noenc", "-keyout", str(key), "-out", str(csr),
         "-subj", f"/CN={hosts[0]}"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(files.ca_cert), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(cert), "-days", str(days), "-extfile", str(ext)],
    ]
    for cmd in steps:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(f"openssl failed ({' '.join(cmd[1:3])}):\n{result.stderr[-2000:]}")
    files.keystore.write_text(key.read_text() + cert.read_text())
    files.keystore.chmod(0o600)
    return files


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
    #: A SASL_SSL (SCRAM over TLS) client listener beside the PLAINTEXT one.
    sasl_ssl: SaslSslListener | None = None

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
    extra_listeners = list(cfg.extra_listeners)
    extra_properties = list(cfg.extra_properties)
    if cfg.sasl_ssl:
        extra_listeners.append(("SASL_SSL", f"SASL_SSL://127.0.0.1:{cfg.sasl_ssl.port}"))
        extra_properties += cfg.sasl_ssl.properties()
    for protocol, listener in extra_listeners:
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
        *extra_properties,
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
    if cfg.sasl_ssl and port_open(cfg.sasl_ssl.port):
        raise BrokerError(f"port {cfg.sasl_ssl.port} is already taken by another process; choose --sasl-ssl-port")
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
        scram = cfg.sasl_ssl.scram_arguments() if cfg.sasl_ssl else []
        fmt = subprocess.run(
            _java_cmd(cfg, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                      "-c", str(props), *scram),
            capture_output=True, text=True,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"formatting the KRaft storage failed:\n{_redact(fmt.stdout + fmt.stderr, cfg)}")
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
        if port_open(cfg.port) and (cfg.sasl_ssl is None or port_open(cfg.sasl_ssl.port)):
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


def _redact(text: str, cfg: BrokerConfig) -> str:
    """``text`` with the SCRAM passwords blanked out, for error messages."""
    for _, password in cfg.sasl_ssl.users if cfg.sasl_ssl else ():
        text = text.replace(password, "***")
    return text


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
    parser.add_argument("--sasl-ssl-port", type=int,
                        help="also listen for SASL_SSL (SCRAM-SHA-512 over TLS) on this port; the CA clients "
                             "must trust is written to DATA_DIR/tls/ca.pem")
    parser.add_argument("--scram-user", default="crisiswatch",
                        help="SCRAM user created with a new data dir (password: $CRISISWATCH_BROKER_SCRAM_PASSWORD)")


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir.resolve()
    try:
        sasl_ssl = None
        if getattr(args, "sasl_ssl_port", None) and args.action == "start":
            password = os.environ.get("CRISISWATCH_BROKER_SCRAM_PASSWORD", "")
            if not password:
                raise BrokerError("--sasl-ssl-port needs the SCRAM user's password in "
                                  "$CRISISWATCH_BROKER_SCRAM_PASSWORD")
            tls = make_tls_files(data_dir / "tls")
            sasl_ssl = SaslSslListener(port=args.sasl_ssl_port, keystore=tls.keystore,
                                       users=((args.scram_user, password),))
        cfg = BrokerConfig(data_dir=data_dir, port=args.port, controller_port=args.controller_port,
                           heap=args.heap, sasl_ssl=sasl_ssl)
        if args.action == "fetch":
            print(fetch())
        elif args.action == "start":
            began = time.monotonic()
            pid = start(cfg)
            print(f"kafka {KAFKA_VERSION} ready on {cfg.bootstrap} (pid {pid}, {time.monotonic() - began:.1f} s)")
            if cfg.sasl_ssl:
                print(f"SASL_SSL ({cfg.sasl_ssl.mechanism}) on {cfg.sasl_ssl.bootstrap}, "
                      f"CA {data_dir / 'tls' / 'ca.pem'}")
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
