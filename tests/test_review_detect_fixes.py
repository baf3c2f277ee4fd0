"""Detection defects a review reproduced: an escalation stored by a run that told nobody is announced
by the next run that notifies; `backtest` with a far `--until` or an early `--since` counts only the
buckets that can hold something and never overflows; a resolved alert discounts its own wave's posts
from a later, separate incident's look-back, but not that incident's own posts."""
from __future__ import annotations

import datetime as dt

from alerts.detect import backtest, backtest_series, run_detection
from alerts.detector import severity_rank
from mentionwatch.config import parse_config
from test_alerts_detection import START, _resolve_at, _rows, add_stream, config_text, iso, two_watch_setup

RISING_RULE = "  thresholds:\n    - {count: 20, window: 1h, severity: medium}"
# no spike rule (min_count out of reach): one count rule whose look-back spans 12 hours
LONG_RULE = "  min_count: 100000\n  thresholds:\n    - {count: 80, window: 12h, severity: high}"


def _two_hour_cooldown(extra_alerts: str) -> str:
    return config_text(extra_alerts).replace("cooldown: 3h", "cooldown: 2h")


def _states(db, alert_id: int) -> list[str]:
    return [state for (state,) in db.execute("SELECT state FROM notifications WHERE alert_id = ? ORDER BY id",
                                             [alert_id])]


def _severity(db, alert_id: int) -> str:
    return db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]


def test_an_escalation_stored_by_a_run_that_told_nobody_is_announced_once_by_the_next_that_notifies(db, model_id):
    config = parse_config(config_text(RISING_RULE))
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 25)], burst + 1: [("reddit", 90)]})
    first_look = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=first_look, notify=True).opened
    opened_at = _severity(db, alert_id)
    assert _states(db, alert_id) == [f"opened:{opened_at}"]

    # `detect --no-notify` typed by hand while the service runs: it stores the rise, telling nobody
    run_detection(db, config, now=first_look + dt.timedelta(hours=1), notify=False)
    grown = _severity(db, alert_id)
    assert severity_rank(grown) > severity_rank(opened_at)
    assert _states(db, alert_id) == [f"opened:{opened_at}"]

    # the service's next run finds the alert unchanged, and announces the rise all the same
    result = run_detection(db, config, now=first_look + dt.timedelta(hours=1, minutes=5), notify=True)
    assert _states(db, alert_id) == [f"opened:{opened_at}", f"escalated:{grown}"]
    assert result.queued == 1
    # ... once: a later run queues nothing more for the same state
    again = run_detection(db, config, now=first_look + dt.timedelta(hours=1, minutes=10), notify=True)
    assert again.queued == 0
    assert _states(db, alert_id) == [f"opened:{opened_at}", f"escalated:{grown}"]


def test_a_run_that_tells_nobody_still_announces_nothing(db, model_id):
    config = parse_config(config_text(RISING_RULE))
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 25)], burst + 1: [("reddit", 90)]})
    first_look = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=first_look, notify=True).opened
    run_detection(db, config, now=first_look + dt.timedelta(hours=1), notify=False)
    quiet = run_detection(db, config, now=first_look + dt.timedelta(hours=1, minutes=5), notify=False)
    assert quiet.queued == 0 and len(_states(db, alert_id)) == 1


def test_backtest_counts_buckets_only_up_to_what_the_rules_can_still_see(db, model_id):
    config = parse_config(config_text())
    add_stream(db, model_id, burst={6 * 24 + 5: [("reddit", 40)]})  # 8 days of mentions
    settings = config.alert_settings("acme")
    far = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    [series] = backtest_series(db, "acme", settings, model_id, START, far)
    # 8 days of hourly buckets and the few hours after the last mention a rule may still count,
    # not 75 years of empty ones
    assert len(series) <= 9 * 24
    near = START + dt.timedelta(days=9)
    assert backtest(db, config, START, far) == backtest(db, config, START, near) != []
    end_of_time = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    assert backtest(db, config, START, end_of_time) == backtest(db, config, START, near)


def test_backtest_takes_the_earliest_and_latest_dates_in_one_line(cli, tmp_path, model_id):
    burst = 6 * 24 + 5
    db = two_watch_setup(cli, tmp_path, model_id, {burst: [("reddit", 40)]}, {})
    usual = cli("backtest", "--since", iso(START), "--until", iso(START + dt.timedelta(days=9)), "--watch", "acme")
    assert usual.exit_code == 0 and _rows(usual.stdout, "acme"), usual.output
    for since, until in (("0001-01-01", iso(START + dt.timedelta(days=9))),
                         ("0001-01-01", "9999-12-31T23:59:59Z"),
                         (iso(START), "9999-12-31")):
        replayed = cli("backtest", "--since", since, "--until", until, "--watch", "acme")
        assert replayed.exit_code == 0, replayed.output
        assert _rows(replayed.stdout, "acme") == _rows(usual.stdout, "acme")
    for since, until in (("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31T23:59:59Z")):
        nothing = cli("backtest", "--since", since, "--until", until, "--watch", "acme")
        assert nothing.exit_code == 0, nothing.output
        assert "No scored mentions of acme" in nothing.stdout and "Traceback" not in nothing.output
    db.close()


def _hourly(db, config, first: dt.datetime, last: dt.datetime, resolve: tuple[int, dt.datetime] | None = None):
    """A service detecting every hour from `first` to `last`; `resolve`: (alert id, when) someone
    resolves that alert, between two runs."""
    moment = first
    while moment <= last:
        if resolve and resolve[1] < moment and db.execute(
                "SELECT status FROM alerts WHERE id = ?", [resolve[0]]).fetchone()[0] != "resolved":
            _resolve_at(db, resolve[0], resolve[1])
        run_detection(db, config, now=moment, notify=True)
        moment += dt.timedelta(hours=1)


def test_a_resolution_does_not_drop_a_separate_incident_s_own_posts(db, model_id):
    """#1 (hour 0) is resolved at 14:55, after a separate incident (from 14:00, past the 2-hour
    cooldown) began but before a run saw it: that incident opens when it did, and grows to critical,
    as without the resolution; its window leaves out #1's wave, which its 12-hour look-back reaches."""
    config = parse_config(_two_hour_cooldown(LONG_RULE))
    day = 6 * 24
    add_stream(db, model_id, burst={day: [("reddit", 100)], day + 14: [("reddit", 90)],
                                    day + 15: [("reddit", 100)]})
    hour = lambda h, minutes=0: START + dt.timedelta(hours=day + h, minutes=minutes)  # noqa: E731
    _hourly(db, config, hour(1), hour(13))
    assert db.execute("SELECT id FROM alerts").fetchall() == [(1,)]
    _hourly(db, config, hour(14), hour(18), resolve=(1, hour(14, 55)))

    [(alert_id, opened_at, window_start, severity)] = db.execute(
        "SELECT id, opened_at, window_start, severity FROM alerts WHERE id != 1").fetchall()
    replayed = [f for f in backtest(db, config, hour(2), hour(18)) if f.opened_at > iso(hour(2))]
    assert [(f.opened_at, f.severity) for f in replayed] == [(opened_at, severity)]
    assert (opened_at, severity) == (iso(hour(15)), "critical")
    assert window_start == iso(hour(14))  # the resolved wave's posts stay out of it
    assert _states(db, alert_id) == ["opened:high", "escalated:critical"]


def test_a_later_incident_that_only_the_resolved_wave_s_posts_make_hot_opens_no_alert(db, model_id):
    """The README's promise ("the wave that was resolved never reopens it"): 70 posts of #1's wave
    before its resolution and 30 new ones after the cooldown are 80 in 12 hours; 30 are not."""
    config = parse_config(_two_hour_cooldown(LONG_RULE))
    day = 6 * 24
    add_stream(db, model_id, burst={day: [("reddit", 100)], day + 10: [("reddit", 70)],
                                    day + 14: [("reddit", 30)]})
    hour = lambda h, minutes=0: START + dt.timedelta(hours=day + h, minutes=minutes)  # noqa: E731
    _hourly(db, config, hour(1), hour(18), resolve=(1, hour(11, 30)))
    assert db.execute("SELECT id FROM alerts").fetchall() == [(1,)]
    assert len(backtest(db, config, hour(2), hour(18))) == 2  # backtest knows no resolutions
