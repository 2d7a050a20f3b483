"""The local broker's SASL_SSL settings, the clients' TLS settings and the Kafka check, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import kafka_check
from streams.commands.broker import load_broker_module
from streams.config import KafkaSettings
from streams.kafka_check import KafkaCheckError, check_kafka
from streams.localstack import free_port

broker = load_broker_module()


def test_a_sasl_ssl_listener_sits_beside_plaintext_with_scram_and_a_pem_keystore(tmp_path: Path) -> None:
    listener = broker.SaslSslListener(port=19094, keystore=tmp_path / "ks.pem", users=(("alice", "s3cret-pw"),))
    props = broker._server_properties(broker.BrokerConfig(data_dir=tmp_path, port=19092, controller_port=19093,
                                                          sasl_ssl=listener))
    lines = dict(line.split("=", 1) for line in props.splitlines())
    assert lines["listeners"] == ("PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,"
                                  "SASL_SSL://127.0.0.1:19094")
    assert "SASL_SSL:SASL_SSL" in lines["listener.security.protocol.map"].split(",")
    assert lines["inter.broker.listener.name"] == "PLAINTEXT"
    assert lines["listener.name.sasl_ssl.ssl.keystore.type"] == "PEM"
    assert "ScramLoginModule" in lines["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert "s3cret-pw" not in props and "s3cret-pw" not in repr(listener)
    assert listener.scram_arguments() == ["--add-scram", "SCRAM-SHA-512=[name=alice,password=s3cret-pw]"]


@pytest.mark.parametrize("password", ["has,comma", "has]bracket", "has space", ""])
def test_scram_passwords_the_format_tool_cannot_carry_are_refused(tmp_path: Path, password: str) -> None:
    listener = broker.SaslSslListener(port=1, keystore=tmp_path / "ks.pem", users=(("alice", password),))
    with pytest.raises(broker.BrokerError, match="cannot quote") as info:
        listener.scram_arguments()
    assert not password or password not in str(info.value)


def test_ssl_check_hostname_reaches_the_faust_and_aiokafka_context(tmp_path: Path) -> None:
    strict = KafkaSettings(security_protocol="SSL")
    relaxed = KafkaSettings(security_protocol="SSL", ssl_check_hostname=False)
    assert strict.ssl_context().check_hostname is True
    assert relaxed.ssl_context().check_hostname is False
    assert relaxed.faust_credentials().context.check_hostname is False


def test_a_broker_that_does_not_answer_is_retried_until_the_deadline_then_reported(monkeypatch) -> None:
    port = free_port()
    attempts: list[str] = []
    connect_once = kafka_check._connect_once

    async def counted(kafka, server, timeout):
        attempts.append(server)
        await connect_once(kafka, server, timeout)

    monkeypatch.setattr(kafka_check, "_connect_once", counted)
    with pytest.raises(KafkaCheckError) as info:
        check_kafka(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"), timeout=2.5)
    # Refused at once each time: tried again every RETRY_INTERVAL_S (1 s) until the 2.5 s deadline,
    # neither given up after the first refusal nor retried without a pause.
    assert 2 <= len(attempts) <= 3, attempts
    assert not info.value.final
    assert str(info.value).startswith(f"Kafka at 127.0.0.1:{port} could not be reached within 2 s")
    assert "\n" not in str(info.value)
