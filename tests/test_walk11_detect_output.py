"""Walkthrough 11: `detect` names the alerts that escalated, and the 'no scored mentions' line of
`detect`/`backtest` tells a watch with no mentions at all from one whose mentions are unscored."""
from __future__ import annotations

import datetime as dt
import sqlite3

from storage import Mention, open_db, save_mentions
from tests.test_alerts_detection import START, add_stream, config_text, iso


def test_detect_names_each_alert_that_escalated(cli, tmp_path, model_id):
    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: esc.db\n")
    db = open_db(tmp_path / "esc.db")
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 15)], burst_hour + 1: [("reddit", 80)]})
    first_look = START + dt.timedelta(hours=burst_hour + 1)
    first = cli("detect", "--no-notify", "--at", iso(first_look))
    assert "1 alert(s) opened" in first.stdout, first.output
    [alert_id, severity] = db.execute("SELECT id, severity FROM alerts").fetchone()

    second = cli("detect", "--no-notify", "--at", iso(first_look + dt.timedelta(hours=1)))
    assert second.exit_code == 0, second.output
    new_severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    assert new_severity != severity
    assert "0 alert(s) opened, 1 updated." in second.stdout
    [line] = [line for line in second.stdout.splitlines() if "escalated" in line]
    assert line.startswith(f"  escalated #{alert_id}: {severity} -> {new_severity}: acme ")

    again = cli("detect", "--no-notify", "--at", iso(first_look + dt.timedelta(hours=1)))
    assert "escalated" not in again.stdout  # nothing rose in this run
    db.close()


def test_detect_does_not_name_an_escalation_another_process_made_meanwhile(cli, tmp_path, model_id,
                                                                           monkeypatch):
    import alerts.detect

    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: esc.db\n")
    db = open_db(tmp_path / "esc.db")
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 15)], burst_hour + 1: [("reddit", 80)],
                                    burst_hour + 2: [("reddit", 90)]})
    first_look = START + dt.timedelta(hours=burst_hour + 1)
    assert "1 alert(s) opened" in cli("detect", "--no-notify", "--at", iso(first_look)).stdout
    real_detection = alerts.detect.run_detection

    def service_first(db_, config, now=None, notify=True):
        """The service escalates the alert just before this run."""
        service = open_db(tmp_path / "esc.db")
        real_detection(service, config, now=first_look + dt.timedelta(hours=1), notify=False)
        service.close()
        return real_detection(db_, config, now=now, notify=notify)

    monkeypatch.setattr(alerts.detect, "run_detection", service_first)
    second = cli("detect", "--no-notify", "--at", iso(first_look + dt.timedelta(hours=2)))
    assert "1 updated" in second.stdout and "escalated" not in second.stdout, second.output
    db.close()


def _three_watches(tmp_path):
    """acme: no mentions at all; airlines and us-airways: unscored mentions on 2015-03-02."""
    (tmp_path / "mentionwatch.yaml").write_text(
        "watches:\n" + "".join(f"  - name: {name}\n    query: {{any: [{name}]}}\n"
                               for name in ("acme", "airlines", "us-airways")))
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("reddit", name, f"{name} is awful", "2015-03-02T10:00:00Z", watches=(name,))
                       for name in ("airlines", "us-airways")])
    db.close()


def test_backtest_says_a_watch_without_mentions_has_none(cli, tmp_path):
    _three_watches(tmp_path)
    result = cli("backtest", "--since", "2015-03-01", "--until", "2015-03-05")
    assert result.exit_code == 0, result.output
    assert "No mentions of acme yet; no scored mentions of airlines, us-airways between 2015-03-01" \
           in result.stdout
    assert "(they have unscored mentions: `mentionwatch score`)." in result.stdout
    assert "scored mentions of acme" not in result.stdout


def test_detect_says_a_watch_without_mentions_has_none(cli, tmp_path):
    _three_watches(tmp_path)
    result = cli("detect", "--no-notify", "--at", "2015-03-05")
    assert result.exit_code == 0, result.output
    assert "No mentions of acme yet; no scored mentions of airlines, us-airways in the 30 days before " \
           "2015-03-05T00:00:00Z, not checked" in result.stdout
    assert "they have unscored mentions: `mentionwatch score`" in result.stdout


def test_only_watches_with_unscored_mentions_are_sent_to_score(cli, tmp_path, model_id):
    """A watch whose mentions are all scored but outside the period is not told to score."""
    _three_watches(tmp_path)
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("reddit", "old", "acme is awful", "2015-01-02T10:00:00Z", watches=("acme",))])
    db.conn.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, '2025-01-01T00:00:00Z' "
                    "FROM mentions WHERE external_id = 'old'", [model_id])
    db.conn.commit()
    db.close()
    result = cli("backtest", "--since", "2015-03-01", "--until", "2015-03-05")
    [line] = [line for line in result.stdout.splitlines() if "scored mentions" in line]
    assert "No mentions of" not in line
    assert "unscored mentions of airlines, us-airways: `mentionwatch score`" in line


def _scored_stream_then_unscored_burst(tmp_path, model_id):
    """A scored week of acme, then a burst of 60 negative posts stored without a score (imported after
    the last `score`): (database, the hour after the burst)."""
    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: late.db\n")
    db = open_db(tmp_path / "late.db")
    add_stream(db, model_id)
    burst_at = START + dt.timedelta(days=7, hours=10)
    save_mentions(db, [Mention("reddit", f"late-{k}", "acme lost my parcel again",
                               iso(burst_at + dt.timedelta(minutes=k % 60)), watches=("acme",)) for k in range(60)])
    return db, burst_at + dt.timedelta(hours=1)


def test_detect_and_backtest_say_how_many_mentions_they_counted_unscored(cli, tmp_path, model_id):
    """Review (2026-12-07): a batch imported without `score` was counted as not negative and the
    wave in it raised nothing, with no word said; status alone showed the backlog."""
    db, after_burst = _scored_stream_then_unscored_burst(tmp_path, model_id)
    detected = cli("detect", "--no-notify", "--at", iso(after_burst))
    assert detected.exit_code == 0, detected.output
    assert "0 alert(s) opened" in detected.stdout  # the wave is not seen ...
    [line] = [line for line in detected.stdout.splitlines() if line.startswith("Not scored yet")]
    assert "60 of the " in line and " mentions of acme in the 30 days before " in line  # ... and it says why
    assert "`mentionwatch score`" in line

    replayed = cli("backtest", "--since", iso(after_burst - dt.timedelta(days=2)), "--until", iso(after_burst))
    assert replayed.exit_code == 0, replayed.output
    [line] = [line for line in replayed.stdout.splitlines() if line.startswith("Not scored yet")]
    assert "60 of the " in line and "mentions of acme between" in line

    db.conn.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, '2025-01-01T00:00:00Z' "
                    "FROM mentions WHERE external_id LIKE 'late-%'", [model_id])
    db.conn.commit()
    db.close()
    scored = cli("detect", "--no-notify", "--at", iso(after_burst))
    assert "1 alert(s) opened" in scored.stdout, scored.output
    assert "Not scored yet" not in scored.stdout


def test_with_the_service_running_the_unscored_line_leaves_scoring_to_it(cli, tmp_path, model_id, monkeypatch):
    from mentionwatch.service_state import mark_process

    db, after_burst = _scored_stream_then_unscored_burst(tmp_path, model_id)
    mark_process(db, "running", str(tmp_path / "mentionwatch.yaml"))  # this process, recorded as the service
    db.close()
    detected = cli("detect", "--no-notify", "--at", iso(after_burst))
    [line] = [line for line in detected.stdout.splitlines() if line.startswith("Not scored yet")]
    # a replay (--at in the past), which the service's own detection, as of now, never repeats
    assert line.endswith(": the running service scores them: run this command again once it has "
                         "(`mentionwatch status` shows the backlog).")
    monkeypatch.setattr("alerts.detect.is_replay", lambda moment: False)  # as if --at were now
    fresh = cli("detect", "--no-notify", "--at", iso(after_burst))
    assert "Not scored yet" not in fresh.stdout  # stored a moment ago: the service's next score run takes them
    with sqlite3.connect(tmp_path / "late.db") as connection:  # stored long ago, still unscored: a backlog
        connection.execute("UPDATE mentions SET fetched_at = '2000-01-01T00:00:00Z' WHERE external_id LIKE 'late-%'")
    live = cli("detect", "--no-notify", "--at", iso(after_burst))
    [line] = [line for line in live.stdout.splitlines() if line.startswith("Not scored yet")]
    assert line.endswith(": the running service scores them, and its next detection counts them "
                         "(`mentionwatch status` shows the backlog).")
