"""The spike detector: turns a series of counts per time bucket into incidents, causally.

For every bucket it compares the recent count (the last `smooth` buckets added up) with a baseline
made only from the buckets before it. The baseline is seasonal: the observations at the same time of
day (give or take `season_halfwidth` buckets) on each of the previous `season_days` days, so the
daily rhythm is expected, not alarming; nothing can alert before half of those buckets exist
(3.5 days with the defaults), whatever the warm-up. Expected = their median; spread = their inter-quartile range, never less than
the Poisson spread sqrt(expected), so low counts and runs of zero do not look like spikes. A bucket
is "hot" when the count is

* `threshold` robust standard deviations above the median (the z score), and
* at least `min_ratio` times the median (a relative jump, so busy series need a real surge), and
* at least `min_count` mentions.

A hot bucket opens an incident; the incident stays open while hot buckets keep coming and ends after
`cooldown` quiet buckets, so one burst is one alert. While it lasts its severity can rise (low ->
medium -> high -> critical, each step a doubling of the z score): that is an escalation. Nothing
alerts during the first `warmup` buckets. Only past and current buckets are ever used, so running it
over history gives the alerts a live run would have given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SEVERITIES = ("low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Position in SEVERITIES (higher is worse); -1 for a name that is not a severity."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass(frozen=True)
class DetectorSettings:
    """Every knob of the detector, in buckets (see the module docstring)."""

    season: int = 288  # buckets per day
    season_days: int = 7
    season_halfwidth: int = 6
    smooth: int = 12
    threshold: float = 5.0
    min_ratio: float = 3.0
    min_count: int = 1
    warmup: int = 288
    cooldown: int = 288


@dataclass
class BucketStats:
    """What the detector saw at every bucket (arrays of equal length)."""

    observed: np.ndarray  # mentions in the last `smooth` buckets
    expected: np.ndarray  # baseline median (nan before there is enough history)
    z: np.ndarray  # robust z score of observed against the baseline
    ratio: np.ndarray  # (observed + smooth) / (expected + smooth)
    hot: np.ndarray  # bool: all the conditions hold


@dataclass
class Incident:
    """One alert's worth of hot buckets. Indices are bucket positions in the series."""

    start: int  # first hot bucket
    end: int  # last hot bucket so far
    peak: int  # bucket with the highest z
    observed: float
    expected: float
    z: float
    severity: str
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (bucket, 'opened'|'escalated', severity)
    active: bool = True  # fewer than `cooldown` quiet buckets since `end` at the series' end


def severity_for(z: float, threshold: float) -> str:
    """low at the threshold, one level up for every doubling of z beyond it."""
    level = int(math.floor(math.log2(max(z, threshold) / threshold)))
    return SEVERITIES[min(level, len(SEVERITIES) - 1)]


def seasonal_past(values: np.ndarray, settings: DetectorSettings, at: np.ndarray,
                  utc_offsets: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Median, 75th and 25th percentile of the same time of day on the previous days, for the buckets
    `at` (nan elsewhere, and where fewer than half of those buckets are in the past).
    `utc_offsets`: seconds east of UTC at every bucket, for a time of day in a local time zone (a day
    that daylight saving shortens or lengthens is then not 24 hours of buckets); None: UTC."""
    days = np.repeat(np.arange(1, settings.season_days + 1), 2 * settings.season_halfwidth + 1)
    shifts = np.tile(np.arange(-settings.season_halfwidth, settings.season_halfwidth + 1), settings.season_days)
    positions = at[:, None] - days[None, :] * settings.season + shifts[None, :]
    if utc_offsets is not None and len(at):
        positions += _local_day_shift(utc_offsets, settings, at, days)
    in_past = (positions >= 0) & (positions < at[:, None])
    samples = np.where(in_past, values[np.clip(positions, 0, max(len(values) - 1, 0))], np.nan)
    enough = in_past.sum(axis=1) >= len(days) / 2
    stats = []
    for q in (50, 75, 25):
        column = np.full(len(values), np.nan)
        if enough.any():
            column[at[enough]] = np.nanpercentile(samples[enough], q, axis=1)
        stats.append(column)
    return stats[0], stats[1], stats[2]


def _local_day_shift(utc_offsets: np.ndarray, settings: DetectorSettings, at: np.ndarray,
                     days: np.ndarray) -> np.ndarray:
    """Buckets to add to "the same bucket `day` days earlier" so that it is the same local time: one
    hour's worth later for the days before a spring-forward change, one earlier before a fall-back."""
    bucket_seconds = 86400.0 / settings.season
    earlier = np.clip(at[:, None] - days[None, :] * settings.season, 0, len(utc_offsets) - 1)
    return np.rint((utc_offsets[at][:, None] - utc_offsets[earlier]) / bucket_seconds).astype(int)


def bucket_stats(counts, settings: DetectorSettings, judged=None, utc_offsets=None) -> BucketStats:
    """Score every bucket that could be hot against the buckets before it (z 0, expected nan elsewhere).
    `judged`: other counts to score against the baseline that `counts` make (default: `counts`);
    `utc_offsets`: see `seasonal_past`."""
    history = windowed_counts(counts, settings)
    observed = history if judged is None else windowed_counts(judged, settings)
    could_be_hot = hot_candidates(observed, settings)
    expected, upper, lower = seasonal_past(history, settings, np.flatnonzero(could_be_hot), utc_offsets)
    return compared_with_baseline(observed, expected, (upper - lower) / 1.349, could_be_hot, settings)


def windowed_counts(counts, settings: DetectorSettings) -> np.ndarray:
    """Mentions in the last `smooth` buckets, at every bucket."""
    counts = np.asarray(counts, dtype=float)
    return np.convolve(counts, np.ones(settings.smooth))[: len(counts)]


def hot_candidates(observed: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """The buckets past the warm-up that hold enough mentions to be hot at all."""
    # the spread is at least 1, so fewer than `threshold` mentions can never be hot: skip those buckets
    could_be_hot = observed >= max(settings.min_count, settings.threshold)
    could_be_hot[: settings.warmup] = False
    return could_be_hot


def compared_with_baseline(observed: np.ndarray, expected: np.ndarray, spread: np.ndarray,
                           could_be_hot: np.ndarray, settings: DetectorSettings) -> BucketStats:
    """z score, ratio and hotness of `observed` against a baseline (expected count and spread, nan
    where there is none); the spread is never taken below the Poisson spread sqrt(expected)."""
    spread = np.maximum(spread, np.sqrt(np.maximum(expected, 1.0)))
    with np.errstate(invalid="ignore"):
        z = (observed - expected) / spread
        ratio = (observed + settings.smooth) / (expected + settings.smooth)
        hot = (z >= settings.threshold) & (ratio >= settings.min_ratio) & could_be_hot
    hot[np.isnan(expected)] = False
    return BucketStats(observed, expected, np.nan_to_num(z), np.nan_to_num(ratio), hot)


def find_incidents(stats: BucketStats, settings: DetectorSettings) -> list[Incident]:
    """Group hot buckets into incidents with a cooldown; record openings and escalations."""
    incidents: list[Incident] = []
    current: Incident | None = None
    for t in range(len(stats.hot)):
        if current is not None and t - current.end > settings.cooldown:
            current.active = False
            current = None
        if not stats.hot[t]:
            continue
        z = float(stats.z[t])
        severity = severity_for(z, settings.threshold)
        if current is None:
            current = Incident(start=t, end=t, peak=t, observed=float(stats.observed[t]),
                               expected=float(stats.expected[t]), z=z, severity=severity,
                               events=[(t, "opened", severity)])
            incidents.append(current)
            continue
        current.end = t
        if z > current.z:
            current.peak, current.z = t, z
            current.observed, current.expected = float(stats.observed[t]), float(stats.expected[t])
        if SEVERITIES.index(severity) > SEVERITIES.index(current.severity):
            current.severity = severity
            current.events.append((t, "escalated", severity))
    if current is not None and len(stats.hot) - 1 - current.end > settings.cooldown:
        current.active = False
    return incidents


def detect(counts, settings: DetectorSettings) -> tuple[BucketStats, list[Incident]]:
    stats = bucket_stats(counts, settings)
    return stats, find_incidents(stats, settings)


def alert_flags(length: int, incidents: list[Incident]) -> np.ndarray:
    """1.0 at every bucket where an alert opens, else 0.0 (an escalation updates the same alert)."""
    flags = np.zeros(length)
    for incident in incidents:
        flags[incident.start] = 1.0
    return flags


def threshold_incidents(counts, window: int, count: int, cooldown: int, severity: str) -> list[Incident]:
    """A simple rule: at least `count` mentions within the last `window` buckets. A fixed count needs
    no history, so it applies from the first bucket, warm-up or not. The rule's severity is where
    it starts: one level up each time the count in the window doubles past the rule's count (2x, 4x,
    8x), as the spike rule's does with each doubling of its z score."""
    counts = np.asarray(counts, dtype=float)
    in_window = np.convolve(counts, np.ones(max(1, window)))[: len(counts)]
    hot = in_window >= count
    stats = BucketStats(in_window, np.full(len(counts), float(count)), in_window / count,
                        in_window / count, hot)
    rule = DetectorSettings(threshold=1.0, warmup=0, cooldown=cooldown)
    incidents = find_incidents(stats, rule)  # severities low, medium ... per doubling of in_window / count
    for incident in incidents:
        _raise_by(incident, SEVERITIES.index(severity))
    return incidents


def _raise_by(incident: Incident, levels: int) -> None:
    """Shift an incident's severities up (capped at critical), dropping steps the cap makes equal."""
    def raised(severity: str) -> str:
        return SEVERITIES[min(SEVERITIES.index(severity) + levels, len(SEVERITIES) - 1)]

    events: list[tuple[int, str, str]] = []
    for bucket, kind, severity in incident.events:
        if not events or raised(severity) != events[-1][2]:
            events.append((bucket, kind, raised(severity)))
    incident.events = events
    incident.severity = raised(incident.severity)
