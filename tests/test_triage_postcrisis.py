"""Post-crisis evaluation of alerts (alerts.postcrisis.evaluate_alert) on a hand-built history."""
from __future__ import annotations

import datetime as dt

import pytest

from alerts.postcrisis import evaluate_alert, format_duration
from storage import Mention, save_mentions
from storage.timeutil import to_iso

START = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
WINDOW_START = START + dt.timedelta(days=7)
WINDOW_END = WINDOW_START + dt.timedelta(hours=2)
RESOLVED = WINDOW_END + dt.timedelta(hours=5)


def _posts(db, start, hours, per_hour, negative_every, tag, watch="acme"):
    """per_hour mentions each hour for `hours` hours; every `negative_every`-th one negative."""
    mentions, labels = [], []
    for hour in range(hours):
        for k in range(per_hour):
            eid = f"{tag}-{hour}-{k}"
            mentions.append(Mention("forum", eid, f"acme post {eid}",
                                    to_iso(start + dt.timedelta(hours=hour, minutes=k)),
                                    watches=(watch,)))
            labels.append((eid, "negative" if k % negative_every == 0 else "neutral"))
    save_mentions(db, mentions)
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    db.conn.executemany(
        "INSERT INTO scores VALUES (?, 'm', ?, ?, ?, 0.0, '2024-06-01T00:00:00Z')",
        [(ids[eid], label, 0.9 if label == "negative" else 0.1, 0.1 if label == "negative" else 0.9)
         for eid, label in labels])
    return [ids[eid] for eid, _ in labels]


def _alert(db, status="resolved", acknowledged=True, with_columns=True):
    opened = to_iso(WINDOW_END)
    ack = to_iso(WINDOW_END + dt.timedelta(minutes=45))
    cursor = db.conn.execute(
        "INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, opened_at, "
        "updated_at, acknowledged_at, resolved_at) VALUES ('acme', 'spike', ?, 'high', ?, ?, ?, ?, ?, ?)",
        [status, to_iso(WINDOW_START), opened, opened, opened,
         ack if acknowledged and with_columns else None,
         to_iso(RESOLVED) if status == "resolved" and with_columns else None])
    alert_id = cursor.lastrowid
    if not with_columns:  # only the lifecycle events say when
        db.conn.executemany("INSERT INTO alert_events (alert_id, at, actor, kind) VALUES (?, ?, 'x', ?)",
                            [(alert_id, ack, "acknowledged"), (alert_id, to_iso(RESOLVED), "resolved")])
    db.conn.commit()
    return alert_id


@pytest.fixture
def history(db):
    _posts(db, START, 7 * 24, 2, 5, "base")          # baseline: 1 of the 2 per hour negative (50%)
    _posts(db, WINDOW_START, 2, 20, 1, "spike")       # the alert window: all negative
    return db


def test_back_to_baseline_after_resolution(history):
    db = history
    _posts(db, RESOLVED, 24, 2, 5, "after")            # same mix as the baseline
    figures = evaluate_alert(db, _alert(db))
    assert figures["time_to_acknowledge_s"] == 45 * 60
    assert figures["time_to_resolve_s"] == 5 * 3600
    assert figures["baseline_negative_share"] == pytest.approx(0.5)
    assert figures["alert_negative_share"] == pytest.approx(1.0)
    assert figures["after_negative_share"] == pytest.approx(0.5)
    assert figures["after_mentions"] == 48
    assert figures["back_to_baseline"] is True
    assert "back to baseline" in figures["summary"] and "NOT" not in figures["summary"]


def test_still_negative_after_resolution(history):
    db = history
    _posts(db, RESOLVED, 24, 3, 1, "after")            # everything still negative
    figures = evaluate_alert(db, _alert(db))
    assert figures["after_negative_share"] == pytest.approx(1.0)
    assert figures["back_to_baseline"] is False
    assert "NOT back to baseline" in figures["summary"]


def test_unknown_until_enough_mentions_after(history):
    db = history
    _posts(db, RESOLVED, 1, 2, 1, "after")             # 2 mentions after: too few to judge
    figures = evaluate_alert(db, _alert(db))
    assert figures["after_mentions"] == 2
    assert figures["back_to_baseline"] is None


def test_too_few_mentions_once_the_day_after_is_over_is_not_waited_for(history):
    """History replayed long after it happened has nothing after a resolution made today: once the
    24 hours are over, the verdict says it cannot tell, and why, instead of 'not known yet'."""
    db = history
    _posts(db, RESOLVED, 1, 2, 1, "after")
    alert_id = _alert(db)
    figures = evaluate_alert(db, alert_id, now=RESOLVED + dt.timedelta(days=30))
    assert figures["back_to_baseline"] is None
    assert figures["summary"].endswith("back to baseline: cannot tell (2 scored mentions in the 24 h after "
                                       "the resolution; 5 needed)")
    within_the_day = evaluate_alert(db, alert_id, now=RESOLVED + dt.timedelta(hours=3))
    assert within_the_day["summary"].endswith("back to baseline: not known yet")


def test_open_alert_has_no_resolution_figures(history):
    db = history
    figures = evaluate_alert(db, _alert(db, status="open", acknowledged=False))
    assert figures["time_to_acknowledge_s"] is None and figures["time_to_resolve_s"] is None
    assert figures["back_to_baseline"] is None
    assert figures["summary"].startswith("not acknowledged, not resolved")


def test_times_from_lifecycle_events_when_columns_are_empty(history):
    db = history
    _posts(db, RESOLVED, 24, 2, 5, "after")
    figures = evaluate_alert(db, _alert(db, with_columns=False))
    assert figures["time_to_acknowledge_s"] == 45 * 60
    assert figures["time_to_resolve_s"] == 5 * 3600
    assert figures["back_to_baseline"] is True


def test_other_watches_do_not_count(history):
    db = history
    _posts(db, RESOLVED, 24, 4, 1, "other", watch="globex")  # globex is all negative after
    _posts(db, RESOLVED, 24, 2, 5, "after")
    assert evaluate_alert(db, _alert(db))["after_negative_share"] == pytest.approx(0.5)


def test_unknown_alert(db):
    with pytest.raises(KeyError):
        evaluate_alert(db, 12345)


@pytest.mark.parametrize("seconds, text", [(59 * 60, "59m"), (3600 + 5 * 60, "1h 5m"),
                                           (26 * 3600, "1d 2h"), (None, "-")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_acknowledged_at_filled_in_by_an_older_resolve_is_no_acknowledgement(history):
    """Resolving used to fill acknowledged_at too (with the resolution time): nobody acknowledged."""
    db = history
    alert_id = _alert(db)
    db.conn.execute("UPDATE alerts SET acknowledged_at = resolved_at WHERE id = ?", [alert_id])
    db.conn.execute("INSERT INTO alert_events (alert_id, at, actor, kind) VALUES (?, ?, 'x', 'resolved')",
                    [alert_id, to_iso(RESOLVED)])
    figures = evaluate_alert(db, alert_id)
    assert figures["time_to_acknowledge_s"] is None
    assert figures["summary"].startswith("not acknowledged, resolved after 5h")


def test_the_report_says_not_acknowledged_as_alerts_show_does(history):
    """Walkthrough 14c: the report's table read '-' for an alert resolved without acknowledgement."""
    from mentionwatch.triage.report import _postcrisis_html

    alert_id = _alert(history, acknowledged=False)
    cells = _postcrisis_html(evaluate_alert(history, alert_id), "UTC")
    assert "<tr><td>not acknowledged</td><td>5h 0m</td>" in cells


def _browse_timings(db, alert_id: int) -> tuple:
    from mentionwatch.triage.browse import canned_queries

    sql = canned_queries("m")["alert_timings"]["sql"]
    row = [r for r in db.execute(sql).fetchall() if r[0] == alert_id][0]
    return row[5], row[6]  # hours_to_acknowledge, hours_to_resolve


def test_browse_view_times_alerts_as_the_post_crisis_figures_do(history):
    """The browse view's 'time to acknowledge and resolve' counts from the same start, and reads
    the same acknowledgement, as `alerts show` and the report (alerts/postcrisis.py)."""
    db = history
    live = _alert(db)
    assert _browse_timings(db, live) == (0.75, 5.0)

    replayed = _alert(db)  # found by a replay 3 hours after it would have opened
    recorded = WINDOW_END + dt.timedelta(hours=3)
    db.conn.execute("INSERT INTO alert_events (alert_id, at, actor, kind) VALUES (?, ?, 'detector', 'opened')",
                    [replayed, to_iso(recorded)])
    db.conn.execute("UPDATE alerts SET acknowledged_at = ? WHERE id = ?",
                    [to_iso(recorded + dt.timedelta(minutes=30)), replayed])
    figures = evaluate_alert(db, replayed)
    assert _browse_timings(db, replayed) == (figures["time_to_acknowledge_s"] / 3600,
                                             figures["time_to_resolve_s"] / 3600) == (0.5, 2.0)

    never_acknowledged = _alert(db)
    db.conn.execute("UPDATE alerts SET acknowledged_at = resolved_at WHERE id = ?", [never_acknowledged])
    assert _browse_timings(db, never_acknowledged) == (None, 5.0)


def test_a_live_alert_is_timed_from_its_opening_as_its_resolved_message_is(history):
    """The detection run that records a live alert comes a few minutes after its opening: the
    post-crisis times still count from the opening, as the 'resolved' message does."""
    from alerts.notify import message_for

    db = history
    alert_id = _alert(db)
    db.conn.execute("INSERT INTO alert_events (alert_id, at, actor, kind) VALUES (?, ?, 'detector', 'opened')",
                    [alert_id, to_iso(WINDOW_END + dt.timedelta(minutes=2))])
    figures = evaluate_alert(db, alert_id)
    assert figures["counted_from"] == to_iso(WINDOW_END)
    assert (figures["time_to_acknowledge_s"], figures["time_to_resolve_s"]) == (45 * 60, 5 * 3600)
    assert figures["summary"].startswith("acknowledged after 45m, resolved after 5h 0m;")
    _, body = message_for(db, alert_id, "resolved:high")
    assert "5 h 0 min after it opened" in body


def test_a_replayed_alert_is_timed_from_its_recording_as_alerts_show_times_it(history):
    """An alert found by a replay 3 hours late: the 'resolved' message counts from the recording,
    as `alerts show` does, not from the old opening (which once read '4304 d 6 h')."""
    from alerts.notify import message_for

    db = history
    alert_id = _alert(db)
    recorded = WINDOW_END + dt.timedelta(hours=3)
    db.conn.execute("INSERT INTO alert_events (alert_id, at, actor, kind) VALUES (?, ?, 'detector', 'opened')",
                    [alert_id, to_iso(recorded)])
    figures = evaluate_alert(db, alert_id)
    assert figures["counted_from"] == to_iso(recorded)
    _, body = message_for(db, alert_id, "resolved:high")
    assert "2 h 0 min after it was recorded" in body  # resolved 5 h after the opening
    # the incident began with its window, two hours before the opening that ends the window
    assert f"the incident began {WINDOW_START:%Y-%m-%d %H:%M} UTC" in body


def test_before_the_24_hours_after_have_passed_the_verdict_waits_and_says_so_far(history):
    db = history
    _posts(db, RESOLVED, 3, 10, 1, "after")  # three hours of posts after the resolution, all negative
    alert_id = _alert(db)
    early = evaluate_alert(db, alert_id, now=RESOLVED + dt.timedelta(hours=3))
    assert early["after_mentions"] == 30 and early["after_seconds"] == 3 * 3600
    assert early["back_to_baseline"] is None  # 3 hours of 24: not known yet
    assert "in the 3h 0m since the resolution (so far)" in early["summary"]
    assert "back to baseline: not known yet" in early["summary"]
    later = evaluate_alert(db, alert_id, now=RESOLVED + dt.timedelta(days=2))
    assert later["back_to_baseline"] is False and "in the 24 h after" in later["summary"]


def test_an_alert_resolved_while_it_lasted_counts_later_posts_only_after(db):
    """Resolved an hour into a two-hour window: the second hour's posts are "after", not also "during"."""
    _posts(db, START, 7 * 24, 2, 5, "base")
    _posts(db, WINDOW_START, 1, 20, 1, "spike")                       # first hour: all negative
    _posts(db, WINDOW_START + dt.timedelta(hours=1), 1, 10, 5, "calm")  # second hour, after the resolution
    opened, resolved = to_iso(WINDOW_START + dt.timedelta(minutes=30)), to_iso(WINDOW_START + dt.timedelta(hours=1))
    alert_id = db.conn.execute(
        "INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, opened_at, updated_at, "
        "resolved_at) VALUES ('acme', 'spike', 'resolved', 'high', ?, ?, ?, ?, ?)",
        [to_iso(WINDOW_START), to_iso(WINDOW_END), opened, resolved, resolved]).lastrowid
    db.conn.commit()
    figures = evaluate_alert(db, alert_id, now=WINDOW_END + dt.timedelta(days=2))
    assert (figures["alert_mentions"], figures["alert_negative_share"]) == (20, pytest.approx(1.0))
    assert figures["after_mentions"] == 10
