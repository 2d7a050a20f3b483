"""Shared fixtures: the real Kafka broker and crisiswatch worker processes.

The ``kafka`` fixture starts the project's own local Apache Kafka broker
(``deploy/kafka/broker.py``) once per test session, in a fresh data directory
on free loopback ports, and stops it at the end (SIGTERM, then SIGKILL).
Set ``CRISISWATCH_TEST_BOOTSTRAP`` to run the Kafka tests against another
broker instead.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.localstack import LocalBroker, WorkerProcess, local_broker, running_broker

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for this test session (see module docstring)."""
    with local_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def kafka_sasl_ssl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A second local broker that also offers SASL_SSL (SCRAM-SHA-512 over TLS).

    Its CA and broker certificate are made for this session by ``openssl``, and the SCRAM user
    and a random password are written into its storage when it is formatted. Always a local
    broker, even with ``$CRISISWATCH_TEST_BOOTSTRAP``: the test must control its listeners.
    ``.login`` says how to log in; ``.bootstrap`` is the PLAINTEXT listener, for the tests' own reads.
    """
    user = ("crisiswatch-test", secrets.token_urlsafe(18))
    with running_broker(tmp_path_factory.mktemp("kafka-sasl"), scram_user=user) as broker:
        assert broker.login is not None
        yield broker


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """A list the test appends its workers to; every one is stopped at the end."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()
