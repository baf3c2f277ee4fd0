"""Which stored alert an incident updates (`alerts.detect._store`): only its own incident's. A later,
separate incident whose count rule looks back over an earlier one ("80 in 12h" reaches 12 hours
back) opens an alert of its own, and the next run must not take the earlier incident into that
alert: it would drag the alert's window back over the earlier wave and count its posts too."""
from __future__ import annotations

import datetime as dt

import pytest

from alerts.detect import backtest, run_detection
from mentionwatch.config import parse_config
from test_alerts_detection import START, add_stream, config_text, iso
from test_review_detect_fixes import LONG_RULE, _hourly, _states, _two_hour_cooldown

DAY = 6 * 24


def _hour(h: int, minutes: int = 0) -> dt.datetime:
    return START + dt.timedelta(hours=DAY + h, minutes=minutes)


def _stored(db) -> list[tuple]:
    return db.execute("SELECT id, opened_at, window_start, window_end, severity, observed FROM alerts "
                      "ORDER BY id").fetchall()


@pytest.mark.parametrize("resolved_at", [None, _hour(15, 55)], ids=["unresolved", "earlier-one-resolved-later"])
def test_a_later_incident_whose_look_back_reaches_an_earlier_one_never_takes_it_in(db, model_id, resolved_at):
    """#1: 100 posts at hour 0 (hot until hour 12). #2: 90 at hour 14, past the 2-hour cooldown, and
    100 more at hour 15; its 12-hour look-back reaches back over #1's hours. Run hourly, the two stay
    apart, whether or not #1 is resolved after #2 opened, and match what `backtest` replays."""
    config = parse_config(_two_hour_cooldown(LONG_RULE))
    add_stream(db, model_id, burst={DAY: [("reddit", 100)], DAY + 14: [("reddit", 90)],
                                    DAY + 15: [("reddit", 100)]})
    _hourly(db, config, _hour(1), _hour(18), resolve=(1, resolved_at) if resolved_at else None)

    first, second = _stored(db)
    replayed = [(f.opened_at, f.window_start, f.window_end, f.severity, f.observed)
                for f in backtest(db, config, _hour(1), _hour(19))]  # the runs at hours 1 to 18
    # backtest knows no resolutions: after #1's, #2's look-back also leaves out the ordinary posts
    # before its own first hot hour (see _latest_resolution), a few less than backtest counts
    compared = 4 if resolved_at else 5
    assert [row[:compared] for row in replayed] == [first[1:1 + compared], second[1:1 + compared]]
    assert first[1] == iso(_hour(1)) and first[3] == iso(_hour(12)) and first[4] == "high"
    assert second[1] == iso(_hour(15)) and second[4] == "critical"
    # #2's window is its own 12-hour look-back, not stretched back over #1's wave
    assert second[2] == iso(_hour(3)) > first[2]
    assert 190 <= second[5] < 250  # its own 190 posts and the ordinary traffic, not #1's 100 too
    linked_before = db.execute(
        "SELECT count(*) FROM alert_mentions a JOIN mentions m ON m.id = a.mention_id "
        "WHERE a.alert_id = ? AND m.created_at < ?", [second[0], iso(_hour(1))]).fetchone()[0]
    assert linked_before == 0
    assert _states(db, second[0]) == ["opened:high", "escalated:critical"]
    detail = [d for (d,) in db.execute("SELECT detail FROM alert_events WHERE alert_id = ? AND kind = 'escalated'",
                                       [second[0]])]
    assert len(detail) == 1 and f"critical at {iso(_hour(16))}" in detail[0]


def test_an_incident_a_later_run_sees_opening_earlier_still_updates_its_alert(db, model_id):
    """Posts imported late (created before the alert opened) move the incident's first hot hour back:
    it is still the stored alert's incident, and no second alert opens."""
    config = parse_config(config_text())
    burst = DAY + 10
    add_stream(db, model_id, burst={burst: [("reddit", 80)]})
    [alert_id] = run_detection(db, config, now=START + dt.timedelta(hours=burst + 1), notify=True).opened
    opened_at = db.execute("SELECT opened_at FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    add_stream(db, model_id, burst={burst - 1: [("mastodon", 80)]})  # the late import
    now = START + dt.timedelta(hours=burst + 2)
    [found] = backtest(db, config, START, now)
    assert found.opened_at < opened_at  # the incident now opens before its stored alert did
    assert run_detection(db, config, now=now, notify=True).opened == []
    assert db.execute("SELECT id, opened_at FROM alerts").fetchall() == [(alert_id, opened_at)]
