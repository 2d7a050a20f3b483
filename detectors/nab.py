"""Run the volume detector over NAB-style CSV files and score the results against labelled windows.

The Numenta Anomaly Benchmark (NAB) is our outside yardstick: its ``realTweets``
files are Twitter mention counts per 5 minutes, the same kind of series the
volume detector watches per brand. The run is honest by construction:

* every file gets a fresh :class:`~detectors.volume.VolumeDetector` with the
  same (default) parameters, whatever the file (a file of measurements rather
  than counts is recognised in its warm-up by the detector itself, see
  ``value_type``);
* rows are fed in order through ``update()``, which scores a row before
  learning it, so a row's score depends only on rows at or before it;
* labels are only read by the scorer, after the run.

The ``alert`` column is :attr:`~detectors.volume.VolumeResult.raises_alert`:
1 where the detector *raises* an alert (an event's first alert-level bucket),
which is when crisiswatch would notify someone. NAB counts every detected row
outside a window as a false positive, so the detector's ``alert`` flag, which
stays up for every rare bucket of an ongoing incident, would be scored as a
string of false positives after each window (on realTweets, standard profile,
the flag scores 77.6 where raised alerts score 83.2; 56.9 against 59.9 with the
earlier 30-day alert level).

The scoring rules themselves live in :mod:`detectors.nab_scoring`; this module
does the file handling around them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from detectors.nab_scoring import (
    PROFILES,
    Profile,
    ScoredRow,
    best_threshold,
    label_rows,
    normalised_score,
    score_at_threshold,
    window_count,
)
from detectors.volume import VolumeDetector

RESULT_COLUMNS = ("timestamp", "value", "anomaly_score", "alert")


class NotASeries(ValueError):
    """A file that is not a ``timestamp,value`` series (the reason is the message)."""


def canonical_timestamp(text: str) -> str:
    """``"2015-03-03 04:37:53.000000"`` and ``"2015-03-03 04:37:53"`` both -> the latter."""
    return parse_timestamp(text).strftime("%Y-%m-%d %H:%M:%S")


def parse_timestamp(text: str) -> datetime:
    """A NAB timestamp (no time zone: taken as UTC)."""
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def read_series(path: Path) -> tuple[list[str], list[float]]:
    """The ``timestamp`` and ``value`` columns of a CSV file, or :class:`NotASeries`."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if "timestamp" not in fields or "value" not in fields:
            raise NotASeries(f"no 'timestamp' and 'value' columns (has {', '.join(fields) or 'none'})")
        timestamps: list[str] = []
        values: list[float] = []
        for line, row in enumerate(reader, start=2):
            try:
                parse_timestamp(row["timestamp"])
                values.append(float(row["value"]))
            except (TypeError, ValueError) as exc:
                raise NotASeries(f"line {line}: {exc}") from exc
            timestamps.append(row["timestamp"])
    return timestamps, values


def csv_files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` at any depth, in a stable order."""
    yield from sorted(path for path in root.rglob("*") if path.is_file())


def detect(timestamps: Sequence[str], values: Sequence[float], detector: VolumeDetector) -> Iterator[tuple[float, int]]:
    """``(anomaly_score, alert)`` per row, in order: each row scored before it is learnt."""
    for timestamp, value in zip(timestamps, values, strict=True):
        result = detector.update(parse_timestamp(timestamp).timestamp(), value)
        yield result.score, int(result.raises_alert)


def run_file(source: Path, target: Path,
             make_detector: Callable[[], VolumeDetector] = VolumeDetector) -> int:
    """Score one series with a fresh detector into ``target``; returns the number of rows."""
    timestamps, values = read_series(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        for timestamp, value, (score, alert) in zip(timestamps, values, detect(timestamps, values, make_detector()),
                                                    strict=True):
            writer.writerow((timestamp, _plain_number(value), repr(score), alert))
    return len(timestamps)


def _plain_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def run_corpus(data_dir: Path, out_dir: Path, log: Callable[[str], None] = print,
               make_detector: Callable[[], VolumeDetector] = VolumeDetector) -> list[Path]:
    """Run the detector over every CSV under ``data_dir``; results keep their relative paths."""
    written = []
    for source in csv_files(data_dir):
        relative = source.relative_to(data_dir)
        if source.suffix.lower() != ".csv":
            log(f"skip {relative}: not a CSV file")
            continue
        try:
            rows = run_file(source, out_dir / relative, make_detector)
        except NotASeries as exc:
            log(f"skip {relative}: {exc}")
            continue
        log(f"ran {relative}: {rows} rows")
        written.append(out_dir / relative)
    return written


def load_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    """NAB's ``combined_windows.json``, keyed by file name (``realTweets/`` and other folders dropped)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    windows: dict[str, list[tuple[str, str]]] = {}
    for key, pairs in raw.items():
        name = Path(key).name
        if name in windows:
            raise ValueError(f"{path}: two entries for the file name {name!r}")
        windows[name] = [(canonical_timestamp(start), canonical_timestamp(end)) for start, end in pairs]
    return windows


def read_results(path: Path) -> tuple[list[str], list[float], list[float]]:
    """Timestamps, anomaly scores and alerts (0/1) of a results file."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(RESULT_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise NotASeries(f"missing columns {', '.join(sorted(missing))}")
        timestamps, scores, alerts = [], [], []
        for row in reader:
            timestamps.append(canonical_timestamp(row["timestamp"]))
            scores.append(float(row["anomaly_score"]))
            alerts.append(float(row["alert"]))
    return timestamps, scores, alerts


@dataclass(frozen=True, slots=True)
class ProfileScore:
    """One profile's result over the corpus."""

    profile: Profile
    threshold: float
    swept: float  # normalised score with NAB's optimised threshold
    swept_raw: float
    fixed: float  # normalised score of the ``alert`` column as the detections
    fixed_raw: float


@dataclass(frozen=True, slots=True)
class CorpusScore:
    files: int
    windows: int
    profiles: tuple[ProfileScore, ...]

    def report(self) -> str:
        lines = [f"NAB scores over {self.files} files and {self.windows} windows "
                 "(normalised: null detector 0, perfect 100)",
                 f"{'profile':<20} {'swept':>8} {'threshold':>10} {'alert column':>13}"]
        for result in self.profiles:
            lines.append(f"{result.profile.name:<20} {result.swept:8.1f} {result.threshold:10.4f} "
                         f"{result.fixed:13.1f}")
        return "\n".join(lines)


def score_results(results_dir: Path, windows: dict[str, list[tuple[str, str]]],
                  log: Callable[[str], None] = print) -> CorpusScore:
    """Score every results file under ``results_dir`` that has labelled windows."""
    swept_rows: list[ScoredRow] = []
    alert_rows: list[ScoredRow] = []
    files = 0
    for path in csv_files(results_dir):
        relative = path.relative_to(results_dir)
        if path.suffix.lower() != ".csv":
            continue
        if path.name not in windows:
            log(f"not scored {relative}: no windows for {path.name}")
            continue
        try:
            timestamps, scores, alerts = read_results(path)
        except NotASeries as exc:
            log(f"not scored {relative}: {exc}")
            continue
        files += 1
        name = str(relative)
        swept_rows += label_rows(name, timestamps, scores, windows[path.name])
        alert_rows += label_rows(name, timestamps, alerts, windows[path.name])
    count = window_count(swept_rows)
    if files == 0 or count == 0:
        raise ValueError(f"nothing to score under {results_dir}: no results file with labelled windows")
    results = []
    for profile in PROFILES:
        best = best_threshold(swept_rows, profile)
        fixed = score_at_threshold(alert_rows, profile, 0.5)
        results.append(ProfileScore(profile, best.threshold, normalised_score(best.score, count, profile),
                                    best.score, normalised_score(fixed.score, count, profile), fixed.score))
    return CorpusScore(files, count, tuple(results))
