"""NAB (Numenta Anomaly Benchmark) scoring, reimplemented from NAB's published code.

Follows `nab/sweeper.py` and `nab/runner.py` of numenta/NAB: each labelled window is worth up to the
profile's tpWeight when its first detection comes early (scaled sigmoid of the position in the
window), a missed window costs fnWeight, every detection outside a window costs up to fpWeight
(less when it falls just after a window); the first 15 % of each file (at most 750 rows) is a
probationary period that is not scored. Corpus scores are normalised as
100 * (raw - null) / (perfect - null), where the null detector misses every window and the perfect
one detects every window at its left edge.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

PROBATION_PERCENT = 0.15

# config/profiles.json of NAB (tnWeight is unused by the scoring)
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11},
}


@dataclass
class Scored:
    """One line of a series' score: a window found (its first detection) or missed, or a false alarm."""

    kind: str  # 'found', 'missed' or 'false alarm'
    window: tuple[datetime, datetime] | None  # the labelled window (None for a false alarm)
    at: datetime | None  # the detection (None for a missed window)
    points: float  # what it adds to the raw score under the profile


@dataclass
class FileScore:
    """One series scored under one profile (the columns of NAB's *_scores.csv), and the lines behind it."""

    name: str
    profile: str
    score: float
    tp: int
    fp: int
    fn: int
    windows: int
    lines: list[Scored] = field(default_factory=list)


def scaled_sigmoid(relative_position: float) -> float:
    """NAB's weight of a detection: ~1 at a window's left edge, 0 at its right edge, -> -1 after it."""
    if relative_position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * relative_position)) - 1.0


def probationary_length(rows: int, percent: float = PROBATION_PERCENT) -> float:
    return min(math.floor(percent * rows), percent * 5000)


def parse_nab_time(text: str) -> datetime:
    """NAB timestamps: '2015-03-03 04:37:53' in data, with '.000000' in the label files."""
    return datetime.fromisoformat(text.strip())


def score_file(timestamps: list[datetime], detections: list[bool], windows: list[tuple[datetime, datetime]],
               profile: str = "standard", name: str = "") -> FileScore:
    """Score one series' binary detections against its labelled windows (NAB sweeper semantics)."""
    weights = PROFILES[profile]
    max_tp = scaled_sigmoid(-1.0)
    probation = probationary_length(len(timestamps))
    index_of = {t: i for i, t in enumerate(timestamps)}
    try:
        spans = sorted((index_of[start], index_of[end]) for start, end in windows)
    except KeyError as missing:
        raise ValueError(f"{name}: label window edge {missing.args[0]} is not a timestamp of the series") from None
    window_score = {}  # window left index -> best (first) detection's weighted score, or -fnWeight
    first_detection = {}  # window left index -> index of its first scored detection
    false_alarms: list[Scored] = []
    fp_total = 0.0
    tp = fp = 0

    span_at = 0
    current = None  # (left, right) of the window we are in
    previous = None  # (left, right) of the last window we left
    for i, detected in enumerate(detections):
        if current is None and span_at < len(spans) and i == spans[span_at][0]:
            current = spans[span_at]
            span_at += 1
        scored = i >= probation
        if current is not None and scored:
            window_score.setdefault(current[0], -weights["fnWeight"])
        if detected and scored:
            if current is not None:
                left, right = current
                width = right - left + 1
                weighted = scaled_sigmoid(-(right - i + 1) / width) * weights["tpWeight"] / max_tp
                if weighted > window_score[left]:
                    window_score[left] = weighted
                    first_detection[left] = i
                tp += 1
            else:
                if previous is None:
                    position = 3.0
                else:
                    left, right = previous
                    position = abs(right - i) / float(right - left + 1 - 1)
                cost = scaled_sigmoid(position) * weights["fpWeight"]
                false_alarms.append(Scored("false alarm", None, timestamps[i], cost))
                fp_total += cost
                fp += 1
        if current is not None and i == current[1]:
            previous, current = current, None

    lines = [_window_line(timestamps, (left, right), window_score[left], first_detection.get(left))
             for left, right in spans if left in window_score]
    lines = sorted(lines + false_alarms, key=lambda line: line.at or line.window[0])
    missed = sum(1 for line in lines if line.kind == "missed")
    # summed in NAB's order, to the last bit: false alarms, then the windows found, then those missed
    found = [window_score[left] for left, _ in spans if first_detection.get(left) is not None]
    not_found = [window_score[left] for left, _ in spans if left in window_score and left not in first_detection]
    score = sum([fp_total, *found, *not_found])
    return FileScore(name, profile, score, tp, fp, missed, len(spans), lines)


def _window_line(timestamps: list[datetime], span: tuple[int, int], points: float,
                 detection: int | None) -> Scored:
    window = (timestamps[span[0]], timestamps[span[1]])
    if detection is None:
        return Scored("missed", window, None, points)
    return Scored("found", window, timestamps[detection], points)


def null_score(window_counts: list[int], profile: str) -> float:
    """The raw corpus score of a detector that never fires: every window missed."""
    return -PROFILES[profile]["fnWeight"] * sum(window_counts)


def perfect_score(window_counts: list[int], profile: str) -> float:
    """The raw corpus score of a detector that fires at the left edge of every window."""
    return PROFILES[profile]["tpWeight"] * sum(window_counts)


def normalized_score(raw_total: float, window_counts: list[int], profile: str) -> float:
    """NAB's final score: 0 for the null detector, 100 for the perfect one."""
    null = null_score(window_counts, profile)
    perfect = perfect_score(window_counts, profile)
    return 100.0 * (raw_total - null) / (perfect - null)


def read_series(path: Path) -> tuple[list[datetime], list[float]]:
    """A NAB data file: header `timestamp,value`."""
    timestamps, values = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for line_number, row in enumerate(reader, start=2):
            try:
                timestamps.append(parse_nab_time(row["timestamp"]))
                values.append(float(row["value"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{path}:{line_number}: expected columns timestamp,value "
                                 f"with a time and a number, got {row!r}") from None
    return timestamps, values


def read_windows(path: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    """NAB's combined_windows.json: {"corpus/file.csv": [[start, end], ...]}."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: [(parse_nab_time(a), parse_nab_time(b)) for a, b in spans] for name, spans in raw.items()}


def windows_for(windows: dict[str, list], data_dir: Path, series_path: Path) -> list | None:
    """The windows of a series, whichever way the label file names it (corpus/file or file)."""
    relative = series_path.relative_to(data_dir).as_posix()
    candidates = [relative, f"{data_dir.name}/{relative}", series_path.name]
    for key in candidates:
        if key in windows:
            return windows[key]
    matches = [key for key in windows if key.endswith("/" + series_path.name)]
    return windows[matches[0]] if len(matches) == 1 else None


@dataclass
class BenchResult:
    """Per-profile corpus scores of one run, and the per-file rows behind them."""

    files: list[FileScore]
    normalized: dict[str, float]
    window_counts: list[int]


def series_bucket_seconds(timestamps: list[datetime]) -> float:
    """The usual step between rows (the median gap)."""
    gaps = sorted((b - a).total_seconds() for a, b in zip(timestamps, timestamps[1:]))
    return gaps[len(gaps) // 2] if gaps else 300.0


def write_results(path: Path, timestamps: list[datetime], values: list[float], flags) -> None:
    """NAB's result format: timestamp,value,anomaly_score."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for moment, value, flag in zip(timestamps, values, flags):
            writer.writerow([moment.strftime("%Y-%m-%d %H:%M:%S"), f"{value:g}", f"{float(flag):.1f}"])


@dataclass
class LabelledSeries:
    """One NAB series with its windows; `name` is its path relative to the data folder."""

    name: str
    timestamps: list[datetime]
    values: list[float]
    spans: list[tuple[datetime, datetime]]


def labelled_series(data_dir: Path, labels_path: Path) -> list[LabelledSeries]:
    """Every series under `data_dir` that the labels file has windows for, in name order."""
    data_dir = Path(data_dir)
    windows = read_windows(labels_path)
    found = []
    for path in sorted(data_dir.rglob("*.csv")):
        spans = windows_for(windows, data_dir, path)
        if spans is None:
            continue
        timestamps, values = read_series(path)
        found.append(LabelledSeries(path.relative_to(data_dir).as_posix(), timestamps, values, spans))
    if not found:
        raise ValueError(f"no series in {data_dir} has windows in {labels_path}")
    return found


def run_benchmark(data_dir: Path, labels_path: Path, out_dir: Path, detector_for) -> BenchResult:
    """Run `detector_for(bucket_seconds) -> callable(values) -> flags` over every labelled series.

    Each series is scanned once, front to back (the detector is causal), with the same settings.
    """
    files: list[FileScore] = []
    window_counts: list[int] = []
    totals = {profile: 0.0 for profile in PROFILES}
    for series in labelled_series(data_dir, labels_path):
        flags = detector_for(series_bucket_seconds(series.timestamps))(series.values)
        write_results(Path(out_dir) / series.name, series.timestamps, series.values, flags)
        detections = [bool(f) for f in flags]
        window_counts.append(len(series.spans))
        for profile in PROFILES:
            scored = score_file(series.timestamps, detections, series.spans, profile, series.name)
            files.append(scored)
            totals[profile] += scored.score
    normalized = {p: normalized_score(totals[p], window_counts, p) for p in PROFILES}
    return BenchResult(files, normalized, window_counts)
