"""Shared fixtures: the real Kafka broker and crisiswatch worker processes.

The ``kafka`` fixture starts the project's own local Apache Kafka broker
(``deploy/kafka/broker.py``) once per test session, in a fresh data directory
on free loopback ports, and stops it at the end (SIGTERM, then SIGKILL).
Set ``CRISISWATCH_TEST_BOOTSTRAP`` to run the Kafka tests against another
broker instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.localstack import WorkerProcess, local_broker

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"




@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for this test session (see module docstring)."""
    with local_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """A list the test appends its workers to; every one is stopped at the end."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()
