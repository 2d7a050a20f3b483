"""At-least-once, in-order, idempotent delivery of incident events to notifiers.

The worker first writes every lifecycle event to the Kafka ``incidents`` outbox topic, then hands
each one, in topic order, to :meth:`Delivery.deliver` (one :class:`Delivery` per notifier, or all
of them through :class:`Deliverer`) and commits the offset once it returns. So:

* **Nothing is lost.** Retryable failures (429, 5xx, timeouts) are retried with exponential
  backoff and full jitter, capped at ``Backoff.max_seconds`` (60 s by default), for as long as it
  takes: a ten-minute Slack outage delays alerts, it does not drop them. ``Retry-After`` is
  honoured. Only ``should_stop()`` (worker shutdown) ends the loop, with :class:`DeliveryAborted`,
  and then the offset is not committed and the event comes again after the restart.
* **Nothing is doubled.** Each incident's events carry a growing ``sequence``; the last sequence
  delivered per notifier and incident is kept in ``cursors`` (a Faust table in production), and an
  event at or below it is skipped, so redelivered outbox events after a crash do not post twice.
  Notifiers make the rest idempotent (the Slack message ``ts`` store, PagerDuty's ``dedup_key``).
* **Order holds.** ``deliver`` returns only when the event is delivered or given up, so an
  incident's updates reach each receiver in order.
* **Hopeless events do not block.** A :class:`~alerts.notifier.PermanentError` (bad token,
  unknown channel, PagerDuty 400) is logged, counted in ``crisiswatch_alerts_failed_total`` and
  passed to ``on_dead_letter`` (the worker writes it to a dead-letter topic); the cursor moves on.

Retries are all ours: the Slack client is built with ``retry_handlers=[]`` (see
:mod:`alerts.slack`), so there is one retry policy, with an injectable sleep, clock and random
source, and every retry is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from alerts import metrics
from alerts.credentials import get_logger
from alerts.notifier import Notifier, PermanentError, RetryableError
from alerts.retry import Backoff

log = get_logger(__name__)

#: What :meth:`Delivery.deliver` can return.
OUTCOMES = ("delivered", "not_applicable", "duplicate", "dead_letter")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a notifier gave up on, and why (``reason`` is safe to log)."""

    notifier: str
    incident_id: str
    sequence: int
    kind: str
    reason: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"notifier": self.notifier, "incident_id": self.incident_id, "sequence": self.sequence,
                "kind": self.kind, "reason": self.reason, "attempts": self.attempts}


class DeliveryAborted(Exception):
    """``should_stop()`` became true before the event could be delivered; it was not delivered."""


class Delivery:
    """Deliver events to one notifier: retry, deduplicate, dead-letter (see the module docstring).

    Parameters
    ----------
    notifier
        Where events go.
    cursors
        Last delivered ``sequence`` per ``"<notifier name>:<incident id>"``; a dict in tests.
    backoff
        Delays between attempts.
    sleep, clock
        ``time.sleep`` and ``time.time`` unless injected; ``clock`` measures delivery latency.
    on_dead_letter
        Called with a :class:`DeadLetter` when the notifier raised a permanent error.
    should_stop
        Polled between attempts; when it returns true, :class:`DeliveryAborted` is raised.
    """

    def __init__(self, notifier: Notifier, cursors: MutableMapping[str, int], *,
                 backoff: Backoff | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time,
                 on_dead_letter: Callable[[DeadLetter], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.notifier = notifier
        self.cursors = cursors
        metrics.initialise(notifier.kind)
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._clock = clock
        self._on_dead_letter = on_dead_letter
        self._should_stop = should_stop

    def cursor_key(self, incident_id: str) -> str:
        return f"{self.notifier.name}:{incident_id}"

    def deliver(self, event: dict[str, Any]) -> str:
        """Deliver ``event`` (blocking through retries); returns one of :data:`OUTCOMES`."""
        kind = self.notifier.kind
        key = self.cursor_key(event["incident_id"])
        sequence = int(event["sequence"])
        if sequence <= self.cursors.get(key, 0):
            metrics.ALERTS_DUPLICATES.labels(kind).inc()
            log.info("%s: skipping %s #%d, already delivered", self.notifier.name, event["incident_id"], sequence)
            return "duplicate"
        attempt = 0
        while True:
            try:
                sent = self.notifier.send(event)
            except RetryableError as exc:
                delay = self.backoff.delay(attempt, exc.retry_after)
                attempt += 1
                metrics.ALERTS_RETRIED.labels(kind).inc()
                log.warning("%s: %s #%d failed (%s), attempt %d, retrying in %.1f s", self.notifier.name,
                            event["incident_id"], sequence, exc.reason, attempt, delay)
                if self._should_stop():
                    raise DeliveryAborted(f"{self.notifier.name}: stopped while retrying") from exc
                self._sleep(delay)
                continue
            except PermanentError as exc:
                outcome = self._dead_letter(event, exc.reason, attempt + 1)
                break
            if sent:
                metrics.ALERTS_SENT.labels(kind).inc()
                metrics.DELIVERY_LATENCY.labels(kind).observe(max(0.0, self._clock() - float(event["time"])))
            outcome = "delivered" if sent else "not_applicable"
            break
        self.cursors[key] = sequence
        return outcome

    def _dead_letter(self, event: dict[str, Any], reason: str, attempts: int) -> str:
        metrics.ALERTS_FAILED.labels(self.notifier.kind).inc()
        letter = DeadLetter(notifier=self.notifier.name, incident_id=event["incident_id"],
                            sequence=int(event["sequence"]), kind=event["kind"], reason=reason, attempts=attempts)
        log.error("%s: giving up on %s #%d (%s) after %d attempt(s): %s", letter.notifier, letter.incident_id,
                  letter.sequence, letter.kind, attempts, reason)
        if self._on_dead_letter is not None:
            self._on_dead_letter(letter)
        return "dead_letter"


class Deliverer:
    """Deliver each event to several notifiers at once, returning when all are done with it.

    The notifiers run in parallel threads so that a slow PagerDuty call does not hold back Slack;
    but an outage of one receiver does hold back the *next* event for all of them (they share the
    outbox position). Where that matters, run one :class:`Delivery` per notifier from its own
    consumer instead.
    """

    def __init__(self, deliveries: Sequence[Delivery]) -> None:
        names = [d.notifier.name for d in deliveries]
        if len(set(names)) != len(names):
            raise ValueError(f"notifier names must be unique, got {names}")
        self.deliveries = list(deliveries)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.deliveries)),
                                        thread_name_prefix="crisiswatch-alerts")
        self._lock = threading.Lock()

    def deliver(self, event: dict[str, Any]) -> dict[str, str]:
        """Outcome per notifier name; re-raises the first exception (e.g. :class:`DeliveryAborted`)."""
        with self._lock:  # one event at a time keeps every incident's events in order
            futures = {d.notifier.name: self._pool.submit(d.deliver, event) for d in self.deliveries}
            wait(futures.values())
            return {name: future.result() for name, future in futures.items()}

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
