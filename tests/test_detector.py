"""The spike detector on generated count series: seasonality, low counts, warm-up, cooldown, causality."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from alerts.detector import (
    DetectorSettings, alert_flags, bucket_stats, detect, severity_for, threshold_incidents,
)

HOURLY = DetectorSettings(season=24, season_days=7, season_halfwidth=1, smooth=1, threshold=5.0,
                          min_ratio=3.0, min_count=5, warmup=24 * 7, cooldown=6)


def daily_counts(days: int, peak: float, seed: int = 1) -> np.ndarray:
    """Poisson counts with a strong daily rhythm (quiet nights, busy afternoons)."""
    hours = np.arange(days * 24)
    rate = peak * (0.15 + 0.85 * (1 + np.sin(2 * np.pi * (hours % 24 - 9) / 24)) / 2)
    return np.random.default_rng(seed).poisson(rate).astype(float)


def test_daily_rhythm_alone_raises_nothing():
    counts = daily_counts(days=28, peak=30)
    _stats, incidents = detect(counts, HOURLY)
    assert incidents == []


def test_a_burst_is_one_incident_at_the_burst():
    counts = daily_counts(days=21, peak=30)
    burst_at = 24 * 17 + 3  # 3 am: a quiet hour
    counts[burst_at: burst_at + 3] += [60, 80, 40]
    _stats, incidents = detect(counts, HOURLY)
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident.start == burst_at
    assert incident.end == burst_at + 2
    assert incident.peak == burst_at + 1
    assert incident.observed == counts[burst_at + 1]
    assert incident.expected < 20


def test_low_counts_and_runs_of_zero_need_a_real_jump():
    counts = np.zeros(24 * 14)
    counts[24 * 9 + 5] = 2  # a couple of posts after days of silence: not a spike
    counts[24 * 10 + 7] = 3
    assert detect(counts, HOURLY)[1] == []
    counts[24 * 12 + 4] = 9  # nine at once is
    incidents = detect(counts, HOURLY)[1]
    assert [i.start for i in incidents] == [24 * 12 + 4]


def test_min_count_and_min_ratio_gate_busy_series():
    counts = daily_counts(days=14, peak=400, seed=3)
    hour = 24 * 12 + 15
    counts[hour] *= 1.5  # many more posts than usual in absolute terms, but only 1.5 times the usual
    stats = bucket_stats(counts, HOURLY)
    assert stats.z[hour] > 0
    assert not stats.hot[hour]
    counts[hour] *= 4
    assert bucket_stats(counts, HOURLY).hot[hour]


def test_warmup_and_missing_season_keep_it_quiet():
    counts = daily_counts(days=10, peak=10)
    counts[24 * 2] += 200  # day 2: before the warm-up ends and before half a week of history
    counts[24 * 9 + 2] += 200
    incidents = detect(counts, HOURLY)[1]
    assert [i.start for i in incidents] == [24 * 9 + 2]
    short_warmup = DetectorSettings(**{**HOURLY.__dict__, "warmup": 0})
    stats = bucket_stats(counts, short_warmup)
    assert np.isnan(stats.expected[24 * 2])  # fewer than 3.5 days of same-hour history
    assert not stats.hot[24 * 2]


def test_cooldown_merges_close_bursts_and_separates_far_ones():
    counts = daily_counts(days=21, peak=10, seed=5)
    first = 24 * 15 + 2
    counts[first] += 80
    counts[first + 4] += 80  # 4 quiet hours later: within the 6-hour cooldown
    counts[first + 30] += 80  # a day later: a new incident
    incidents = detect(counts, HOURLY)[1]
    assert [(i.start, i.end) for i in incidents] == [(first, first + 4), (first + 30, first + 30)]
    flags = alert_flags(len(counts), incidents)
    assert list(np.flatnonzero(flags)) == [first, first + 30]


def test_severity_rises_while_the_incident_lasts():
    counts = daily_counts(days=21, peak=10, seed=7)
    start = 24 * 16 + 3
    counts[start: start + 3] += [15, 40, 160]
    incident = detect(counts, HOURLY)[1][0]
    kinds = [kind for _bucket, kind, _severity in incident.events]
    assert kinds[0] == "opened" and "escalated" in kinds
    severities = [severity for *_rest, severity in incident.events]
    assert severities == sorted(severities, key=["low", "medium", "high", "critical"].index)
    assert incident.severity == severities[-1] != severities[0]


def test_severity_steps_double():
    assert severity_for(5.0, 5.0) == "low"
    assert severity_for(9.9, 5.0) == "low"
    assert severity_for(10.0, 5.0) == "medium"
    assert severity_for(20.0, 5.0) == "high"
    assert severity_for(500.0, 5.0) == "critical"


def test_threshold_rule_counts_within_its_window():
    counts = np.zeros(48)
    counts[[10, 11, 12]] = [2, 2, 2]  # 6 within 3 buckets
    counts[30] = 3
    incidents = threshold_incidents(counts, window=3, count=5, cooldown=2, severity="high")
    assert [(i.start, i.severity) for i in incidents] == [(12, "high")]  # 2+2+2 reached at bucket 12
    assert threshold_incidents(counts, window=1, count=5, cooldown=2, severity="low") == []


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=24 * 8, max_value=24 * 20 - 1), seed=st.integers(0, 1000))
def test_causal_past_decisions_never_change_when_data_arrives(cut, seed):
    counts = daily_counts(days=20, peak=12, seed=seed)
    rng = np.random.default_rng(seed)
    for hour in rng.choice(np.arange(24 * 8, 24 * 20), size=4, replace=False):
        counts[hour] += rng.integers(20, 120)
    full = bucket_stats(counts, HOURLY)
    prefix = bucket_stats(counts[: cut + 1], HOURLY)
    np.testing.assert_array_equal(full.hot[: cut + 1], prefix.hot)
    np.testing.assert_allclose(full.z[: cut + 1], prefix.z)

