"""``crisiswatch.yaml``: loading, validation and environment overrides.

The file is validated once, at start, and every error names the file, the key
and what was expected, e.g.::

    crisiswatch.yaml: brands[1].terms: expected a list of strings, got int

Connection settings and secrets may come from the environment instead of the
file (the environment wins), so that one config file serves every deployment
and no secret needs to be written into it. See README "Configuration".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = "crisiswatch.yaml"
SEVERITIES = ("watch", "warning", "critical")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
DETECTOR_SECTIONS = ("volume", "shift", "stories", "incident")
BRAND_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    topic_partitions: int = 4
    replication_factor: int = 1
    #: Prepended to every topic name, for clusters shared by several deployments (and for tests).
    topic_prefix: str = ""

    def topic(self, name: str) -> str:
        """The full name of one of the project's topics (``posts``, ``posts.dlq``, ...)."""
        return self.topic_prefix + name

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Connection options for kafka-python's ``KafkaProducer`` / ``KafkaConsumer`` / admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            kwargs.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password)
        if self.security_protocol.endswith("SSL"):
            kwargs.update(ssl_cafile=self.ssl_cafile, ssl_certfile=self.ssl_certfile,
                          ssl_keyfile=self.ssl_keyfile, ssl_check_hostname=self.ssl_check_hostname)
        return kwargs

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Connection options for aiokafka clients (used by the raw-consumer benchmark)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            kwargs.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password)
        if self.security_protocol.endswith("SSL"):
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def ssl_context(self) -> Any:
        from aiokafka.helpers import create_ssl_context

        context = create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile,
                                     keyfile=self.ssl_keyfile)
        # aiokafka's helper always checks host names; honour the setting as kafka-python does.
        context.check_hostname = self.ssl_check_hostname
        return context

    def faust_broker_url(self) -> str:
        return ";".join(f"kafka://{host}" for host in self.bootstrap_servers.split(","))

    def faust_credentials(self) -> Any:
        """A ``faust.auth`` credentials object for the configured protocol, or ``None``."""
        from faust.auth import SASLCredentials, SSLCredentials

        if self.security_protocol == "PLAINTEXT":
            return None
        if self.security_protocol == "SSL":
            return SSLCredentials(self.ssl_context())
        return SASLCredentials(
            username=self.sasl_username, password=self.sasl_password,
            mechanism=self.sasl_mechanism or "PLAIN",
            ssl_context=self.ssl_context() if self.security_protocol == "SASL_SSL" else None,
        )


@dataclass(frozen=True)
class WorkerSettings:
    app_id: str = "crisiswatch"
    metrics_port: int = 9108
    web_port: int = 6066
    data_dir: str = ".cache/worker"
    allowed_lateness_seconds: int = 120
    bucket_seconds: int = 60
    max_unlisted_brands: int = 100
    #: an ingest worker not heard from this long stops holding event time back (see streams/watermark.py)
    source_timeout_seconds: int = 60


@dataclass(frozen=True)
class NegativitySettings:
    model: str = "default"
    complaint_threshold: float = 0.5


@dataclass(frozen=True)
class Brand:
    """A watched brand and the words, hashtags and handles that mention it."""

    name: str
    terms: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    #: Per-brand detector overrides, merged over the global ``detectors`` section.
    detectors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Per-brand alert routing overrides, merged over the global ``alerts`` section.
    alerts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Secrets:
    """Tokens that come only from the environment or secret files; never logged (``repr`` hides them)."""

    slack_bot_token: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api/"
    pagerduty_routing_key: str | None = field(default=None, repr=False)
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    webhook_url: str | None = None


@dataclass(frozen=True)
class Config:
    path: str
    kafka: KafkaSettings
    worker: WorkerSettings
    negativity: NegativitySettings
    detectors: Mapping[str, Mapping[str, Any]]
    alerts: Mapping[str, Any]
    brands: tuple[Brand, ...]
    secrets: Secrets

    @property
    def brand_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.brands)

    def brand(self, name: str) -> Brand:
        for b in self.brands:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def page_at(self) -> str:
        """The lowest severity that pages (``alerts.pagerduty.page_at``)."""
        return (self.alerts.get("pagerduty") or {}).get("page_at", "critical")

    def page_at_by_brand(self) -> dict[str, str]:
        """The brands whose own ``alerts.pagerduty.page_at`` differs from the global one."""
        own = {b.name: ((b.alerts.get("pagerduty") or {}).get("page_at")) for b in self.brands}
        return {name: value for name, value in own.items() if value and value != self.page_at}

    def detector_params(self, brand: str, section: str) -> dict[str, Any]:
        """The hyper-parameters of detector ``section`` for ``brand``: global values, then the brand's."""
        params = dict(self.detectors.get(section, {}))
        params.update(self.brand(brand).detectors.get(section, {}))
        return params

    def alert_settings(self, brand: str) -> dict[str, Any]:
        """The ``alerts`` section with ``brand``'s overrides merged in (one level deep)."""
        merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.alerts.items()}
        for key, value in self.brand(brand).alerts.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged[key] = value
        return merged


def config_path(cli_value: str | None = None) -> str:
    """The config file: the ``--config`` flag, else ``$CRISISWATCH_CONFIG``, else ``crisiswatch.yaml``."""
    return cli_value or os.environ.get("CRISISWATCH_CONFIG") or DEFAULT_PATH


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and apply environment overrides; raise :class:`ConfigError`."""
    path = str(config_path(str(path) if path else None))
    env = os.environ if env is None else env
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, path, env)


def parse_config(raw: Any, path: str = DEFAULT_PATH, env: Mapping[str, str] | None = None) -> Config:
    env = {} if env is None else env
    v = _Validator(path)
    root = v.mapping(raw, "")
    v.known_keys(root, "", {"kafka", "worker", "negativity", "detectors", "alerts", "brands"})

    k = v.mapping(root.get("kafka", {}), "kafka")
    v.known_keys(k, "kafka", set(KafkaSettings.__dataclass_fields__))
    kafka = KafkaSettings(
        bootstrap_servers=env.get("CRISISWATCH_KAFKA_BOOTSTRAP")
        or v.string(k.get("bootstrap_servers", KafkaSettings.bootstrap_servers), "kafka.bootstrap_servers"),
        security_protocol=v.choice(
            env.get("CRISISWATCH_KAFKA_SECURITY_PROTOCOL") or k.get("security_protocol", "PLAINTEXT"),
            "kafka.security_protocol", SECURITY_PROTOCOLS),
        sasl_mechanism=v.optional_choice(
            env.get("CRISISWATCH_KAFKA_SASL_MECHANISM") or k.get("sasl_mechanism"),
            "kafka.sasl_mechanism", SASL_MECHANISMS),
        sasl_username=env.get("CRISISWATCH_KAFKA_SASL_USERNAME")
        or v.optional_string(k.get("sasl_username"), "kafka.sasl_username"),
        sasl_password=_secret(env, "CRISISWATCH_KAFKA_SASL_PASSWORD")
        or v.optional_string(k.get("sasl_password"), "kafka.sasl_password"),
        ssl_cafile=env.get("CRISISWATCH_KAFKA_SSL_CAFILE")
        or v.optional_string(k.get("ssl_cafile"), "kafka.ssl_cafile"),
        ssl_certfile=v.optional_string(k.get("ssl_certfile"), "kafka.ssl_certfile"),
        ssl_keyfile=v.optional_string(k.get("ssl_keyfile"), "kafka.ssl_keyfile"),
        ssl_check_hostname=v.boolean(k.get("ssl_check_hostname", True), "kafka.ssl_check_hostname"),
        topic_partitions=v.integer(k.get("topic_partitions", 4), "kafka.topic_partitions", 1, 1024),
        replication_factor=v.integer(k.get("replication_factor", 1), "kafka.replication_factor", 1, 16),
        topic_prefix=env.get("CRISISWATCH_TOPIC_PREFIX") or _topic_prefix(v, k.get("topic_prefix", "")),
    )
    if kafka.security_protocol.startswith("SASL") and not (kafka.sasl_username and kafka.sasl_password):
        v.fail("kafka.sasl_username", "SASL needs sasl_username and a password "
               "(kafka.sasl_password or $CRISISWATCH_KAFKA_SASL_PASSWORD)")

    w = v.mapping(root.get("worker", {}), "worker")
    v.known_keys(w, "worker", set(WorkerSettings.__dataclass_fields__))
    worker = WorkerSettings(
        app_id=v.string(w.get("app_id", "crisiswatch"), "worker.app_id"),
        metrics_port=v.integer(env.get("CRISISWATCH_METRICS_PORT") or w.get("metrics_port", 9108),
                               "worker.metrics_port", 0, 65535),
        web_port=v.integer(env.get("CRISISWATCH_WEB_PORT") or w.get("web_port", 6066),
                           "worker.web_port", 0, 65535),
        data_dir=v.string(env.get("CRISISWATCH_DATA_DIR") or w.get("data_dir", ".cache/worker"),
                          "worker.data_dir"),
        allowed_lateness_seconds=v.integer(w.get("allowed_lateness_seconds", 120),
                                           "worker.allowed_lateness_seconds", 0, 86400),
        bucket_seconds=v.integer(w.get("bucket_seconds", 60), "worker.bucket_seconds", 1, 3600),
        max_unlisted_brands=v.integer(w.get("max_unlisted_brands", 100), "worker.max_unlisted_brands", 0, 1_000_000),
        source_timeout_seconds=v.integer(w.get("source_timeout_seconds", 60), "worker.source_timeout_seconds",
                                         1, 86400),
    )

    n = v.mapping(root.get("negativity", {}), "negativity")
    v.known_keys(n, "negativity", set(NegativitySettings.__dataclass_fields__))
    negativity = NegativitySettings(
        model=v.string(n.get("model", "default"), "negativity.model"),
        complaint_threshold=v.number(n.get("complaint_threshold", 0.5), "negativity.complaint_threshold",
                                     0.0, 1.0),
    )

    detectors = _detector_sections(v, root.get("detectors", {}), "detectors")
    alerts = _alerts(v, root.get("alerts", {}), "alerts")

    brands_raw = root.get("brands")
    if not isinstance(brands_raw, list) or not brands_raw:
        v.fail("brands", "expected a non-empty list of brands")
    brands: list[Brand] = []
    for i, b in enumerate(brands_raw):
        key = f"brands[{i}]"
        b = v.mapping(b, key)
        v.known_keys(b, key, {"name", "terms", "hashtags", "handles", "detectors", "alerts"})
        name = v.string(b.get("name"), f"{key}.name")
        if not BRAND_NAME.match(name):
            v.fail(f"{key}.name", f"expected lower-case letters, digits, '-', '_' or '.', got {name!r}")
        if name in {x.name for x in brands}:
            v.fail(f"{key}.name", f"brand {name!r} is listed twice")
        terms = v.strings(b.get("terms", []), f"{key}.terms")
        hashtags = v.strings(b.get("hashtags", []), f"{key}.hashtags")
        handles = v.strings(b.get("handles", []), f"{key}.handles")
        if not (terms or hashtags or handles):
            v.fail(f"{key}", f"brand {name!r} needs at least one of terms, hashtags or handles")
        brands.append(Brand(
            name=name, terms=terms,
            hashtags=tuple(h if h.startswith("#") else f"#{h}" for h in hashtags),
            handles=tuple(h if h.startswith("@") else f"@{h}" for h in handles),
            detectors=_detector_sections(v, b.get("detectors", {}), f"{key}.detectors"),
            alerts=_alerts(v, b.get("alerts", {}), f"{key}.alerts"),
        ))

    secrets = Secrets(
        slack_bot_token=_secret(env, "SLACK_BOT_TOKEN"),
        slack_api_url=env.get("SLACK_API_URL") or Secrets.slack_api_url,
        pagerduty_routing_key=_secret(env, "PAGERDUTY_ROUTING_KEY"),
        pagerduty_events_url=env.get("PAGERDUTY_EVENTS_URL") or Secrets.pagerduty_events_url,
        webhook_url=env.get("CRISISWATCH_WEBHOOK_URL") or alerts.get("webhook", {}).get("url"),
    )
    return Config(path=path, kafka=kafka, worker=worker, negativity=negativity, detectors=detectors,
                  alerts=alerts, brands=tuple(brands), secrets=secrets)


def _topic_prefix(v: _Validator, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]*", value):
        v.fail("kafka.topic_prefix", f"expected letters, digits, '.', '_' or '-', {v._got(value)}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """``$NAME``, or the contents of the file named by ``$NAME_FILE`` (Docker/Kubernetes secrets)."""
    if env.get(name):
        return env[name]
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"${name}_FILE: cannot read {file_name} ({exc.strerror})") from None
    return None


def _detector_sections(v: _Validator, raw: Any, key: str) -> dict[str, dict[str, Any]]:
    sections = v.mapping(raw, key)
    v.known_keys(sections, key, set(DETECTOR_SECTIONS))
    return {name: dict(v.mapping(params or {}, f"{key}.{name}")) for name, params in sections.items()}


def _alerts(v: _Validator, raw: Any, key: str) -> dict[str, Any]:
    alerts = dict(v.mapping(raw, key))
    v.known_keys(alerts, key, {"resolve_after_seconds", "cooldown_seconds", "console", "slack",
                               "pagerduty", "webhook", "open_at", "growth_ratio", "min_update_interval_seconds",
                               "max_incidents", "max_series_points", "dashboard_url"})
    if "open_at" in alerts:
        v.choice(alerts["open_at"], f"{key}.open_at", SEVERITIES)
    for k in ("resolve_after_seconds", "cooldown_seconds"):
        if k in alerts:
            v.integer(alerts[k], f"{key}.{k}", 0, 30 * 86400)
    if "console" in alerts:
        v.boolean(alerts["console"], f"{key}.console")
    if "slack" in alerts:
        slack = v.mapping(alerts["slack"], f"{key}.slack")
        v.known_keys(slack, f"{key}.slack", {"channel", "channels_by_severity"})
        if "channel" in slack:
            v.string(slack["channel"], f"{key}.slack.channel")
        by_sev = v.mapping(slack.get("channels_by_severity", {}), f"{key}.slack.channels_by_severity")
        for sev, channel in by_sev.items():
            v.choice(sev, f"{key}.slack.channels_by_severity", SEVERITIES)
            v.string(channel, f"{key}.slack.channels_by_severity.{sev}")
    if "pagerduty" in alerts:
        pd = v.mapping(alerts["pagerduty"], f"{key}.pagerduty")
        v.known_keys(pd, f"{key}.pagerduty", {"page_at", "source"})
        if "page_at" in pd:
            v.choice(pd["page_at"], f"{key}.pagerduty.page_at", SEVERITIES)
    if "webhook" in alerts:
        hook = v.mapping(alerts["webhook"], f"{key}.webhook")
        v.known_keys(hook, f"{key}.webhook", {"url"})
    return alerts


class _Validator:
    """Type checks that raise :class:`ConfigError` naming the file and key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, expected: str) -> None:
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        raise ConfigError(where + expected)

    def _got(self, value: Any) -> str:
        return f"got {type(value).__name__} {value!r}"[:120]

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, {self._got(value)}")
        return value

    def known_keys(self, value: dict[str, Any], key: str, allowed: set[str]) -> None:
        for k in value:
            if k not in allowed:
                prefix = f"{key}." if key else ""
                self.fail(f"{prefix}{k}", f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, {self._got(value)}")
        return value

    def optional_string(self, value: Any, key: str) -> str | None:
        return None if value is None else self.string(value, key)

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            self.fail(key, f"expected a list of non-empty strings, {self._got(value)}")
        return tuple(value)

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}, {self._got(value)}")
        return value

    def optional_choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str | None:
        return None if value is None else self.choice(value, key, choices)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, {self._got(value)}")
        return value

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(key, f"expected an integer from {low} to {high}, {self._got(value)}")
        return value

    def number(self, value: Any, key: str, low: float, high: float) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
            self.fail(key, f"expected a number from {low} to {high}, {self._got(value)}")
        return float(value)
