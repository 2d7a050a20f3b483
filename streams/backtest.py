"""Replay history through the production detector code, without Kafka.

The same :class:`streams.ingest.Ingestor` (validation, brand matching,
negativity) and :class:`streams.monitor.BrandMonitor` (buckets, detectors,
incident decision and lifecycle) the worker runs, fed from a file in time
order, with the watermark advanced as the stream's would be. What comes out is
what the worker would have written to the ``incidents`` outbox, and when.

Scoring against labels (``labels.json`` as ``crisiswatch generate`` writes it,
or any list of ``{brand, start, end, should_alert, should_page}``): a labelled
incident that should alert is *detected* when an incident of its brand opens
(or escalates) at warning or above between its start and its end; detection
delay is the time from its start to that event. Any incident opened outside a
labelled alerting window is a false alarm; a page during a window that should
not page is a false page.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.incidents import IncidentTracker
from streams.config import Config
from streams.ingest import BatchScorer, Ingestor
from streams.matching import BrandMatcher
from streams.monitor import BrandMonitor, Evaluation, MonitorParams
from streams.post import Post, parse_timestamp

BATCH = 2000
SEVERITY_RANK = {"none": 0, "watch": 1, "warning": 2, "critical": 3}


def monitor_params(config: Config, brand: str) -> MonitorParams:
    """The detector hyper-parameters of ``brand``: the global ``detectors`` section with its overrides."""
    return MonitorParams(
        bucket_seconds=config.worker.bucket_seconds,
        allowed_lateness_seconds=config.worker.allowed_lateness_seconds,
        volume=config.detector_params(brand, "volume"),
        shift=config.detector_params(brand, "shift"),
        stories=config.detector_params(brand, "stories"),
        incident=config.detector_params(brand, "incident"),
    )


def tracker_from(config: Config) -> IncidentTracker:
    from alerts.factory import tracker_from_config

    return tracker_from_config({"alerts": {**config.alerts, "bucket_seconds": config.worker.bucket_seconds}})


def new_monitor(config: Config, brand: str, tracker: IncidentTracker,
                state: Mapping[str, Any] | None = None) -> BrandMonitor:
    """The monitor the worker and the backtest build for ``brand`` (unknown brands get the global parameters)."""
    try:
        params = monitor_params(config, brand)
        b = config.brand(brand)
        ignore = (*b.terms, *b.hashtags, *b.handles)
    except KeyError:
        params = MonitorParams(bucket_seconds=config.worker.bucket_seconds,
                               allowed_lateness_seconds=config.worker.allowed_lateness_seconds,
                               **{k: dict(config.detectors.get(k, {})) for k in ("volume", "shift", "stories",
                                                                               "incident")})
        ignore = (brand,)
    return BrandMonitor(brand, params, tracker, ignore_terms=ignore, state=state)


@dataclass
class BacktestResult:
    evaluations: list[Evaluation] = field(default_factory=list)
    posts: int = 0
    dead_letters: int = 0
    unmatched: int = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for e in self.evaluations for event in e.events]


@dataclass(slots=True)
class IngestedBatch:
    """One batch of the file after the ingest step: what the brand monitors are fed, and the watermark after it.

    The ingest step (validation, brand matching, negativity) does not depend on any detector
    hyper-parameter, so a threshold sweep (``crisiswatch tune``) ingests the file once and
    replays these batches through fresh monitors for every candidate value.
    """

    #: (brand, post, negativity, complaint) for each brand-attributed post, in file order
    forwarded: list[tuple[str, Post, float, bool]]
    #: the newest event time of any valid post so far (including this batch), -inf before the first
    watermark: float
    #: the oldest event time of a valid post in this batch (inf if it has none)
    earliest: float
    posts: int
    dead_letters: int
    unmatched: int


def ingest(values: Iterable[bytes], config: Config, scorer: BatchScorer | None) -> Iterator[IngestedBatch]:
    """Run raw post values (in time order) through the production ingest step, a batch at a time (lazily)."""
    ingestor = Ingestor(BrandMatcher(config.brands), config.brand_names, scorer,
                        config.negativity.complaint_threshold, config.worker.max_unlisted_brands)
    watermark = float("-inf")
    batch: list[bytes] = []

    def flush() -> IngestedBatch:
        nonlocal watermark
        out = ingestor.process(batch, now=float("inf"))
        earliest = float("inf")
        for post in out.posts:
            watermark = max(watermark, post.created_at)
            earliest = min(earliest, post.created_at)
        batch.clear()
        return IngestedBatch([(bp.brand, bp.post, bp.negativity, bp.complaint) for bp in out.forwarded],
                             watermark, earliest, len(out.posts), len(out.dead_letters), len(out.unmatched))

    for value in values:
        batch.append(value)
        if len(batch) >= BATCH:
            yield flush()
    if batch:
        yield flush()


def replay(batches: Iterable[IngestedBatch], config: Config, keep_evaluations: bool = True,
           brands: Collection[str] | None = None) -> BacktestResult:
    """Feed ingested batches through the brand monitors built from ``config``, as the worker would.

    ``brands`` limits the replay to those brands' posts (the others' monitors are never built);
    brands do not interact, so their events are exactly those of a full replay.
    """
    tracker = tracker_from(config)
    monitors: dict[str, BrandMonitor] = {}
    result = BacktestResult()
    watermark = float("-inf")

    def keep(evaluations: list[Evaluation]) -> None:
        result.evaluations.extend(e for e in evaluations if keep_evaluations or e.events)

    for batch in batches:
        result.posts += batch.posts
        result.dead_letters += batch.dead_letters
        result.unmatched += batch.unmatched
        for brand, post, negativity, complaint in batch.forwarded:
            if brands is not None and brand not in brands:
                continue
            monitor = monitors.get(brand) or monitors.setdefault(brand, new_monitor(config, brand, tracker))
            keep(monitor.add_post(post, negativity, complaint))
        watermark = batch.watermark
        for monitor in monitors.values():  # brands that were quiet in this batch
            keep(monitor.advance(watermark))
    # The end of the file: let every open bucket close, as time going on would.
    for monitor in monitors.values():
        result.evaluations.extend(monitor.advance(watermark + config.worker.allowed_lateness_seconds
                                                  + 2 * config.worker.bucket_seconds))
    return result


def run_backtest(values: Iterable[bytes], config: Config, scorer: BatchScorer | None,
                 keep_evaluations: bool = True) -> BacktestResult:
    """Feed raw post values (in time order) through ingest and the brand monitors (streaming, batch by batch)."""
    return replay(ingest(values, config, scorer), config, keep_evaluations)


@dataclass(frozen=True)
class LabelScore:
    label: Mapping[str, Any]
    detected_at: float | None
    paged: bool

    @property
    def delay_seconds(self) -> float | None:
        if self.detected_at is None:
            return None
        return self.detected_at - parse_timestamp(self.label["start"])


@dataclass(frozen=True)
class LabelReport:
    per_label: Sequence[LabelScore]
    false_alarms: Sequence[dict[str, Any]]
    false_pages: Sequence[dict[str, Any]]

    @property
    def recall(self) -> float:
        wanted = [s for s in self.per_label if s.label.get("should_alert", True)]
        return sum(s.detected_at is not None for s in wanted) / len(wanted) if wanted else 1.0

    @property
    def precision(self) -> float:
        opened = [s for s in self.per_label if s.label.get("should_alert", True) and s.detected_at is not None]
        total = len(opened) + len(self.false_alarms)
        return len(opened) / total if total else 1.0


def load_labels(raw: Any) -> list[dict[str, Any]]:
    labels = raw["incidents"] if isinstance(raw, Mapping) else raw
    return [dict(label) for label in labels]


def is_page(event: Mapping[str, Any], page_at: str = "critical",
            page_at_by_brand: Mapping[str, str] | None = None) -> bool:
    """Whether ``event`` pages: its severity reaches its brand's ``page_at`` (as the PagerDuty notifier decides)."""
    threshold = (page_at_by_brand or {}).get(event["brand"], page_at)
    return SEVERITY_RANK[event["severity"]] >= SEVERITY_RANK[threshold]


def score_against_labels(events: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]],
                         page_at: str = "critical", alert_at: str = "warning",
                         page_at_by_brand: Mapping[str, str] | None = None) -> LabelReport:
    """Match incident events to labelled incidents (see the module docstring).

    A brand in ``page_at_by_brand`` pages from its own severity, as the PagerDuty notifier does.
    """
    alerting = [e for e in events if e["kind"] in ("open", "update")
                and SEVERITY_RANK[e["severity"]] >= SEVERITY_RANK[alert_at]]
    pages = [e for e in alerting if is_page(e, page_at, page_at_by_brand)]

    def within(event: Mapping[str, Any], label: Mapping[str, Any]) -> bool:
        return (event["brand"] == label["brand"]
                and parse_timestamp(label["start"]) <= event["time"] <= parse_timestamp(label["end"]))

    per_label = []
    for label in labels:
        hits = [e["time"] for e in alerting if within(e, label)]
        per_label.append(LabelScore(label, min(hits) if hits else None, any(within(p, label) for p in pages)))
    alert_windows = [label for label in labels if label.get("should_alert", True)]
    false_alarms = [e for e in alerting if e["kind"] == "open" and not any(within(e, lb) for lb in alert_windows)]
    quiet_windows = [label for label in labels if not label.get("should_page", True)]
    false_pages = [p for p in pages if any(within(p, lb) for lb in quiet_windows)
                   or not any(within(p, lb) for lb in labels)]
    return LabelReport(per_label, false_alarms, false_pages)


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M")
