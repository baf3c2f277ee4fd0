"""Our NAB scorer against NAB's published numbers, its rules on small hand-made series, and `bench nab`."""
from __future__ import annotations

import csv
import datetime as dt
import json
import shutil

import pytest

from alerts.nab import (
    PROFILES, normalized_score, probationary_length, read_series, read_windows, scaled_sigmoid, score_file,
)

PUBLISHED_STANDARD = {  # numenta/NAB README, realTweets column of the issue
    "ARTime": 83.8, "earthgeckoSkyline": 77.8, "contextOSE": 76.0, "numenta": 66.1, "twitterADVec": 66.0,
}


def _per_detector_totals(path):
    """Sum of the per-file raw scores by (detector, profile); the file repeats some rows, keep one each."""
    rows = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[(row["Detector"], row["Profile"], row["File"])] = float(row["Score"])
    totals = {}
    for (detector, profile, _file), score in rows.items():
        totals[(detector, profile)] = totals.get((detector, profile), 0.0) + score
    return totals


def test_published_realtweets_scores_are_reproduced(shared_file):
    totals = _per_detector_totals(shared_file("nab/realTweets_scores_per_detector.csv"))
    windows = read_windows(shared_file("nab/labels/realTweets_windows.json"))
    window_counts = [len(spans) for spans in windows.values()]
    for detector, published in PUBLISHED_STANDARD.items():
        ours = normalized_score(totals[(detector, "standard")], window_counts, "standard")
        assert round(ours, 1) == published, detector
    # the null detector's own rows normalise to 0 in every profile
    for profile in PROFILES:
        assert normalized_score(totals[("null", profile)], window_counts, profile) == pytest.approx(0.0)


def test_profiles_match_nab_config(shared_file):
    published = json.loads(shared_file("nab/config/profiles.json").read_text())
    for name, weights in PROFILES.items():
        for key, value in weights.items():
            assert published[name]["CostMatrix"][key] == value


def test_scaled_sigmoid_landmarks():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


def _series(rows=1000):
    start = dt.datetime(2020, 1, 1)
    return [start + dt.timedelta(minutes=5 * i) for i in range(rows)]


def _flags(rows, *positions):
    flags = [False] * rows
    for p in positions:
        flags[p] = True
    return flags


def test_probation_is_15_percent_capped_at_750_rows():
    assert probationary_length(1000) == 150
    assert probationary_length(15902) == 750


def test_detection_at_window_start_earns_full_weight_and_a_miss_costs_fn():
    times = _series()
    window = [(times[400], times[499])]
    hit = score_file(times, _flags(1000, 400), window, "standard")
    assert hit.score == pytest.approx(1.0)
    assert (hit.tp, hit.fn, hit.fp) == (1, 0, 0)
    miss = score_file(times, _flags(1000), window, "reward_low_FN_rate")
    assert miss.score == pytest.approx(-2.0)
    assert miss.fn == 1


def test_only_the_first_detection_in_a_window_counts():
    times = _series()
    window = [(times[400], times[499])]
    once = score_file(times, _flags(1000, 450), window, "standard").score
    again = score_file(times, _flags(1000, 450, 460, 499), window, "standard").score
    assert once == pytest.approx(again)
    assert once == pytest.approx(scaled_sigmoid(-(499 - 450 + 1) / 100) / scaled_sigmoid(-1.0))


def test_false_positives_cost_less_right_after_a_window_and_probation_is_free():
    times = _series()
    window = [(times[400], times[499])]
    base = score_file(times, _flags(1000, 400), window, "standard").score
    near = score_file(times, _flags(1000, 400, 510), window, "standard").score - base
    far = score_file(times, _flags(1000, 400, 900), window, "standard").score - base
    before = score_file(times, _flags(1000, 300, 400), window, "reward_low_FP_rate").score - base
    assert far == pytest.approx(-0.11)  # more than 3 window widths after the window: full cost
    assert near == pytest.approx(0.11 * scaled_sigmoid((510 - 499) / 99))
    assert far < near < 0
    assert before == pytest.approx(-0.22)
    in_probation = score_file(times, _flags(1000, 100, 400), window, "standard").score
    assert in_probation == pytest.approx(base)


def test_score_lines_itemise_the_score():
    times = _series()
    windows = [(times[200], times[299]), (times[400], times[499]), (times[700], times[799])]
    # 100 in probation (free), 250 and 260 in the first window, 510 a false alarm just after the
    # second window (which is missed), 900 a false alarm long after the third
    scored = score_file(times, _flags(1000, 100, 260, 250, 510, 750, 900), windows, "standard")
    assert [(line.kind, line.at) for line in scored.lines] == [
        ("found", times[250]), ("missed", None), ("false alarm", times[510]), ("found", times[750]),
        ("false alarm", times[900])]
    assert [line.window for line in scored.lines] == [windows[0], windows[1], None, windows[2], None]
    assert sum(line.points for line in scored.lines) == pytest.approx(scored.score)
    assert scored.lines[1].points == -1.0
    assert scored.lines[2].points == pytest.approx(0.11 * scaled_sigmoid((510 - 499) / 99))


def test_bench_nab_detail_lists_each_window_and_false_alarm(cli, shared_data, tmp_path):
    data = tmp_path / "data" / "realTweets"
    data.mkdir(parents=True)
    shutil.copy(shared_data / "nab/realTweets/Twitter_volume_AMZN.csv", data)
    labels = shared_data / "nab/labels/realTweets_windows.json"
    result = cli("bench", "nab", data, "--labels", labels, "--out", tmp_path / "out", "--detail")
    assert result.exit_code == 0, result.output
    listed = [line.split() for line in result.stdout.splitlines() if line.startswith("    ")]
    spans = read_windows(labels)["realTweets/Twitter_volume_AMZN.csv"]
    windows = [line for line in listed if line[0] == "window"]
    assert [(f"{w[1]} {w[2]}", f"{w[4]} {w[5].rstrip(':')}") for w in windows] == [
        (a.strftime("%Y-%m-%d %H:%M"), b.strftime("%Y-%m-%d %H:%M")) for a, b in spans]
    total = sum(float(line[-1]) for line in listed)
    raw = next(float(line.split()[2]) for line in result.stdout.splitlines()
               if line.startswith("Twitter_volume_AMZN.csv") and " standard " in line)
    assert total == pytest.approx(raw, abs=0.001 * len(listed))


def test_bench_nab_writes_results_and_prints_the_three_profiles(cli, shared_data, tmp_path):
    data = tmp_path / "data" / "realTweets"
    data.mkdir(parents=True)
    shutil.copy(shared_data / "nab/realTweets/Twitter_volume_CRM.csv", data)
    labels = shared_data / "nab/labels/realTweets_windows.json"
    out = tmp_path / "out"
    result = cli("bench", "nab", data, "--labels", labels, "--out", out)
    assert result.exit_code == 0, result.output
    printed = {line.split()[0]: float(line.split()[1]) for line in result.stdout.splitlines()
               if line.strip().split(" ")[0] in PROFILES}
    assert set(printed) == set(PROFILES)

    written = out / "Twitter_volume_CRM.csv"
    with open(written, newline="") as handle:
        rows = list(csv.DictReader(handle))
    times, values = read_series(data / "Twitter_volume_CRM.csv")
    assert len(rows) == len(times)
    assert [float(r["value"]) for r in rows] == values
    assert {r["anomaly_score"] for r in rows} <= {"0.0", "1.0"}
    # rescoring the written file gives the printed corpus score (one series here)
    spans = read_windows(labels)["realTweets/Twitter_volume_CRM.csv"]
    flags = [r["anomaly_score"] == "1.0" for r in rows]
    for profile in PROFILES:
        raw = score_file(times, flags, spans, profile).score
        assert round(normalized_score(raw, [len(spans)], profile), 1) == printed[profile]


def test_bench_nab_missing_labels_is_one_line(cli, tmp_path):
    (tmp_path / "series").mkdir()
    result = cli("bench", "nab", tmp_path / "series", "--labels", tmp_path / "nope.json", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "nope.json: no such labels file" in result.output
    assert "Traceback" not in result.output


def test_bench_nab_malformed_series_is_one_line(cli, tmp_path, shared_file):
    data = tmp_path / "realTweets"
    data.mkdir()
    (data / "Twitter_volume_CRM.csv").write_text("timestamp,value\n2015-02-26 21:42:53,3\n2015-02-26 21:47:53,lots\n")
    result = cli("bench", "nab", data, "--labels", shared_file("nab/labels/realTweets_windows.json"),
                 "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "Twitter_volume_CRM.csv:3: expected columns timestamp,value" in result.output
