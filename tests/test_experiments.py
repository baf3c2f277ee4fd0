"""The measurement scripts in scripts/experiments: the pieces their README figures rest on."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np

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
