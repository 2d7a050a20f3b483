"""Sweep one detector threshold over history and measure what each value would have alerted.

``crisiswatch tune`` is the backtest run once per candidate value: the file is
ingested once (validation, brand matching and negativity do not depend on any
detector threshold, see :func:`streams.backtest.ingest`) and the batches are
replayed through fresh :class:`~streams.monitor.BrandMonitor` objects built
from the configuration with the threshold overridden (:func:`with_value`).
There is no copy of detector logic here: what is measured is what the worker
would do with that value in ``crisiswatch.yaml``.

Per value it counts what an on-call engineer lives with: incidents opened
(each one is an alert), incidents paged, and false alarms per week of data.
With labels (``labels.json``), a false alarm is an incident opened outside
every labelled window that should alert, as :func:`~streams.backtest.score_against_labels`
decides, and recall and median detection delay say what the value catches and
how fast. Without labels nothing tells a real incident from a false one, so
every incident opened counts as a false alarm: the rate is an upper bound.

:func:`recommend` then picks, among the values within the false-alarm budget,
the one with the best recall, ties going to the earliest detection.

Only the thresholds in :data:`TUNABLES` can be swept: numbers whose meaning is
"how sure before we alert", where moving them trades false alarms for missed
or later incidents. Learning rates, memories and the like are not thresholds,
and sweeping them against a two-day file would fit noise.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detectors.incident import IncidentThresholds
from detectors.shift import ShiftDetector
from detectors.volume import VolumeDetector
from streams.backtest import (
    IngestedBatch,
    is_page,
    new_monitor,
    replay,
    score_against_labels,
    tracker_from,
)
from streams.config import Config

WEEK_SECONDS = 7 * 24 * 3600.0
LEVELS = ("watch", "warning", "critical")
_DETECTOR_CLASSES: dict[str, Any] = {"volume": VolumeDetector, "shift": ShiftDetector}


@dataclass(frozen=True)
class Tunable:
    """A threshold ``crisiswatch tune`` can sweep: ``section.key`` of the ``detectors`` config.

    ``level`` picks one element of a (watch, warning, critical) triple such as
    ``incident.story_velocity``; the other two keep their configured values.
    """

    section: str
    key: str
    what: str
    #: ``"higher"`` when raising the value alerts less (most thresholds), ``"lower"`` otherwise
    stricter: str
    #: the values swept when neither ``--values`` nor ``--range`` is given
    grid: tuple[float, ...]
    level: str | None = None
    integer: bool = False

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" + (f".{self.level}" if self.level else "")


TUNABLES: dict[str, Tunable] = {t.name: t for t in (
    Tunable("volume", "alert_return_period_hours",
            "a volume bucket is anomalous when rarer than once in this many hours, for this brand",
            "higher", (6, 24, 72, 168, 288, 720, 2160)),
    Tunable("volume", "min_alert_count", "no volume alert for a bucket with fewer posts than this",
            "higher", (1, 3, 5, 10, 20, 50)),
    Tunable("shift", "alert_z", "evidence (about standard deviations) for a negativity-shift alert",
            "higher", (2, 3, 4, 5, 6, 8)),
    Tunable("shift", "min_share_increase", "least rise of the negative share over its baseline to alert",
            "higher", (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)),
    Tunable("incident", "volume_score", "volume onset score that counts as a spike (the detector's own "
            "alert counts too)", "higher", (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)),
    Tunable("incident", "negative_share", "share of negative posts that makes a volume spike a complaint",
            "higher", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)),
    Tunable("incident", "critical_volume_ratio", "a negative spike this many times the expected volume "
            "is critical (pages)", "higher", (1.5, 2, 3, 4, 6, 8)),
    Tunable("incident", "shift_warning_delta", "a negative drift this far above its baseline is a "
            "warning (opens an incident), else a watch", "higher", (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)),
    Tunable("incident", "story_negative_share", "share of negative posts that makes a story a complaint",
            "higher", (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
    Tunable("incident", "story_authors", "unique authors a negative story needs for a warning",
            "higher", (10, 20, 35, 50, 75, 100, 150), level="warning", integer=True),
    Tunable("incident", "story_authors", "unique authors a negative story needs to be critical (pages)",
            "higher", (50, 100, 200, 300, 500, 1000), level="critical", integer=True),
    Tunable("incident", "story_velocity", "posts per minute a negative story needs for a warning "
            "(or its doubling time)", "higher", (1, 2, 3, 5, 8, 12, 20), level="warning"),
    Tunable("incident", "story_velocity", "posts per minute a negative story needs to be critical "
            "(or its doubling time)", "higher", (5, 10, 20, 30, 50, 80), level="critical"),
    Tunable("incident", "story_doubling_seconds", "a negative story doubling at least this fast (seconds) "
            "is a warning", "lower", (600, 900, 1200, 1800, 2400, 3000), level="warning"),
)}


def tunable(name: str) -> Tunable:
    """The :class:`Tunable` called ``name``; ``ValueError`` naming the valid choices otherwise."""
    try:
        return TUNABLES[name]
    except KeyError:
        raise ValueError(f"unknown --param {name!r}; valid choices: {', '.join(TUNABLES)}") from None


# --- reading and overriding the configuration ------------------------------------------------------


def _default(section: str, key: str) -> Any:
    if section == "incident":
        return {f.name: f.default for f in dataclasses.fields(IncidentThresholds)}[key]
    return inspect.signature(_DETECTOR_CLASSES[section].__init__).parameters[key].default


def _section(config: Config, section: str, brand: str | None) -> dict[str, Any]:
    """The section as the brand's monitor sees it (global values, then the brand's), or the global one."""
    return config.detector_params(brand, section) if brand else dict(config.detectors.get(section, {}))


def current_value(config: Config, t: Tunable, brand: str | None = None) -> float:
    """The value ``config`` gives ``t`` (for ``brand``, else globally), the detector's default if unset."""
    value = _section(config, t.section, brand).get(t.key, _default(t.section, t.key))
    return float(value[LEVELS.index(t.level)] if t.level else value)


def _setting(config: Config, t: Tunable, value: float, brand: str | None) -> Any:
    """What to write under ``t.key`` for ``value``: the number, or the whole triple with one level changed."""
    number: float | int = int(value) if t.integer else float(value)
    if not t.level:
        return number
    levels = list(_section(config, t.section, brand).get(t.key, _default(t.section, t.key)))
    levels[LEVELS.index(t.level)] = number
    return levels


def with_value(config: Config, t: Tunable, value: float, brand: str | None = None) -> Config:
    """``config`` with ``t`` set to ``value``: in ``brand``'s own ``detectors`` overrides, else globally.

    A global value is exactly what the printed snippet sets: a brand that sets ``t`` itself keeps its
    own value, as it would in production.
    """
    setting = _setting(config, t, value, brand)
    if brand is None:
        detectors = {name: dict(params) for name, params in config.detectors.items()}
        detectors.setdefault(t.section, {})[t.key] = setting
        return dataclasses.replace(config, detectors=detectors)
    brands = []
    for b in config.brands:
        if b.name == brand:
            own = {name: dict(params) for name, params in b.detectors.items()}
            own.setdefault(t.section, {})[t.key] = setting
            b = dataclasses.replace(b, detectors=own)
        brands.append(b)
    return dataclasses.replace(config, brands=tuple(brands))


def brands_overriding(config: Config, t: Tunable) -> list[str]:
    """Brands that set ``t`` themselves, so that a global value does not reach them."""
    return [b.name for b in config.brands if t.key in b.detectors.get(t.section, {})]


def check_values(config: Config, t: Tunable, values: Sequence[float], brand: str | None = None) -> None:
    """Build every affected brand's monitor with each value, so a bad value fails before the sweep does.

    ``ValueError`` names the parameter, the value and what the detector expected.
    """
    if not values:
        raise ValueError("no values to try")
    tracker = tracker_from(config)
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"{t.name} = {value}: expected a finite number")
        if t.integer and value != int(value):
            raise ValueError(f"{t.name} = {value:g}: expected a whole number")
        candidate = with_value(config, t, value, brand)
        for name in [brand] if brand else candidate.brand_names:
            try:
                new_monitor(candidate, name, tracker)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{t.name} = {value:g}: {exc}") from None


def parse_values(text: str) -> list[float]:
    """``"0.1,0.2,0.5"`` -> sorted distinct numbers."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--values: expected comma-separated numbers, got {text!r}") from None
    return sorted(set(values))


def parse_range(text: str, integer: bool = False) -> list[float]:
    """``"lo:hi:steps"`` -> ``steps`` evenly spaced values from ``lo`` to ``hi`` inclusive (whole numbers
    for an integer threshold, duplicates dropped)."""
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        low, high, steps = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise ValueError(f"--range: expected LOW:HIGH:STEPS, e.g. 0.1:0.9:9, got {text!r}") from None
    if steps < 1 or (steps == 1 and low != high):
        raise ValueError(f"--range: STEPS must be at least 2 (or 1 with LOW == HIGH), got {steps}")
    if high < low:
        raise ValueError(f"--range: LOW must not exceed HIGH, got {text!r}")
    values = [low + (high - low) * i / max(steps - 1, 1) for i in range(steps)]
    values = [float(round(v)) if integer else round(v, 10) for v in values]
    return sorted(set(values))


# --- the sweep ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneRow:
    """What one value of the threshold would have done over the stream."""

    value: float
    #: incidents opened: each one is an alert
    alerts: int
    #: incidents that reached the paging severity (PagerDuty pages once per incident)
    pages: int
    #: incidents opened outside every labelled alerting window; without labels, every incident opened
    false_alarms: int
    false_alarms_per_week: float
    #: with labels: incidents paged during a window that should not page, or outside every window
    false_pages: int | None = None
    #: with labels that want an alert: the share of them alerted on, and the median time to do so
    recall: float | None = None
    median_delay_seconds: float | None = None


def stream_span(batches: Sequence[IngestedBatch]) -> tuple[float, float]:
    """The first and last event time of the stream's valid posts."""
    first = min((b.earliest for b in batches), default=math.inf)
    last = max((b.watermark for b in batches), default=-math.inf)
    if not first < last:
        raise ValueError("the data spans no time (fewer than two distinct post times): nothing to rate per week")
    return first, last


def measure(events: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]] | None, value: float,
            weeks: float, *, page_at: str = "critical", open_at: str = "warning",
            page_at_by_brand: Mapping[str, str] | None = None) -> TuneRow:
    """One row of the trade-off table from a replay's incident events."""
    alerts = sum(1 for e in events if e["kind"] == "open")
    paged = {e["incident_id"] for e in events
             if e["kind"] in ("open", "update") and is_page(e, page_at, page_at_by_brand)}
    if labels is None:
        return TuneRow(value, alerts, len(paged), alerts, alerts / weeks)
    report = score_against_labels(events, labels, page_at=page_at, alert_at=open_at,
                                  page_at_by_brand=page_at_by_brand)
    wanted = [s for s in report.per_label if s.label.get("should_alert", True)]
    delays = [s.delay_seconds for s in wanted if s.delay_seconds is not None]
    return TuneRow(
        value, alerts, len(paged), len(report.false_alarms), len(report.false_alarms) / weeks,
        false_pages=len({p["incident_id"] for p in report.false_pages}),
        recall=report.recall if wanted else None,
        median_delay_seconds=statistics.median(delays) if delays else None,
    )


def sweep(batches: Sequence[IngestedBatch], config: Config, t: Tunable, values: Sequence[float], *,
          labels: Sequence[Mapping[str, Any]] | None = None, brand: str | None = None,
          progress: Callable[[TuneRow, float], None] | None = None) -> list[TuneRow]:
    """Replay ``batches`` once per value of ``t`` and measure each (see the module docstring).

    With ``brand``, the value is set in that brand's overrides and only its posts are replayed
    (brands do not interact, so its incidents are those of a full replay), and only its labels count.
    """
    check_values(config, t, values, brand)
    first, last = stream_span(batches)
    weeks = (last - first) / WEEK_SECONDS
    if labels is not None and brand is not None:
        labels = [label for label in labels if label["brand"] == brand]
    open_at = config.alerts.get("open_at", "warning")
    rows = []
    for value in values:
        began = time.perf_counter()
        result = replay(batches, with_value(config, t, value, brand), keep_evaluations=False,
                        brands=None if brand is None else {brand})
        row = measure(result.events, labels, value, weeks, page_at=config.page_at, open_at=open_at,
                      page_at_by_brand=config.page_at_by_brand())
        rows.append(row)
        if progress is not None:
            progress(row, time.perf_counter() - began)
    return rows


def recommend(rows: Sequence[TuneRow], target_per_week: float, current: float | None = None) -> TuneRow | None:
    """The value to use: within ``target_per_week`` false alarms, the best recall, then the earliest detection.

    Further ties go to fewer false alarms, then fewer false pages, then the current value, then the
    first in ``rows``. Without labels recall is unknown, and the value that alerts most within the
    budget wins (every alert counts against it, so that is the most sensitive affordable one); with
    labels of which none should alert, the fewest false alarms win. ``None`` when no value meets the
    target.
    """
    affordable = [r for r in rows if r.false_alarms_per_week <= target_per_week * (1 + 1e-9)]
    if not affordable:
        return None

    def rank(r: TuneRow) -> tuple[float, ...]:
        if r.false_pages is None:  # no labels
            quality: tuple[float, ...] = (-r.alerts,)
        elif r.recall is None:  # labels, but none of them should alert: every alert is a false one
            quality = (r.false_alarms, r.false_pages)
        else:
            delay = math.inf if r.median_delay_seconds is None else r.median_delay_seconds
            quality = (-r.recall, delay, r.false_alarms, r.false_pages or 0)
        return (*quality, 0 if current is not None and r.value == current else 1)

    return min(affordable, key=rank)  # min keeps the first of equals


# --- printing ----------------------------------------------------------------------------------------


def format_value(value: float) -> str:
    return f"{value:g}"


def format_table(rows: Sequence[TuneRow], t: Tunable, current: float | None = None,
                 recommended: TuneRow | None = None) -> str:
    """The trade-off table: one line per value, the current and the recommended one marked."""
    labelled = any(r.recall is not None or r.false_pages is not None for r in rows)
    header = ["value", "alerts", "pages", "false alarms", "per week"]
    if labelled:
        header += ["false pages", "recall", "median delay"]
    lines = [header]
    for r in rows:
        marks = []
        if current is not None and r.value == current:
            marks.append("current")
        if recommended is not None and r is recommended:
            marks.append("recommended")
        cells = [format_value(r.value), str(r.alerts), str(r.pages), str(r.false_alarms),
                 f"{r.false_alarms_per_week:.2f}"]
        if labelled:
            cells += [str(r.false_pages), "n/a" if r.recall is None else f"{r.recall:.2f}",
                      "-" if r.median_delay_seconds is None else f"{r.median_delay_seconds / 60:.0f} min"]
        lines.append([*cells, ", ".join(marks)])
    widths = [max(len(line[i]) for line in lines if i < len(line)) for i in range(len(header))]
    out = []
    for line in lines:
        text = "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=False))
        if len(line) > len(header) and line[-1]:
            text += f"  <- {line[-1]}"
        out.append("  " + text.rstrip())
    return "\n".join(out)


def yaml_snippet(config: Config, t: Tunable, value: float, brand: str | None = None) -> str:
    """The lines to put in ``crisiswatch.yaml`` for ``value`` (merged into the existing sections)."""
    setting = _setting(config, t, value, brand)
    shown = f"[{', '.join(format_value(v) for v in setting)}]" if isinstance(setting, list) else format_value(setting)
    if brand is None:
        return f"detectors:\n  {t.section}:\n    {t.key}: {shown}"
    return (f"brands:\n  - name: {brand}\n    detectors:\n      {t.section}:\n"
            f"        {t.key}: {shown}")
