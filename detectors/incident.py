"""The incident decision: is a complaint going viral, and how bad is it?

Three detectors look at a brand from different sides: its volume (many more
posts than usual?), its negativity shift (a larger share of complaints than
usual?) and its fastest story (one complaint spreading fast?). None of them
alone is a crisis: a product launch makes volume jump with happy posts, and
complaints drift up slowly when a service degrades. :func:`decide` combines
them into one severity, the way an on-call engineer would read them:

==========================================  =====================================
what the signals show                       at most
==========================================  =====================================
volume spike, mostly not negative           ``watch`` (a benign spike)
negative share drifting up, no spike        ``watch``, ``warning`` if far above
volume spike, mostly negative               ``warning``, ``critical`` at
                                            ``critical_volume_ratio`` x expected
a mostly negative story spreading fast      ``watch`` -> ``warning`` ->
                                            ``critical`` as its authors and
                                            speed grow
a negative spike *and* a warning story      ``critical`` (they agree)
==========================================  =====================================

The function is pure and takes the detectors' results as duck-typed objects
(:class:`VolumeSignal`, :class:`ShiftSignal`, :class:`StorySignal`), any of
which may be ``None`` when that detector has nothing to say yet. Thresholds
come from :class:`IncidentThresholds`, whose keyword arguments are the
``detectors.incident`` section of the configuration (per brand overrides
included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Protocol


class Severity(IntEnum):
    """How bad an incident is; ordered, so ``severity >= Severity.WARNING`` reads naturally."""

    NONE = 0
    WATCH = 1
    WARNING = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Severity:
        """``"watch"`` -> ``Severity.WATCH`` (for configuration such as ``page_at``)."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(str(s) for s in cls)
            raise ValueError(f"unknown severity {name!r}; expected one of {choices}") from None


class VolumeSignal(Protocol):
    """The brand's volume anomaly for the latest bucket (e.g. ``detectors.volume.VolumeResult``).

    The observed count is read from ``observed``, or else ``count``.
    """

    @property
    def score(self) -> float: ...
    @property
    def expected(self) -> float: ...
    @property
    def alert(self) -> bool: ...


class ShiftSignal(Protocol):
    """The brand's negativity shift: the recent negative ``share`` against its ``baseline_share``."""

    @property
    def score(self) -> float: ...
    @property
    def share(self) -> float: ...
    @property
    def baseline_share(self) -> float: ...
    @property
    def alert(self) -> bool: ...


class StorySignal(Protocol):
    """The brand's fastest story (e.g. ``detectors.stories.StorySnapshot``)."""

    @property
    def velocity(self) -> float: ...
    @property
    def acceleration(self) -> float: ...
    @property
    def doubling_time_seconds(self) -> float: ...
    @property
    def negative_share(self) -> float: ...
    @property
    def posts(self) -> int: ...
    @property
    def unique_authors(self) -> int: ...
    @property
    def reach(self) -> int: ...


@dataclass(frozen=True, slots=True)
class IncidentThresholds:
    """When the signals make an incident, for one brand.

    The three-element tuples give the level a story must reach for ``watch``,
    ``warning`` and ``critical`` in turn. A story reaches a level when it is
    mostly negative (``story_negative_share``), has at least that many unique
    authors, and is either that fast (``story_velocity``, posts per minute) or
    doubles at least that quickly (``story_doubling_seconds``).
    """

    #: A volume spike counts as a complaint when at least this share of the brand's posts is negative.
    negative_share: float = 0.5
    #: Volume is anomalous at this score (or whenever the volume detector raises its alert).
    volume_score: float = 0.5
    #: A negative spike at least this many times the expected volume is critical.
    critical_volume_ratio: float = 4.0
    #: A negative drift this many share points above its baseline is a warning (else a watch).
    shift_warning_delta: float = 0.15
    #: A story counts as a complaint when at least this share of its posts is negative.
    story_negative_share: float = 0.6
    story_authors: tuple[int, int, int] = (10, 50, 200)
    story_velocity: tuple[float, float, float] = (1.0, 5.0, 20.0)
    story_doubling_seconds: tuple[float, float, float] = (3600.0, 1200.0, 600.0)
    #: A warning story and a negative volume spike together are critical.
    escalate_on_agreement: bool = True

    def __post_init__(self) -> None:
        for name in ("negative_share", "story_negative_share", "volume_score", "shift_warning_delta"):
            _check_fraction(name, getattr(self, name))
        if not _is_number(self.critical_volume_ratio) or self.critical_volume_ratio < 1.0:
            raise ValueError(f"critical_volume_ratio must be a number >= 1, got {self.critical_volume_ratio!r}")
        for name, rising in (("story_authors", True), ("story_velocity", True),
                             ("story_doubling_seconds", False)):
            levels = getattr(self, name)
            if (isinstance(levels, str | bytes) or not hasattr(levels, "__len__") or len(levels) != 3
                    or not all(_is_number(v) and v > 0 for v in levels)):
                raise ValueError(f"{name} must be three positive numbers (watch, warning, critical), "
                                 f"got {levels!r}")
            ordered = list(levels) == sorted(levels, reverse=not rising)
            if not ordered:
                order = "grow" if rising else "shrink"
                raise ValueError(f"{name} must {order} from watch to critical, got {levels!r}")
            object.__setattr__(self, name, tuple(levels))  # YAML gives lists
        if not isinstance(self.escalate_on_agreement, bool):
            raise ValueError(f"escalate_on_agreement must be true or false, got {self.escalate_on_agreement!r}")

    @classmethod
    def from_config(cls, section: dict[str, object] | None) -> IncidentThresholds:
        """Thresholds from the ``detectors.incident`` configuration section (unknown keys are errors)."""
        section = dict(section or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown detectors.incident setting(s): {', '.join(unknown)}")
        return cls(**section)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class IncidentDecision:
    """What :func:`decide` concluded.

    ``signals`` names what fired, most severe first: ``viral_story``,
    ``negative_volume``, ``volume_spike`` (a spike that is not mostly
    negative), ``negative_shift`` and ``agreement`` (escalated because a story
    and a negative spike agree).
    """

    severity: Severity
    reason: str
    signals: tuple[str, ...]

    @property
    def is_incident(self) -> bool:
        """Whether this is worth opening an incident for (``warning`` or worse)."""
        return self.severity >= Severity.WARNING


def decide(volume: VolumeSignal | None, shift: ShiftSignal | None, story: StorySignal | None,
           thresholds: IncidentThresholds | None = None) -> IncidentDecision:
    """Combine the brand's volume, negativity shift and fastest story into one decision.

    Values that are missing or not numbers (NaN) never make a signal fire.
    """
    limits = thresholds or IncidentThresholds()
    findings: list[tuple[Severity, str, str]] = []  # (level, signal, reason)

    story_level = _story_level(story, limits)
    if story is not None and story_level > Severity.NONE:
        findings.append((story_level, "viral_story", _describe_story(story)))

    volume_level = Severity.NONE
    if volume is not None and (volume.alert is True or _at_least(volume.score, limits.volume_score)):
        share = _spike_negative_share(shift, story)
        ratio = _observed(volume) / max(_number(volume.expected), 1.0)
        what = f"volume {ratio:.1f}x expected ({_observed(volume):,.0f} vs {_number(volume.expected):,.0f})"
        if share is not None and share >= limits.negative_share:
            volume_level = Severity.CRITICAL if ratio >= limits.critical_volume_ratio else Severity.WARNING
            findings.append((volume_level, "negative_volume", f"{what}, {share:.0%} negative"))
        else:
            tone = f"only {share:.0%} negative" if share is not None else "negativity unknown"
            findings.append((Severity.WATCH, "volume_spike", f"{what}, {tone}"))

    if shift is not None and shift.alert is True:
        delta = _number(shift.share) - _number(shift.baseline_share)
        level = Severity.WARNING if _at_least(delta, limits.shift_warning_delta) else Severity.WATCH
        findings.append((level, "negative_shift",
                         f"negative share {_number(shift.share):.0%} vs {_number(shift.baseline_share):.0%} usual"))

    if (limits.escalate_on_agreement and story_level >= Severity.WARNING
            and volume_level >= Severity.WARNING and max(story_level, volume_level) < Severity.CRITICAL):
        findings.append((Severity.CRITICAL, "agreement", "a negative volume spike and a spreading story agree"))

    if not findings:
        return IncidentDecision(Severity.NONE, "no signal", ())
    findings.sort(key=lambda finding: finding[0], reverse=True)  # stable: story, volume, shift on ties
    severity = findings[0][0]
    return IncidentDecision(severity, "; ".join(reason for _, _, reason in findings),
                            tuple(signal for _, signal, _ in findings))


def _story_level(story: StorySignal | None, limits: IncidentThresholds) -> Severity:
    if story is None or not _at_least(story.negative_share, limits.story_negative_share):
        return Severity.NONE
    velocity = _number(story.velocity)
    if velocity <= 0:
        return Severity.NONE  # no longer spreading
    doubling = story.doubling_time_seconds
    doubling = doubling if _is_number(doubling) else math.inf
    # A short doubling time of a story that barely moves (1 post, then 2) is worth a watch at most:
    # above that, doubling counts only once the story spreads at least at the watch level's velocity.
    moving = velocity >= limits.story_velocity[0]
    reached = Severity.NONE
    for level, authors, speed, doubling_limit in zip(
            (Severity.WATCH, Severity.WARNING, Severity.CRITICAL), limits.story_authors,
            limits.story_velocity, limits.story_doubling_seconds, strict=True):
        if _number(story.unique_authors) >= authors and (
                velocity >= speed or ((moving or level == Severity.WATCH) and doubling <= doubling_limit)):
            reached = level
    return reached


def _spike_negative_share(shift: ShiftSignal | None, story: StorySignal | None) -> float | None:
    """How negative the brand's posts are right now: the shift detector's share, else the story's."""
    for share in (getattr(shift, "share", None), getattr(story, "negative_share", None)):
        if _is_number(share):
            return float(share)  # type: ignore[arg-type]
    return None


def _observed(volume: VolumeSignal) -> float:
    observed = getattr(volume, "observed", None)
    return _number(observed if observed is not None else getattr(volume, "count", 0.0))


def _describe_story(story: StorySignal) -> str:
    doubling = story.doubling_time_seconds
    pace = (f"story doubling every {_duration(doubling)}" if _is_number(doubling) and math.isfinite(doubling)
            else f"story at {_number(story.velocity):.1f} posts/min")
    return (f"{pace}, {_number(story.negative_share):.0%} negative, {story.unique_authors:,} authors, "
            f"{story.posts:,} posts, reach {_compact(story.reach)}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _compact(count: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f}{suffix}"
    return f"{count:.0f}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _number(value: object) -> float:
    """The value as a float, 0 when it is missing or not a number."""
    return float(value) if _is_number(value) else 0.0  # type: ignore[arg-type]


def _at_least(value: object, threshold: float) -> bool:
    return _is_number(value) and value >= threshold  # type: ignore[operator]


def _check_fraction(name: str, value: object) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
