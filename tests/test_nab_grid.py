"""Leave-one-series-out selection over the settings grid, and `mentionwatch bench nab-grid` end to end."""
from __future__ import annotations

import datetime as dt
import json
import math
import random
import re

import pytest

from alerts.nab import normalized_score
from alerts.nab_grid import Cell, grid_cells, kept_cell, leave_one_out

A, B, C = Cell(3600.0, 4.0, 3.0), Cell(3600.0, 5.0, 3.0), Cell(7200.0, 5.0, 3.0)


def test_a_setting_that_wins_through_one_series_loses_when_that_series_is_held_out():
    raw = {A: {"s1": 3.0, "s2": 0.0, "s3": 0.0},   # best in total, all from s1
           B: {"s1": 0.0, "s2": 1.0, "s3": 1.0}}
    folds = {fold.held_out: fold for fold in leave_one_out(raw)}
    assert folds["s1"].chosen == [B] and folds["s1"].held_out_raw == 0.0
    assert folds["s2"].chosen == [A] and folds["s2"].held_out_raw == 0.0
    assert folds["s3"].chosen == [A] and folds["s3"].held_out_raw == 0.0


def test_tied_choices_are_averaged_on_the_held_out_series():
    raw = {A: {"s1": 2.0, "s2": 1.0}, B: {"s1": 0.0, "s2": 1.0}, C: {"s1": 1.0, "s2": 0.5}}
    folds = {fold.held_out: fold for fold in leave_one_out(raw)}
    assert folds["s1"].chosen == [A, B]
    assert folds["s1"].held_out_raw == pytest.approx(1.0)
    assert folds["s2"].chosen == [A] and folds["s2"].held_out_raw == 1.0


def test_the_grid_contains_the_shipped_setting():
    assert kept_cell() in grid_cells()
    assert len(set(grid_cells())) == 27


def _write_series(path, spike_day, rows=24 * 16, seed=0):
    """Hourly counts with a daily rhythm, and one 3-hour burst six times the usual at noon of `spike_day`."""
    rng = random.Random(seed)
    start = dt.datetime(2015, 3, 1)
    lines = ["timestamp,value"]
    for hour in range(rows):
        usual = 40 + 20 * math.sin(2 * math.pi * (hour % 24) / 24)
        burst = 6 if spike_day * 24 + 12 <= hour < spike_day * 24 + 15 else 1
        value = max(0, round(usual * burst + rng.gauss(0, 4)))
        lines.append(f"{(start + dt.timedelta(hours=hour)):%Y-%m-%d %H:%M:%S},{value}")
    path.write_text("\n".join(lines) + "\n")
    peak = start + dt.timedelta(days=spike_day, hours=12)
    return [[f"{peak - dt.timedelta(hours=12):%Y-%m-%d %H:%M:%S}.000000",
             f"{peak + dt.timedelta(hours=12):%Y-%m-%d %H:%M:%S}.000000"]]


def test_bench_nab_grid_prints_every_setting_the_kept_score_and_a_consistent_held_out_score(cli, tmp_path):
    data = tmp_path / "tweets"
    data.mkdir()
    labels = {f"tweets/s{i}.csv": _write_series(data / f"s{i}.csv", spike_day=9 + i, seed=i) for i in range(3)}
    labels_path = tmp_path / "windows.json"
    labels_path.write_text(json.dumps(labels))

    result = cli("bench", "nab-grid", data, "--labels", labels_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cell_lines = [line for line in lines if re.match(r"\s+window \S+, z", line)]
    assert len(cell_lines) == 27
    kept = float(re.search(r"Kept setting \(window 1h, z 5, ratio 2.5\): (-?[\d.]+)", result.output).group(1))
    bench = cli("bench", "nab", data, "--labels", labels_path, "--out", tmp_path / "out")
    standard = float(re.search(r"^\s+standard\s+(-?[\d.]+)", bench.output, re.M).group(1))
    assert kept == standard
    assert kept > 50  # a clear burst in every labelled window is found

    held_out_raws = [float(x) for x in re.findall(r"held-out raw\s+(-?[\d.]+)", result.output)]
    assert len(held_out_raws) == 3
    printed = float(re.search(r"Held-out score \(standard\): (-?[\d.]+)", result.output).group(1))
    assert printed == pytest.approx(normalized_score(sum(held_out_raws), [1, 1, 1], "standard"), abs=0.06)


def test_bench_nab_grid_without_labelled_series_is_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    labels_path = tmp_path / "windows.json"
    labels_path.write_text("{}")
    result = cli("bench", "nab-grid", tmp_path / "empty", "--labels", labels_path)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "no series in" in result.output
