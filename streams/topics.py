"""Create the project's topics up front, with the configured partition count.

Faust creates its own changelog topics, but the source topics must exist with
the same number of partitions as the tables built from them (co-partitioning),
so the worker and ``replay`` create them explicitly rather than trusting the
broker's auto-creation defaults.
"""

from __future__ import annotations

import contextlib
import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.config import KafkaSettings

log = logging.getLogger("crisiswatch")

TOPICS = ("posts", "posts.dlq", "posts.by_brand", "incidents")

#: Largest record the project writes. The dead-letter topic must take any post that reached
#: ``posts`` plus our headers, whatever the broker's default limit (about 1 MB), so it gets its own.
DLQ_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
#: Largest ``posts.by_brand`` record the ingest step writes; that topic keeps the broker's default limit
#: (about 1 MiB per record batch). A post whose message would be larger goes without its unknown fields.
MAX_FORWARD_BYTES = 900_000
TOPIC_CONFIGS = {"posts.dlq": {"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}}


def ensure_topics(kafka: KafkaSettings, names: tuple[str, ...] = TOPICS) -> list[str]:
    """Create whichever of ``names`` do not exist; return the ones created."""
    admin = KafkaAdminClient(client_id="crisiswatch-admin", **kafka.kafka_python_kwargs())
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if kafka.topic(n) not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                admin.create_topics([NewTopic(kafka.topic(n), kafka.topic_partitions, kafka.replication_factor,
                                              topic_configs=TOPIC_CONFIGS.get(n))
                                     for n in missing])
            log.info("created topics %s with %d partitions", ", ".join(missing), kafka.topic_partitions)
        return missing
    finally:
        admin.close()
