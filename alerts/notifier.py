"""What a notifier is: something that sends an incident event somewhere and says how it failed.

A notifier's ``send(event)`` either returns (``True``: something was sent; ``False``: the event
is not for this notifier, e.g. below the paging level) or raises one of two errors, and that
distinction is all :mod:`alerts.delivery` needs to decide between retrying and giving up:

* :class:`RetryableError`: the receiver is down, slow, or rate-limiting us (HTTP 429, 5xx,
  timeouts, connection errors). Delivery retries it, honouring ``retry_after`` when set.
* :class:`PermanentError`: retrying cannot help (bad token, unknown channel, an event the
  receiver rejects). Delivery counts it, logs it and hands it to the dead-letter callback.

``send`` must be safe to call again with the same event (at-least-once delivery): notifiers keep
whatever they need for that (the Slack message ``ts``) in a store, or rely on the receiver's own
deduplication (PagerDuty's ``dedup_key``).

Error reasons are short fixed phrases (``"slack chat.postMessage: channel_not_found"``), never
request bodies, URLs with credentials or tokens, because they end up in logs.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class DeliveryError(Exception):
    """A failed attempt to send an event; ``reason`` is safe to log."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RetryableError(DeliveryError):
    """The attempt may succeed later; ``retry_after`` (seconds) is the receiver's wish, if it said."""


class PermanentError(DeliveryError):
    """The attempt will fail again whatever we do: do not retry."""


@runtime_checkable
class Notifier(Protocol):
    """Sends incident events to one receiver."""

    #: The kind of receiver (``slack``, ``pagerduty``, ``webhook``, ``console``): a metric label.
    kind: str
    #: Unique among the configured notifiers; keys the delivery cursor of each incident.
    name: str

    def send(self, event: dict[str, Any]) -> bool:
        """Send one event; ``False`` if it is not for this notifier. Raises :class:`DeliveryError`."""
