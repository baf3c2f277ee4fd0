"""Alert bookkeeping found wrong by a code review: a count rule's look-back no longer joins two
incidents, an alert stored silently is announced as opened at the severity it reached, alerts keep
the model that counted them, and re-ranked posts never share a rank."""
from __future__ import annotations

import datetime as dt

from alerts.detect import run_detection
from alerts.lifecycle import acknowledge, resolve
from alerts.postcrisis import evaluate_alert
from mentionwatch.config import parse_config
from test_alerts_detection import START, add_stream, config_text

ONE_DAY_RULE = "  thresholds:\n    - {count: 70, window: 1d, severity: low}"


def _run_every_quarter_hour(db, config, first_hour: int, last_hour: int) -> None:
    moment = START + dt.timedelta(hours=first_hour)
    while moment <= START + dt.timedelta(hours=last_hour):
        for alert_id in run_detection(db, config, now=moment, notify=True).opened:
            acknowledge(db, alert_id, "kim")
        moment += dt.timedelta(minutes=15)


def test_a_day_long_count_rule_does_not_merge_an_earlier_incident_into_a_later_alert(db, model_id):
    config = parse_config(config_text(ONE_DAY_RULE))
    first = 6 * 24 + 6
    # two separate spikes 10 hours apart; the second grows to critical two hours after it opened
    add_stream(db, model_id, burst={first: [("reddit", 40)], first + 10: [("reddit", 40)],
                                    first + 12: [("reddit", 150)]})
    _run_every_quarter_hour(db, config, first, first + 14)

    alerts = db.execute("SELECT id, window_start, opened_at FROM alerts ORDER BY id").fetchall()
    assert len(alerts) == 2
    (first_id, first_start, first_opened), (second_id, second_start, second_opened) = alerts
    assert second_start > first_opened  # the second alert's window does not reach back over the first
    second_events = db.execute("SELECT detail FROM alert_events WHERE alert_id = ? AND kind = 'escalated'",
                               [second_id]).fetchall()
    for (detail,) in second_events:
        reached = detail.split(" at ", 1)[1][:20]
        assert reached >= second_opened, detail  # never an escalation from before it opened
    states = {state for (state,) in db.execute("SELECT state FROM notifications WHERE alert_id = ?", [second_id])}
    assert "escalated:critical" in states  # its own rise to critical is announced
    first_posts = {m for (m,) in db.execute("SELECT mention_id FROM alert_mentions WHERE alert_id = ?", [first_id])}
    second_posts = {m for (m,) in db.execute("SELECT mention_id FROM alert_mentions WHERE alert_id = ?",
                                             [second_id])}
    assert first_posts and not first_posts & second_posts


def test_an_alert_stored_without_notifying_is_announced_as_opened_at_the_severity_it_reached(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 15)], burst + 1: [("reddit", 80)]})
    first_look = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=first_look, notify=False).opened  # `detect --no-notify`
    stored_severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]

    result = run_detection(db, config, now=first_look + dt.timedelta(hours=1), notify=True)
    severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    assert severity != stored_severity  # it escalated in between
    states = [state for (state,) in db.execute("SELECT state FROM notifications WHERE alert_id = ?", [alert_id])]
    assert states == [f"opened:{severity}"]
    assert result.queued == 1  # what tells the service to send now, though nothing opened


def test_an_unchanged_unannounced_alert_is_queued_and_counted(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    moment = START + dt.timedelta(hours=burst + 1)
    run_detection(db, config, now=moment, notify=False)
    result = run_detection(db, config, now=moment, notify=True)
    assert (result.opened, result.updated, result.queued) == ([], [], 1)


def test_the_evaluation_counts_with_the_alerts_own_model(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    [alert_id] = run_detection(db, config, now=START + dt.timedelta(hours=burst + 1), notify=False).opened
    resolve(db, alert_id, "sam")
    # the same mentions scored by a second model that calls everything positive
    db.execute("INSERT INTO scores SELECT mention_id, 'zz-other', 'positive', 0.05, 0.05, 0.9, scored_at FROM scores")
    db.conn.commit()
    figures = evaluate_alert(db, alert_id)
    assert figures["model_id"] == model_id
    assert figures["alert_negative_share"] > 0.5


def test_linked_posts_never_share_a_rank_after_an_update(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 15)], burst + 1: [("reddit", 80)]})
    first_look = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=first_look, notify=False).opened
    # some of the posts it was raised on are scored positive since, and drop out of its ranking
    db.execute("UPDATE scores SET label = 'positive' WHERE mention_id IN "
               "(SELECT mention_id FROM alert_mentions WHERE alert_id = ? AND rank <= 5)", [alert_id])
    db.conn.commit()
    run_detection(db, config, now=first_look + dt.timedelta(hours=1), notify=False)
    ranks = [rank for (rank,) in db.execute("SELECT rank FROM alert_mentions WHERE alert_id = ? AND rank IS NOT NULL",
                                            [alert_id])]
    assert len(ranks) == len(set(ranks))
    unranked = db.execute("SELECT count(*) FROM alert_mentions WHERE alert_id = ? AND rank IS NULL",
                          [alert_id]).fetchone()[0]
    assert unranked == 5  # still linked, for the record


def test_a_message_is_not_claimed_for_sending_once_its_alert_is_resolved(db, model_id):
    from alerts.notify import _claim

    config = parse_config(config_text())
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    [alert_id] = run_detection(db, config, now=START + dt.timedelta(hours=burst + 1), notify=True).opened
    [(row_id, attempts)] = db.execute("SELECT id, attempts FROM notifications WHERE alert_id = ?", [alert_id])
    now = dt.datetime.now(dt.timezone.utc)
    # resolved between the sender's check and its claim (by another process)
    resolve(db, alert_id, "sam")
    assert not _claim(db, row_id, attempts, now)
    status, claimed = db.execute("SELECT status, claimed_at FROM notifications WHERE id = ?", [row_id]).fetchone()
    assert (status, claimed) == ("pending", None)


def test_apprise_lines_stay_out_while_any_thread_still_sends():
    import logging

    from alerts.notify import _apprise_lines_kept_out

    apprise_log = logging.getLogger("apprise")
    assert apprise_log.propagate
    first, second = _apprise_lines_kept_out(), _apprise_lines_kept_out()
    first.__enter__()
    second.__enter__()  # another thread starts sending
    first.__exit__(None, None, None)  # the first thread is done
    assert not apprise_log.propagate  # the second is still sending: its lines stay out
    second.__exit__(None, None, None)
    assert apprise_log.propagate


def test_a_post_that_says_read_timed_out_does_not_make_a_refused_delivery_unconfirmed():
    import socket

    from alerts.notify import deliver

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delivery = deliver(f"json://127.0.0.1:{port}/", "alert", "customer: 'checkout page: Read timed out'")
    assert delivery.error is not None
    assert not delivery.unanswered  # refused, so retried; only a real read timeout is left unconfirmed
