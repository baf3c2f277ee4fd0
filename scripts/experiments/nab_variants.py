"""Detector variants measured on the NAB Twitter series and kept out of the product.

The README's table "What was measured" (Spike alerts) lists these rows; this script prints their
figures again. Each variant reuses the product's own detector pieces (`alerts/detector.py`) and NAB
scorer (`alerts/nab.py`); only the part being varied is written here. Standard profile throughout.

    .venv/bin/python scripts/experiments/nab_variants.py season        # baseline days x width (2 min)
    .venv/bin/python scripts/experiments/nab_variants.py two-windows   # 234 pairs of windows (3 min)
    .venv/bin/python scripts/experiments/nab_variants.py slow-rise     # + a long window for slow rises (5 min)
    .venv/bin/python scripts/experiments/nab_variants.py ewma          # EWMA baselines (6 min)
    .venv/bin/python scripts/experiments/nab_variants.py adaptive      # a z bar that follows the series' tail (6 min)
    .venv/bin/python scripts/experiments/nab_variants.py thinned       # the grid on quieter copies of the series (8 min)
    .venv/bin/python scripts/experiments/nab_variants.py ratio-prior   # the ratio's added count, in mentions (25 min)
    .venv/bin/python scripts/experiments/nab_variants.py vote          # alert where enough of the 27 settings agree (2 min)
    .venv/bin/python scripts/experiments/nab_variants.py level         # baseline scaled by the recent level (5 min)
    .venv/bin/python scripts/experiments/nab_variants.py level-prior   # the ratio's added count from the series' level (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py weekday       # the baseline scaled by the day of the week (7-13 min)
    .venv/bin/python scripts/experiments/nab_variants.py bars          # z and ratio bars at every volume (1-2 min)
    .venv/bin/python scripts/experiments/nab_variants.py timezone      # days counted in US time (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py short-window  # 5- and 10-minute windows, alone or added (3 min)
    .venv/bin/python scripts/experiments/nab_variants.py novelty       # the hour must beat the recent peak (1-2 min)
    .venv/bin/python scripts/experiments/nab_variants.py scan          # multi-scale quasi-Poisson LLR scan, 5 min-4 h (4 min)
    .venv/bin/python scripts/experiments/nab_variants.py scan-models   # scan: quasi-Poisson / neg. binomial x shortest window (3 min)
    .venv/bin/python scripts/experiments/nab_variants.py scan-nb       # neg.-binomial scan, finer grid, 7 volumes (6 min)
    .venv/bin/python scripts/experiments/nab_variants.py scan-union    # leave-one-out among the 3 scan grids (2 min)
    .venv/bin/python scripts/experiments/nab_variants.py likelihood    # Numenta-style anomaly likelihood of z (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py art           # fuzzy-ART novelty: alone, AND / OR the product (1-2 min)
    .venv/bin/python scripts/experiments/nab_variants.py bocpd         # Bayesian online change points: alone, AND / OR (20 s)
    .venv/bin/python scripts/experiments/nab_variants.py hstrees       # streaming Half-Space Trees: alone, AND / OR, 3 seeds (2-3 min)
    .venv/bin/python scripts/experiments/nab_variants.py holt-winters  # additive Holt-Winters, one hour ahead: alone, AND / OR (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py spectral-residual  # causal Spectral Residual saliency: alone, AND / OR (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py spectral-residual-inside  # SR as a condition on the product's buckets (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py materiality   # alert once the extra mentions reach a share of a day (1 min)
    .venv/bin/python scripts/experiments/nab_variants.py learned-gate  # a logistic model of which hot buckets are in windows (3 min)

`--data` points at the shared data folder (default: $MENTIONWATCH_SHARED_DATA, else ../shared/data
beside the repository).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.special import gammaln

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from alerts.detector import (BucketStats, DetectorSettings, alert_flags, bucket_stats,  # noqa: E402
                             compared_with_baseline, detect, find_incidents, hot_candidates, seasonal_past,
                             windowed_counts)
from alerts.nab import labelled_series, series_bucket_seconds, score_file  # noqa: E402
from alerts.nab_grid import Cell, cell_settings, corpus_score, grid_cells, leave_one_out  # noqa: E402
from alerts.nab_grid import kept_cell as product_cell  # noqa: E402

SERIES = []  # the labelled series, loaded once per process (see _load)


def kept_cell() -> Cell:
    """The default the README's rows were measured against: 1-hour window, z 5, ratio 3. The product
    has used ratio 2.5 since 2026-12-06 (see `bars`); the rows keep their reference so that this
    script prints their figures as written."""
    return Cell(3600.0, 5.0, 3.0)


def _load(data_dir: Path) -> None:
    SERIES[:] = labelled_series(data_dir / "nab" / "realTweets", data_dir / "nab" / "labels" / "realTweets_windows.json")


def _window_counts() -> dict[str, int]:
    return {one.name: len(one.spans) for one in SERIES}


def _raw_score(one, flags) -> float:
    return score_file(one.timestamps, [bool(f) for f in flags], one.spans, "standard", one.name).score


def _in_parallel(function, jobs, data_dir: Path):
    with ProcessPoolExecutor(os.cpu_count(), initializer=_load, initargs=(data_dir,)) as pool:
        return list(pool.map(function, jobs))


# --- season: how many previous days, and how wide a slice of each --------------------------------

def _season_scores(days_and_halfwidth):
    days, halfwidth = days_and_halfwidth
    scores = {}
    for one in SERIES:
        settings = dataclasses.replace(cell_settings(kept_cell(), series_bucket_seconds(one.timestamps)),
                                       season_days=days, season_halfwidth=halfwidth)
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), detect(one.values, settings)[1]))
    return scores


def season(data_dir: Path) -> None:
    variants = [(days, halfwidth) for days in (5, 7, 10, 14) for halfwidth in (3, 6, 12)]
    for (days, halfwidth), scores in zip(variants, _in_parallel(_season_scores, variants, data_dir)):
        print(f"{days} days, same time of day +-{halfwidth * 5} min: {corpus_score(scores, _window_counts()):.1f}")


# --- two-windows: a short and a long window at once, an alert from either ------------------------

def _cell_stats(cell: Cell):
    return [detect(one.values, cell_settings(cell, series_bucket_seconds(one.timestamps)))[0] for one in SERIES]


def _either_window_scores(combo, stats_of) -> dict[str, float]:
    scores = {}
    for i, one in enumerate(SERIES):
        stats = [stats_of[cell][i] for cell in combo]
        merged = BucketStats(stats[0].observed, stats[0].expected, np.maximum.reduce([s.z for s in stats]),
                             stats[0].ratio, np.logical_or.reduce([s.hot for s in stats]))
        settings = cell_settings(combo[0], series_bucket_seconds(one.timestamps))
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), find_incidents(merged, settings)))
    return scores


def _label(combo) -> str:
    return " + ".join(cell.label for cell in combo)


def _combination_scores(combinations, data_dir: Path) -> dict:
    """Raw scores per series of each combination of windows (an alert from any of them); the
    bucket statistics of every distinct window are computed once, on all cores."""
    cells = sorted({cell for combo in combinations for cell in combo})
    stats_of = dict(zip(cells, _in_parallel(_cell_stats, cells, data_dir)))
    _load(data_dir)
    return {combo: _either_window_scores(combo, stats_of) for combo in combinations}


def two_windows(data_dir: Path) -> None:
    short = [Cell(1800.0, z, r) for z in (5.0, 6.0) for r in (3.0, 4.0)]
    short += [Cell(3600.0, z, r) for z in (4.0, 5.0, 6.0) for r in (2.5, 3.0, 4.0)]
    long_ = [Cell(s, z, r) for s in (7200.0, 14400.0) for z in (4.0, 5.0, 6.0) for r in (2.0, 2.5, 3.0)]
    singles = [(cell,) for cell in grid_cells()]
    pairs = [(a, b) for a in short for b in long_]
    results = _combination_scores(singles + pairs, data_dir)
    counts = _window_counts()
    print(f"{len(pairs)} pairs; the best ten:")
    for combo in sorted(pairs, key=lambda c: -corpus_score(results[c], counts))[:10]:
        print(f"  {corpus_score(results[combo], counts):.1f}  {_label(combo)}")
    print(f"kept setting alone: {corpus_score(results[(kept_cell(),)], counts):.1f}")
    for name, pool in (("singles", singles), ("pairs", pairs), ("singles and pairs", singles + pairs)):
        _print_leave_one_out(name, {combo: results[combo] for combo in pool}, _label)


def slow_rise(data_dir: Path) -> None:
    """The kept 1-hour setting plus a long window (3-24 h against the same hours of the previous
    7 days) with a low ratio bar for slow rises; an alert from either."""
    long_ = [Cell(hours * 3600.0, z, r) for hours in (3, 6, 12, 24) for z in (3.0, 4.0, 5.0)
             for r in (1.4, 1.5, 1.6, 1.7, 1.8, 2.0)]
    singles = [(cell,) for cell in grid_cells()]
    pairs = [(kept_cell(), cell) for cell in long_]
    results = _combination_scores(singles + pairs, data_dir)
    counts = _window_counts()
    print(f"kept setting alone: {corpus_score(results[(kept_cell(),)], counts):.1f}")
    for ratio in sorted({cell.ratio for cell in long_}):
        scores = [corpus_score(results[(kept_cell(), cell)], counts) for cell in long_ if cell.ratio == ratio]
        print(f"  long window with ratio bar {ratio:g}: {min(scores):.1f}-{max(scores):.1f} over 3-24 h and z 3-5")
    best = max(pairs, key=lambda c: corpus_score(results[c], counts))
    print(f"best pair: {corpus_score(results[best], counts):.1f}  {_label(best)}")
    for name, pool in (("kept + long window", pairs), ("the 27-setting grid and kept + long window", singles + pairs)):
        _print_leave_one_out(name, {combo: results[combo] for combo in pool}, _label)


def _print_leave_one_out(name: str, results: dict, label) -> None:
    folds = leave_one_out(results)
    held_out = corpus_score({fold.held_out: fold.held_out_raw for fold in folds}, _window_counts())
    chosen = sorted({label(choice) for fold in folds for choice in fold.chosen})
    print(f"leave-one-series-out among {name}: held-out {held_out:.1f}; chosen: {'; '.join(chosen)}")


# --- ewma: exponentially weighted baselines instead of the seasonal median ------------------------

HALFLIVES_HOURS = (36, 48, 72, 120, 168)
EWMA_Z = (3.5, 4.0, 4.5, 5.0, 5.5)
EWMA_RATIO = (2.5, 3.0, 3.5)


def ewma_mean_and_spread(observed: np.ndarray, halflife: float, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponentially weighted mean and standard deviation of `observed`, each bucket's value built
    only from buckets at least `lag` before it (so the current window never feeds its own baseline)."""
    alpha = 1 - 0.5 ** (1 / halflife)
    mean, spread = np.full(len(observed), np.nan), np.full(len(observed), np.nan)
    level, variance = observed[0] if len(observed) else 0.0, 0.0
    for t in range(len(observed)):
        if t - lag >= 0:
            deviation = observed[t - lag] - level
            level += alpha * deviation
            variance = (1 - alpha) * (variance + alpha * deviation * deviation)
        mean[t], spread[t] = level, np.sqrt(variance)
    return mean, spread


def _ewma_scores(job) -> dict[str, float]:
    family, halflife_hours, z_bar, ratio_bar = job
    scores = {}
    for one in SERIES:
        settings = dataclasses.replace(cell_settings(kept_cell(), series_bucket_seconds(one.timestamps)),
                                       threshold=z_bar, min_ratio=ratio_bar)
        observed = windowed_counts(one.values, settings)
        candidates = hot_candidates(observed, settings)
        mean, ew_spread = ewma_mean_and_spread(observed, halflife_hours * settings.season / 24, settings.smooth)
        if family == "ewma":
            expected, spread = mean, ew_spread
        else:  # "seasonal+ewma spread": the product's seasonal median, its spread never below the EW one
            expected, upper, lower = seasonal_past(observed, settings, np.flatnonzero(candidates))
            spread = np.maximum((upper - lower) / 1.349, ew_spread)
        stats = compared_with_baseline(observed, expected, spread, candidates, settings)
        scores[one.name] = _raw_score(one, alert_flags(len(observed), find_incidents(stats, settings)))
    return scores


def _seasonal_scores(job) -> dict[str, float]:
    _family, _halflife, z_bar, ratio_bar = job
    cell = Cell(3600.0, z_bar, ratio_bar)
    scores = {}
    for one in SERIES:
        settings = cell_settings(cell, series_bucket_seconds(one.timestamps))
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), detect(one.values, settings)[1]))
    return scores


def _family_scores(job):
    return _seasonal_scores(job) if job[0] == "seasonal" else _ewma_scores(job)


def ewma(data_dir: Path) -> None:
    jobs = [("seasonal", 0, z, r) for z in EWMA_Z for r in EWMA_RATIO]
    jobs += [(family, h, z, r) for family in ("ewma", "seasonal+ewma spread")
             for h in HALFLIVES_HOURS for z in EWMA_Z for r in EWMA_RATIO]
    results = dict(zip(jobs, _in_parallel(_family_scores, jobs, data_dir)))
    _load(data_dir)
    counts = _window_counts()
    for family in ("seasonal", "ewma", "seasonal+ewma spread"):
        family_results = {job: scores for job, scores in results.items() if job[0] == family}
        totals = {job: corpus_score(scores, counts) for job, scores in family_results.items()}
        best = max(totals, key=totals.get)
        print(f"{family} (1-hour window): {len(totals)} settings, best {totals[best]:.1f} at {_ewma_label(best)}, "
              f"median {np.median(list(totals.values())):.1f}")
        if family != "seasonal":
            for halflife in HALFLIVES_HOURS:
                row = " ".join(f"{totals[(family, halflife, z, r)]:5.1f}" for z in EWMA_Z for r in EWMA_RATIO)
                print(f"  half-life {halflife:3d} h, z {EWMA_Z} x ratio {EWMA_RATIO}: {row}")
        _print_leave_one_out(family, family_results, _ewma_label)


def _ewma_label(job) -> str:
    family, halflife, z_bar, ratio_bar = job
    prefix = "" if family == "seasonal" else f"half-life {halflife} h, "
    return f"{prefix}z {z_bar:g}, ratio {ratio_bar:g}"


# --- adaptive: the z bar rises with the series' own recent tail of z scores ----------------------

ADAPTIVE_QUANTILES = (0.99, 0.995, 0.998)
ADAPTIVE_FACTORS = (0.8, 1.0, 1.2)
ADAPTIVE_DAYS = (7, 14, 28)
ADAPTIVE_RULES = ("plain", "cap", "exclude")


def adaptive_hot(stats: BucketStats, settings: DetectorSettings, quantile: float, factor: float, days: int,
                 rule: str) -> np.ndarray:
    """The buckets hot under a bar that is the larger of the fixed z bar and `factor` times the
    `quantile` of the series' z scores over the previous `days` (recomputed every hour, from buckets
    at least one window old). rule "plain": every past z counts; "cap": the bar never exceeds twice
    the fixed bar; "exclude": the z scores of buckets that alerted (and a window either side) do not
    count, so a crisis does not raise the bar for the next one."""
    z, lag, span = stats.z, settings.smooth, days * settings.season
    step = max(1, settings.season // 24)
    excluded = np.zeros(len(z), dtype=bool)
    hot = np.zeros(len(z), dtype=bool)
    for start in range(0, len(z), step):
        first = max(0, start - lag - span)
        past = z[first: max(0, start - lag)]
        if rule == "exclude":
            past = past[~excluded[first: first + len(past)]]
        bar = settings.threshold
        if len(past) >= span // 2:
            bar = max(bar, factor * float(np.quantile(past, quantile)))
        if rule == "cap":
            bar = min(bar, 2 * settings.threshold)
        block = slice(start, start + step)
        hot[block] = stats.hot[block] & (z[block] >= bar)
        for t in np.flatnonzero(hot[block]) + start:
            excluded[max(0, t - lag): t + lag + 1] = True
    return hot


def _adaptive_scores(job) -> dict[str, float]:
    quantile, factor, days, rule = job
    scores = {}
    for one in SERIES:
        settings = cell_settings(kept_cell(), series_bucket_seconds(one.timestamps))
        stats = bucket_stats(one.values, settings)
        if rule != "fixed":
            stats.hot = adaptive_hot(stats, settings, quantile, factor, days, rule)
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), find_incidents(stats, settings)))
    return scores


def adaptive(data_dir: Path) -> None:
    """The kept setting (1-hour window, z 5, ratio 3); the z bar is the larger of the fixed bar and a multiple of a high
    quantile of the series' own z scores over the previous days, so a series that often bursts needs
    a bigger burst to alert (three rules, see `adaptive_hot`)."""
    fixed = (0.0, 0.0, 0, "fixed")
    jobs = [fixed] + [(q, f, d, rule) for rule in ADAPTIVE_RULES for q in ADAPTIVE_QUANTILES
                      for f in ADAPTIVE_FACTORS for d in ADAPTIVE_DAYS]
    results = dict(zip(jobs, _in_parallel(_adaptive_scores, jobs, data_dir)))
    _load(data_dir)
    counts = _window_counts()
    totals = {job: corpus_score(scores, counts) for job, scores in results.items()}
    print(f"fixed bar only: {totals[fixed]:.1f}  {_adaptive_label(fixed)}")
    for rule in ADAPTIVE_RULES:
        family = {job: scores for job, scores in results.items() if job[3] == rule}
        print(f"rule {rule}: {len(family)} settings, median {np.median([totals[j] for j in family]):.1f}, "
              f"best {max(totals[j] for j in family):.1f}; factor {ADAPTIVE_FACTORS} in each row:")
        for days in ADAPTIVE_DAYS:
            for quantile in ADAPTIVE_QUANTILES:
                row = " ".join(f"{totals[(quantile, factor, days, rule)]:5.1f}" for factor in ADAPTIVE_FACTORS)
                print(f"  {days} days, q{quantile * 100:g}: {row}")
        _print_leave_one_out(f"the fixed bar and rule {rule}", {fixed: results[fixed], **family}, _adaptive_label)
    _print_leave_one_out("the fixed bar and every rule", results, _adaptive_label)


def _adaptive_label(job) -> str:
    quantile, factor, days, rule = job
    kept = kept_cell()
    bar = f"{kept.z:g}"
    if rule != "fixed":
        bar = f"max({bar}, {factor:g} x q{quantile * 100:g} of {days} days, {rule})"
    return f"z {bar}, ratio {kept.ratio:g}"


# --- thinned: the same series with fewer mentions, like a less talked-about brand ----------------

THINNING_FRACTIONS = (1.0, 0.5, 0.25, 0.1)
THINNING_SEEDS = (1, 2)


def thinned_values(values, fraction: float, seed: int, series_index: int) -> np.ndarray:
    """Each mention kept with probability `fraction` (binomial thinning): the same events at a
    lower volume, so the labelled windows still hold, with the relatively larger noise of a quieter
    series."""
    counts = np.asarray(values, dtype=np.int64)
    if fraction >= 1.0:
        return counts.astype(float)
    rng = np.random.default_rng([seed, series_index])
    return rng.binomial(counts, fraction).astype(float)


def _thinning_draws() -> list[tuple[float, int]]:
    """(fraction, seed) of every thinned copy; the full series is drawn once."""
    return [(fraction, seed) for fraction in THINNING_FRACTIONS
            for seed in (THINNING_SEEDS if fraction < 1.0 else THINNING_SEEDS[:1])]


def thinned(data_dir: Path) -> None:
    """The 27-setting grid of `bench nab-grid` on copies of the five series that keep only a fraction
    of their mentions (half, a quarter, a tenth; two random draws each): does the kept setting hold
    up on quieter series, and does leave-one-series-out still choose the same cell?"""
    draws = _thinning_draws()
    jobs = [(fraction, seed, None, cell) for fraction, seed in draws for cell in grid_cells()]
    results = dict(zip(jobs, _in_parallel(_prior_scores, jobs, data_dir)))
    _load(data_dir)
    counts = _window_counts()
    lone_cell = Cell(7200.0, 4.0, 2.5)  # the cell every leave-one-series-out fold picks at full volume
    for fraction, seed in draws:
        grid = {cell: results[(fraction, seed, None, cell)] for cell in grid_cells()}
        totals = {cell: corpus_score(scores, counts) for cell, scores in grid.items()}
        best = max(totals, key=totals.get)
        print(f"{fraction:g} of the mentions (draw {seed}): kept {totals[kept_cell()]:.1f}, "
              f"{lone_cell.label} {totals[lone_cell]:.1f}, grid median {np.median(list(totals.values())):.1f}, "
              f"best {totals[best]:.1f} ({best.label})")
        _print_leave_one_out("the 27 settings", grid, lambda cell: cell.label)


# --- ratio-prior: the count added to both sides of the ratio, in mentions instead of buckets -----

RATIO_PRIORS = (None, 1.0, 3.0)  # None: one mention per bucket of the window (the product's rule)
SCANNED_PRIORS = (1.0, 3.0, 6.0, 9.0, 12.0, 18.0, 24.0, 36.0)  # 12 = one per 5-minute bucket of an hour


def hot_with_ratio_prior(values, settings: DetectorSettings, prior: float | None) -> BucketStats:
    """The product's bucket statistics, with the ratio taken as (observed + prior) / (expected + prior)
    when a prior (in mentions) is given, instead of adding one mention per bucket of the window."""
    stats = bucket_stats(values, settings)
    if prior is None:
        return stats
    candidates = hot_candidates(stats.observed, settings)
    with np.errstate(invalid="ignore"):
        ratio = (stats.observed + prior) / (stats.expected + prior)
    stats.ratio = np.nan_to_num(ratio)
    stats.hot = (stats.z >= settings.threshold) & (stats.ratio >= settings.min_ratio) & candidates
    stats.hot[np.isnan(stats.expected)] = False
    return stats


def _prior_scores(job) -> dict[str, float]:
    fraction, seed, prior, cell = job
    scores = {}
    for index, one in enumerate(SERIES):
        values = thinned_values(one.values, fraction, seed, index)
        settings = cell_settings(cell, series_bucket_seconds(one.timestamps))
        stats = hot_with_ratio_prior(values, settings, prior)
        scores[one.name] = _raw_score(one, alert_flags(len(values), find_incidents(stats, settings)))
    return scores


def _prior_label(prior: float | None) -> str:
    return "one per bucket" if prior is None else f"{prior:g}"


def ratio_prior(data_dir: Path) -> None:
    """The ratio bar compares (observed + c) with (expected + c). The product adds one mention per
    bucket of the window: 1 with its 1-hour buckets, but 12 on NAB's 5-minute steps, which asks a
    quiet series for at least 24 more mentions in an hour than 3x normal. Here c is 1 or 3 mentions
    whatever the bucket, on the full series and on the thinned copies of `thinned`."""
    draws = _thinning_draws()
    scan = [(1.0, THINNING_SEEDS[0], prior, kept_cell()) for prior in SCANNED_PRIORS]
    jobs = [(fraction, seed, prior, cell) for fraction, seed in draws for prior in RATIO_PRIORS
            for cell in grid_cells()]
    results = dict(zip(scan + jobs, _in_parallel(_prior_scores, scan + jobs, data_dir)))
    _load(data_dir)
    counts = _window_counts()
    print("kept setting on the full series, by added count (mentions):")
    for job in scan:
        per_series = " ".join(f"{name.split('_')[-1].removesuffix('.csv')} {raw:.2f}"
                              for name, raw in results[job].items())
        print(f"  {job[2]:g}: {corpus_score(results[job], counts):.1f}  (raw: {per_series})")
    for fraction, seed in draws:
        print(f"{fraction:g} of the mentions (draw {seed}):")
        for prior in RATIO_PRIORS:
            grid = {cell: results[(fraction, seed, prior, cell)] for cell in grid_cells()}
            totals = {cell: corpus_score(scores, counts) for cell, scores in grid.items()}
            best = max(totals, key=totals.get)
            folds = leave_one_out(grid)
            held_out = corpus_score({fold.held_out: fold.held_out_raw for fold in folds}, counts)
            print(f"  added count {_prior_label(prior)}: kept {totals[kept_cell()]:.1f}, "
                  f"grid median {np.median(list(totals.values())):.1f}, best {totals[best]:.1f} ({best.label}), "
                  f"leave-one-series-out {held_out:.1f}")


# --- vote: alert where a share of the 27 grid settings is hot at once --------------------------

VOTE_SHARES = tuple(round(0.04 * k, 2) for k in range(1, 20))


def _grid_stats(index: int) -> list[BucketStats]:
    one = SERIES[index]
    return [detect(one.values, cell_settings(cell, series_bucket_seconds(one.timestamps)))[0] for cell in grid_cells()]


def _vote_scores(stats_by_series, share: float) -> dict[str, float]:
    scores = {}
    for one, stats in zip(SERIES, stats_by_series):
        agreeing = np.mean([cell_stats.hot for cell_stats in stats], axis=0)
        kept = stats[grid_cells().index(kept_cell())]
        strongest = np.maximum.reduce([cell_stats.z for cell_stats in stats])
        voted = BucketStats(kept.observed, kept.expected, strongest, kept.ratio, agreeing >= share - 1e-9)
        settings = cell_settings(kept_cell(), series_bucket_seconds(one.timestamps))
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), find_incidents(voted, settings)))
    return scores


def vote(data_dir: Path) -> None:
    """An alert opens where at least a given share of the 27 settings of `bench nab-grid` is hot:
    a vote should not hang on one narrow cell, so it might carry over better."""
    stats_by_series = _in_parallel(_grid_stats, range(len(SERIES)), data_dir)
    results = {share: _vote_scores(stats_by_series, share) for share in VOTE_SHARES}
    counts = _window_counts()
    for share, scores in results.items():
        print(f"share of the settings hot >= {share:.2f}: {corpus_score(scores, counts):.1f}")
    _print_leave_one_out("the shares", results, lambda share: f"{share:.2f}")


# --- level: the seasonal baseline scaled by how busy the last hours were -------------------------

LEVEL_HOURS = (3, 6, 12, 24)
LEVEL_CLIPS = ((1.0, 1.5), (1.0, 2.0), (0.67, 1.5), (0.5, 2.0))
LEVEL_Z = (4.0, 5.0)
LEVEL_RATIO = (2.5, 3.0)


def recent_level(observed: np.ndarray, expected: np.ndarray, settings: DetectorSettings, hours: int,
                 clip: tuple[float, float]) -> np.ndarray:
    """(mentions) / (seasonal median) over the `hours` windows that end one window before each
    bucket, with one mention per bucket added to both, clipped to `clip`; 1 where there is no history."""
    observed_sum, expected_sum = np.zeros(len(observed)), np.zeros(len(observed))
    positions = np.arange(len(observed))
    for hour in range(hours):
        past = positions - settings.smooth * (hour + 1)
        valid = past >= 0
        observed_sum[valid] += observed[past[valid]]
        expected_sum[valid] += np.nan_to_num(expected[past[valid]])
    prior = hours * settings.smooth
    return np.clip((observed_sum + prior) / (expected_sum + prior), *clip)


def _level_scores(job) -> dict[str, float]:
    hours, clip, z_bar, ratio_bar = job
    scores = {}
    for one in SERIES:
        settings = cell_settings(Cell(3600.0, z_bar, ratio_bar), series_bucket_seconds(one.timestamps))
        observed = windowed_counts(one.values, settings)
        expected, upper, lower = seasonal_past(observed, settings, np.arange(len(observed)))
        level = recent_level(observed, expected, settings, hours, clip)
        stats = compared_with_baseline(observed, expected * level, (upper - lower) / 1.349 * level,
                                       hot_candidates(observed, settings), settings)
        scores[one.name] = _raw_score(one, alert_flags(len(observed), find_incidents(stats, settings)))
    return scores


def level(data_dir: Path) -> None:
    """Expected (and spread) = the seasonal median times the ratio of mentions to that median over
    the last 3-24 hours, so a day that is busy all along needs a bigger jump (a trend-following
    baseline; 1-hour window)."""
    jobs = [(hours, clip, z, r) for hours in LEVEL_HOURS for clip in LEVEL_CLIPS for z in LEVEL_Z for r in LEVEL_RATIO]
    results = dict(zip(jobs, _in_parallel(_level_scores, jobs, data_dir)))
    counts = _window_counts()
    totals = {job: corpus_score(scores, counts) for job, scores in results.items()}
    print(f"{len(jobs)} settings: best {max(totals.values()):.1f}, median {np.median(list(totals.values())):.1f}")
    for job in sorted(totals, key=totals.get, reverse=True)[:5]:
        print(f"  {totals[job]:.1f}  {_level_label(job)}")
    _print_leave_one_out("the level settings", results, _level_label)


def _level_label(job) -> str:
    hours, (low, high), z_bar, ratio_bar = job
    return f"last {hours} h, clipped {low:g}-{high:g}, z {z_bar:g}, ratio {ratio_bar:g}"


# --- level-prior: the ratio's added count from the series' own typical volume --------------------

LEVEL_PRIOR_SHARES = (0.0, 0.2, 0.35, 0.5, 1.0)  # 0: one mention per bucket of the window only
LEVEL_PRIOR_Z = (4.0, 5.0, 6.0)
LEVEL_PRIOR_RATIO = (2.0, 2.5, 3.0)


def typical_level(observed: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """The median of the windowed counts over the previous 7 days (taken once an hour, from whole
    windows before the hour), at every bucket; nan until a day has passed."""
    level = np.full(len(observed), np.nan)
    for start in range(settings.season, len(observed), settings.smooth):
        past = observed[max(0, start - 7 * settings.season):start:settings.smooth]
        level[start:start + settings.smooth] = np.median(past)
    return level


def _level_prior_draw(draw) -> dict:
    """Raw scores per series of every setting, on one thinned copy of the five series."""
    fraction, seed = draw
    results: dict = {}
    for index, one in enumerate(SERIES):
        settings = cell_settings(kept_cell(), series_bucket_seconds(one.timestamps))
        observed = windowed_counts(thinned_values(one.values, fraction, seed, index), settings)
        expected, upper, lower = seasonal_past(observed, settings, np.arange(len(observed)))
        spread = np.maximum((upper - lower) / 1.349, np.sqrt(np.maximum(expected, 1.0)))
        level = typical_level(observed, settings)
        for share in LEVEL_PRIOR_SHARES:
            added = np.maximum(share * np.nan_to_num(level), settings.smooth)
            with np.errstate(invalid="ignore"):
                z = np.nan_to_num((observed - expected) / spread)
                ratio = np.nan_to_num((observed + added) / (expected + added))
            for z_bar in LEVEL_PRIOR_Z:
                for ratio_bar in LEVEL_PRIOR_RATIO:
                    tuned = dataclasses.replace(settings, threshold=z_bar, min_ratio=ratio_bar)
                    hot = (z >= z_bar) & (ratio >= ratio_bar) & hot_candidates(observed, tuned) & ~np.isnan(expected)
                    stats = BucketStats(observed, expected, z, ratio, hot)
                    flags = alert_flags(len(observed), find_incidents(stats, tuned))
                    results.setdefault((share, z_bar, ratio_bar), {})[one.name] = _raw_score(one, flags)
    return results


def level_prior(data_dir: Path) -> None:
    """The ratio bar compares (observed + c) with (expected + c), c one mention per bucket of the
    window (12 an hour on NAB's steps). Here c is at least that, and at least a share of the series'
    typical hourly volume, so a busy series needs a surge that counts against its whole level, not
    only against a quiet hour's. Share 0 is the seasonal detector itself at the same bars: what the
    bars alone change. On the full series and the thinned copies of `thinned`."""
    draws = _thinning_draws()
    counts = _window_counts()
    by_draw = _in_parallel(_level_prior_draw, draws, data_dir)
    for (fraction, seed), results in zip(draws, by_draw):
        totals = {job: corpus_score(scores, counts) for job, scores in results.items()}
        best = max(totals, key=totals.get)
        shown = [(0.0, 5.0, 3.0), (0.0, 5.0, 2.5), (0.35, 5.0, 2.5), (0.35, 4.0, 2.5)]
        print(f"{fraction:g} of the mentions (draw {seed}): " + ", ".join(
            f"{_level_prior_label(job)} {totals[job]:.1f}" for job in shown)
            + f"; best {totals[best]:.1f} ({_level_prior_label(best)})")
        _print_leave_one_out("the level-prior settings", results, _level_prior_label)
    _print_chosen_at_every_volume(draws, by_draw)


def _print_chosen_at_every_volume(draws, by_draw) -> None:
    """Leave-one-series-out where the setting (of the seasonal detector's bars, share 0) is chosen on
    the other four series at every volume at once, then scored on the held-out series at each."""
    bars = [job for job in by_draw[0] if job[0] == 0.0]
    names = [one.name for one in SERIES]
    chosen = {}
    for held_out in names:
        on_others = {job: sum(results[job][name] for results in by_draw for name in names if name != held_out)
                     for job in bars}
        chosen[held_out] = max(on_others, key=on_others.get)
    print("chosen on four series at every volume: " + "; ".join(
        f"without {name.split('_')[-1].removesuffix('.csv')}: {_level_prior_label(job)}"
        for name, job in chosen.items()))
    for (fraction, seed), results in zip(draws, by_draw):
        held = {name: results[chosen[name]][name] for name in names}
        print(f"  held out, {fraction:g} of the mentions (draw {seed}): {corpus_score(held, _window_counts()):.1f}")


def _level_prior_label(job) -> str:
    share, z_bar, ratio_bar = job
    prior = "per bucket" if share == 0 else f"{share:g} x level"
    return f"added {prior}, z {z_bar:g}, ratio {ratio_bar:g}"


# --- weekday: the baseline scaled by the day of the week ------------------------------------------

WEEKDAY_WEEKS = (1, 2, 3)
WEEKDAY_CLIPS = ((0.5, 1.0), (0.5, 1.5), (0.33, 2.0))
WEEKDAY_Z = (4.0, 5.0)
WEEKDAY_RATIO = (2.5, 3.0)


def weekday_factor(values, timestamps, weeks: int, clip: tuple[float, float]) -> np.ndarray:
    """For every bucket, how busy its day of the week is: the mean daily total of the same weekday
    over the previous `weeks` weeks (those there are) over the median daily total of the previous
    7 days, clipped to `clip`; 1 until a whole week has passed. Whole UTC days before the bucket's
    day only, so it is causal."""
    days = np.array([moment.toordinal() for moment in timestamps])
    first = days[0]
    totals = np.bincount(days - first, weights=np.asarray(values, dtype=float))
    factor_of_day = np.ones(len(totals))
    for day in range(8, len(totals)):  # day 0 may be partial: a week of whole days from day 1
        same_weekday = [totals[day - 7 * k] for k in range(1, weeks + 1) if day - 7 * k >= 1]
        typical = np.median(totals[day - 7:day])
        if typical > 0:
            factor_of_day[day] = np.clip(np.mean(same_weekday) / typical, *clip)
    return factor_of_day[days - first]


def _weekday_scores(job) -> dict[str, float]:
    weeks, clip, z_bar, ratio_bar = job
    scores = {}
    for one in SERIES:
        settings = cell_settings(Cell(3600.0, z_bar, ratio_bar), series_bucket_seconds(one.timestamps))
        observed = windowed_counts(one.values, settings)
        expected, upper, lower = seasonal_past(observed, settings, np.arange(len(observed)))
        factor = weekday_factor(one.values, one.timestamps, weeks, clip)
        stats = compared_with_baseline(observed, expected * factor, (upper - lower) / 1.349 * factor,
                                       hot_candidates(observed, settings), settings)
        scores[one.name] = _raw_score(one, alert_flags(len(observed), find_incidents(stats, settings)))
    return scores


def weekday(data_dir: Path) -> None:
    """The seasonal median (and its spread) times a day-of-week factor, so a quiet Sunday expects
    fewer mentions than the week's median and a busy Monday more (1-hour window). Clip (1, 1) is the
    seasonal detector itself at the same bars."""
    clips = WEEKDAY_CLIPS + ((1.0, 1.0),)
    jobs = [(weeks, clip, z, r) for weeks in WEEKDAY_WEEKS for clip in clips for z in WEEKDAY_Z
            for r in WEEKDAY_RATIO if clip != (1.0, 1.0) or weeks == 1]
    results = dict(zip(jobs, _in_parallel(_weekday_scores, jobs, data_dir)))
    counts = _window_counts()
    totals = {job: corpus_score(scores, counts) for job, scores in results.items()}
    print(f"{len(jobs)} settings: best {max(totals.values()):.1f}, median {np.median(list(totals.values())):.1f}")
    for job in sorted(totals, key=totals.get, reverse=True):
        print(f"  {totals[job]:.1f}  {_weekday_label(job)}")
    _print_leave_one_out("the weekday settings", results, _weekday_label)


def _weekday_label(job) -> str:
    weeks, (low, high), z_bar, ratio_bar = job
    if (low, high) == (1.0, 1.0):
        return f"no weekday factor, z {z_bar:g}, ratio {ratio_bar:g}"
    return f"{weeks} week(s) of weekdays, clipped {low:g}-{high:g}, z {z_bar:g}, ratio {ratio_bar:g}"


# --- bars: the z and ratio bars of the 1-hour window, at every volume -----------------------------

BARS_Z = (3.5, 4.0, 4.5, 5.0)
BARS_RATIO = (2.0, 2.25, 2.5, 2.75, 3.0)


def _bars_draw(draw) -> dict:
    """Raw scores per series of every (z bar, ratio bar) of the 1-hour seasonal detector, on one
    thinned copy of the five series (fraction 1: the series themselves)."""
    fraction, seed = draw
    results: dict = {}
    for index, one in enumerate(SERIES):
        settings = cell_settings(Cell(3600.0, BARS_Z[0], BARS_RATIO[0]), series_bucket_seconds(one.timestamps))
        flags_at = bars_flags(thinned_values(one.values, fraction, seed, index), settings)
        for z_bar in BARS_Z:
            for ratio_bar in BARS_RATIO:
                results.setdefault((z_bar, ratio_bar), {})[one.name] = _raw_score(one, flags_at(z_bar, ratio_bar))
    return results


def bars_flags(values, settings: DetectorSettings):
    """A function of (z bar, ratio bar) giving the alert flags of the seasonal detector, whose
    baseline is computed once for every pair."""
    observed = windowed_counts(values, settings)
    expected, upper, lower = seasonal_past(observed, settings, np.arange(len(observed)))

    def flags(z_bar: float, ratio_bar: float) -> np.ndarray:
        tuned = dataclasses.replace(settings, threshold=z_bar, min_ratio=ratio_bar)
        stats = compared_with_baseline(observed, expected, (upper - lower) / 1.349,
                                       hot_candidates(observed, tuned), tuned)
        return alert_flags(len(observed), find_incidents(stats, tuned))
    return flags


def bars(data_dir: Path) -> None:
    """Which z and ratio bars hold up when the volume is not these five series': every pair on the
    full series and on the thinned copies of `thinned`, their mean over the copies, and the pair
    chosen leave-one-series-out on the full series alone and on every volume at once."""
    draws = _thinning_draws()
    by_draw = _in_parallel(_bars_draw, draws, data_dir)
    counts = _window_counts()
    print("z / ratio   " + "  ".join(f"{fraction:g} ({seed})" for fraction, seed in draws) + "   mean")
    for job in by_draw[0]:
        totals = [corpus_score(results[job], counts) for results in by_draw]
        print(f"{job[0]:g} / {job[1]:<5g}  " + "  ".join(f"{total:7.1f}" for total in totals)
              + f"   {np.mean(totals):.1f}")
    _print_leave_one_out("the bars, full series", by_draw[0], _bars_label)
    names = [one.name for one in SERIES]
    chosen = {}
    for held_out in names:
        on_others = {job: sum(results[job][name] for results in by_draw for name in names if name != held_out)
                     for job in by_draw[0]}
        chosen[held_out] = max(on_others, key=on_others.get)
        print(f"chosen on the other four at every volume, without {held_out}: {_bars_label(chosen[held_out])}")
    held_out_totals = [corpus_score({name: results[chosen[name]][name] for name in names}, counts)
                       for results in by_draw]
    print("  held out, at each volume: " + "  ".join(f"{total:.1f}" for total in held_out_totals)
          + f"   mean {np.mean(held_out_totals):.1f}")


def _bars_label(job) -> str:
    return f"z {job[0]:g}, ratio {job[1]:g}"


# --- timezone: "the same time of day" in US time, across the change to daylight saving ----------

TIME_ZONES = (None, "America/New_York", "America/Los_Angeles")


def _timezone_scores(job) -> dict[str, float]:
    from zoneinfo import ZoneInfo

    zone_name, z_bar, ratio_bar = job
    scores = {}
    for one in SERIES:
        settings = cell_settings(Cell(3600.0, z_bar, ratio_bar), series_bucket_seconds(one.timestamps))
        offsets = None
        if zone_name:
            zone = ZoneInfo(zone_name)
            offsets = np.array([moment.replace(tzinfo=dt.timezone.utc).astimezone(zone).utcoffset().total_seconds()
                                for moment in one.timestamps])
        stats = bucket_stats(np.asarray(one.values, dtype=float), settings, utc_offsets=offsets)
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), find_incidents(stats, settings)))
    return scores


def timezone(data_dir: Path) -> None:
    """The seasonal baseline with its days counted in US time (`alerts.timezone`): the series run
    from February to April 2015, across the change of 8 March, and tweets follow American hours."""
    jobs = [(zone, z, r) for zone in TIME_ZONES for z, r in ((5.0, 2.5), (5.0, 3.0), (4.0, 2.5))]
    counts = _window_counts()
    for job, scores in zip(jobs, _in_parallel(_timezone_scores, jobs, data_dir)):
        print(f"{job[0] or 'UTC'}, z {job[1]:g}, ratio {job[2]:g}: {corpus_score(scores, counts):.1f}")


# --- short-window: NAB's labels sit on 5-minute peaks; a 5- or 10-minute window, alone or added ---

SHORT_CELLS = [Cell(seconds, z, r) for seconds in (300.0, 600.0) for z in (10.0, 12.0, 15.0, 20.0)
               for r in (3.0, 4.0, 6.0)]


def _labelled_points(data_dir: Path) -> dict[str, list[dt.datetime]]:
    raw = json.loads((data_dir / "nab" / "labels" / "realTweets_labels.json").read_text(encoding="utf-8"))
    return {key.split("/")[-1]: [dt.datetime.fromisoformat(text) for text in points] for key, points in raw.items()}


def _print_labelled_points(data_dir: Path) -> None:
    """How each labelled point looks in a 5-minute window: its count, baseline, z and ratio."""
    points = _labelled_points(data_dir)
    for one in SERIES:
        settings = cell_settings(Cell(300.0, 5.0, 2.5), series_bucket_seconds(one.timestamps))
        stats = bucket_stats(np.asarray(one.values, dtype=float), settings)
        where = {moment: index for index, moment in enumerate(one.timestamps)}
        for moment in points.get(one.name, []):
            at = where[moment]
            print(f"  {one.name} {moment:%m-%d %H:%M}: {stats.observed[at]:.0f} in 5 min, expected "
                  f"{stats.expected[at]:.0f}, z {stats.z[at]:.1f}, ratio {stats.ratio[at]:.1f}")


def short_window(data_dir: Path) -> None:
    """NAB's labelled points are 5-minute peaks (Amazon's 1 April window is one: 282 tweets in 5
    minutes where 62 are expected, diluted to 1.5x in an hour). Score 5- and 10-minute windows with
    high bars, alone and added to the product's 1-hour setting (an alert from either)."""
    print("the labelled points, seen in a 5-minute window:")
    _print_labelled_points(data_dir)
    product = product_cell()
    singles = [(cell,) for cell in SHORT_CELLS]
    pairs = [(product, cell) for cell in SHORT_CELLS]
    results = _combination_scores([(product,)] + singles + pairs, data_dir)
    counts = _window_counts()
    names = sorted(counts)
    print("raw per series: " + " ".join(name.split("_")[-1].removesuffix(".csv") for name in names))
    for combo in [(product,)] + singles + pairs:
        print(f"  {corpus_score(results[combo], counts):5.1f}  {_label(combo)}   "
              + " ".join(f"{results[combo][name]:.2f}" for name in names))
    for name, pool in (("short windows alone", singles), ("the product's setting plus a short window", pairs)):
        _print_leave_one_out(name, {combo: results[combo] for combo in pool}, _label)


# --- novelty: the hour must also beat the busiest hour of the recent past --------------------------

NOVELTY_HOURS = (6, 12, 24, 48, 72, 96)
NOVELTY_FACTORS = (0.8, 1.0, 1.1, 1.2, 1.3, 1.5)


def recent_peak(observed: np.ndarray, settings: DetectorSettings, hours: int) -> np.ndarray:
    """The largest windowed count among the `hours` before the current window began (inf where
    there is none), so a burst that does not outdo one a few hours old is not news."""
    buckets = int(round(hours * settings.season / 24))
    padded = np.concatenate([np.full(buckets - 1, -np.inf), observed])
    peaks = np.lib.stride_tricks.sliding_window_view(padded, buckets).max(axis=1)  # peaks[k]: max of k-buckets+1..k
    ended_before = np.full(len(observed), np.inf)  # no window ended before the first ones: no gate
    ended_before[settings.smooth:] = peaks[: len(observed) - settings.smooth]  # windows ending by t - smooth
    return ended_before


def _novelty_scores(job) -> dict[str, float]:
    hours, factor = job
    scores = {}
    for one in SERIES:
        settings = cell_settings(product_cell(), series_bucket_seconds(one.timestamps))
        stats = bucket_stats(np.asarray(one.values, dtype=float), settings)
        if hours:
            stats.hot &= stats.observed >= factor * recent_peak(stats.observed, settings, hours)
        scores[one.name] = _raw_score(one, alert_flags(len(one.values), find_incidents(stats, settings)))
    return scores


def novelty(data_dir: Path) -> None:
    """The product's setting (1 hour, z 5, ratio 2.5), and an alert only where the hour's count is
    also at least a factor of the busiest hour in the 6-48 hours before it."""
    jobs = [(0, 0.0)] + [(hours, factor) for hours in NOVELTY_HOURS for factor in NOVELTY_FACTORS]
    results = dict(zip(jobs, _in_parallel(_novelty_scores, jobs, data_dir)))
    counts = _window_counts()
    for job, scores in results.items():
        print(f"{_novelty_label(job)}: {corpus_score(scores, counts):.1f}")
    _print_leave_one_out("the novelty gates and none", results, _novelty_label)


def _novelty_label(job) -> str:
    hours, factor = job
    return f"{factor:g} x the peak of the past {hours} h" if hours else "no novelty gate"


# --- scan: one likelihood-ratio statistic over windows of 5 minutes to 4 hours --------------------

SCAN_MINUTES = (5, 15, 30, 60, 120, 240)
SCAN_LLR = (6.0, 9.0, 13.5, 20.0, 30.0, 45.0, 68.0)
SCAN_RATIO = (1.5, 2.0, 2.5, 3.0)
SCAN_DISPERSIONS = ("mean", "median")
SCAN_THINNING = ((1.0, 1), (0.5, 1), (0.5, 2), (0.25, 1), (0.25, 2))
CHI2_1_MEDIAN = 0.4549364  # median of (X - mu)^2 / mu for a Poisson X with a large mu (chi-square, 1 df)


def causal_dispersion(residuals: np.ndarray, settings: DetectorSettings, estimator: str) -> np.ndarray:
    """Quasi-Poisson dispersion at every bucket from the Pearson residuals (obs - exp)^2 / exp of the
    windows that ended before the current one began, over the previous 7 days: their mean ("mean",
    the textbook estimate, which a crisis inflates for a week) or their median over the chi-square
    median ("median", robust to bursts); never below 1; nan with fewer than 12 hours of residuals."""
    lag, span = settings.smooth, 7 * settings.season
    valid = ~np.isnan(residuals)
    phi = np.full(len(residuals), np.nan)
    if estimator == "mean":
        total = np.concatenate([[0.0], np.cumsum(np.where(valid, residuals, 0.0))])
        number = np.concatenate([[0], np.cumsum(valid)])
        ends = np.arange(len(residuals)) - lag + 1  # residuals at t' <= t - lag
        starts = np.clip(ends - span, 0, None)
        ends = np.clip(ends, 0, None)
        count = number[ends] - number[starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            phi = np.where(count >= settings.season // 2, (total[ends] - total[starts]) / count, np.nan)
    else:
        step = max(1, settings.season // 24)  # recomputed once an hour
        for start in range(0, len(residuals), step):
            past = residuals[max(0, start - lag + 1 - span): max(0, start - lag + 1)]
            past = past[~np.isnan(past)]
            if len(past) >= settings.season // 2:
                phi[start: start + step] = np.median(past) / CHI2_1_MEDIAN
    return np.maximum(phi, 1.0)


def scan_scales(values, bucket_seconds: float) -> list[tuple]:
    """For every window of SCAN_MINUTES: its settings, the windowed count, the seasonal median of
    that count (the product's baseline at that window), and the count of one mention per bucket
    that the ratio adds to both sides (the product's rule)."""
    base = cell_settings(product_cell(), bucket_seconds)
    scales = []
    for minutes in SCAN_MINUTES:
        settings = dataclasses.replace(base, smooth=max(1, round(minutes * 60 / bucket_seconds)))
        observed = windowed_counts(values, settings)
        expected = seasonal_past(observed, settings, np.arange(len(observed)))[0]
        scales.append((settings, observed, expected))
    return scales


def poisson_llr(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio of a raised Poisson rate (observed) against `expected`; 0 below it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        llr = np.where(observed > expected,
                       np.where(observed > 0, observed * np.log(observed / expected), 0.0) - (observed - expected),
                       0.0)
    return np.nan_to_num(llr)


def negative_binomial_llr(observed: np.ndarray, expected: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio of a raised mean (observed) against `expected` for a negative binomial
    of the given size (variance mu + mu^2 / size); the Poisson one as size grows; 0 below it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        llr = np.where(observed > expected,
                       np.where(observed > 0, observed * np.log(observed / expected), 0.0)
                       - (observed + size) * np.log1p((observed - expected) / (expected + size)), 0.0)
    return np.nan_to_num(llr)


def scan_statistic(scales, estimator: str, model: str = "quasi-poisson"):
    """Per window: the LLR, the ratio, and where a baseline exists. "quasi-poisson": the Poisson LLR
    divided by the dispersion; "negative-binomial": the LLR of a negative binomial whose variance is
    the dispersion times the mean (size mean / (dispersion - 1)). The expected count is floored at
    1 mention for the LLR and the dispersion (the product floors its spread at sqrt(max(expected, 1)))."""
    per_scale = []
    for settings, observed, expected in scales:
        floored = np.maximum(expected, 1.0)
        with np.errstate(invalid="ignore"):
            residuals = (observed - floored) ** 2 / floored
        phi = causal_dispersion(residuals, settings, estimator)
        with np.errstate(invalid="ignore"):
            ratio = np.nan_to_num((observed + settings.smooth) / (expected + settings.smooth))
        known = ~np.isnan(expected) & ~np.isnan(phi)
        phi = np.where(known, phi, 1.0)
        if model == "quasi-poisson":
            llr = poisson_llr(observed, floored) / phi
        else:
            with np.errstate(divide="ignore"):
                size = np.where(phi > 1.0, floored / (phi - 1.0), 1e12)
            llr = negative_binomial_llr(observed, floored, size)
        per_scale.append((llr, ratio, known))
    return per_scale


def scan_flags(per_scale, llr_bar: float, ratio_bar: float, settings: DetectorSettings,
               observed: np.ndarray, expected: np.ndarray, shortest: float = 0) -> np.ndarray:
    """Alert openings where the largest LLR among the windows (of `shortest` minutes or more) whose
    ratio clears `ratio_bar` clears `llr_bar` (after the warm-up), grouped with the product's cooldown."""
    gated = np.max([np.where(known & (ratio >= ratio_bar), llr, 0.0)
                    for minutes, (llr, ratio, known) in zip(SCAN_MINUTES, per_scale) if minutes >= shortest], axis=0)
    hot = gated >= llr_bar
    hot[: settings.warmup] = False
    stats = BucketStats(observed, expected, gated, np.zeros(len(gated)), hot)
    return alert_flags(len(gated), find_incidents(stats, dataclasses.replace(settings, threshold=llr_bar)))


def _scan_setup(fraction: float, seed: int, index: int) -> tuple:
    """One series of one thinned copy: the series, its scan scales, the 1-hour scale, and the
    product detector's raw score on it (the results' reference)."""
    one = SERIES[index]
    bucket_seconds = series_bucket_seconds(one.timestamps)
    values = thinned_values(one.values, fraction, seed, index)
    scales = scan_scales(values, bucket_seconds)
    hour = next(scale for scale in scales if scale[0].smooth * bucket_seconds == 3600.0)
    results = {("product",): _raw_score(one, alert_flags(len(values), detect(values, cell_settings(
        product_cell(), bucket_seconds))[1]))}
    return one, scales, hour, results


def _scan_job(job) -> dict:
    """Raw scores of every scan setting (and of the product's detector) on one series of one thinned copy."""
    fraction, seed, index = job
    one, scales, hour, results = _scan_setup(fraction, seed, index)
    for estimator in SCAN_DISPERSIONS:
        per_scale = scan_statistic(scales, estimator)
        for llr_bar in SCAN_LLR:
            for ratio_bar in SCAN_RATIO:
                flags = scan_flags(per_scale, llr_bar, ratio_bar, hour[0], hour[1], hour[2])
                results[(estimator, llr_bar, ratio_bar)] = _raw_score(one, flags)
    return results


def _scan_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    estimator, llr_bar, ratio_bar = job
    return f"LLR {llr_bar:g}, ratio {ratio_bar:g}, dispersion {estimator}"


def _by_draw(draws, jobs, results) -> list[dict]:
    """{setting: {series: raw}} for each draw, from the per-(draw, series) results."""
    by_draw = []
    for fraction, seed in draws:
        merged: dict = {}
        for job, scores in zip(jobs, results):
            if job[:2] == (fraction, seed):
                for setting, raw in scores.items():
                    merged.setdefault(setting, {})[SERIES[job[2]].name] = raw
        by_draw.append(merged)
    return by_draw


def _print_family(name: str, draws, by_draw, label, reference) -> None:
    """A family's grid on the full series, its leave-one-series-out figures (chosen on the full
    series; and chosen on four series at every volume at once), and the chosen settings on the thinned copies."""
    counts, names = _window_counts(), [one.name for one in SERIES]
    full = {job: scores for job, scores in by_draw[0].items() if job != reference}
    totals = {job: corpus_score(scores, counts) for job, scores in full.items()}
    print(f"{name}: {len(totals)} settings on the full series, best {max(totals.values()):.1f}, "
          f"median {np.median(list(totals.values())):.1f}; "
          f"the product {corpus_score(by_draw[0][reference], counts):.1f}")
    for job in sorted(totals, key=totals.get, reverse=True)[:12]:
        print(f"  {totals[job]:5.1f}  {label(job)}   " + " ".join(f"{full[job][n]:.2f}" for n in names))
    _print_leave_one_out(name + ", full series", full, label)
    best = max(totals, key=totals.get)
    header = "  ".join(f"{fraction:g} ({seed})" for fraction, seed in draws)
    print(f"  on every copy ({header}):")
    for job in (reference, best):
        print(f"    {label(job)}: " + "  ".join(f"{corpus_score(results[job], counts):.1f}" for results in by_draw))
    chosen = {}
    for held_out in names:
        on_others = {job: sum(results[job][n] for results in by_draw for n in names if n != held_out) for job in full}
        chosen[held_out] = max(on_others, key=on_others.get)
    print("  chosen on four series at every volume: " + "; ".join(
        f"without {n.split('_')[-1].removesuffix('.csv')}: {label(job)}" for n, job in chosen.items()))
    held = [corpus_score({n: results[chosen[n]][n] for n in names}, counts) for results in by_draw]
    print("    held out at each volume: " + "  ".join(f"{total:.1f}" for total in held)
          + f"   mean {np.mean(held):.1f}")
    every = {job: np.mean([corpus_score(results[job], counts) for results in by_draw]) for job in full}
    top = max(every, key=every.get)
    print(f"  best mean over the copies: {every[top]:.1f} ({label(top)}); "
          f"the product {np.mean([corpus_score(results[reference], counts) for results in by_draw]):.1f}")


def scan(data_dir: Path) -> None:
    """A multi-scale scan statistic: at every bucket, for windows of 5 minutes to 4 hours ending
    there, the Poisson log-likelihood ratio of the windowed count against its seasonal median,
    divided by a quasi-Poisson dispersion estimated causally over the past week (mean or median of
    the Pearson residuals, floored at 1); the largest among the windows whose ratio clears a bar,
    against one bar in LLR units. Product's warm-up and cooldown. On the full series and thinned copies."""
    jobs = [(fraction, seed, index) for fraction, seed in SCAN_THINNING for index in range(len(SERIES))]
    by_draw = _by_draw(SCAN_THINNING, jobs, _in_parallel(_scan_job, jobs, data_dir))
    _print_family("scan statistic", SCAN_THINNING, by_draw, _scan_label, ("product",))
    counts = _window_counts()
    for estimator in SCAN_DISPERSIONS:
        print(f"dispersion {estimator}, full series, LLR {SCAN_LLR} in rows x ratio {SCAN_RATIO}:")
        for llr_bar in SCAN_LLR:
            print(f"  {llr_bar:4g}: " + " ".join(f"{corpus_score(by_draw[0][(estimator, llr_bar, r)], counts):5.1f}"
                                         for r in SCAN_RATIO))


SCAN_GRIDS = {  # models x shortest window kept (minutes) x LLR bars x ratio bars
    "scan-models": (("quasi-poisson", "negative-binomial"), (5, 15, 30), (9.0, 13.5, 20.0, 30.0, 45.0), (1.5, 2.5)),
    "scan-nb": (("negative-binomial",), (15, 30, 60), (6.0, 7.5, 9.0, 11.0, 13.5), (1.5, 2.0, 2.5)),
}
SCAN_NB_THINNING = SCAN_THINNING + ((0.1, 1), (0.1, 2))


def _scan_models_job(job) -> dict:
    """Raw scores of the scan with the median dispersion over one grid of SCAN_GRIDS (model, shortest
    window, LLR bar, ratio bar), on one series of one thinned copy."""
    fraction, seed, index, grid = job
    models, shortests, llr_bars, ratio_bars = SCAN_GRIDS[grid]
    one, scales, hour, results = _scan_setup(fraction, seed, index)
    for model in models:
        per_scale = scan_statistic(scales, "median", model)
        for shortest in shortests:
            for llr_bar in llr_bars:
                for ratio_bar in ratio_bars:
                    flags = scan_flags(per_scale, llr_bar, ratio_bar, hour[0], hour[1], hour[2], shortest)
                    results[(model, shortest, llr_bar, ratio_bar)] = _raw_score(one, flags)
    return results


def _scan_models_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    model, shortest, llr_bar, ratio_bar = job
    return f"{model}, windows {shortest:g}-240 min, LLR {llr_bar:g}, ratio {ratio_bar:g}"


def _scan_grid(grid: str, draws, data_dir: Path) -> None:
    models, shortests, llr_bars, ratio_bars = SCAN_GRIDS[grid]
    jobs = [(fraction, seed, index, grid) for fraction, seed in draws for index in range(len(SERIES))]
    by_draw = _by_draw(draws, jobs, _in_parallel(_scan_models_job, jobs, data_dir))
    _print_family(f"scan ({grid})", draws, by_draw, _scan_models_label, ("product",))
    counts = _window_counts()
    for model in models:
        for shortest in shortests:
            row = " ".join(f"{corpus_score(by_draw[0][(model, shortest, b, r)], counts):5.1f}"
                           for b in llr_bars for r in ratio_bars)
            print(f"  {model}, from {shortest} min, LLR {llr_bars} x ratio {ratio_bars}: {row}")


def scan_models(data_dir: Path) -> None:
    """`scan` with its best dispersion (the median) opens nearly all its alerts on the 5-minute window
    of the busy series: the bursts' tails there are heavier than a dispersion from the bulk allows.
    Here: the quasi-Poisson LLR or a negative binomial's (variance = dispersion x mean), with the
    shortest window 5, 15 or 30 minutes."""
    _scan_grid("scan-models", SCAN_THINNING, data_dir)


def scan_nb(data_dir: Path) -> None:
    """The negative-binomial scan around the cell that `scan-models` chose at every volume (windows
    30-240 min, LLR 9, ratio 1.5, at that grid's edge): shortest window 15/30/60 min, LLR 6-13.5,
    ratio 1.5-2.5, on the full series and the thinned copies (a tenth too)."""
    _scan_grid("scan-nb", SCAN_NB_THINNING, data_dir)


def _scan_union_job(index: int) -> dict:
    """Every setting of `scan`, `scan-models` and `scan-nb` on one full series."""
    results = _scan_job((1.0, 1, index))
    for grid in SCAN_GRIDS:
        results.update(_scan_models_job((1.0, 1, index, grid)))
    return results


def scan_union(data_dir: Path) -> None:
    """Leave-one-series-out on the full series among the settings of the three scan grids at once
    (the later grids were drawn after seeing the earlier ones' results: this is the family's figure)."""
    raw: dict = {}
    for index, results in enumerate(_in_parallel(_scan_union_job, range(len(SERIES)), data_dir)):
        for job, score in results.items():
            raw.setdefault(job, {})[SERIES[index].name] = score
    product = raw.pop(("product",))
    counts = _window_counts()
    print(f"the product: {corpus_score(product, counts):.1f}; {len(raw)} scan settings, best "
          f"{max(corpus_score(scores, counts) for scores in raw.values()):.1f}")
    label = lambda job: _scan_label(job) if len(job) == 3 else _scan_models_label(job)  # noqa: E731
    _print_leave_one_out("every scan setting", raw, label)


# --- likelihood: Numenta-style anomaly likelihood over the product's own z, robustly calibrated -----

LIKELIHOOD_K = (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0)  # Gaussian tail of 0.02 .. 1e-9
LIKELIHOOD_AVERAGE = (1, 6)  # buckets of z averaged (Numenta: a short moving average)
LIKELIHOOD_RATIO = (2.0, 2.5, 3.0)


def robust_z_location(z: np.ndarray, settings: DetectorSettings) -> tuple[np.ndarray, np.ndarray]:
    """Median and scale (1.4826 x median absolute deviation, never below 1, the nominal spread of z)
    of the z scores of the windows that ended before the current one began, over the previous
    7 days, recomputed once an hour; nan with fewer than 12 hours of them. A crisis moves neither."""
    lag, span, step = settings.smooth, 7 * settings.season, max(1, settings.season // 24)
    location, scale = np.full(len(z), np.nan), np.full(len(z), np.nan)
    for start in range(0, len(z), step):
        past = z[max(0, start - lag + 1 - span): max(0, start - lag + 1)]
        past = past[~np.isnan(past)]
        if len(past) >= settings.season // 2:
            middle = np.median(past)
            location[start: start + step] = middle
            scale[start: start + step] = max(1.0, 1.4826 * np.median(np.abs(past - middle)))
    return location, scale


def _likelihood_job(job) -> dict:
    """Raw scores of every anomaly-likelihood setting (and of the product) on one series of one thinned copy."""
    fraction, seed, index = job
    one = SERIES[index]
    bucket_seconds = series_bucket_seconds(one.timestamps)
    values = thinned_values(one.values, fraction, seed, index)
    settings = cell_settings(product_cell(), bucket_seconds)
    observed = windowed_counts(values, settings)
    expected, upper, lower = seasonal_past(observed, settings, np.arange(len(observed)))
    spread = np.maximum((upper - lower) / 1.349, np.sqrt(np.maximum(expected, 1.0)))
    with np.errstate(invalid="ignore"):
        z = (observed - expected) / spread
        ratio = np.nan_to_num((observed + settings.smooth) / (expected + settings.smooth))
    location, scale = robust_z_location(z, settings)
    results = {("product",): _raw_score(one, alert_flags(len(values), detect(values, settings)[1]))}
    for average in LIKELIHOOD_AVERAGE:
        recent = np.convolve(np.nan_to_num(z), np.ones(average) / average)[: len(z)]
        with np.errstate(invalid="ignore"):
            surprise = np.nan_to_num((recent - location) / scale)  # in Gaussian standard deviations
        for k in LIKELIHOOD_K:
            for ratio_bar in LIKELIHOOD_RATIO:
                tuned = dataclasses.replace(settings, threshold=k, min_ratio=ratio_bar)
                hot = (surprise >= k) & (ratio >= ratio_bar) & hot_candidates(observed, tuned) & ~np.isnan(expected)
                stats = BucketStats(observed, expected, surprise, ratio, hot)
                results[(average, k, ratio_bar)] = _raw_score(one, alert_flags(len(z), find_incidents(stats, tuned)))
    return results


def _likelihood_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    average, k, ratio_bar = job
    return f"z averaged over {average} bucket(s) >= median + {k:g} x scale of the past week, ratio {ratio_bar:g}"


def likelihood(data_dir: Path) -> None:
    """Numenta's anomaly likelihood over the product's 1-hour z: a short average of z against the
    distribution of the series' own z scores over the past week, here robust (median and MAD, scale
    at least 1) so a crisis does not blind it; alert at a Gaussian tail of k deviations, with the
    product's ratio gate, warm-up and cooldown. On the full series and the thinned copies."""
    jobs = [(fraction, seed, index) for fraction, seed in SCAN_THINNING for index in range(len(SERIES))]
    by_draw = _by_draw(SCAN_THINNING, jobs, _in_parallel(_likelihood_job, jobs, data_dir))
    _print_family("anomaly likelihood", SCAN_THINNING, by_draw, _likelihood_label, ("product",))


# --- art: a fuzzy adaptive-resonance (ART) novelty detector, alone and with the product's alerts -----

ART_SUM_BUCKETS = 3  # a feature vector's points are 15 minutes (3 five-minute buckets) apart
ART_NORMALISATIONS = ("log-minmax", "seasonal")
ART_WINDOWS = (4, 12)  # points per feature vector: the last 1 or 3 hours
ART_VIGILANCE = (0.7, 0.75, 0.8, 0.85, 0.9)
ART_QUIET = ((1.0, 24.0), (3.0, 12.0))  # (warm-up in days of learning, suppression in hours)
ART_GATE_HOURS = (1.0, 3.0, 6.0, 12.0, 24.0)  # AND: a rising novelty within this long of the product's alert
ART_MINMAX_DAYS = 7  # log-minmax: the running range of the past week
ART_SEASONAL_OCTAVES = (-2.0, 4.0)  # seasonal: log2 of the 1-hour ratio mapped from this range onto [0, 1]


def running_range(x: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of x over the `span` points ending at (and including) each point."""
    padded = np.concatenate([np.full(span - 1, x[0]), x])
    centre = slice(span // 2, span // 2 + len(x))  # the filter's window centred there covers t-span+1..t
    return minimum_filter1d(padded, span)[centre], maximum_filter1d(padded, span)[centre]


def art_inputs(values, bucket_seconds: float, normalisation: str, window: int) -> np.ndarray:
    """One feature vector per bucket, from that bucket and before it only: a signal at the bucket
    and 15, 30 ... minutes before it (`window` points, oldest first) on a [0, 1] scale; nan rows
    where it is not known yet. "log-minmax": log(1 + the 15-minute sum) between its minimum and
    maximum over the past week (the current point included, so a new high reads 1); "seasonal":
    log2 of the product's ratio (1-hour count + 12) / (seasonal median + 12), -2..4 onto 0..1."""
    counts = np.asarray(values, dtype=float)
    if normalisation == "log-minmax":
        signal = np.log1p(np.convolve(counts, np.ones(ART_SUM_BUCKETS))[: len(counts)])
        low, high = running_range(signal, int(ART_MINMAX_DAYS * 86400 / bucket_seconds))
    else:
        settings = cell_settings(product_cell(), bucket_seconds)
        observed = windowed_counts(counts, settings)
        expected = seasonal_past(observed, settings, np.arange(len(observed)))[0]
        signal = np.log2((observed + settings.smooth) / (expected + settings.smooth))
        low, high = (np.full(len(counts), edge) for edge in ART_SEASONAL_OCTAVES)
    positions = np.arange(len(counts))
    columns = []
    for lag in range(window - 1, -1, -1):
        back = positions - lag * ART_SUM_BUCKETS
        columns.append(np.where(back >= 0, signal[np.clip(back, 0, None)], np.nan))
    scaled = (np.column_stack(columns) - low[:, None]) / np.maximum(high - low, 1e-9)[:, None]
    return np.clip(scaled, 0.0, 1.0)


def fuzzy_art(inputs: np.ndarray, vigilance: float, choice: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Fuzzy ART with complement coding and fast learning, run once over the rows in order. A row
    resonates with the category of highest choice |I ^ w| / (choice + |w|) among those whose match
    |I ^ w| / |I| reaches the vigilance, which then grows to cover it (w <- I ^ w); a row that
    resonates with none becomes a category of its own. Returns per row: whether it made a new
    category (novel), and whether it lay more above the nearest category's box (best match) than
    below it, summed over the window (a rise, not a dip). Rows with nan are skipped."""
    length = inputs.shape[1]
    weights = np.empty((256, 2 * length))
    sizes = np.empty(256)
    count = 0
    novel, above = np.zeros(len(inputs), bool), np.zeros(len(inputs), bool)
    for t, row in enumerate(inputs):
        if np.isnan(row).any():
            continue
        coded = np.concatenate([row, 1.0 - row])
        if count:
            overlap = np.minimum(weights[:count], coded)
            common = overlap.sum(axis=1)
            match = common / length
            fits = match >= vigilance
            if fits.any():
                best = np.argmax(np.where(fits, common / (choice + sizes[:count]), -np.inf))
                weights[best] = overlap[best]
                sizes[best] = common[best]
                continue
            lower, upper = weights[np.argmax(match), :length], 1.0 - weights[np.argmax(match), length:]
            above[t] = np.maximum(row - upper, 0.0).sum() > np.maximum(lower - row, 0.0).sum()
        novel[t] = True
        if count == len(weights):
            weights, sizes = np.vstack([weights, np.empty_like(weights)]), np.concatenate([sizes, np.empty_like(sizes)])
        weights[count], sizes[count] = coded, length
        count += 1
    return novel, above


def suppressed(candidates: np.ndarray, gap: int) -> np.ndarray:
    """The candidates that come more than `gap` buckets after the previous one kept (one alert per incident)."""
    flags, last = np.zeros(len(candidates)), -np.inf
    for t in np.flatnonzero(candidates):
        if t - last > gap:
            flags[t], last = 1.0, t
    return flags


def art_flags(novel_rise: np.ndarray, first: int, bucket_seconds: float, warmup_days: float,
              suppression_hours: float) -> np.ndarray:
    """ART alerts: the rising novelties once it has learned for `warmup_days` (from its first
    input, bucket `first`), each followed by a quiet period."""
    candidates = novel_rise.copy()
    candidates[: first + int(warmup_days * 86400 / bucket_seconds)] = False
    return suppressed(candidates, int(suppression_hours * 3600 / bucket_seconds))


def confirmed(product: np.ndarray, novel_rise: np.ndarray, buckets: int) -> np.ndarray:
    """AND: the product's alerts with a rising ART novelty in the `buckets` up to and including theirs."""
    recent = np.convolve(novel_rise.astype(float), np.ones(buckets))[: len(novel_rise)] > 0
    return product * recent


def confirmed_either_order(product: np.ndarray, novel_rise: np.ndarray, buckets: int) -> np.ndarray:
    """AND in either order: the product's alerts with a rising ART novelty in the `buckets` up to and
    including theirs (alerted then), or else in the `buckets` after them (alerted at the novelty)."""
    flags, rises = np.zeros(len(product)), np.flatnonzero(novel_rise)
    for t in np.flatnonzero(product):
        near = rises[(rises > t - buckets) & (rises < t + buckets)]
        if len(near):
            flags[t if near[0] <= t else near[0]] = 1.0
    return flags


def either(product: np.ndarray, art: np.ndarray, buckets: int) -> np.ndarray:
    """OR: every alert of either detector, less those that come within `buckets` after one of the
    other's that was kept (the same incident, already alerted)."""
    events = sorted([(t, 0) for t in np.flatnonzero(product)] + [(t, 1) for t in np.flatnonzero(art)])
    flags, last = np.zeros(len(product)), [-np.inf, -np.inf]
    for t, source in events:
        if t - last[1 - source] > buckets:
            flags[t], last[source] = 1.0, t
    return flags


def _art_job(job) -> dict:
    """Standard-profile lines (raw score, windows found, false alarms) of the product, and of every
    ART setting of one normalisation alone, AND the product, OR the product, on one series."""
    index, normalisation = job
    one = SERIES[index]
    bucket_seconds = series_bucket_seconds(one.timestamps)
    hour = 3600 / bucket_seconds
    product = alert_flags(len(one.values), detect(one.values, cell_settings(product_cell(), bucket_seconds))[1])
    lines = {("product",): _art_line(one, product)}
    for window in ART_WINDOWS:
        inputs = art_inputs(one.values, bucket_seconds, normalisation, window)
        first = int(np.argmax(~np.isnan(inputs).any(axis=1)))
        for vigilance in ART_VIGILANCE:
            novel, above = fuzzy_art(inputs, vigilance)
            rise = novel & above
            art = (normalisation, window, vigilance)
            for warmup, suppression in ART_QUIET:
                alone = art_flags(rise, first, bucket_seconds, warmup, suppression)
                lines[("alone",) + art + (warmup, suppression)] = _art_line(one, alone)
                lines[("or",) + art + (warmup, suppression)] = _art_line(one, either(product, alone, int(24 * hour)))
            for gate in ART_GATE_HOURS:
                lines[("and",) + art + (gate,)] = _art_line(one, confirmed(product, rise, int(gate * hour)))
                lines[("and-either",) + art + (gate,)] = _art_line(
                    one, confirmed_either_order(product, rise, int(gate * hour)))
    return lines


def _art_line(one, flags) -> tuple[float, int, int]:
    scored = score_file(one.timestamps, [bool(f) for f in flags], one.spans, "standard", one.name)
    return scored.score, scored.windows - scored.fn, scored.fp


def _art_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    kind, normalisation, window, vigilance, *rest = job
    art = f"{normalisation}, {window / 4:g} h window, vigilance {vigilance:g}"
    if kind == "and":
        return f"product AND ART ({art}) in the {rest[0]:g} h before"
    if kind == "and-either":
        return f"product AND ART ({art}) within {rest[0]:g} h before or after, alerted at the later"
    quiet = f"warm-up {rest[0]:g} d, quiet {rest[1]:g} h"
    return f"ART ({art}, {quiet})" if kind == "alone" else f"product OR ART ({art}, {quiet})"


def _print_combined_family(name: str, lines: dict, kind: str, label, breakdown) -> None:
    """A family of settings measured alone or with the product's alerts (`art`, `bocpd`, `hstrees`):
    its best settings on all five series (raw score per series), `breakdown(totals)`'s line (the
    best along one of its own dimensions), its leave-one-series-out figure with the held-out raw
    scores, and that figure again with the product's own setting among the candidates."""
    counts, names = _window_counts(), [one.name for one in SERIES]
    family = {job: {n: lines[job][n][0] for n in names} for job in lines if job[0] == kind}
    totals = {job: corpus_score(scores, counts) for job, scores in family.items()}
    print(f"{name}: {len(family)} settings, best {max(totals.values()):.1f}, "
          f"median {np.median(list(totals.values())):.1f}")
    for job in sorted(totals, key=totals.get, reverse=True)[:6]:
        print(f"  {totals[job]:5.1f}  {label(job)}   " + " ".join(f"{family[job][n]:.2f}" for n in names))
    print("  " + breakdown(totals))
    _print_leave_one_out(name, family, label)
    product = {n: lines[("product",)][n][0] for n in names}
    print("    held out, raw (the product's): " + "; ".join(
        f"{_ticker(fold.held_out)} {fold.held_out_raw:.2f} ({product[fold.held_out]:.2f})"
        for fold in leave_one_out(family)))
    _print_leave_one_out(name + " and the product alone", family | {("product",): product}, label)


def _print_setting_counts(job, lines: dict, label) -> None:
    """Windows found (of those labelled), false alarms and raw score per series, for one setting."""
    counts = _window_counts()
    print(f"  {label(job)}: " + "; ".join(
        f"{_ticker(one.name)} {lines[job][one.name][1]}/{counts[one.name]} windows, "
        f"{lines[job][one.name][2]} false alarms, {lines[job][one.name][0]:.2f}" for one in SERIES))


def _art_by_vigilance(totals: dict) -> str:
    best = max(totals, key=totals.get)
    return "the best at every vigilance, all else equal: " + "  ".join(
        f"{vigilance:g}: {totals[best[:3] + (vigilance,) + best[4:]]:.1f}" for vigilance in ART_VIGILANCE)


def _ticker(name: str) -> str:
    return name.split("_")[-1].removesuffix(".csv")


def art(data_dir: Path) -> None:
    """An adaptive-resonance novelty detector in the spirit of ARTime (written here from the published
    idea, not its code): at every bucket, the last 1 or 3 hours of a signal, a point every 15 minutes,
    scaled causally to [0, 1] (log 15-minute counts between the past week's minimum and maximum, or
    the product's 1-hour seasonal ratio), are one input to a fuzzy ART learned online; an input that
    resonates with no category (a new category) and lies above its nearest one is a rising novelty.
    Measured: (1) alone, an alert at a rising novelty after a warm-up of learning, then a quiet
    period; (2a) the product's alerts kept only where a rising novelty came in the hours before
    (and, a variant, in the hours before or after, the alert then waiting for it); (2b) the alerts
    of either, one per day. Each on all five series and leave-one-series-out within its family
    (and with the product alone a candidate too)."""
    jobs = [(index, normalisation) for index in range(len(SERIES)) for normalisation in ART_NORMALISATIONS]
    lines: dict = {}
    for (index, _), result in zip(jobs, _in_parallel(_art_job, jobs, data_dir)):
        for job, line in result.items():
            lines.setdefault(job, {})[SERIES[index].name] = line
    counts = _window_counts()
    product = {n: line[0] for n, line in lines[("product",)].items()}
    print(f"the product (1 h, z 5, ratio 2.5): {corpus_score(product, counts):.1f}")
    _print_setting_counts(("product",), lines, _art_label)
    for name, kind in (("ART alone", "alone"), ("product AND ART (ART before)", "and"),
                       ("product AND ART (either order)", "and-either"), ("product OR ART", "or")):
        _print_combined_family(name, lines, kind, _art_label, _art_by_vigilance)
    print("the best of each family on all five, per series:")
    for kind in ("alone", "and", "and-either", "or"):
        _print_setting_counts(max((job for job in lines if job[0] == kind), key=lambda job: corpus_score(
            {n: line[0] for n, line in lines[job].items()}, counts)), lines, _art_label)


# --- bocpd: Bayesian online change-point detection (Adams & MacKay 2007) on the seasonal ratio ---------

BOCPD_BUCKET_MINUTES = (30, 60)  # the 5-minute counts added up in consecutive blocks of this length
BOCPD_HAZARD_DAYS = (1.0, 14.0)  # the expected time between change points (constant hazard)
BOCPD_HORIZON_HOURS = (1.0, 6.0, 12.0)  # "a change within the last ..." (the new segment's age)
BOCPD_BAR = (0.5, 0.9)  # posterior probability of a change within the horizon
BOCPD_RATIO = (2.0, 2.5, 3.0)  # the new segment's rate multiplier over the seasonal expected count
BOCPD_PRIOR = 0.1  # the multiplier's prior: Gamma(shape 0.1, rate 0.1), mean 1 (the expected count), broad
BOCPD_MAX_RUN_DAYS = 7.0  # run lengths truncated there (the tail's mass kept in the longest)
BOCPD_BURN_IN_HOURS = 12.0  # the model learns this long before it may alert
BOCPD_GATE_HOURS = (1.0, 3.0, 6.0, 12.0)  # AND: a BOCPD change this near the product's alert


class BocpdRun(NamedTuple):
    """One pass of BOCPD over a series' blocks: per block, the 5-minute step it ends on, the
    posterior probability of a change within the horizon, the new segment's rate multiplier, and the
    multiplier expected at the horizon's start (before the change); and the first block it may alert on."""

    ends: np.ndarray
    recent: np.ndarray
    new_rate: np.ndarray
    old_rate: np.ndarray
    first: int
    length: int  # 5-minute steps in the series


def block_counts(values, bucket_seconds: float, minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The counts added up in consecutive blocks of `minutes` (from the series' start), the step
    each block ends on, and each block's expected count: the product's seasonal median for a window
    of that length ending there (same time of day +-30 min, previous 7 days); plus the block length in steps."""
    settings = dataclasses.replace(cell_settings(product_cell(), bucket_seconds),
                                   smooth=max(1, round(minutes * 60 / bucket_seconds)))
    observed = windowed_counts(values, settings)
    ends = np.arange(settings.smooth - 1, len(observed), settings.smooth)
    return observed[ends], ends, seasonal_past(observed, settings, ends)[0][ends], settings.smooth


def negative_binomial_log_predictive(count: float, expected: float, shape: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """log p(count) for count ~ Poisson(multiplier x expected), multiplier ~ Gamma(shape, rate): a
    negative binomial (counts may be fractional after the dispersion scaling)."""
    return (gammaln(shape + count) - gammaln(shape) - gammaln(count + 1.0)
            + shape * np.log(rate / (rate + expected)) + count * np.log(expected / (rate + expected)))


def bocpd_run(values, bucket_seconds: float, minutes: int, hazard_days: float, horizon_hours: float) -> BocpdRun:
    """Adams & MacKay's recursion over the blocks, causal. Each block's count x and expected count e
    get one mention per 5-minute step added (the product's ratio rule), then are divided by the
    quasi-Poisson dispersion of the past week's blocks (robust median, `causal_dispersion`; without
    it every hour of Twitter's wandering level is a change point); x ~ Poisson(m e) with a rate
    multiplier m constant within a segment and Gamma-distributed a priori (conjugate: the predictive
    is a negative binomial), and a change point before any block with probability 1 / (hazard in
    blocks). Run length r after a block: the current segment holds the last r blocks. Blocks before
    a baseline exists are skipped."""
    counts, ends, expected, steps = block_counts(values, bucket_seconds, minutes)
    per_day = round(86400 / (steps * bucket_seconds))
    floored = np.maximum(expected, 1.0)
    with np.errstate(invalid="ignore"):
        residuals = (counts - floored) ** 2 / floored
    phi = causal_dispersion(residuals, DetectorSettings(season=per_day, smooth=1), "median")
    x, e = (counts + steps) / phi, (expected + steps) / phi
    log_hazard, log_growth = np.log(1.0 / (hazard_days * per_day)), np.log1p(-1.0 / (hazard_days * per_day))
    longest, horizon = int(BOCPD_MAX_RUN_DAYS * per_day), max(1, round(horizon_hours * 60 / minutes))
    latest = slice(1, horizon + 1)  # the segment began with one of the last `horizon` blocks
    recent, new_rate, mean_rate = (np.full(len(counts), np.nan) for _ in range(3))
    log_weights, shape, rate = np.zeros(1), np.array([BOCPD_PRIOR]), np.array([BOCPD_PRIOR])
    started = None
    for t in np.flatnonzero(~np.isnan(x) & ~np.isnan(e)):
        started = t if started is None else started
        joint = log_weights + negative_binomial_log_predictive(x[t], e[t], shape, rate)
        log_weights = np.concatenate([[np.logaddexp.reduce(joint + log_hazard)], joint + log_growth])
        shape, rate = np.concatenate([[BOCPD_PRIOR], shape + x[t]]), np.concatenate([[BOCPD_PRIOR], rate + e[t]])
        if len(log_weights) > longest:
            log_weights = np.concatenate([log_weights[:longest - 1], [np.logaddexp(*log_weights[longest - 1:])]])
            shape, rate = shape[:longest], rate[:longest]
        log_weights -= np.logaddexp.reduce(log_weights)
        weights = np.exp(log_weights)
        recent[t] = weights[latest].sum()
        new_rate[t] = (weights[latest] * shape[latest] / rate[latest]).sum() / max(recent[t], 1e-300)
        mean_rate[t] = (weights * shape / rate).sum()
    old_rate = np.concatenate([np.full(horizon, np.nan), mean_rate[:-horizon]])
    first = len(counts) if started is None else started + int(BOCPD_BURN_IN_HOURS * 60 / minutes)
    return BocpdRun(ends, recent, new_rate, old_rate, first, len(values))


def bocpd_changes(run: BocpdRun, bar: float, ratio: float, warmup: int) -> np.ndarray:
    """At every 5-minute step: True where a block ends whose posterior probability of a change within
    the horizon reaches `bar`, whose new segment's multiplier is at least `ratio` (over the seasonal
    expected count) and above the one before the change (an upward change only), once the model has
    learned (burn-in) and past the product's warm-up."""
    with np.errstate(invalid="ignore"):
        hot = (run.recent >= bar) & (run.new_rate >= ratio) & (run.new_rate > run.old_rate)
    hot[: run.first] = False
    changes = np.zeros(run.length, bool)
    changes[run.ends[hot]] = True
    changes[:warmup] = False
    return changes


def _series_and_product(index: int) -> tuple:
    """One labelled series, its bucket length, the product's settings for it, the buckets in an
    hour, and where the product alerts on it: what every family's job starts from."""
    one = SERIES[index]
    bucket_seconds = series_bucket_seconds(one.timestamps)
    settings = cell_settings(product_cell(), bucket_seconds)
    return (one, bucket_seconds, settings, int(3600 / bucket_seconds),
            alert_flags(len(one.values), detect(one.values, settings)[1]))


def _bocpd_job(index: int) -> dict:
    """Standard-profile lines (raw score, windows found, false alarms) of the product, and of every
    BOCPD setting alone (one alert per cooldown), AND the product (either order), OR the product, on one series."""
    one, bucket_seconds, settings, hour, product = _series_and_product(index)
    lines = {("product",): _art_line(one, product)}
    for minutes in BOCPD_BUCKET_MINUTES:
        for hazard in BOCPD_HAZARD_DAYS:
            for horizon in BOCPD_HORIZON_HOURS:
                run = bocpd_run(one.values, bucket_seconds, minutes, hazard, horizon)
                for bar in BOCPD_BAR:
                    for ratio in BOCPD_RATIO:
                        model = (minutes, hazard, horizon, bar, ratio)
                        changes = bocpd_changes(run, bar, ratio, settings.warmup)
                        alone = suppressed(changes, settings.cooldown)
                        lines[("alone",) + model] = _art_line(one, alone)
                        lines[("or",) + model] = _art_line(one, either(product, alone, settings.cooldown))
                        for gate in BOCPD_GATE_HOURS:
                            lines[("and",) + model + (gate,)] = _art_line(
                                one, confirmed_either_order(product, changes, int(gate * hour)))
    return lines


def _bocpd_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    kind, minutes, hazard, horizon, bar, ratio, *gate = job
    model = (f"{minutes} min blocks, hazard 1/{hazard:g} d, P(change within {horizon:g} h) >= {bar:g}, "
             f"ratio {ratio:g}")
    if kind == "and":
        return f"product AND BOCPD ({model}) within {gate[0]:g} h before or after, alerted at the later"
    return f"BOCPD ({model})" if kind == "alone" else f"product OR BOCPD ({model})"


def _bocpd_by_horizon(totals: dict) -> str:
    return "the best at each horizon: " + "  ".join(
        f"{horizon:g} h: {max(total for job, total in totals.items() if job[3] == horizon):.1f}"
        for horizon in BOCPD_HORIZON_HOURS)


def bocpd(data_dir: Path) -> None:
    """Bayesian online change-point detection (Adams & MacKay 2007), written here: the 5-minute
    counts in 30- or 60-minute blocks, each against the product's seasonal expected count for a
    window that long, with a Gamma-Poisson model of the rate multiplier (count over expected) that
    is constant between change points, quasi-Poisson scaled by the past week's dispersion, and a
    constant hazard. A change is an upward one whose posterior probability within the horizon (the
    last 1, 6 or 12 hours) reaches a bar, with the new segment's multiplier at least a ratio.
    Measured like `art`: (1) alone, one alert per change with the product's warm-up and cooldown;
    (2) AND: the product's alerts kept only with a change within some hours before or after them
    (alerted at the later); (3) OR: the alerts of either, one per day. Each on all five series and
    leave-one-series-out within its family (and with the product alone a candidate too)."""
    jobs = list(range(len(SERIES)))
    lines: dict = {}
    for index, result in zip(jobs, _in_parallel(_bocpd_job, jobs, data_dir)):
        for job, line in result.items():
            lines.setdefault(job, {})[SERIES[index].name] = line
    counts = _window_counts()
    product = {n: line[0] for n, line in lines[("product",)].items()}
    print(f"the product (1 h, z 5, ratio 2.5): {corpus_score(product, counts):.1f}")
    _print_setting_counts(("product",), lines, _bocpd_label)
    for name, kind in (("BOCPD alone", "alone"), ("product AND BOCPD", "and"), ("product OR BOCPD", "or")):
        _print_combined_family(name, lines, kind, _bocpd_label, _bocpd_by_horizon)
    print("the best of each family on all five, per series:")
    for kind in ("alone", "and", "or"):
        _print_setting_counts(max((job for job in lines if job[0] == kind), key=lambda job: corpus_score(
            {n: line[0] for n, line in lines[job].items()}, counts)), lines, _bocpd_label)


# --- hstrees: streaming Half-Space Trees (Tan, Ting & Liu 2011) on causal features ------------------

HST_FEATURES = {  # feature sets: the columns of `hst_features` each uses
    "1h": ("ratio 1h", "z 1h"),
    "multi": ("ratio 5m", "ratio 1h", "ratio 12h", "z 1h"),
    "multi+hour": ("ratio 5m", "ratio 1h", "ratio 12h", "z 1h", "hour"),
}
HST_WINDOW_DAYS = (1.0, 3.0, 7.0)  # the mass profile's window (the model is replaced after each)
HST_SHAPE = (25, 10)  # trees, depth of each (the grid; `HST_SHAPES` are measured at the best setting)
HST_SHAPES = ((10, 8), (10, 12), (25, 8), (25, 12), (25, 15), (50, 10), (50, 15))
HST_BAR = (0.99, 0.998)  # the anomaly score at least this quantile of the past week's scores
HST_RATIO = (1.5, 2.0, 2.5)  # upward only: the product's 1-hour ratio at least this
HST_SEEDS = (0, 1, 2)
HST_SIZE_LIMIT = 0.1  # a node with less than this share of a window's mass ends the descent (the paper's)
HST_RANGE_DAYS = 7  # features scaled between their minimum and maximum over the past week
HST_GATE_HOURS = (1.0, 3.0, 6.0, 12.0)  # AND: an HST anomaly this near the product's alert


def _seasonal_log_ratio(values, bucket_seconds: float, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """log2 of (window count + one per step) / (seasonal median + one per step) for windows of
    `minutes` ending at every step, and the robust z of the count (the product's spread, its Poisson
    floor); nan before the baseline exists."""
    settings = dataclasses.replace(cell_settings(product_cell(), bucket_seconds),
                                   smooth=max(1, round(minutes * 60 / bucket_seconds)))
    observed = windowed_counts(values, settings)
    expected, upper, lower = seasonal_past(observed, settings, np.arange(len(observed)))
    spread = np.maximum((upper - lower) / 1.349, np.sqrt(np.maximum(expected, 1.0)))
    return (np.log2((observed + settings.smooth) / (expected + settings.smooth)),
            (observed - expected) / spread)


def hst_features(values, timestamps, bucket_seconds: float) -> dict[str, np.ndarray]:
    """Causal raw features at every step: log2 seasonal ratios of the last 5 minutes, hour and 12
    hours, asinh of the 1-hour z (a crisis's z of 60 would squash the rest of the range), and the
    hour of day on 0-1 (UTC)."""
    ratio_5m, _ = _seasonal_log_ratio(values, bucket_seconds, 5)
    ratio_1h, z_1h = _seasonal_log_ratio(values, bucket_seconds, 60)
    ratio_12h, _ = _seasonal_log_ratio(values, bucket_seconds, 720)
    hour = np.array([(t.hour * 3600 + t.minute * 60 + t.second) / 86400 for t in timestamps])
    return {"ratio 5m": ratio_5m, "ratio 1h": ratio_1h, "ratio 12h": ratio_12h, "z 1h": np.arcsinh(z_1h),
            "hour": hour}


def past_range_scaled(x: np.ndarray, span: int, least: int) -> np.ndarray:
    """x scaled by its minimum and maximum over the `span` steps before each step (not the step
    itself: a new high reads above 1, a new low below 0); nan where fewer than `least` of them are known."""
    previous = np.concatenate([[np.nan], x[:-1]])
    known = ~np.isnan(previous)
    low, _ = running_range(np.where(known, previous, np.inf), span)
    _, high = running_range(np.where(known, previous, -np.inf), span)
    number = np.convolve(known.astype(float), np.ones(span))[: len(x)]
    with np.errstate(invalid="ignore"):
        scaled = (x - low) / np.maximum(high - low, 1e-9)
    return np.where(number >= least, scaled, np.nan)


def hst_inputs(features: dict[str, np.ndarray], names, bucket_seconds: float) -> np.ndarray:
    """One row per step, the named features on a 0-1 scale: the hour of day as it is, the others by
    their past week's range (`past_range_scaled`, at least half a day of it); nan rows where not all are known."""
    span, day = int(HST_RANGE_DAYS * 86400 / bucket_seconds), int(86400 / bucket_seconds)
    return np.column_stack([features[n] if n == "hour" else past_range_scaled(features[n], span, day // 2)
                            for n in names])


def half_space_tree(dimensions: int, depth: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random half-space tree, complete to `depth`, in heap order (node i's children 2i+1, 2i+2):
    the split dimension and value of each inner node. The work range of dimension q is
    s_q -+ 2 max(s_q, 1 - s_q), s_q uniform on [0, 1]; each node halves its range on a random dimension."""
    s = rng.uniform(size=dimensions)
    reach = 2.0 * np.maximum(s, 1.0 - s)
    low, high = (s - reach)[None, :], (s + reach)[None, :]
    split_dimension, split_value = [], []
    for level in range(depth):
        dims = rng.integers(dimensions, size=2 ** level)
        rows = np.arange(2 ** level)
        middle = (low[rows, dims] + high[rows, dims]) / 2
        split_dimension.append(dims)
        split_value.append(middle)
        left_high, right_low = high.copy(), low.copy()
        left_high[rows, dims], right_low[rows, dims] = middle, middle
        low = np.stack([low, right_low], axis=1).reshape(-1, dimensions)  # children 2i+1 (left), 2i+2 (right)
        high = np.stack([left_high, high], axis=1).reshape(-1, dimensions)
    return np.concatenate(split_dimension), np.concatenate(split_value)


def hst_paths(inputs: np.ndarray, split_dimension: np.ndarray, split_value: np.ndarray, depth: int) -> np.ndarray:
    """The node each row visits at every level, root (0) to leaf: shape (rows, depth + 1)."""
    node = np.zeros(len(inputs), dtype=np.int64)
    path = [node]
    rows = np.arange(len(inputs))
    for _ in range(depth):
        right = inputs[rows, split_dimension[node]] >= split_value[node]
        node = 2 * node + 1 + right
        path.append(node)
    return np.column_stack(path)


def half_space_trees(inputs: np.ndarray, window: int, trees: int, depth: int, seed: int) -> np.ndarray:
    """Streaming HS-Trees: the known rows, in order, fall into windows of `window` rows; each row's
    mass score is, summed over the trees, r x 2^k at the first node on its path whose reference mass
    r (the count of the previous window's rows there) is under the size limit, or at the leaf (k its
    depth); the reference profile is replaced by the latest window's at each window's end (the
    model is never scored on the window it learns from). Returned per step: the anomaly score
    -log2(mean mass / window + 2^-20), high where mass is low; nan in the first window and where a
    row is unknown. Causal: a row's score uses only the rows of earlier windows."""
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(~np.isnan(inputs).any(axis=1))
    score = np.full(len(inputs), np.nan)
    if len(known) <= window:
        return score
    x = inputs[known]
    which = np.arange(len(known)) // window
    scored = which >= 1
    mass = np.zeros(len(known))
    limit, weights = HST_SIZE_LIMIT * window, 2.0 ** np.arange(depth + 1)
    for _ in range(trees):
        path = hst_paths(x, *half_space_tree(inputs.shape[1], depth, rng), depth)
        nodes = 2 ** (depth + 1) - 1
        profile = np.bincount((which[:, None] * nodes + path).ravel(),  # mass of each window at each node
                              minlength=(which[-1] + 1) * nodes).reshape(-1, nodes).astype(float)
        reference = profile[np.maximum(which - 1, 0)[:, None], path]  # the previous window's, along the path
        below = reference < limit
        stop = np.where(below.any(axis=1), below.argmax(axis=1), depth)
        mass += reference[np.arange(len(x)), stop] * weights[stop]
    score[known[scored]] = -np.log2(mass[scored] / trees / window + 2.0 ** -20)
    return score


def past_quantile(score: np.ndarray, quantile: float, span: int, least: int, step: int) -> np.ndarray:
    """The `quantile` of the known scores over the `span` steps before each step (recomputed every
    `step` steps from the steps before the first of them); nan with fewer than `least` known."""
    bar = np.full(len(score), np.nan)
    for start in range(0, len(score), step):
        past = score[max(0, start - span): start]
        past = past[~np.isnan(past)]
        if len(past) >= least:
            bar[start: start + step] = np.quantile(past, quantile)
    return bar


def hst_candidates(score: np.ndarray, bar: np.ndarray, ratio_1h: np.ndarray, ratio: float, warmup: int) -> np.ndarray:
    """Steps where the anomaly score passes the bar and the 1-hour seasonal ratio is at least
    `ratio` (a rise, not a dip), past the product's warm-up."""
    with np.errstate(invalid="ignore"):
        hot = (score > bar) & (ratio_1h >= np.log2(ratio))
    hot[:warmup] = False
    return hot


def confirmed_once_learned(product: np.ndarray, hot: np.ndarray, buckets: int, first: int) -> np.ndarray:
    """AND where the gate exists: the product's alerts before step `first` (HS-Trees not yet scoring:
    its first window, its bar's first half day) kept as they are, the later ones as `confirmed_either_order`."""
    flags = confirmed_either_order(product, hot, buckets)
    flags[:first] = product[:first]
    return flags


def _hst_scores(bucket_seconds: float, features: dict, names, window_days: float, trees: int,
                depth: int, seed: int) -> tuple[np.ndarray, dict]:
    """The anomaly score of one HS-Trees setting on a series, and its past-week bar at each quantile."""
    day = int(86400 / bucket_seconds)
    score = half_space_trees(hst_inputs(features, names, bucket_seconds), int(window_days * day), trees, depth, seed)
    bars = {q: past_quantile(score, q, HST_RANGE_DAYS * day, day // 2, day // 24) for q in HST_BAR}
    return score, bars


def _hst_job(job) -> dict:
    """Standard-profile lines (raw score, windows found, false alarms) of the product, and, for one
    seed, of every HS-Trees setting of the grid alone (one alert per cooldown), AND the product (either
    order), OR the product; and, for the best setting given, the tree shapes of `HST_SHAPES`; on one series."""
    index, seed, best = job
    one, bucket_seconds, settings, hour, product = _series_and_product(index)
    features = hst_features(one.values, one.timestamps, bucket_seconds)
    lines = {("product",): _art_line(one, product)}
    if best is not None:
        _, names, window_days, bar, ratio, _, _ = best
        for trees, depth in HST_SHAPES:
            score, bars = _hst_scores(bucket_seconds, features, HST_FEATURES[names], window_days, trees,
                                      depth, seed)
            hot = hst_candidates(score, bars[bar], features["ratio 1h"], ratio, settings.warmup)
            lines[("alone", names, window_days, bar, ratio, trees, depth)] = _art_line(
                one, suppressed(hot, settings.cooldown))
        return lines
    for names in HST_FEATURES:
        for window_days in HST_WINDOW_DAYS:
            score, bars = _hst_scores(bucket_seconds, features, HST_FEATURES[names], window_days, *HST_SHAPE,
                                      seed)
            for bar in HST_BAR:
                for ratio in HST_RATIO:
                    model = (names, window_days, bar, ratio) + HST_SHAPE
                    hot = hst_candidates(score, bars[bar], features["ratio 1h"], ratio, settings.warmup)
                    alone = suppressed(hot, settings.cooldown)
                    lines[("alone",) + model] = _art_line(one, alone)
                    lines[("or",) + model] = _art_line(one, either(product, alone, settings.cooldown))
                    first = int(np.argmax(~np.isnan(score) & ~np.isnan(bars[bar])))
                    for gate in HST_GATE_HOURS:
                        lines[("and",) + model + (gate,)] = _art_line(
                            one, confirmed_either_order(product, hot, int(gate * hour)))
                        lines[("and-learned",) + model + (gate,)] = _art_line(
                            one, confirmed_once_learned(product, hot, int(gate * hour), first))
    return lines


def _hst_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    kind, names, window_days, bar, ratio, trees, depth, *gate = job
    model = (f"{names}, window {window_days:g} d, {trees} trees of depth {depth}, "
             f"score > q{bar * 100:g} of the past week, ratio {ratio:g}")
    if kind == "and":
        return f"product AND HST ({model}) within {gate[0]:g} h before or after, alerted at the later"
    if kind == "and-learned":
        return f"product AND HST ({model}) within {gate[0]:g} h, not gated before HST scores"
    return f"HST ({model})" if kind == "alone" else f"product OR HST ({model})"


def _hst_lines(jobs, data_dir: Path) -> dict:
    """{seed: {setting: {series: line}}} from the per-series jobs, run on all cores."""
    lines: dict = {}
    for (index, seed, _), result in zip(jobs, _in_parallel(_hst_job, jobs, data_dir)):
        for job, line in result.items():
            lines.setdefault(seed, {}).setdefault(job, {})[SERIES[index].name] = line
    return lines


def _hst_by_features(totals: dict) -> str:
    return "the best per feature set and window: " + "  ".join(
        f"{features} {days:g} d: {max(t for job, t in totals.items() if job[1:3] == (features, days)):.1f}"
        for features in HST_FEATURES for days in HST_WINDOW_DAYS)


def _corpus(lines: dict, job) -> float:
    return corpus_score({n: line[0] for n, line in lines[job].items()}, _window_counts())


def _print_hst_seeds(by_seed: dict) -> None:
    """Per family: the best setting of the first seed scored with every seed, the best of each seed,
    and each seed's leave-one-series-out figure."""
    first = by_seed[HST_SEEDS[0]]
    names = [one.name for one in SERIES]
    for kind in ("alone", "and", "and-learned", "or"):
        best = max((job for job in first if job[0] == kind), key=lambda job: _corpus(first, job))
        held = []
        for seed in HST_SEEDS:
            family = {job: {n: by_seed[seed][job][n][0] for n in names} for job in by_seed[seed] if job[0] == kind}
            folds = leave_one_out(family)
            held.append(corpus_score({fold.held_out: fold.held_out_raw for fold in folds}, _window_counts()))
        print(f"  {kind}: seed {HST_SEEDS[0]}'s best with seeds {', '.join(map(str, HST_SEEDS))}: " + " / ".join(
            f"{_corpus(by_seed[seed], best):.1f}" for seed in HST_SEEDS) + "; each seed's best: " + " / ".join(
            f"{max(_corpus(by_seed[seed], job) for job in by_seed[seed] if job[0] == kind):.1f}"
            for seed in HST_SEEDS) + "; held out: " + " / ".join(f"{h:.1f}" for h in held))


def hstrees(data_dir: Path) -> None:
    """Streaming Half-Space Trees (Tan, Ting & Liu 2011; `river`'s HalfSpaceTrees), written here in
    numpy: at every 5-minute step a few causal features (the log seasonal ratios of the last 5
    minutes, hour and 12 hours, the asinh of the product's 1-hour z, the hour of day), scaled by
    their past week's range; random half-space trees whose node masses are counted over windows of
    1, 3 or 7 days, the model replaced at each window's end and scored with the previous window's
    masses. An anomaly where the score (low mass) passes a quantile of the past week's scores and
    the 1-hour ratio is at least 1.5-2.5 (upward only). Measured like `bocpd`: (1) alone, with the
    product's warm-up and 1-day cooldown; (2) AND: the product's alerts kept only with an anomaly
    within some hours before or after them (and, a variant, the alerts that come before HS-Trees
    scores at all left ungated); (3) OR: the alerts of either, one per day. Each on all
    five series and leave-one-series-out within its family (and with the product alone a candidate
    too); then the spread over seeds, and tree counts and depths at the best setting alone."""
    by_seed = _hst_lines([(index, seed, None) for seed in HST_SEEDS for index in range(len(SERIES))], data_dir)
    lines = by_seed[HST_SEEDS[0]]
    counts = _window_counts()
    product = {n: line[0] for n, line in lines[("product",)].items()}
    print(f"the product (1 h, z 5, ratio 2.5): {corpus_score(product, counts):.1f}")
    _print_setting_counts(("product",), lines, _hst_label)
    print(f"seed {HST_SEEDS[0]}:")
    for name, kind in (("HST alone", "alone"), ("product AND HST", "and"),
                       ("product AND HST, not gated before HST scores", "and-learned"), ("product OR HST", "or")):
        _print_combined_family(name, lines, kind, _hst_label, _hst_by_features)
    print("the best of each family on all five, per series:")
    for kind in ("alone", "and", "and-learned", "or"):
        _print_setting_counts(max((job for job in lines if job[0] == kind), key=lambda job: _corpus(lines, job)), lines, _hst_label)
    print("seeds:")
    _print_hst_seeds(by_seed)
    best = max((job for job in lines if job[0] == "alone"), key=lambda job: _corpus(lines, job))
    shapes = _hst_lines([(index, seed, best) for seed in HST_SEEDS for index in range(len(SERIES))], data_dir)
    print("the best alone with other trees x depth, seeds " + ", ".join(map(str, HST_SEEDS)) + ":")
    for trees, depth in HST_SHAPES:
        job = best[:5] + (trees, depth)
        print(f"  {trees} trees of depth {depth}: " + " / ".join(f"{_corpus(shapes[seed], job):.1f}"
                                                                 for seed in HST_SEEDS))


# --- holt-winters: additive triple exponential smoothing with a daily season, one hour ahead --------

HW_TRANSFORMS = ("sqrt", "log1p")  # the variance-stabilised 1-hour count that is smoothed
HW_UPDATES = ("plain", "clipped")  # clipped: the residual capped at +-3 spreads before it updates the model
HW_ALPHA = (0.1, 0.3)  # level, per hourly update
HW_BETA = (0.0, 0.02)  # trend (0: no trend term)
HW_GAMMA = (0.1, 0.3)  # season, per update of the same hour of day
HW_Z = (3.0, 4.0, 5.0, 6.0)  # residual over its running spread
HW_RATIO = (2.0, 2.5, 3.0)  # (observed + 12) / (forecast + 12), the product's ratio rule with the forecast
HW_CLIP = 3.0
HW_INIT_DAYS = 2  # the first two days set the level and the season (the classical start)
HW_LEARN_DAYS = 1  # then one day of residuals before it may alert
HW_SPREAD_HALFLIFE_HOURS = 72.0  # the residuals' running spread: an exponentially weighted mean square
HW_GATE_HOURS = (1.0, 3.0, 6.0, 12.0)  # AND: a Holt-Winters alert this near the product's alert


def _stabilised(x: np.ndarray, transform: str) -> np.ndarray:
    return np.sqrt(np.maximum(x, 0.0)) if transform == "sqrt" else np.log1p(np.maximum(x, 0.0))


def _destabilised(y: np.ndarray, transform: str) -> np.ndarray:
    y = np.maximum(y, 0.0)
    return y * y if transform == "sqrt" else np.expm1(y)


def holt_winters(y: np.ndarray, per_hour: int, alpha: float, beta: float, gamma: float, clipped: bool
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Additive Holt-Winters over the hourly values of `y` (a 1-hour window's value at every step),
    one model per phase of the hour: the step t belongs to the hourly series of the windows ending at
    t, t - 1 h, t - 2 h ..., which is smoothed with a 24-hour season and forecast one hour ahead, so
    the forecast for the window ending at t is made from the windows ending up to t - 1 h only. The
    first `HW_INIT_DAYS` days set the level (the last day's mean) and the season (the days' mean
    deviations from their own mean), trend 0. Residual spread: exponentially weighted mean square
    of the earlier residuals (clipped ones when `clipped`). Returns at every step the forecast and
    the residual z (nan before the model runs), and the first step it may alert on."""
    n, season = len(y), 24
    rows = -(-n // per_hour)
    table = np.full(rows * per_hour, np.nan)
    table[:n] = y
    table = table.reshape(rows, per_hour)
    start = 1  # row 0 holds partial windows
    days = [table[start + d * season: start + (d + 1) * season] for d in range(HW_INIT_DAYS)]
    means = [np.nanmean(day, axis=0) for day in days]
    seasonal, residuals = np.zeros((season, per_hour)), []
    for d, day in enumerate(days):
        seasonal[(start + d * season + np.arange(season)) % season] += (day - means[d]) / HW_INIT_DAYS
    for d, day in enumerate(days):
        residuals.append(day - means[d] - seasonal[(start + d * season + np.arange(season)) % season])
    variance = np.nanmean(np.concatenate(residuals) ** 2, axis=0)
    level, trend = means[-1].copy(), np.zeros(per_hour)
    keep = 1 - 0.5 ** (1 / HW_SPREAD_HALFLIFE_HOURS)
    forecast, z = np.full((rows, per_hour), np.nan), np.full((rows, per_hour), np.nan)
    first_row = start + HW_INIT_DAYS * season
    for k in range(first_row, rows):
        old = seasonal[k % season]
        expected = level + trend + old
        spread = np.sqrt(np.maximum(variance, 1e-12))
        error = table[k] - expected
        forecast[k], z[k] = expected, error / spread
        known = ~np.isnan(error)
        if clipped:
            error = np.clip(error, -HW_CLIP * spread, HW_CLIP * spread)
        error = np.where(known, error, 0.0)
        seen = expected + error
        new_level = alpha * (seen - old) + (1 - alpha) * (level + trend)
        trend = np.where(known, beta * (new_level - level) + (1 - beta) * trend, trend)
        seasonal[k % season] = np.where(known, gamma * (seen - new_level) + (1 - gamma) * old, old)
        level = np.where(known, new_level, level)
        variance = np.where(known, (1 - keep) * variance + keep * error * error, variance)
    first = (first_row + HW_LEARN_DAYS * season) * per_hour
    return forecast.ravel()[:n], z.ravel()[:n], first


def hw_candidates(observed: np.ndarray, forecast_count: np.ndarray, z: np.ndarray, z_bar: float,
                  ratio: float, smooth: int, first: int) -> np.ndarray:
    """Steps where the residual z reaches the bar and (observed + smooth) / (forecast + smooth)
    reaches the ratio (the product's ratio rule with the forecast as baseline), from step `first`."""
    with np.errstate(invalid="ignore"):
        hot = (z >= z_bar) & ((observed + smooth) / (forecast_count + smooth) >= ratio)
    hot[:first] = False
    return hot


def _hw_job(index: int) -> dict:
    """Standard-profile lines (raw score, windows found, false alarms) of the product, and of every
    Holt-Winters setting alone (one alert per cooldown), AND the product (either order), OR the
    product, on one series."""
    one, bucket_seconds, settings, hour, product = _series_and_product(index)
    observed = windowed_counts(one.values, settings)
    lines = {("product",): _art_line(one, product)}
    for transform in HW_TRANSFORMS:
        y = _stabilised(observed, transform)
        for update in HW_UPDATES:
            for alpha in HW_ALPHA:
                for beta in HW_BETA:
                    for gamma in HW_GAMMA:
                        forecast, z, first = holt_winters(y, hour, alpha, beta, gamma, update == "clipped")
                        forecast_count = _destabilised(forecast, transform)
                        first = max(first, settings.warmup)
                        for z_bar in HW_Z:
                            for ratio in HW_RATIO:
                                model = (transform, update, alpha, beta, gamma, z_bar, ratio)
                                hot = hw_candidates(observed, forecast_count, z, z_bar, ratio, settings.smooth, first)
                                _add_gated_lines(lines, one, model, hot, product, HW_GATE_HOURS, settings.cooldown, hour)
    return lines


def _add_gated_lines(lines: dict, one, model: tuple, hot, product, gate_hours, cooldown: int, hour: int) -> None:
    """The family's alerts alone, OR the product's, and the product's AND them within each gate."""
    alone = suppressed(hot, cooldown)
    lines[("alone",) + model] = _art_line(one, alone)
    lines[("or",) + model] = _art_line(one, either(product, alone, cooldown))
    for gate in gate_hours:
        lines[("and",) + model + (gate,)] = _art_line(one, confirmed_either_order(product, hot, int(gate * hour)))


HW_PROBE_Z = (5.0, 5.5, 6.0, 6.5, 7.0)  # after the grid: around the best alone
HW_PROBE_RATIO = (1.5, 1.75, 2.0, 2.25, 2.5)


def _hw_probe(job) -> dict:
    """Lines of the best Holt-Winters setting alone with the z and ratio bars of `HW_PROBE_Z` x
    `HW_PROBE_RATIO`, on one series."""
    index, (_, transform, update, alpha, beta, gamma, _, _) = job
    one = SERIES[index]
    bucket_seconds = series_bucket_seconds(one.timestamps)
    settings = cell_settings(product_cell(), bucket_seconds)
    observed = windowed_counts(one.values, settings)
    forecast, z, first = holt_winters(_stabilised(observed, transform), int(3600 / bucket_seconds), alpha, beta,
                                      gamma, update == "clipped")
    forecast_count, first = _destabilised(forecast, transform), max(first, settings.warmup)
    return {("alone", transform, update, alpha, beta, gamma, z_bar, ratio): _art_line(one, suppressed(
        hw_candidates(observed, forecast_count, z, z_bar, ratio, settings.smooth, first), settings.cooldown))
        for z_bar in HW_PROBE_Z for ratio in HW_PROBE_RATIO}


def _hw_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    kind, transform, update, alpha, beta, gamma, z_bar, ratio, *gate = job
    model = (f"{transform}, {update}, alpha {alpha:g} beta {beta:g} gamma {gamma:g}, z {z_bar:g}, ratio {ratio:g}")
    if kind == "and":
        return f"product AND HW ({model}) within {gate[0]:g} h before or after, alerted at the later"
    return f"HW ({model})" if kind == "alone" else f"product OR HW ({model})"


def _best_by(position: int, values, name: str):
    """A breakdown for `_print_combined_family`: the family's best at each value of the setting at
    `position` of the job tuple."""
    def breakdown(totals: dict) -> str:
        return f"the best at each {name}: " + "  ".join(
            (f"{value:g}" if isinstance(value, float) else f"{value}")
            + f": {max(t for job, t in totals.items() if job[position] == value):.1f}" for value in values)
    return breakdown


def _print_families(jobs_function, label, families, breakdowns, data_dir: Path) -> dict:
    """Run a per-series job on all cores and print the product, each family (alone, AND, OR) as
    `bocpd` does, and the best of each family on all five, per series; returns the lines."""
    jobs = list(range(len(SERIES)))
    lines: dict = {}
    for index, result in zip(jobs, _in_parallel(jobs_function, jobs, data_dir)):
        for job, line in result.items():
            lines.setdefault(job, {})[SERIES[index].name] = line
    counts = _window_counts()
    product = {n: line[0] for n, line in lines[("product",)].items()}
    print(f"the product (1 h, z 5, ratio 2.5): {corpus_score(product, counts):.1f}")
    _print_setting_counts(("product",), lines, label)
    for name, kind in families:
        _print_combined_family(name, lines, kind, label, lambda totals: (
            f"range {min(totals.values()):.1f}-{max(totals.values()):.1f}; "
            + "; ".join(b(totals) for b in breakdowns)))
    print("the best of each family on all five, per series:")
    for _, kind in families:
        _print_setting_counts(max((job for job in lines if job[0] == kind), key=lambda job: _corpus(lines, job)),
                              lines, label)
    return lines


def _print_neighbourhood(probe_job, lines: dict, label, bars, ratios, bar_name: str, data_dir: Path) -> None:
    """After the grid: the best setting alone with its two bars moved (`probe_job((index, best))`
    gives a series' lines for every (bar, ratio) at the best's other settings), as a table, and
    the leave-one-series-out figure of the grid and these together (optimistic: the bars were
    widened after the grid was seen)."""
    best = max((job for job in lines if job[0] == "alone"), key=lambda job: _corpus(lines, job))
    jobs = [(index, best) for index in range(len(SERIES))]
    probe: dict = {}
    for (index, _), result in zip(jobs, _in_parallel(probe_job, jobs, data_dir)):
        for job, line in result.items():
            probe.setdefault(job, {})[SERIES[index].name] = line
    print(f"after the grid: {label(best)} with other bars ({bar_name} down, ratio across):")
    print("  " + " " * 6 + " ".join(f"{ratio:6g}" for ratio in ratios))
    for bar in bars:
        print(f"  {bar:6g}" + " ".join(f"{_corpus(probe, best[:-2] + (bar, ratio)):6.1f}" for ratio in ratios))
    names = [one.name for one in SERIES]
    family = {job: {n: table[job][n][0] for n in names} for table in (lines, probe) for job in table
              if job[0] == "alone"}
    _print_leave_one_out("the grid alone and these (bars widened after the grid was seen)", family, label)


def holt_winters_family(data_dir: Path) -> None:
    """Additive Holt-Winters (triple exponential smoothing: level, trend, 24-hour season), written
    here: the 1-hour count at every 5-minute step, square-root or log1p stabilised, smoothed as
    twelve hourly series (one per phase of the hour) and forecast one hour ahead, so the window
    ending now is compared with a forecast made from the windows that ended an hour or more ago;
    the level and season set by the first two days, trend 0; residual spread an exponentially
    weighted mean square of the past residuals (half-life 3 days); the model updated with every
    residual, or with it capped at 3 spreads (a burst then barely moves the level, the season or
    the spread). An alert where the residual z reaches 3-6 and (1-hour count + 12) / (forecast + 12)
    reaches 2-3, from day 3 (the product's warm-up counts too), then the product's 1-day cooldown.
    Grid (declared before it was scored): transform 2 x update 2 x alpha 0.1, 0.3 x beta 0, 0.02 x
    gamma 0.1, 0.3 x z 3-6 x ratio 2-3 = 384 settings alone. Measured like `bocpd`: (1) alone;
    (2) AND: the product's alerts kept only with a Holt-Winters alert candidate within 1-12 h
    before or after (alerted at the later); (3) OR: the alerts of either, one per day. Each on all
    five series and leave-one-series-out within its family (and with the product alone a candidate too);
    then, after the grid, the best alone with z 5-7 and ratio 1.5-2.5."""
    lines = _print_families(_hw_job, _hw_label,
                            (("HW alone", "alone"), ("product AND HW", "and"), ("product OR HW", "or")),
                            (_best_by(1, HW_TRANSFORMS, "transform"),
                             _best_by(2, HW_UPDATES, "update"), _best_by(6, HW_Z, "z")), data_dir)
    _print_neighbourhood(_hw_probe, lines, _hw_label, HW_PROBE_Z, HW_PROBE_RATIO, "z", data_dir)


# --- spectral-residual: Spectral Residual saliency (Ren et al., KDD 2019), made causal ---------------

SR_MINUTES = (15, 60)  # the series SR sees: the count of the last 15 or 60 minutes, one point per 15 or 60 minutes
SR_DAYS = (1.0, 3.0)  # the SR window: the last 1 or 3 days of those points, ending at the current step
SR_TRANSFORMS = ("raw", "log1p")
SR_BAR = (1.0, 2.0, 3.0, 5.0)  # (saliency - its local mean) / its local mean (the paper's score; 3 is the reference's)
SR_RATIO = (2.0, 2.5, 3.0)  # the product's 1-hour seasonal ratio at least this (a rise, not a dip)
SR_AMPLITUDE_WINDOW = 3  # q: the log amplitude spectrum's moving average (the paper's)
SR_LOCAL_POINTS = 21  # z: the saliency of the current point against the mean of the preceding 21 (the paper's)
SR_EXTEND = 5  # kappa: estimated points appended after the current one (the paper's)
SR_SLOPE_POINTS = 5  # m: the preceding points whose mean slope gives the estimate (the paper's)
SR_GATE_HOURS = (1.0, 3.0, 6.0, 12.0)  # AND: an SR anomaly this near the product's alert


def spectral_residual_saliency(windows: np.ndarray) -> np.ndarray:
    """The SR saliency map of each row (Ren et al. 2019, eq. 1-6): log amplitude spectrum minus its
    moving average over `SR_AMPLITUDE_WINDOW` frequencies, back with the original phase; each row
    first extended by `SR_EXTEND` copies of x_n+1 = x_n-m+1 + m g, g the mean slope from the
    last point to each of the m before it. The map of the original points only is returned."""
    points, m = windows.shape[1], SR_SLOPE_POINTS
    last = windows[:, -1:]
    slope = ((last - windows[:, -1 - m:-1]) / np.arange(m, 0, -1)[None, :]).mean(axis=1, keepdims=True)
    estimate = windows[:, -m:-m + 1] + slope * m
    extended = np.concatenate([windows, np.repeat(estimate, SR_EXTEND, axis=1)], axis=1)
    spectrum = np.fft.rfft(extended, axis=1)
    amplitude = np.maximum(np.abs(spectrum), 1e-8)
    log_amplitude = np.log(amplitude)
    residual = log_amplitude - uniform_filter1d(log_amplitude, SR_AMPLITUDE_WINDOW, axis=1, mode="nearest")
    saliency = np.abs(np.fft.irfft(np.exp(residual) * spectrum / amplitude, n=extended.shape[1], axis=1))
    return saliency[:, :points]


def sr_scores(values, bucket_seconds: float, minutes: int, days: float, transform: str) -> np.ndarray:
    """At every 5-minute step, from that step and before only: the SR score of the current point in
    the saliency map of the last `days` of `minutes` counts (one point per `minutes`, the last one
    ending at the step): (S - mean of the preceding `SR_LOCAL_POINTS` S) / that mean; nan while the
    window reaches back before the series' first full count."""
    steps = max(1, round(minutes * 60 / bucket_seconds))
    counts = np.convolve(np.asarray(values, dtype=float), np.ones(steps))[: len(values)]
    signal = counts if transform == "raw" else np.log1p(counts)
    points = int(days * 86400 / (minutes * 60))
    score = np.full(len(values), np.nan)
    offsets = steps * np.arange(points - 1, -1, -1)
    first = steps - 1 + offsets[0]
    for begin in range(first, len(values), 2000):
        at = np.arange(begin, min(begin + 2000, len(values)))
        saliency = spectral_residual_saliency(signal[at[:, None] - offsets[None, :]])
        local = np.maximum(saliency[:, -1 - SR_LOCAL_POINTS:-1].mean(axis=1), 1e-8)
        score[at] = (saliency[:, -1] - local) / local
    return score


def _sr_job(index: int) -> dict:
    """Standard-profile lines (raw score, windows found, false alarms) of the product, and of every
    SR setting alone (one alert per cooldown), AND the product (either order), OR the product, on one series."""
    one, bucket_seconds, settings, hour, product = _series_and_product(index)
    lines = {("product",): _art_line(one, product)}
    for model, hot in _sr_anomalies(one, bucket_seconds, settings):
        _add_gated_lines(lines, one, model, hot, product, SR_GATE_HOURS, settings.cooldown, hour)
    return lines


def _sr_anomalies(one, bucket_seconds: float, settings):
    """(setting, where it finds an anomaly) for every SR setting of the grid, on one series."""
    log_ratio = _seasonal_log_ratio(one.values, bucket_seconds, 60)[0]
    for minutes in SR_MINUTES:
        for days in SR_DAYS:
            for transform in SR_TRANSFORMS:
                score = sr_scores(one.values, bucket_seconds, minutes, days, transform)
                for bar in SR_BAR:
                    for ratio in SR_RATIO:
                        yield ((minutes, days, transform, bar, ratio),
                               hst_candidates(score, np.full(len(score), bar), log_ratio, ratio, settings.warmup))


SR_PROBE_BAR = (0.5, 0.75, 1.0, 1.25, 1.5)  # after the grid: around the best alone
SR_PROBE_RATIO = (1.5, 1.75, 2.0, 2.25, 2.5)


def _sr_probe(job) -> dict:
    """Lines of the best SR setting alone with the score and ratio bars of `SR_PROBE_BAR` x
    `SR_PROBE_RATIO`, on one series."""
    index, (_, minutes, days, transform, _, _) = job
    one = SERIES[index]
    bucket_seconds = series_bucket_seconds(one.timestamps)
    settings = cell_settings(product_cell(), bucket_seconds)
    log_ratio = _seasonal_log_ratio(one.values, bucket_seconds, 60)[0]
    score = sr_scores(one.values, bucket_seconds, minutes, days, transform)
    return {("alone", minutes, days, transform, bar, ratio): _art_line(one, suppressed(
        hst_candidates(score, np.full(len(score), bar), log_ratio, ratio, settings.warmup), settings.cooldown))
        for bar in SR_PROBE_BAR for ratio in SR_PROBE_RATIO}


def _sr_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    kind, minutes, days, transform, bar, ratio, *gate = job
    model = f"{minutes}-min points, {days:g} d window, {transform}, score {bar:g}, ratio {ratio:g}"
    if kind == "and":
        return f"product AND SR ({model}) within {gate[0]:g} h before or after, alerted at the later"
    return f"SR ({model})" if kind == "alone" else f"product OR SR ({model})"


def spectral_residual(data_dir: Path) -> None:
    """Spectral Residual saliency (Ren et al., KDD 2019, "Time-Series Anomaly Detection Service at
    Microsoft"; written here from the paper), made causal: at every 5-minute step, the last 1 or 3
    days of 15- or 60-minute counts (raw or log1p), the last point ending at the step, extended by
    5 estimated points (the paper's trick, so the current point is not at the window's edge); its SR
    saliency map (log amplitude spectrum minus its 3-point average, back with the phase), and the
    current point's score (S - mean S of the 21 points before) / that mean. An anomaly where the
    score reaches 1-5 and the product's 1-hour seasonal ratio is at least 2-3 (upward only: SR is
    sign-blind), past the product's warm-up, then its 1-day cooldown. Grid (declared before it was
    scored): minutes 2 x days 2 x transform 2 x score 4 x ratio 3 = 96 alone. Measured like
    `bocpd`: (1) alone; (2) AND (either order, 1-12 h); (3) OR; each on all five series and
    leave-one-series-out within its family (and with the product alone a candidate too); then, after
    the grid, the best alone with score bars 0.5-1.5 and ratio 1.5-2.5."""
    lines = _print_families(_sr_job, _sr_label,
                            (("SR alone", "alone"), ("product AND SR", "and"), ("product OR SR", "or")),
                            (_best_by(1, SR_MINUTES, "resolution (min)"),
                             _best_by(2, SR_DAYS, "window (d)"),
                             _best_by(3, SR_TRANSFORMS, "transform"),
                             _best_by(4, SR_BAR, "score bar")), data_dir)
    _print_neighbourhood(_sr_probe, lines, _sr_label, SR_PROBE_BAR, SR_PROBE_RATIO, "score", data_dir)


SR_INSIDE_HOURS = (1.0, 3.0, 6.0, 12.0, 24.0)  # a bucket is hot only with an SR anomaly this recent


def _sr_inside_job(index: int) -> dict:
    """Standard-profile lines of the product, and of the product with SR inside it: a bucket is hot
    only when it is hot for the product AND an SR anomaly came in the last 1-24 h (incidents, warm-up
    and cooldown as the product's), for every SR setting of `spectral-residual`, on one series."""
    one, bucket_seconds, settings, hour, product = _series_and_product(index)
    stats = bucket_stats(one.values, settings)
    lines = {("product",): _art_line(one, product)}
    for model, anomaly in _sr_anomalies(one, bucket_seconds, settings):
        for hours in SR_INSIDE_HOURS:
            recent = np.convolve(anomaly.astype(float), np.ones(int(hours * hour)))[: len(anomaly)] > 0
            gated = dataclasses.replace(stats, hot=stats.hot & recent)
            lines[("inside",) + model + (hours,)] = _art_line(
                one, alert_flags(len(one.values), find_incidents(gated, settings)))
    return lines


def _sr_inside_label(job) -> str:
    if job == ("product",):
        return "the product (1 h, z 5, ratio 2.5)"
    _, minutes, days, transform, bar, ratio, hours = job
    return (f"product hot only with an SR anomaly ({minutes}-min points, {days:g} d window, {transform}, "
            f"score {bar:g}, ratio {ratio:g}) in the last {hours:g} h")


def spectral_residual_inside(data_dir: Path) -> None:
    """The `spectral-residual` gate as the product would run it: not on alert openings (kept only with
    an SR anomaly within 12 h before or after, alerted at the later: an alert can come up to 12 h
    late), but on buckets: a bucket is hot only when the product's conditions hold and an SR anomaly
    came in the last 1-24 h, so an incident opens at its first such bucket and never later than the
    product would alert on it. The 96 SR settings of `spectral-residual` x 5 spans = 480 settings;
    on all five series and leave-one-series-out (the product alone a candidate too)."""
    _print_families(_sr_inside_job, _sr_inside_label, (("product with SR inside", "inside"),),
                    (_best_by(6, SR_INSIDE_HOURS, "span (h)"), _best_by(1, SR_MINUTES, "resolution (min)")), data_dir)


# --- materiality: an alert only once the burst's extra mentions reach a share of a normal day -------

MATERIALITY_CELLS = (Cell(3600.0, 5.0, 2.5), Cell(3600.0, 4.0, 2.5), Cell(3600.0, 5.0, 2.0), Cell(3600.0, 4.0, 2.0),
                     Cell(3600.0, 3.5, 2.0))
MATERIALITY_SHARES = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3)
MATERIALITY_HOURS = (6, 24)


def material_opening(values: np.ndarray, expected_per_bucket: np.ndarray, incident, settings: DetectorSettings,
                     share: float, hours: int) -> int | None:
    """The first bucket of the incident, within `hours` of its opening, by which the mentions above
    the expected count (from the start of the window that opened it) reach `share` of the expected
    mentions of the day before it; None if they never do."""
    day = np.nansum(expected_per_bucket[max(0, incident.start - settings.season):incident.start])
    first = max(0, incident.start - settings.smooth + 1)
    last = min(len(values) - 1, incident.end, incident.start + int(hours * settings.season / 24))
    extra = np.nancumsum(values[first:last + 1] - expected_per_bucket[first:last + 1])[incident.start - first:]
    reached = np.nonzero(extra >= share * day)[0]
    return incident.start + int(reached[0]) if len(reached) else None


def _materiality_scores(cell: Cell) -> dict:
    """Raw scores per series of every gate on one cell, its incidents found once per series."""
    results = {(cell, share, hours): {} for share in MATERIALITY_SHARES for hours in MATERIALITY_HOURS}
    for one in SERIES:
        settings = cell_settings(cell, series_bucket_seconds(one.timestamps))
        values = np.asarray(one.values, dtype=float)
        stats, incidents = detect(values, settings)
        expected_per_bucket = stats.expected / settings.smooth
        for (_, share, hours), scores in results.items():
            flags = np.zeros(len(values))
            for incident in incidents:
                opening = material_opening(values, expected_per_bucket, incident, settings, share, hours)
                if opening is not None:
                    flags[opening] = 1.0
            scores[one.name] = _raw_score(one, flags)
    return results


def materiality(data_dir: Path) -> None:
    """A materiality gate on 1-hour settings: an incident alerts only once its extra mentions (above
    the seasonal expected count, summed from the start of the window that opened it) reach 2-30 % of
    the mentions expected in a day, within 6 or 24 hours of its opening, so a short flurry of a few
    extra posts is not news. Share 0 is the setting without the gate."""
    results = {}
    for per_cell in _in_parallel(_materiality_scores, MATERIALITY_CELLS, data_dir):
        results.update((job, scores) for job, scores in per_cell.items() if job[1] or job[2] == MATERIALITY_HOURS[0])
    counts = _window_counts()
    for job in sorted(results, key=lambda one: -corpus_score(results[one], counts))[:10]:
        print(f"{_materiality_label(job)}: {corpus_score(results[job], counts):.1f}")
    ungated = (product_cell(), 0.0, MATERIALITY_HOURS[0])
    print(f"the product, {_materiality_label(ungated)}: {corpus_score(results[ungated], counts):.1f}")
    _print_leave_one_out("the gated settings and the ungated ones", results, _materiality_label)


def _materiality_label(job) -> str:
    cell, share, hours = job
    gate = f"extra mentions >= {share:g} of a day within {hours} h" if share else "no gate"
    return f"{cell.label}, {gate}"


# --- learned-gate: a logistic model of which hot buckets fall inside labelled windows ---------------

GATE_CELLS = (Cell(3600.0, 3.5, 2.0), Cell(3600.0, 4.0, 2.0), Cell(3600.0, 5.0, 2.5))
GATE_STRENGTHS = (0.01, 0.1, 1.0)  # the logistic regression's C (smaller: more regularised)
GATE_BARS = tuple(round(0.05 * step, 2) for step in range(20))  # 0 lets every hot bucket through


class HotBuckets(NamedTuple):
    """One series under one cell: its detector state, its hot buckets, their features and labels."""
    one: object
    settings: DetectorSettings
    stats: BucketStats
    where: np.ndarray  # indices of the hot buckets
    features: np.ndarray  # one row per hot bucket
    inside: np.ndarray  # 1 where the hot bucket lies in a labelled window


def hot_bucket_features(one, cell: Cell) -> HotBuckets:
    """Causal features of every hot bucket: log ratio, log(1 + z), log(1 + expected count), the
    busiest 5-minute step of the window against its expected share, the hour before the window
    against the expected count, and how many hot buckets the series had 1-7 days before."""
    settings = cell_settings(cell, series_bucket_seconds(one.timestamps))
    values = np.asarray(one.values, dtype=float)
    stats = bucket_stats(values, settings)
    window, day = settings.smooth, settings.season
    hot_so_far = np.concatenate([[0], np.cumsum(stats.hot)])
    seconds = np.array([stamp.timestamp() for stamp in one.timestamps])
    where = np.flatnonzero(stats.hot)
    rows = []
    for t in where:
        busiest = (values[max(0, t - window + 1):t + 1].max() + 1) / (stats.expected[t] / window + 1)
        hour_before = values[max(0, t - 2 * window + 1):max(0, t - window + 1)].sum()
        recent_hot = hot_so_far[max(0, t - day)] - hot_so_far[max(0, t - 7 * day)]
        rows.append([np.log(stats.ratio[t]), np.log1p(max(stats.z[t], 0.0)), np.log1p(stats.expected[t]),
                     np.log(busiest), np.log((hour_before + window) / (stats.expected[t] + window)),
                     np.log1p(recent_hot)])
    inside = np.array([any(start.timestamp() <= seconds[t] <= end.timestamp() for start, end in one.spans)
                       for t in where], dtype=int)
    return HotBuckets(one, settings, stats, where, np.array(rows).reshape(len(where), 6), inside)


def _fitted_gate(parts: list[HotBuckets], strength: float):
    """A class-balanced logistic regression of `inside` on the features of `parts`; returns the
    function giving a hot bucket's probability of lying in a window."""
    from sklearn.linear_model import LogisticRegression
    features = np.vstack([part.features for part in parts])
    mean, spread = features.mean(axis=0), features.std(axis=0) + 1e-9
    model = LogisticRegression(C=strength, class_weight="balanced", max_iter=3000)
    model.fit((features - mean) / spread, np.concatenate([part.inside for part in parts]))
    return lambda rows: model.predict_proba((rows - mean) / spread)[:, 1]


def _gated_raw(part: HotBuckets, probability: np.ndarray, bar: float) -> float:
    """The series' raw score when only the hot buckets at or above `bar` stay hot (incidents, warm-up
    and cooldown as the product's, so never later than the product would alert)."""
    hot = np.zeros(len(part.stats.hot), dtype=bool)
    hot[part.where[probability >= bar]] = True
    incidents = find_incidents(dataclasses.replace(part.stats, hot=hot), part.settings)
    return _raw_score(part.one, alert_flags(len(hot), incidents))


def _chosen_bar(parts: list[HotBuckets], strength: float) -> float:
    """The bar that scores best on `parts`, each scored by a gate fitted on the others (so the bar
    is chosen on probabilities the gate did not see in training)."""
    unseen = {i: _fitted_gate(parts[:i] + parts[i + 1:], strength)(part.features) for i, part in enumerate(parts)}
    totals = {bar: sum(_gated_raw(part, unseen[i], bar) for i, part in enumerate(parts)) for bar in GATE_BARS}
    return max(GATE_BARS, key=lambda bar: (totals[bar], -bar))


def _learned_gate_job(cell: Cell) -> list[str]:
    parts = [hot_bucket_features(one, cell) for one in SERIES]
    counts = _window_counts()
    lines = [f"{cell.label}: {sum(len(p.where) for p in parts)} hot buckets, "
             f"{sum(int(p.inside.sum()) for p in parts)} inside windows"]
    for strength in GATE_STRENGTHS:
        gate = _fitted_gate(parts, strength)
        in_sample = {bar: corpus_score({p.one.name: _gated_raw(p, gate(p.features), bar) for p in parts}, counts)
                     for bar in GATE_BARS}
        best = max(GATE_BARS, key=lambda bar: (in_sample[bar], -bar))
        held_out, bars = {}, []
        for i, part in enumerate(parts):
            others = parts[:i] + parts[i + 1:]
            bar = _chosen_bar(others, strength)
            held_out[part.one.name] = _gated_raw(part, _fitted_gate(others, strength)(part.features), bar)
            bars.append(f"{bar:g}")
        lines.append(f"  C {strength:g}: fitted on all five {in_sample[best]:.1f} (bar {best:g}; ungated "
                     f"{in_sample[0.0]:.1f}); leave-one-series-out {corpus_score(held_out, counts):.1f} "
                     f"(bars {', '.join(bars)})")
    return lines


def learned_gate(data_dir: Path) -> None:
    """A learned gate inside the detector: a logistic regression, fitted on labelled series, of
    whether a hot bucket lies in a labelled window, from causal features of that bucket; a bucket
    stays hot only where its probability reaches a bar. Three candidate cells (the product's and two
    looser ones) x C 0.01 / 0.1 / 1 x 20 bars. "Fitted on all five" fits and chooses the bar on all
    five series; leave-one-series-out fits on four, chooses the bar on those four (each scored by a
    gate fitted on the other three), and scores the fifth."""
    for lines in _in_parallel(_learned_gate_job, GATE_CELLS, data_dir):
        print("\n".join(lines))


VARIANTS = {"season": season, "two-windows": two_windows, "slow-rise": slow_rise, "ewma": ewma, "adaptive": adaptive,
            "thinned": thinned, "ratio-prior": ratio_prior,
            "vote": vote, "level": level, "level-prior": level_prior, "weekday": weekday, "bars": bars,
            "timezone": timezone, "short-window": short_window,
            "novelty": novelty, "scan": scan, "scan-models": scan_models, "scan-nb": scan_nb, "scan-union": scan_union,
            "likelihood": likelihood, "art": art, "bocpd": bocpd, "hstrees": hstrees,
            "holt-winters": holt_winters_family, "spectral-residual": spectral_residual,
            "spectral-residual-inside": spectral_residual_inside, "materiality": materiality,
            "learned-gate": learned_gate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO.parent / "shared" / "data")))
    arguments = parser.parse_args()
    try:
        _load(arguments.data)
        VARIANTS[arguments.variant](arguments.data)
    except (OSError, ValueError) as error:
        sys.exit(f"{Path(__file__).name}: {error}")


if __name__ == "__main__":
    main()
