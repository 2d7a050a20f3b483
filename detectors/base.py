"""The one small protocol every crisiswatch detector honours.

Modelled on river's anomaly detectors: a detector *learns* from one observation
and *scores* one observation, and nothing else. The Faust agents call exactly
these methods on live data, and ``crisiswatch backtest`` calls the very same
methods on history, so what an engineer tunes offline is what runs in
production.

Rules every detector follows:

* Hyper-parameters are keyword arguments of ``__init__``, validated there once
  (raise ``ValueError`` naming the parameter); no other configuration.
* ``score_one`` never changes state; ``learn_one`` never returns anything.
  Score first, then learn: ``score_one(x)`` uses only what was learnt before ``x``
  (no look-ahead).
* State is bounded in size by the hyper-parameters, and round-trips through
  plain JSON types with ``to_state()`` / ``from_state()`` so that it can live in
  a changelog-backed Faust table.
* Detectors are pure: no Kafka, no HTTP, no files, no clocks. Time comes in
  with the observation.
"""

from __future__ import annotations

from typing import Any, Protocol, Self, TypeVar, runtime_checkable

X_contra = TypeVar("X_contra", contravariant=True)


@runtime_checkable
class Detector(Protocol[X_contra]):
    """Learn from and score one observation at a time."""

    def learn_one(self, x: X_contra) -> None:
        """Update the state with one observation."""

    def score_one(self, x: X_contra) -> float:
        """Score one observation in [0, 1] against what was learnt so far, without learning it."""


@runtime_checkable
class Stateful(Protocol):
    """A detector whose state can be stored in a Faust table."""

    def to_state(self) -> dict[str, Any]:
        """The learnt state as JSON-compatible types (not the hyper-parameters)."""

    @classmethod
    def from_state(cls, state: dict[str, Any], **params: Any) -> Self:
        """Rebuild a detector with ``params`` and the learnt ``state``."""


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                *, low_open: bool = False, high_open: bool = False) -> None:
    """Raise ``ValueError`` naming the hyper-parameter when ``value`` is out of range."""
    if value != value:  # NaN
        raise ValueError(f"{name} must be a number, got NaN")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        bound = "<" if high_open else "<="
        raise ValueError(f"{name} must be {bound} {high}, got {value!r}")
