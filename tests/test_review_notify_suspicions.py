"""Two review suspicions about notifications, checked on a real SQLite database with the real
detection and notify code: (a) a target added to the watchlist while an alert goes on must not hear
of it first through an "escalated" message, and one added after it was resolved hears nothing;
(b) `detect` in a shell whose target variable holds a URL apprise cannot use says so in one line
and leaves the message to the service (no attempt spent, nothing retried)."""
from __future__ import annotations

import datetime as dt

from apprise.decorators import notify

from alerts.detect import run_detection
from alerts.lifecycle import resolve
from alerts.notify import send_pending
from mentionwatch.config import parse_config
from tests.test_alerts_detection import START, add_stream
from tests.test_review_notify_fixes import _title_only_stories, _watchlist

GOT: list[tuple[str, str]] = []
EVENTS = "events: [opened, escalated, resolved]"
A = f'  - {{name: a, url: "mwsuspicion://a", {EVENTS}}}'
B = f'  - {{name: b, url: "mwsuspicion://b", {EVENTS}}}'
BURST = 2 * 24 + 10  # inside the warm-up: only the threshold rule fires


BODIES: list[tuple[str, str, str]] = []


@notify(on="mwsuspicion")
def _receive(body, title, notify_type, meta, *args, **kwargs):
    """A target of our own: remembers (host, title) of each message, and (host, title, body)."""
    GOT.append((meta.get("host"), title.split(": ", 1)[1]))
    BODIES.append((meta.get("host"), title, body))
    return True


def _config(targets: str):
    return parse_config(f"""
sentiment: {{model: builtin}}
alerts:
  warmup: 4d
  cooldown: 3h
  thresholds:
    - {{count: 20, window: 1h, severity: medium}}
notifications:
{targets}
watches:
  - name: acme
    query: {{any: [acme]}}
""")


def _run(db, config, hours: float) -> None:
    run_detection(db, config, now=START + dt.timedelta(hours=BURST + hours))
    send_pending(db, config)


def _opened_and_escalated_for_a_alone(db, model_id, last_hour: int = 0) -> int:
    """25, 45 (and `last_hour` more) negative posts an hour: opened medium, escalated high, told to a."""
    GOT.clear()
    burst = {BURST: [("reddit", 25)], BURST + 1: [("reddit", 45)]}
    if last_hour:
        burst[BURST + 2] = [("reddit", last_hour)]
    add_stream(db, model_id, days=3, burst=burst)
    only_a = _config(A)
    _run(db, only_a, 1)
    _run(db, only_a, 2)
    assert [title.split(" - ")[0] for _host, title in GOT] == [
        "alert #1 opened (medium)", "alert #1 escalated medium -> high"]
    GOT.clear()
    return 1


def test_a_target_added_during_an_alert_hears_of_it_first_as_an_opening_at_its_severity(db, model_id):
    alert_id = _opened_and_escalated_for_a_alone(db, model_id, last_hour=100)
    both = _config(f"{A}\n{B}")
    _run(db, both, 3)  # 100 posts in the hour: critical
    assert db.execute("SELECT severity FROM alerts").fetchone()[0] == "critical"
    assert sorted((host, title.split(" - ")[0]) for host, title in GOT) == [
        ("a", "alert #1 escalated high -> critical"), ("b", "alert #1 opened (critical)")]
    assert db.execute("SELECT state, status FROM notifications WHERE target = 'b'").fetchall() == [
        ("opened:critical", "sent")]

    GOT.clear()
    resolve(db, alert_id, "pat", config=both)
    send_pending(db, both)
    assert sorted((host, title.split(" - ")[0]) for host, title in GOT) == [
        ("a", "alert #1 resolved (was critical)"), ("b", "alert #1 resolved (was critical)")]


def test_a_target_added_after_the_alert_was_resolved_hears_nothing_of_it(db, model_id):
    alert_id = _opened_and_escalated_for_a_alone(db, model_id)
    only_a = _config(A)
    resolve(db, alert_id, "pat", config=only_a)
    send_pending(db, only_a)
    assert [(host, title.split(" - ")[0]) for host, title in GOT] == [("a", "alert #1 resolved (was high)")]

    GOT.clear()
    both = _config(f"{A}\n{B}")
    _run(db, both, 2.1)
    _run(db, both, 3)
    assert GOT == []
    assert db.execute("SELECT count(*) FROM notifications WHERE target = 'b'").fetchone()[0] == 0


def _three_steps(db, model_id) -> None:
    """25, 45 and 100 negative posts in three hours: medium, then high, then critical."""
    GOT.clear()
    BODIES.clear()
    add_stream(db, model_id, days=3, burst={BURST: [("reddit", 25)], BURST + 1: [("reddit", 45)],
                                             BURST + 2: [("reddit", 100)]})


def _titles(host: str) -> list[str]:
    return [title.split(" - ")[0] for got_host, title in GOT if got_host == host]


def test_a_late_targets_opening_says_where_the_alert_opened_not_where_it_was_queued(db, model_id):
    _three_steps(db, model_id)
    only_a, both = _config(A), _config(f"{A}\n{B}")
    _run(db, only_a, 1)  # opened medium, told to a
    run_detection(db, both, now=START + dt.timedelta(hours=BURST + 2))  # high: b's opening queued at high
    run_detection(db, both, now=START + dt.timedelta(hours=BURST + 3))  # critical before it went
    send_pending(db, both)
    body = [body for host, title, body in BODIES if host == "b"]
    assert _titles("b") == ["alert #1 opened (critical)"]
    assert "Opened at medium; it has grown to critical since." in body[0]


def test_a_late_target_told_critical_by_its_opening_is_not_told_the_escalation_again(db, model_id):
    _three_steps(db, model_id)
    only_a, both = _config(A), _config(f"{A}\n{B}")
    _run(db, only_a, 1)  # a: opened medium
    run_detection(db, both, now=START + dt.timedelta(hours=BURST + 2))  # a: escalated high; b: opened:high
    run_detection(db, both, now=START + dt.timedelta(hours=BURST + 3), notify=False)  # critical, told nobody
    send_pending(db, both)  # b's opening goes out late, as 'opened (critical)'
    _run(db, both, 3.1)  # the unannounced rise to critical: a only
    _run(db, both, 3.2)
    assert _titles("b") == ["alert #1 opened (critical)"]
    assert _titles("a") == ["alert #1 opened (medium)", "alert #1 escalated medium -> high",
                            "alert #1 escalated high -> critical"]


def test_a_target_added_after_a_silent_rise_hears_of_the_alert_as_an_opening(db, model_id):
    _opened_and_escalated_for_a_alone(db, model_id, last_hour=100)
    both = _config(f"{A}\n{B}")
    run_detection(db, both, now=START + dt.timedelta(hours=BURST + 3), notify=False)  # critical, told nobody
    _run(db, both, 3.1)
    _run(db, both, 3.2)
    assert _titles("a") == ["alert #1 escalated high -> critical"]
    assert _titles("b") == ["alert #1 opened (critical)"]


def test_detect_with_an_unusable_url_in_the_variable_says_so_once_and_spends_no_attempt(
        tmp_path, cli, monkeypatch):
    from storage import open_db

    monkeypatch.setenv("MW_RV_HOOK", "nosuchscheme://hooks.example/x")
    _path, config = _watchlist(tmp_path)
    _title_only_stories(tmp_path, config).close()
    line = ("Notification 'team' (1 message): not sent from this shell: apprise cannot use the notification "
            "URL (check its scheme and that no part is missing) (the URL in MW_RV_HOOK here); the service "
            "sends it when it runs (none is running now).")
    for _run_again in range(2):
        result = cli("detect", "--at", "2015-03-01T12:00:00Z", "--notify")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines().count(line) == 1
        assert "nosuchscheme" not in result.output and "hooks.example" not in result.output
    db = open_db(config.database)
    assert db.execute("SELECT status, attempts, claimed_at, last_error FROM notifications").fetchall() == [
        ("pending", 0, None, None)]
    db.close()


def test_a_target_added_while_the_alert_goes_on_unchanged_hears_of_it_at_the_next_run(db, model_id):
    """It heard nothing until the alert grew, which may be never: a team that adds its on-call
    channel in the middle of a crisis is told of the crisis at the next detection."""
    alert_id = _opened_and_escalated_for_a_alone(db, model_id, last_hour=100)
    both = _config(f"{A}\n{B}")
    _run(db, both, 2.1)  # unchanged (high): b hears of it as an opening, a hears nothing new
    _run(db, both, 2.2)
    assert [(host, title.split(" - ")[0]) for host, title in GOT] == [("b", "alert #1 opened (high)")]
    body = [body for host, _title, body in BODIES if host == "b"][-1]
    assert "Opened at medium; it has grown to high since." in body

    GOT.clear()
    _run(db, both, 3)  # critical: both are told the rise from what they were told
    assert sorted((host, title.split(" - ")[0]) for host, title in GOT) == [
        ("a", "alert #1 escalated high -> critical"), ("b", "alert #1 escalated high -> critical")]
    GOT.clear()
    resolve(db, alert_id, "pat", config=both)
    send_pending(db, both)
    assert sorted(host for host, _title in GOT) == ["a", "b"]


def test_a_target_added_while_the_alert_is_acknowledged_or_taking_only_escalations_hears_nothing(db, model_id):
    from alerts.lifecycle import acknowledge

    alert_id = _opened_and_escalated_for_a_alone(db, model_id)
    pager = '  - {name: pager, url: "mwsuspicion://pager", events: [escalated]}'
    with_pager = _config(f"{A}\n{pager}")
    _run(db, with_pager, 2.1)  # pager takes no openings: an unchanged alert is no news to it
    assert GOT == []
    acknowledge(db, alert_id, "pat")
    both = _config(f"{A}\n{B}")
    _run(db, both, 2.2)  # somebody is on it already
    assert GOT == []
    assert db.execute("SELECT count(*) FROM notifications WHERE target IN ('b', 'pager')").fetchone()[0] == 0


def test_a_target_taken_out_and_put_back_during_an_alert_hears_of_it(db, model_id):
    """Review: its opening, dropped while it was out of the watchlist, counted as a message, so the
    late opening never came (nor, then, a 'resolved')."""
    add_stream(db, model_id, days=3, burst={BURST: [("reddit", 25)], BURST + 1: [("reddit", 25)],
                                             BURST + 2: [("reddit", 25)]})
    GOT.clear()
    both, only_a = _config(f"{A}\n{B}"), _config(A)
    run_detection(db, both, now=START + dt.timedelta(hours=BURST + 1))  # opened: a and b queued
    send_pending(db, only_a, drop_removed_targets=True)  # the service, b taken out: b's opening dropped
    assert _titles("b") == []
    _run(db, both, 2)  # b is back
    _run(db, both, 2.5)
    assert _titles("b") == ["alert #1 opened (medium)"]
    assert _titles("a") == ["alert #1 opened (medium)"]
