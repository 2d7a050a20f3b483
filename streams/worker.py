"""Start a Faust worker for the config, with the Prometheus endpoint beside it."""

from __future__ import annotations

import logging
import sys

import faust
from prometheus_client import disable_created_metrics, start_http_server

from streams import log_filter
from streams.app import build_app
from streams.config import Config
from streams.kafka_check import KafkaCheckError, check_kafka
from streams.topics import ensure_topics

log = logging.getLogger("crisiswatch")


def load_negativity_scorer(config: Config):
    """The configured negativity model (``negativity.model``), or ``None`` before detectors exist."""
    try:
        from detectors.negativity import load_scorer
    except ImportError:
        return None
    return load_scorer(config.negativity.model, config.negativity.complaint_threshold)


def run_worker(config: Config, loglevel: str = "info") -> int:
    """Check Kafka, create the topics, then run Faust until it is stopped; return the exit status.

    Kafka is checked first because Faust would retry a refused login for ever (see
    :mod:`streams.kafka_check`): bad credentials or certificates end the worker at once with
    one line on stderr and status 2, like any other configuration error; a broker that does not
    answer within the check's deadline ends it with status 1.
    """
    try:
        check_kafka(config.kafka)
    except KafkaCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if exc.final else 1
    ensure_topics(config.kafka)
    log_filter.install()  # a broker outage must not bury the log under the client's retry errors
    app = build_app(config, scorer=load_negativity_scorer(config))
    disable_created_metrics()  # the _created series double every counter for no use on our boards
    start_http_server(config.worker.metrics_port)
    log.info("metrics on :%d/metrics, brands: %s", config.worker.metrics_port, ", ".join(config.brand_names))
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
