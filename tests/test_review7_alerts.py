"""Alert detection found wrong by the seventh code review: an escalation reaches a target that takes
escalations only, even when the opening was announced to nobody; a bucket judged by a later run has
the whole baseline a live run judged it with (no alerts appearing months later as the 30 days slide);
a resolution at the very end of an incident keeps it closed."""
from __future__ import annotations

import datetime as dt

import pytest

from alerts.detect import backtest, run_detection
from alerts.lifecycle import resolve
from mentionwatch.config import parse_config
from test_alerts_detection import START, add_stream, config_text


def test_an_escalation_reaches_a_target_that_takes_only_escalations(db, model_id):
    config = parse_config(config_text(target_events="escalated"))  # a pager for the worst only
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 15)], burst + 1: [("reddit", 80)]})
    first_look = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=first_look, notify=True).opened
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0  # nobody takes 'opened'

    run_detection(db, config, now=first_look + dt.timedelta(hours=1), notify=True)
    severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    states = [state for (state,) in db.execute("SELECT state FROM notifications WHERE alert_id = ?", [alert_id])]
    assert states == [f"escalated:{severity}"]


def test_a_target_taking_both_hears_one_opening_of_an_alert_stored_quietly(db, model_id):
    config = parse_config(config_text(target_events="opened, escalated"))
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 15)], burst + 1: [("reddit", 80)]})
    first_look = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=first_look, notify=False).opened

    run_detection(db, config, now=first_look + dt.timedelta(hours=1), notify=True)
    severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    states = [state for (state,) in db.execute("SELECT state FROM notifications WHERE alert_id = ?", [alert_id])]
    assert states == [f"opened:{severity}"]  # not an escalation as well: one message for one state


def test_a_later_run_never_finds_a_spike_that_live_runs_and_backtest_did_not(db, model_id):
    # warm-up 4 days, shorter than the week of baseline. Hour 10 was busy on four days a week before
    # day D (so D's 59 is ordinary against the week), and quiet on the three days just before D (so
    # against those alone, D would look like a spike)
    day_d = 14 * 24
    busy_days = {day_d - 24 * back + hour: [("reddit", 29)] for back in range(4, 8) for hour in (9, 10, 11)}
    add_stream(db, model_id, days=46, burst={**busy_days, day_d + 10: [("reddit", 59)]})
    config = parse_config(config_text())
    start_of_d = START + dt.timedelta(hours=day_d)
    for hour in range(1, 24):
        run_detection(db, config, now=start_of_d + dt.timedelta(hours=hour), notify=False)
    day_d_windows = lambda: [start for (start,) in db.execute(  # noqa: E731
        "SELECT window_start FROM alerts WHERE window_start >= ? AND window_start < ?",
        [start_of_d.strftime("%Y-%m-%dT%H:%M:%SZ"), (start_of_d + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")])]
    assert day_d_windows() == []
    assert backtest(db, config, start_of_d, start_of_d + dt.timedelta(days=1)) == []

    # 30 days on, day D is the oldest day the run judges
    result = run_detection(db, config, now=start_of_d + dt.timedelta(days=30, hours=9), notify=True)
    assert result.opened == []
    assert day_d_windows() == []


def test_a_resolution_at_the_end_of_the_incident_keeps_it_closed(db, model_id):
    config = parse_config(config_text())
    hot_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={hot_hour: [("reddit", 40)]})
    hour_start = START + dt.timedelta(hours=hot_hour)
    [alert_id] = run_detection(db, config, now=hour_start + dt.timedelta(minutes=45), notify=False).opened
    resolve(db, alert_id, "sam")
    # resolved exactly when the incident's only hot hour ended
    db.execute("UPDATE alerts SET resolved_at = ? WHERE id = ?",
               [(hour_start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), alert_id])
    db.conn.commit()

    result = run_detection(db, config, now=hour_start + dt.timedelta(hours=1, minutes=5), notify=False)
    assert result.opened == []
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1


def test_backtest_starting_inside_an_incident_shows_when_it_opened(db, model_id):
    first_hot = 15 * 24 + 10
    add_stream(db, model_id, days=20, burst={first_hot + hour: [("reddit", 40)] for hour in range(6)})
    config = parse_config(config_text())
    spike = START + dt.timedelta(hours=first_hot)
    run_detection(db, config, now=spike + dt.timedelta(hours=3), notify=False)
    [(live_opened, live_start)] = db.execute("SELECT opened_at, window_start FROM alerts").fetchall()
    [under_way] = backtest(db, config, spike + dt.timedelta(hours=2), spike + dt.timedelta(days=1))
    assert (under_way.opened_at, under_way.window_start) == (live_opened, live_start)


@pytest.mark.parametrize("time_zone", ["Europe/Istanbul", "Asia/Almaty", "America/New_York", "Asia/Kolkata"])
def test_a_day_bucket_starts_at_midnight_of_the_zone_s_standard_time_today(time_zone):
    from zoneinfo import ZoneInfo

    from alerts.series import floor_to_bucket, zone_offset

    winter_noon = dt.datetime(dt.date.today().year, 1, 15, 12, tzinfo=ZoneInfo(time_zone))
    start = floor_to_bucket(winter_noon.astimezone(dt.timezone.utc), 86400, zone_offset(time_zone))
    assert start.astimezone(ZoneInfo(time_zone)).time() == dt.time(0, 0)


def test_mentions_not_scored_by_the_model_do_not_cut_the_series(db, model_id):
    """A new model that has scored only the last days: its series starts at its first score (with
    its warm-up), not at a month of zeros standing in for history it has not scored yet."""
    from alerts.detect import watch_series
    from storage import Mention, save_mentions

    add_stream(db, model_id, days=8)
    save_mentions(db, [Mention("reddit", "old", "acme long ago", "2024-12-01T10:00:00Z", watches=("acme",))])
    config = parse_config(config_text())
    [series] = watch_series(db, "acme", config.alert_settings("acme"), model_id,
                            START - dt.timedelta(days=2), START + dt.timedelta(days=8))
    assert not series.history_cut and series.start == START
