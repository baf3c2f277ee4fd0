"""Walkthrough fixes: (1) a risk score against an empty comparison week is no score ("no baseline
yet", not "100 (critical)"); (2) an alert window still growing is shown as ongoing, not as ending
at the end of its hour, by `detect`, `alerts list` and `alerts show`."""
from __future__ import annotations

import datetime as dt

import pytest

from mentionwatch.commands.alerts import _one_line
from mentionwatch.triage.risk import NO_BASELINE, watch_risk
from storage import Mention, open_db, save_mentions
from storage.timeutil import to_iso

MODEL = "test-model"


def _scored(db, watch, times, label="negative", tag="x"):
    save_mentions(db, [Mention("forum", f"{watch}-{tag}-{i}", f"{watch} lost my bag", to_iso(t),
                               watches=(watch,)) for i, t in enumerate(times)])
    db.conn.execute("INSERT INTO scores SELECT id, ?, ?, 0.9, 0.05, 0.05, '2024-01-01T00:00:00Z' "
                    "FROM mentions WHERE external_id LIKE ? AND id NOT IN (SELECT mention_id FROM scores)",
                    [MODEL, label, f"{watch}-{tag}-%"])
    db.conn.commit()


def _airlines(db, end: dt.datetime) -> None:
    """The walkthrough's watch: 2015 history, nothing since, then 80 negative posts in the day."""
    _scored(db, "airlines", [dt.datetime(2015, 2, 20, 8, tzinfo=dt.timezone.utc)
                             + dt.timedelta(hours=h) for h in range(48)], label="neutral", tag="old")
    _scored(db, "airlines", [end - dt.timedelta(minutes=10 * k + 1) for k in range(80)], tag="today")


# ------------------------------------------------------------------ 1. risk with an empty week

def test_an_empty_comparison_week_gives_no_score_and_says_why(db):
    end = dt.datetime(2024, 6, 10, tzinfo=dt.timezone.utc)
    _airlines(db, end)
    risk = watch_risk(db, "airlines", MODEL, to_iso(end))
    assert risk.score is None and risk.level == NO_BASELINE and not risk.has_baseline
    assert risk.weighted_usual is None and risk.size is None and risk.baseline_empty
    assert risk.negatives_recent == 80 and risk.all_baseline == 0
    text = risk.explanation()
    assert "no baseline yet: no mentions in the 7 days before the last 24 h to compare with" in text
    assert "size" not in text and "less than 1 day" not in text


def test_one_mention_in_the_week_is_a_baseline_and_a_new_watch_keeps_its_reason(db):
    end = dt.datetime(2024, 6, 10, tzinfo=dt.timezone.utc)
    _airlines(db, end)
    _scored(db, "airlines", [end - dt.timedelta(days=3)], label="neutral", tag="week")
    quiet_week = watch_risk(db, "airlines", MODEL, to_iso(end))
    assert quiet_week.has_baseline and quiet_week.level == "critical"  # a real surge
    _scored(db, "newco", [end - dt.timedelta(hours=2)])
    newco = watch_risk(db, "newco", MODEL, to_iso(end))
    assert newco.level == NO_BASELINE and not newco.baseline_empty
    assert "less than 1 day of mentions before the last 24 h" in newco.explanation()


def test_the_walkthrough_report_says_no_baseline_not_critical(cli, tmp_path):
    db = open_db(tmp_path / "w.db")
    _airlines(db, dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    db.close()
    result = cli("--db", tmp_path / "w.db", "report", "--watch", "airlines", "--since", "1d",
                 "--out", tmp_path / "reports" / "day")
    assert result.exit_code == 0, result.output
    assert "  airlines: no baseline yet, 0 alerts" in result.output.splitlines()
    assert "critical" not in result.output
    page = (tmp_path / "reports" / "day" / "report.html").read_text(encoding="utf-8")
    row = page[page.index('<tr><td><a href="#watch-airlines">'):].split("</tr>")[0]
    assert "x81.00" not in row and "critical" not in row
    assert row.count('<td class="num">&ndash;</td>') == 4  # no score, usual amount, size, speed
    assert "no baseline yet, no mentions in the 7 days before the last 24 h to compare with" in page
    assert "less than 1 day" not in page.split('<h2 id="risk-formula">')[0]


# ------------------------------------------------------------------ 2. ongoing alert windows

def _config(tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(
        "database: a.db\nwatches:\n  - {name: acme, query: {any: [acme]}}\n", encoding="utf-8")
    return open_db(tmp_path / "a.db")


def _alert(db, start: dt.datetime, end: dt.datetime) -> int:
    return db.execute(
        "INSERT INTO alerts (watch, rule, severity, window_start, window_end, observed, expected, "
        "opened_at, updated_at) VALUES ('acme', 'spike', 'high', ?, ?, 40, 4, ?, ?)",
        [to_iso(start), to_iso(end), to_iso(start), to_iso(start)]).lastrowid


@pytest.fixture
def two_alerts(tmp_path):
    """#1 still growing: its window ends at the end of the current hour; #2 over yesterday."""
    db = _config(tmp_path)
    # the time the test runs, not the time the module was imported: the suite may reach this test
    # after the hour the module was imported in has ended
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    hour_end = now.replace(minute=0, second=0) + dt.timedelta(hours=1)
    ongoing = _alert(db, now - dt.timedelta(minutes=1), hour_end + dt.timedelta(minutes=1))
    over = _alert(db, now - dt.timedelta(days=1, hours=3), now - dt.timedelta(days=1))
    db.conn.commit()
    yield db, ongoing, over
    db.close()


def test_alerts_list_shows_a_window_ending_later_as_ongoing(cli, two_alerts):
    db, ongoing, over = two_alerts
    result = cli("alerts", "list")
    assert result.exit_code == 0, result.output
    rows = {int(line.split()[0]): line for line in result.stdout.splitlines()[2:]}
    start, end = db.execute("SELECT window_start, window_end FROM alerts WHERE id = ?", [ongoing]).fetchone()
    assert f"{start} -> now (ongoing)" in rows[ongoing] and end not in rows[ongoing]
    start, end = db.execute("SELECT window_start, window_end FROM alerts WHERE id = ?", [over]).fetchone()
    assert f"{start} -> {end}" in rows[over] and "ongoing" not in rows[over]


def test_alerts_show_and_the_detect_line_agree(cli, two_alerts):
    db, ongoing, over = two_alerts
    start = db.execute("SELECT window_start FROM alerts WHERE id = ?", [ongoing]).fetchone()[0]
    shown = cli("alerts", "show", ongoing)
    assert shown.exit_code == 0, shown.output
    assert f"Window: {start} -> now (ongoing)" in shown.stdout.splitlines()
    assert f" {start} -> now (ongoing): " in _one_line(db, ongoing)
    start, end = db.execute("SELECT window_start, window_end FROM alerts WHERE id = ?", [over]).fetchone()
    assert f"Window: {start} -> {end}" in cli("alerts", "show", over).stdout.splitlines()
    assert f" {start} -> {end}: " in _one_line(db, over)


def test_an_alert_resolved_before_its_hour_ends_shows_the_resolution_not_ongoing(cli, two_alerts):
    db, ongoing, _over = two_alerts
    resolved = cli("alerts", "resolve", ongoing)
    assert resolved.exit_code == 0, resolved.output
    start, resolved_at = db.execute("SELECT window_start, resolved_at FROM alerts WHERE id = ?",
                                    [ongoing]).fetchone()
    assert resolved_at is not None
    listed = cli("alerts", "list", "--all").stdout
    assert f"{start} -> {resolved_at}" in listed and "ongoing" not in listed
    assert f"Window: {start} -> {resolved_at}" in cli("alerts", "show", ongoing).stdout.splitlines()


def test_detect_on_a_fresh_burst_prints_the_window_as_ongoing(cli, tmp_path, model_id, monkeypatch):
    """The walkthrough: detect at 02:07:57 on a burst of this hour printed '-> 03:00:00Z'. The
    clock is set to the run's moment (a replay with --at, as if run live then); once that hour is
    over, the stored end is shown."""
    import storage
    from tests import test_alerts_detection as detection

    (tmp_path / "mentionwatch.yaml").write_text(detection.config_text() + "database: d.db\n")
    db = open_db(tmp_path / "d.db")
    burst = 6 * 24 + 5
    detection.add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    moment = detection.START + dt.timedelta(hours=burst, minutes=45)
    with monkeypatch.context() as clock:
        clock.setattr(storage, "utc_now_iso", lambda: to_iso(moment))
        result = cli("detect", "--no-notify", "--at", to_iso(moment))
        assert result.exit_code == 0, result.output
        opened = [line for line in result.stdout.splitlines() if line.startswith("  opened #")]
        assert opened and all(" -> now (ongoing): " in line for line in opened), result.stdout
        assert "-> now (ongoing)" in cli("alerts", "list").stdout
    end = db.execute("SELECT window_end FROM alerts ORDER BY id LIMIT 1").fetchone()[0]
    assert end > to_iso(moment)  # what is stored stays the end of the hour
    later = cli("alerts", "show", 1).stdout
    assert f" -> {end}" in later and "ongoing" not in later
    db.close()


def test_the_report_words_an_alert_window_as_alerts_show_does(cli, two_alerts, tmp_path):
    """The report gave a growing window's end (the end of the current hour, not yet seen) and kept
    it after the alert was resolved within that hour; `alerts show` said 'now (ongoing)', then the
    resolution."""
    db, ongoing, _over = two_alerts
    start, end = db.execute("SELECT window_start, window_end FROM alerts WHERE id = ?", [ongoing]).fetchone()

    def report_html() -> str:
        result = cli("report", "--since", "2d", "--out", tmp_path / "report")
        assert result.exit_code == 0, result.output
        return next((tmp_path / "report").glob("*.html")).read_text(encoding="utf-8")

    html = report_html()
    assert f"window {start} to now (ongoing)" in html and f"to {end}" not in html
    assert cli("alerts", "resolve", ongoing).exit_code == 0
    resolved_at = db.execute("SELECT resolved_at FROM alerts WHERE id = ?", [ongoing]).fetchone()[0]
    assert f"window {start} to {resolved_at}," in report_html()
