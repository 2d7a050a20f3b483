"""The worker's side of alert delivery: notifiers from the config, their state in Faust tables.

Delivery (``alerts.delivery``) is synchronous HTTP with retries, so the worker runs
it in a thread. Its two stores, the per-incident delivery cursors and the Slack
message ``ts`` per incident, must survive restarts, so they live in Faust tables;
but a Faust table may only be written from its agent's coroutine, with the
partition of the event being processed. :class:`BufferedTableStore` bridges the
two: the delivery thread reads through it and writes into a buffer, and the agent
writes the buffer to the table (and its changelog) once the event is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

from alerts.delivery import DeadLetter, Deliverer, Delivery
from alerts.factory import notifiers_from_config
from alerts.ratelimit import MinIntervalLimiter
from streams.config import Config

log = logging.getLogger("crisiswatch.alerts")


class BufferedTableStore(MutableMapping[str, Any]):
    """A mapping over ``table.data`` whose writes wait in a buffer until :meth:`drain`."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self.pending:
            return self.pending[key]
        return self.table.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.pending[key] = value

    def __delitem__(self, key: str) -> None:  # the delivery code never deletes; keep the contract honest
        raise NotImplementedError("delivery state is never deleted")

    def __iter__(self) -> Iterator[str]:
        yield from {*self.table.data.keys(), *self.pending}

    def __len__(self) -> int:
        return len({*self.table.data.keys(), *self.pending})

    def drain(self) -> dict[str, Any]:
        """The writes since the last drain (for the agent to put in the table)."""
        pending, self.pending = self.pending, {}
        return pending


def config_as_mapping(config: Config) -> dict[str, Any]:
    """The parts of the config the ``alerts`` factory reads, in its plain-dict form."""
    return {
        "alerts": dict(config.alerts),
        "brands": [{"name": b.name, "alerts": dict(b.alerts)} for b in config.brands],
    }


def build_deliverer(config: Config, cursors: BufferedTableStore, slack_messages: BufferedTableStore,
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
