"""The worker's side of alert delivery: notifiers from the config, their state in Faust tables.

Delivery (``alerts.delivery``) is synchronous HTTP with retries, so the worker runs
it in a thread. Its two stores, the per-incident delivery cursors and the Slack
message ``ts`` per incident, must survive restarts, so they live in Faust tables;
but a Faust table belongs to the event loop, and its changelog is written with the
partition of the event being processed. :class:`DurableTableStore` bridges the two:
the delivery thread reads the table, and each write is handed to the loop and waits
there until the broker has the changelog record.

Why wait: ``chat.postMessage`` is not idempotent. A message ``ts`` that reached the
changelog only once the whole event was delivered (the Slack message, its chart,
then the page) was lost by a crash in between, and the restarted worker posted the
message again. Now only a crash between Slack's answer and the changelog write can
duplicate a message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

from alerts.delivery import DeadLetter, Deliverer, Delivery
from alerts.factory import notifiers_from_config
from alerts.ratelimit import MinIntervalLimiter
from streams.config import Config

log = logging.getLogger("crisiswatch.alerts")

WRITE_TIMEOUT_S = 60.0


class DurableTableStore(MutableMapping[str, Any]):
    """A mapping over a Faust table for the delivery thread: a write returns once the changelog has it."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.loop: asyncio.AbstractEventLoop | None = None
        self.partition: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop, partition: int) -> None:
        """The loop the table lives on and the partition of the event being delivered."""
        self.loop, self.partition = loop, partition

    def __getitem__(self, key: str) -> Any:
        return self.table.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if self.loop is None or self.partition is None:
            raise RuntimeError("DurableTableStore written before bind()")
        written = asyncio.run_coroutine_threadsafe(self._write(self.partition, key, value), self.loop)
        try:
            written.result(2 * WRITE_TIMEOUT_S)  # _write bounds itself; this only guards against a stopped loop
        except concurrent.futures.TimeoutError:
            log.warning("delivery state %s: the event loop did not take the write", key)

    async def _write(self, partition: int, key: str, value: Any) -> None:
        self.table.data[key] = value
        try:
            sent = await self.table.changelog_topic.send(
                key=key, value=value, partition=partition, key_serializer=self.table.key_serializer,
                value_serializer=self.table.value_serializer, force=True)  # force: not held until the event is acked
            await asyncio.wait_for(sent, WRITE_TIMEOUT_S)
        except Exception as exc:  # the broker is away: Faust's buffered changelog sends it when it can
            log.warning("delivery state %s not confirmed by the broker (%s): sending it in the background", key,
                        type(exc).__name__)
            self.table.send_changelog(partition, key, value)

    def __delitem__(self, key: str) -> None:  # the delivery code never deletes; keep the contract honest
        raise NotImplementedError("delivery state is never deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.data.keys()))

    def __len__(self) -> int:
        return len(self.table.data)


def config_as_mapping(config: Config) -> dict[str, Any]:
    """The parts of the config the ``alerts`` factory reads, in its plain-dict form."""
    return {
        "alerts": dict(config.alerts),
        "brands": [{"name": b.name, "alerts": dict(b.alerts)} for b in config.brands],
    }


def build_deliverer(config: Config, cursors: DurableTableStore, slack_messages: DurableTableStore,
                    should_stop: Any, env: dict[str, str] | None = None) -> Deliverer | None:
    """Every configured notifier that has its secret, behind at-least-once, retrying delivery."""
    notifiers = notifiers_from_config(config_as_mapping(config), slack_messages=slack_messages, env=env,
                                      slack_limiter=MinIntervalLimiter(1.0))
    if not notifiers:
        log.warning("no notifier configured: incidents go to the outbox topic only")
        return None
    log.info("alert notifiers: %s", ", ".join(n.name for n in notifiers))
    return Deliverer([Delivery(n, cursors, on_dead_letter=_log_dead_letter, should_stop=should_stop)
                      for n in notifiers])


def _log_dead_letter(letter: DeadLetter) -> None:
    log.error("alert given up (non-retryable): %s", letter.to_dict())
