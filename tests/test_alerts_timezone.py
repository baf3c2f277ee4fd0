"""alerts.timezone: the spike detector's "same time of day" counted in a local time zone, so a daily
rush that a daylight-saving change moves by an hour in UTC is still the usual rush."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from alerts.detect import Finding, _local_window_words, backtest, run_detection, utc_offsets
from alerts.detector import DetectorSettings, seasonal_past
from alerts.series import Series
from mentionwatch.config import parse_config
from storage import Mention, save_mentions
from tests.test_alerts_detection import config_text, iso
from tests.test_alerts_walk_fixes import _new_york_rush

SINCE = dt.datetime(2015, 2, 23, tzinfo=dt.timezone.utc)
UNTIL = dt.datetime(2015, 3, 23, tzinfo=dt.timezone.utc)
# draws of the New York rush on which counting days in UTC raises a false alarm after the change
# of 8 March 2015 (with the default bars: z 5, ratio 2.5)
DRAWS_HIT_BY_THE_CHANGE = (6, 18)


def _config(bucket: str, time_zone: str | None):
    extra = f"  bucket: {bucket}" + (f"\n  timezone: {time_zone}" if time_zone else "")
    return parse_config(config_text(extra).replace("warmup: 4d", "warmup: 7d"))


@pytest.mark.parametrize("seed", DRAWS_HIT_BY_THE_CHANGE)
def test_a_rush_moved_by_daylight_saving_is_no_spike_in_the_watchs_time_zone(db, model_id, seed):
    _new_york_rush(db, model_id, seed=seed)
    in_utc = [finding for bucket in ("15m", "30m", "1h") for finding in backtest(db, _config(bucket, None), SINCE, UNTIL)]
    assert in_utc and all(finding.window_start >= "2015-03-08" for finding in in_utc)  # the change did it
    for bucket in ("15m", "30m", "1h"):
        assert backtest(db, _config(bucket, "America/New_York"), SINCE, UNTIL) == [], bucket


def test_a_real_burst_is_still_found_in_local_time(db, model_id):
    _new_york_rush(db, model_id, seed=6)
    burst_hour = dt.datetime(2015, 3, 16, 19, tzinfo=dt.timezone.utc)  # 15:00 in New York, after the change
    burst = [Mention("reddit", f"burst{k}", "acme support is terrible", iso(burst_hour + dt.timedelta(minutes=k)),
                     watches=("acme",)) for k in range(40)]
    save_mentions(db, burst)
    db.conn.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, '2015-01-01T00:00:00Z' "
                    "FROM mentions WHERE id NOT IN (SELECT mention_id FROM scores)", [model_id])
    db.conn.commit()
    [finding] = backtest(db, _config("1h", "America/New_York"), SINCE, UNTIL)
    assert finding.window_start == "2015-03-16T19:00:00Z"


def test_the_baseline_looks_an_hour_later_on_days_before_spring_forward():
    settings = DetectorSettings(season=24, season_days=2, season_halfwidth=0, smooth=1, warmup=0)
    values = np.arange(24 * 4, dtype=float)  # each hourly bucket holds its own index
    offsets = np.full(len(values), -5 * 3600.0)
    offsets[24 * 3:] = -4 * 3600.0  # clocks go forward at the start of day 3
    at = np.array([24 * 3 + 13])
    in_utc, _, _ = seasonal_past(values, settings, at)
    local, _, _ = seasonal_past(values, settings, at, offsets)
    assert in_utc[at[0]] == np.median([24 * 2 + 13, 24 + 13])
    assert local[at[0]] == np.median([24 * 2 + 14, 24 + 14])  # the same local time was an hour later in UTC
    steady = np.full(len(values), 3600.0)  # a zone without a change that week: the same as UTC
    assert seasonal_past(values, settings, at, steady)[0][at[0]] == in_utc[at[0]]


def test_utc_offsets_follow_the_zone_per_bucket():
    start = dt.datetime(2015, 3, 8, 5, tzinfo=dt.timezone.utc)  # 00:00 in New York; the change is at 07:00 UTC
    series = Series("acme", None, start, 1800.0, np.zeros(8), np.zeros(8))
    assert utc_offsets(series, "UTC") is None
    offsets = utc_offsets(series, "America/New_York")
    assert list(offsets / 3600) == [-5, -5, -5, -5, -4, -4, -4, -4]


def test_a_watch_may_have_its_own_time_zone():
    config = parse_config(config_text("  timezone: Europe/Paris") + "    alerts: {timezone: America/New_York}\n"
                          "  - name: other\n    query: {any: [other]}\n")
    assert config.alert_settings("acme").timezone == "America/New_York"
    assert config.alert_settings("other").timezone == "Europe/Paris"
    assert parse_config(config_text()).alert_settings("acme").timezone == "UTC"


@pytest.mark.parametrize("written, says", [
    ("europe/paris", "'europe/paris' is not a time zone (did you mean 'Europe/Paris'?)"),
    ("America/New_Yrok", "'America/New_Yrok' is not a time zone (did you mean 'America/New_York'?)"),
    ("Mars/Olympus", "'Mars/Olympus' is not a time zone"),
    ("../../etc/passwd", "'../../etc/passwd' is not a time zone"),
])
def test_a_wrong_time_zone_is_one_line_naming_the_key(cli, tmp_path, written, says):
    (tmp_path / "mentionwatch.yaml").write_text(config_text(f"  timezone: '{written}'"), encoding="utf-8")
    result = cli("stats")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "alerts.timezone" in lines[0] and says in lines[0], lines[0]


def test_an_alerts_summary_gives_its_window_in_the_watchs_time_zone_too(db, model_id):
    """The summary is the line a notification and `alerts show` lead with: a team in New York reads
    its window in New York time as well as in UTC (walkthrough 9 found it in UTC only)."""
    _new_york_rush(db, model_id, seed=6)
    burst_hour = dt.datetime(2015, 3, 16, 19, tzinfo=dt.timezone.utc)
    save_mentions(db, [Mention("reddit", f"burst{k}", "acme support is terrible", iso(burst_hour + dt.timedelta(minutes=k)),
                               watches=("acme",)) for k in range(40)])
    db.conn.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, '2015-01-01T00:00:00Z' "
                    "FROM mentions WHERE id NOT IN (SELECT mention_id FROM scores)", [model_id])
    db.conn.commit()
    run_detection(db, _config("1h", "America/New_York"), now=burst_hour + dt.timedelta(hours=3), notify=False)
    [summary] = [json.loads(row[0])["summary"] for row in db.execute("SELECT explanation FROM alerts")]
    assert "between 2015-03-16 19:00 and 20:00 UTC (America/New_York: 2015-03-16 15:00 to 16:00);" in summary


def test_a_watch_on_utc_gets_no_second_time():
    finding = Finding("acme", None, "spike", "2015-03-16T19:00:00Z", "2015-03-16T20:00:00Z", 40, 2, 9, "high",
                      "2015-03-16T20:00:00Z", "high", [], False, "2015-03-16T19:00:00Z", "2015-03-16T20:00:00Z")
    after = dt.datetime(2015, 3, 17, tzinfo=dt.timezone.utc)
    assert _local_window_words(finding, after, "UTC") == ""
    assert _local_window_words(finding, after, "Africa/Abidjan") == ""  # on UTC all year
    assert _local_window_words(finding, after, "Europe/London") == " (Europe/London: 2015-03-16 19:00 to 20:00)"
    assert _local_window_words(finding, after, "Asia/Shanghai") == (
        " (Asia/Shanghai: 2015-03-17 03:00 to 04:00)")
    still_open = dt.datetime(2015, 3, 16, 19, 30, tzinfo=dt.timezone.utc)
    assert _local_window_words(finding, still_open, "Asia/Tokyo") == " (Asia/Tokyo: since 2015-03-17 04:00)"


def test_a_window_across_a_change_of_the_clocks_names_both_offsets():
    """01:00 to 01:00 read as an empty window on the night New York's clocks go back."""
    finding = Finding("acme", None, "spike", "2015-11-01T05:00:00Z", "2015-11-01T06:00:00Z", 40, 2, 9, "high",
                      "2015-11-01T06:00:00Z", "high", [], False, "2015-11-01T05:00:00Z", "2015-11-01T06:00:00Z")
    after = dt.datetime(2015, 11, 2, tzinfo=dt.timezone.utc)
    assert _local_window_words(finding, after, "America/New_York") == (
        " (America/New_York: 2015-11-01 01:00 EDT to 01:00 EST)")
