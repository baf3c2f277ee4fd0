"""The measurement scripts in scripts/experiments: the pieces their README figures rest on."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np

from alerts.detector import DetectorSettings
from conftest import REPO_ROOT


def _nab_variants():
    path = REPO_ROOT / "scripts" / "experiments" / "nab_variants.py"
    spec = importlib.util.spec_from_file_location("nab_variants", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ewma_baseline_is_causal_and_tracks_the_level():
    ewma_mean_and_spread = _nab_variants().ewma_mean_and_spread
    rng = np.random.default_rng(5)
    observed = rng.poisson(20, 2000).astype(float)
    lag = 12
    mean, spread = ewma_mean_and_spread(observed, halflife=100, lag=lag)
    assert abs(mean[-1] - 20) < 3 and 2 < spread[-1] < 7  # Poisson(20): sd about 4.5

    changed = observed.copy()
    changed[1500:] += 1000  # a burst from bucket 1500 on
    mean_changed, spread_changed = ewma_mean_and_spread(changed, halflife=100, lag=lag)
    # the baseline of a bucket never sees the current window (the last `lag` buckets) or later ones
    assert np.array_equal(mean[: 1500 + lag], mean_changed[: 1500 + lag])
    assert np.array_equal(spread[: 1500 + lag], spread_changed[: 1500 + lag])
    assert mean_changed[1500 + lag] > mean[1500 + lag]


def test_experiment_scripts_say_what_is_wrong_with_a_missing_data_folder(tmp_path):
    for script, variant in (("nab_variants.py", "season"), ("sentiment_variants.py", "offsets")):
        result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "experiments" / script), variant,
                                 "--data", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=300)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert script in result.stderr and "nowhere" in result.stderr


def test_adaptive_bar_after_a_crisis_plain_rule_misses_the_next_one_cap_and_exclude_do_not():
    module = _nab_variants()
    from alerts.detector import BucketStats

    day = 24  # hourly buckets
    settings = DetectorSettings(season=day, smooth=1, threshold=5.0, min_ratio=1.0, warmup=0, cooldown=day)
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, 30 * day)
    crisis = slice(10 * day, 10 * day + 6)  # six hours at z 60: above the 99.5th percentile of 14 days
    follow_up = 16 * day  # a week later, z 12: a real spike, but far below the crisis
    z[crisis] = 60.0
    z[follow_up] = 12.0

    def hot_under(rule, z=z):
        stats = BucketStats(np.zeros(len(z)), np.zeros(len(z)), z, np.full(len(z), 3.0), z >= settings.threshold)
        return module.adaptive_hot(stats, settings, quantile=0.995, factor=1.0, days=14, rule=rule)

    for rule in ("plain", "cap", "exclude"):
        assert hot_under(rule)[crisis].all()
    assert not hot_under("plain")[follow_up]  # the crisis raised the bar to 60
    assert hot_under("cap")[follow_up]  # the bar stops at twice the fixed one
    assert hot_under("exclude")[follow_up]  # the crisis' own buckets do not count

    later_changed = z.copy()
    later_changed[follow_up + 1:] = 100.0  # what comes after a bucket never changes whether it is hot
    for rule in ("plain", "exclude"):
        assert np.array_equal(hot_under(rule)[: follow_up + 1], hot_under(rule, later_changed)[: follow_up + 1])


def test_thinning_keeps_a_share_of_each_bucket_and_is_repeatable():
    thinned_values = _nab_variants().thinned_values
    counts = np.random.default_rng(3).poisson(200, 5000)
    quarter = thinned_values(counts, 0.25, seed=1, series_index=0)
    assert np.all(quarter <= counts) and np.all(quarter >= 0)
    assert abs(quarter.sum() / counts.sum() - 0.25) < 0.005
    assert np.array_equal(quarter, thinned_values(counts, 0.25, seed=1, series_index=0))
    assert not np.array_equal(quarter, thinned_values(counts, 0.25, seed=2, series_index=0))
    assert not np.array_equal(quarter, thinned_values(counts, 0.25, seed=1, series_index=1))
    assert np.array_equal(thinned_values(counts, 1.0, seed=1, series_index=0), counts)


def test_ratio_prior_in_mentions_lets_a_quiet_series_burst_that_one_per_bucket_hides():
    variants = _nab_variants()
    from alerts.detector import bucket_stats
    from alerts.nab_grid import cell_settings

    settings = cell_settings(variants.kept_cell(), 300.0)  # NAB's 5-minute steps: 12 buckets an hour
    rng = np.random.default_rng(11)
    values = rng.poisson(0.1, 288 * 10).astype(float)  # about 1 mention an hour
    burst = 288 * 9 + 100
    values[burst: burst + 12] += 1  # 12 more mentions within one hour
    per_bucket = variants.hot_with_ratio_prior(values, settings, None)
    assert np.array_equal(per_bucket.hot, bucket_stats(values, settings).hot)
    in_burst = slice(burst, burst + 24)
    # one added mention per bucket: (about 13 + 12) / (about 1 + 12) is under the ratio bar of 3
    assert not per_bucket.hot[in_burst].any()
    one_mention = variants.hot_with_ratio_prior(values, settings, 1.0)
    assert one_mention.hot[in_burst].any()
    assert np.array_equal(one_mention.z, per_bucket.z)  # only the ratio changes


def test_recent_level_uses_only_windows_before_the_current_one_and_is_clipped():
    variants = _nab_variants()
    settings = DetectorSettings(season=24, smooth=2)
    observed = np.full(40, 10.0)
    expected = np.full(40, 10.0)
    observed[30:] = 100.0  # a surge from bucket 30 on
    level = variants.recent_level(observed, expected, settings, hours=3, clip=(1.0, 1.5))
    assert level[31] == 1.0  # the surge is in the current window only: it does not raise its own baseline
    assert level[32] > 1.0  # one window later it does
    assert level[39] == 1.5  # clipped
    quiet = variants.recent_level(np.zeros(40), expected, settings, hours=3, clip=(0.5, 2.0))
    assert 0.5 <= quiet[20] < 1.0


def test_weekday_factor_uses_whole_past_days_only_and_is_clipped():
    import datetime as dt

    variants = _nab_variants()
    start = dt.datetime(2015, 3, 2)  # a Monday
    timestamps = [start + dt.timedelta(hours=h) for h in range(24 * 28)]
    # Sundays carry half a weekday's mentions
    values = [5.0 if moment.weekday() == 6 else 10.0 for moment in timestamps]
    factor = variants.weekday_factor(values, timestamps, weeks=2, clip=(0.33, 2.0))
    by_day = {moment.date(): f for moment, f in zip(timestamps, factor)}
    assert by_day[dt.date(2015, 3, 8)] == 1.0  # the first Sunday: no whole week before it
    assert by_day[dt.date(2015, 3, 15)] == 0.5  # later Sundays: half the week's median day
    assert by_day[dt.date(2015, 3, 16)] == 1.0  # a Monday is a typical day
    values[-24:] = [1000.0] * 24  # a burst on the last day does not change its own factor
    assert np.array_equal(variants.weekday_factor(values, timestamps, 2, (0.33, 2.0)), factor)
    clipped = variants.weekday_factor(values, timestamps, weeks=2, clip=(0.8, 1.0))
    assert clipped.min() == 0.8


def test_bars_flags_are_the_products_alerts_at_each_pair_of_bars():
    """The `bars` experiment computes the baseline once for every pair of bars: at each pair, its
    alerts must be the ones the product's detector gives with those bars."""
    import dataclasses

    from alerts.detector import alert_flags, detect
    from alerts.nab_grid import Cell, cell_settings

    variants = _nab_variants()
    rng = np.random.default_rng(3)
    values = rng.poisson(4, 288 * 12).astype(float)
    for start, size in ((288 * 8 + 50, 9), (288 * 10 + 140, 5), (288 * 11 + 10, 3)):
        values[start: start + 12] += size  # bursts of different sizes: some pairs of bars catch them
    settings = cell_settings(Cell(3600.0, 5.0, 3.0), 300.0)
    flags_at = variants.bars_flags(values, settings)
    alerts_seen = set()
    for z_bar in variants.BARS_Z:
        for ratio_bar in variants.BARS_RATIO:
            tuned = dataclasses.replace(settings, threshold=z_bar, min_ratio=ratio_bar)
            expected = alert_flags(len(values), detect(values, tuned)[1])
            assert np.array_equal(flags_at(z_bar, ratio_bar), expected), (z_bar, ratio_bar)
            alerts_seen.add(int(expected.sum()))
    assert len(alerts_seen) > 1  # the bursts tell the pairs apart


def test_short_window_labelled_points_are_5_minute_peaks_amazon_1_april_among_them(shared_data, capsys):
    """The `short-window` experiment's premise: each labelled point, seen in a 5-minute window, and
    Amazon's 1 April point (the window the 1-hour setting misses) a 4.5x peak."""
    variants = _nab_variants()
    variants._load(shared_data)
    variants._print_labelled_points(shared_data)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 17  # every labelled point of the five series, none lost to a time mismatch
    amazon = next(line for line in lines if "AMZN" in line and "04-01 21:57" in line)
    assert "282 in 5 min" in amazon and "ratio 4.5" in amazon


def test_recent_peak_is_the_busiest_window_that_ended_before_the_current_one():
    variants = _nab_variants()
    settings = DetectorSettings(season=24, smooth=2)  # one bucket an hour, 2-hour windows
    observed = np.array([1.0, 5.0, 2.0, 3.0, 9.0, 4.0, 1.0, 1.0, 1.0, 1.0])
    peak = variants.recent_peak(observed, settings, hours=3)
    assert np.isinf(peak[:2]).all()  # no window has ended before the first one: no gate
    assert peak[2] == 1.0  # only bucket 0 lies before bucket 2's window
    assert peak[4] == 5.0  # buckets 0-2: the current window (3, 4) is not its own past
    assert peak[6] == 9.0 and peak[8] == 9.0  # the burst at 4 stays the bar for 3 hours
    assert peak[9] == 4.0  # then it has left the 3-hour memory


def test_scan_likelihood_ratios_match_scipy_and_the_dispersion_is_causal():
    from scipy import stats

    variants = _nab_variants()
    observed, expected = np.array([30.0, 5.0, 0.0]), np.array([10.0, 8.0, 2.0])
    poisson = variants.poisson_llr(observed, expected)
    assert abs(poisson[0] - (stats.poisson.logpmf(30, 30) - stats.poisson.logpmf(30, 10))) < 1e-9
    assert list(poisson[1:]) == [0.0, 0.0]  # no raise: no evidence of one
    size = np.array([4.0, 4.0, 4.0])
    nb = variants.negative_binomial_llr(observed, expected, size)

    def nb_logpmf(k, mean, n):
        return stats.nbinom.logpmf(k, n, n / (n + mean))

    assert abs(nb[0] - (nb_logpmf(30, 30, 4.0) - nb_logpmf(30, 10, 4.0))) < 1e-9
    assert 0 < nb[0] < poisson[0]  # overdispersion makes the same count less surprising

    settings = DetectorSettings(season=288, season_days=7, season_halfwidth=3, smooth=12, threshold=5,
                                min_ratio=2.5, min_count=1, warmup=288, cooldown=288)
    rng = np.random.default_rng(3)
    residuals = rng.exponential(1.0, 288 * 10)
    changed = residuals.copy()
    changed[2500:] += 500.0
    before = variants.causal_dispersion(residuals, settings, "median")
    after = variants.causal_dispersion(changed, settings, "median")
    assert np.array_equal(np.nan_to_num(before[:2500], nan=-1), np.nan_to_num(after[:2500], nan=-1))


def test_bocpd_is_causal_sees_an_upward_change_and_matches_scipy():
    """The change-point recursion of `nab_variants.py bocpd`: its negative-binomial predictive is
    scipy's, a sustained tripling after two weeks of Poisson counts is a change within the horizon,
    and nothing at a step depends on what comes after it."""
    from scipy.stats import nbinom

    variants = _nab_variants()
    shape, rate, expected = np.array([2.5]), np.array([1.5]), 4.0
    assert np.allclose(np.exp(variants.negative_binomial_log_predictive(3.0, expected, shape, rate)),
                       nbinom.pmf(3, shape, rate / (rate + expected)))
    rng = np.random.default_rng(7)
    per_day = 288
    values = rng.poisson(3, per_day * 16).astype(float)
    jump = per_day * 15
    values[jump:] = rng.poisson(9, len(values) - jump)
    run = variants.bocpd_run(values, 300.0, minutes=60, hazard_days=14.0, horizon_hours=6.0)
    changes = variants.bocpd_changes(run, bar=0.9, ratio=2.0, warmup=per_day)
    assert changes[jump:jump + 6 * 12].any() and not changes[per_day:jump].any()
    cut = jump + 24
    earlier = variants.bocpd_run(values[:cut], 300.0, minutes=60, hazard_days=14.0, horizon_hours=6.0)
    shared = run.ends < cut
    assert np.allclose(run.recent[shared], earlier.recent, equal_nan=True)
    assert np.allclose(run.new_rate[shared], earlier.new_rate, equal_nan=True)


def test_half_space_trees_are_causal_and_score_a_planted_burst_as_anomalous():
    """The streaming HS-Trees of `nab_variants.py hstrees`: a row's score uses only earlier windows'
    masses (changing later rows changes nothing before them), the first window is not scored, and a
    point far from two days of clustered rows scores far above them; the past-week scaling and the
    quantile bar look only at earlier steps."""
    variants = _nab_variants()
    rng = np.random.default_rng(5)
    window = 100
    inputs = np.clip(rng.normal(0.4, 0.05, (400, 3)), 0.0, 1.0)
    inputs[350] = [0.95, 0.95, 0.95]  # a burst: far from every earlier row
    score = variants.half_space_trees(inputs, window, trees=25, depth=10, seed=0)
    assert np.isnan(score[:window]).all() and not np.isnan(score[window:]).any()
    assert score[350] > np.quantile(score[window:350], 0.99) + 3
    changed = inputs.copy()
    changed[360:] = rng.uniform(size=(40, 3))
    again = variants.half_space_trees(changed, window, trees=25, depth=10, seed=0)
    assert np.array_equal(score[:360], again[:360], equal_nan=True)  # later rows change no earlier score
    x = rng.normal(size=500)
    y = x.copy()
    y[300:] += 50.0
    scaled, other = (variants.past_range_scaled(v, 100, 50) for v in (x, y))
    assert np.array_equal(np.nan_to_num(scaled[:300], nan=-9), np.nan_to_num(other[:300], nan=-9))
    assert np.isnan(scaled[:50]).all() and other[300] > 1  # a new high reads above 1
    bar = variants.past_quantile(y, 0.9, 100, 50, 12)
    assert np.array_equal(np.nan_to_num(bar[:300], nan=-9),
                          np.nan_to_num(variants.past_quantile(x, 0.9, 100, 50, 12)[:300], nan=-9))


def test_materiality_gate_opens_once_the_extra_mentions_reach_the_share_of_a_day():
    module = _nab_variants()
    from alerts.detector import Incident

    settings = DetectorSettings(season=24, smooth=2, threshold=5.0, min_ratio=1.0, warmup=0, cooldown=24)
    expected_per_bucket = np.full(60, 10.0)  # 240 mentions expected in a day
    values = np.full(60, 10.0)
    values[30:34] = [40.0, 40.0, 40.0, 40.0]  # 30 extra mentions a bucket from bucket 30
    incident = Incident(start=31, end=33, peak=31, observed=80.0, expected=20.0, z=9.0, severity="high")
    # extra mentions from the start of the opening window (bucket 30): 30, 60, 90, 120 by buckets 30-33
    assert module.material_opening(values, expected_per_bucket, incident, settings, 0.2, 6) == 31  # 60 >= 48
    assert module.material_opening(values, expected_per_bucket, incident, settings, 0.3, 6) == 32  # 90 >= 72
    assert module.material_opening(values, expected_per_bucket, incident, settings, 0.6, 6) is None  # 120 < 144
    # within 1 hour of the opening only (one bucket of a 24-bucket day): bucket 32 is the last one looked at
    assert module.material_opening(values, expected_per_bucket, incident, settings, 0.5, 1) is None


def test_learned_gate_features_are_causal_and_labels_follow_the_windows():
    module = _nab_variants()
    from datetime import datetime, timedelta, timezone

    from alerts.nab import LabelledSeries
    from alerts.nab_grid import Cell

    start = datetime(2015, 3, 1, tzinfo=timezone.utc)
    steps = 12 * 288  # twelve days of 5-minute steps
    values = np.random.default_rng(7).poisson(20, steps).astype(float)
    burst = 10 * 288 + 100
    values[burst:burst + 12] += 200  # an hour of 200 extra mentions a step on day 11
    stamps = [start + timedelta(minutes=5 * i) for i in range(steps)]
    span = (stamps[burst - 50], stamps[burst + 50])
    series = LabelledSeries("synthetic.csv", stamps, list(values), [span])
    hot = module.hot_bucket_features(series, Cell(3600.0, 5.0, 2.5))
    first = int(hot.where[0])
    assert burst <= first < burst + 12 and hot.inside[0] == 1  # the burst's hour, and only it, is hot
    assert all(label == int(span[0] <= stamps[t] <= span[1]) for t, label in zip(hot.where, hot.inside))

    changed = values.copy()
    changed[first + 1:] = 0.0  # whatever follows the first hot step
    later = module.hot_bucket_features(LabelledSeries("synthetic.csv", stamps, list(changed), [span]),
                                       Cell(3600.0, 5.0, 2.5))
    assert later.where[0] == first
    assert np.allclose(later.features[0], hot.features[0])
