"""Config validation names the file, the key and what was expected; the environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent


def base() -> dict:
    return yaml.safe_load((REPO / "crisiswatch.yaml").read_text())


def test_the_shipped_config_loads():
    config = load_config(REPO / "crisiswatch.yaml", env={})
    assert config.brand_names == ("skyway", "brewbox", "voltmobile")
    assert config.brand("skyway").handles == ("@SkywayAir",)
    assert config.alert_settings("voltmobile")["slack"]["channel"] == "#volt-comms"
    assert config.alert_settings("skyway")["slack"]["channel"] == "#crisiswatch"


@pytest.mark.parametrize(("mutate", "key", "expected"), [
    (lambda c: c["brands"][1].update(terms=5), "brands[1].terms", "expected a list"),
    (lambda c: c["brands"][0].update(name="Sky Way"), "brands[0].name", "lower-case"),
    (lambda c: c["brands"].append(dict(c["brands"][0])), "brands[3].name", "listed twice"),
    (lambda c: c["kafka"].update(security_protocol="TLS"), "kafka.security_protocol", "expected one of"),
    (lambda c: c["kafka"].update(topic_partitions=0), "kafka.topic_partitions", "from 1 to"),
    (lambda c: c["worker"].update(metrics_prot=1), "worker.metrics_prot", "unknown key"),
    (lambda c: c["negativity"].update(complaint_threshold=2), "negativity.complaint_threshold", "from 0.0"),
    (lambda c: c["alerts"]["pagerduty"].update(page_at="sev1"), "alerts.pagerduty.page_at", "expected one of"),
    (lambda c: c["detectors"].update(sentiment={}), "detectors.sentiment", "unknown key"),
    (lambda c: c.update(brands=[]), "brands", "non-empty list"),
    (lambda c: c["brands"][2].update(terms=[], hashtags=[], handles=[]), "brands[2]", "at least one"),
    (lambda c: c["kafka"].update(security_protocol="SASL_SSL"), "kafka.sasl_username", "SASL needs"),
])
def test_errors_name_file_key_and_expectation(mutate, key, expected):
    config = base()
    mutate(config)
    with pytest.raises(ConfigError) as info:
        parse_config(config, "my.yaml", env={})
    message = str(info.value)
    assert message.startswith(f"my.yaml: {key}: "), message
    assert expected in message


def test_unreadable_and_invalid_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("brands: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad, env={})


def test_environment_overrides_connection_and_secrets(tmp_path):
    token_file = tmp_path / "pd-key"
    token_file.write_text("pd-routing-key\n")
    env = {
        "CRISISWATCH_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
        "CRISISWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CRISISWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CRISISWATCH_KAFKA_SASL_USERNAME": "crisis",
        "CRISISWATCH_KAFKA_SASL_PASSWORD": "s3cret",
        "SLACK_BOT_TOKEN": "xoxb-123",
        "SLACK_API_URL": "http://127.0.0.1:1/api/",
        "PAGERDUTY_ROUTING_KEY_FILE": str(token_file),
        "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:2/v2/enqueue",
    }
    config = parse_config(base(), "c.yaml", env=env)
    kwargs = config.kafka.kafka_python_kwargs()
    assert kwargs["bootstrap_servers"] == ["kafka-1:9092", "kafka-2:9092"]
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_password"] == "s3cret"
    assert config.kafka.faust_broker_url() == "kafka://kafka-1:9092;kafka://kafka-2:9092"
    assert config.secrets.slack_bot_token == "xoxb-123"
    assert config.secrets.pagerduty_routing_key == "pd-routing-key"
    assert config.secrets.pagerduty_events_url.startswith("http://127.0.0.1:2")
    for secret in ("s3cret", "xoxb-123", "pd-routing-key"):
        assert secret not in repr(config)


def test_per_brand_detector_overrides_merge_over_globals():
    raw = base()
    raw["detectors"]["volume"] = {"threshold": 0.99, "warmup_buckets": 60}
    raw["brands"][0]["detectors"] = {"volume": {"threshold": 0.999}}
    config = parse_config(raw, "c.yaml", env={})
    assert config.detector_params("skyway", "volume") == {"threshold": 0.999, "warmup_buckets": 60}
    assert config.detector_params("brewbox", "volume") == {"threshold": 0.99, "warmup_buckets": 60}
