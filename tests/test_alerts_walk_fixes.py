"""Alert figures a PR analyst checked by hand while tuning rules (a walkthrough): one peak whose
count, expected count and score belong together however detection was run, a replay that explains
its alert only with posts written before its moment, and a daily rush that daylight saving moves
by an hour, which is no spike."""
from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from alerts.detect import backtest, run_detection
from mentionwatch.config import parse_config
from storage import Mention, save_mentions
from tests.test_alerts_detection import START, add_stream, config_text, iso


def _alert(db, alert_id: int = 1) -> dict:
    row = db.execute("SELECT observed, expected, score, json_extract(explanation, '$.peak.start') FROM alerts "
                     "WHERE id = ?", [alert_id]).fetchone()
    return dict(zip(("observed", "expected", "score", "peak_start"), row))


def _daily_rush_with_a_quiet_hour_burst(db, model_id) -> int:
    """Every day 20 negative posts at 09:00; on day 7, 120 at 09:00 (a big count over a busy
    usual) and 40 at 12:00 (a smaller count over a quiet usual: it stands out more)."""
    day7 = 6 * 24
    rush = {day * 24 + 9: [("reddit", 20)] for day in range(6)}
    rush.update({day7 + 9: [("reddit", 120)], day7 + 12: [("reddit", 40)]})
    add_stream(db, model_id, burst=rush)
    return day7


def test_a_live_alert_keeps_the_peak_a_single_replay_would_give(db, model_id):
    """Run every hour, the alert first sees the 09:00 hour (120 posts) and later the 12:00 one, which
    stands out more. It must end with the 12:00 hour's count, expected count and score together, as
    one replay over the whole day says, not 120 posts beside the 12:00 hour's score."""
    config = parse_config(config_text())
    day7 = _daily_rush_with_a_quiet_hour_burst(db, model_id)
    for hour in range(day7 + 10, day7 + 16):
        run_detection(db, config, now=START + dt.timedelta(hours=hour), notify=False)
    [finding] = [f for f in backtest(db, config, START + dt.timedelta(hours=day7),
                                     START + dt.timedelta(hours=day7 + 16)) if f.rule == "spike"]
    live = _alert(db)
    assert finding.observed < 120  # the peak is the 12:00 hour, not the biggest count
    assert (live["observed"], live["expected"], live["score"], live["peak_start"]) == \
           (finding.observed, finding.expected, finding.score, finding.peak_start)


def test_a_replay_explains_its_alert_only_with_posts_written_before_its_moment(db, model_id):
    config = parse_config(config_text())
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 90)]})  # spread over the hour's 60 minutes
    moment = START + dt.timedelta(hours=burst_hour, minutes=45)
    run_detection(db, config, now=moment, notify=False)
    linked = [row[0] for row in db.execute(
        "SELECT m.created_at FROM alert_mentions a JOIN mentions m ON m.id = a.mention_id WHERE a.alert_id = 1")]
    assert linked and max(linked) < iso(moment)
    explanation = db.execute("SELECT explanation FROM alerts WHERE id = 1").fetchone()[0]
    assert iso(moment + dt.timedelta(minutes=5)) not in explanation  # no later post quoted


def _new_york_rush(db, model_id, seed: int) -> None:
    """Four weeks of negative posts with the same daily rush at 09:00-11:00 New York time; daylight
    saving starts on 8 March 2015, so from then on the rush comes an hour earlier in UTC."""
    rng = random.Random(seed)
    new_york = ZoneInfo("America/New_York")
    curve = {hour: 0.5 for hour in range(24)}
    curve.update({8: 3, 9: 12, 10: 14, 11: 10, 12: 6, 13: 5, 14: 5, 15: 4, 16: 3, 17: 2, 18: 1})
    mentions = []
    for day in range(28):
        date = dt.date(2015, 2, 23) + dt.timedelta(days=day)
        for hour in range(24):
            for _ in range(sum(1 for _ in range(int(curve[hour] * 4)) if rng.random() < 0.25)):
                local = dt.datetime(date.year, date.month, date.day, hour, rng.randint(0, 59), rng.randint(0, 59),
                                    tzinfo=new_york)
                mentions.append(Mention("reddit", f"ny{len(mentions)}", "acme support is terrible",
                                        iso(local.astimezone(dt.timezone.utc)), watches=("acme",)))
    save_mentions(db, mentions)
    db.conn.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, '2015-01-01T00:00:00Z' "
                    "FROM mentions", [model_id])
    db.conn.commit()


def test_a_daily_rush_moved_by_daylight_saving_is_no_spike(db, model_id):
    _new_york_rush(db, model_id, seed=5)
    since, until = dt.datetime(2015, 2, 23, tzinfo=dt.timezone.utc), dt.datetime(2015, 3, 23, tzinfo=dt.timezone.utc)
    for bucket in ("15m", "30m", "1h"):
        config = parse_config(config_text(f"  bucket: {bucket}").replace("warmup: 4d", "warmup: 7d"))
        assert backtest(db, config, since, until) == [], bucket


def test_backtest_says_which_watches_it_could_not_check(cli, tmp_path):
    """Unscored mentions are not 'no alerts': an analyst tuning rules must be told."""
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n")
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("reddit", "1", "acme is awful", "2015-03-02T10:00:00Z", watches=("acme",))])
    db.close()
    result = cli("backtest", "--since", "2015-03-01", "--until", "2015-03-05")
    assert result.exit_code == 0
    assert "No scored mentions of acme between 2015-03-01" in result.output
    assert "mentionwatch score" in result.output


def test_per_source_on_a_watch_read_from_one_source_raises_each_alert_once(db, model_id):
    config = parse_config(config_text(per_source=True))
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 60)]})
    with db.conn:
        db.execute("UPDATE mentions SET source = 'reddit'")  # one source only
    run_detection(db, config, now=START + dt.timedelta(hours=burst_hour + 2), notify=False)
    alerts = db.execute("SELECT watch, source FROM alerts").fetchall()
    assert alerts == [("acme", None)]


def test_alerts_show_says_where_a_merged_alert_got_its_severity(cli, tmp_path, model_id):
    """Two threshold rules on one incident: 'high' came from the second, so the line about the first
    rule's own severity would mislead."""
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(
        "alerts:\n  thresholds:\n    - {count: 40, window: 1h, severity: low}\n"
        "    - {count: 100, window: 3h, severity: high, name: big3h}\n"
        "watches:\n  - name: acme\n    query: {any: [acme]}\n")
    db = open_db(tmp_path / "mentionwatch.db")
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 45)], burst_hour + 1: [("reddit", 45)],
                                    burst_hour + 2: [("reddit", 45)]})
    db.close()
    assert cli("detect", "--at", iso(START + dt.timedelta(hours=burst_hour + 4))).exit_code == 0
    shown = cli("alerts", "show", "1").output
    assert "Rules fired: threshold:40 in 1h, threshold:big3h" in shown
    assert "the severity is the highest any of them reached" in shown
    assert "the rule's own" not in shown
