"""Fixes of the twenty-third session: items left alone before (an interrupted import's count, …)."""
from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


def _stored_mentions(path) -> int:
    try:
        with sqlite3.connect(path, timeout=0.2) as connection:
            return connection.execute("SELECT count(*) FROM mentions").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet, or locked for a moment
        return 0


def test_ctrl_c_during_an_import_says_how_many_mentions_were_stored(tmp_path):
    """Ctrl-C left only 'Interrupted.': the user could not tell whether anything was stored, nor
    that the same import run again adds the rest."""
    rows = ["id,text,created_at"] + [f"{n},post number {n} about acme,2026-11-{1 + n % 28:02d}T10:00:00Z"
                                      for n in range(300_000)]
    (tmp_path / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    database = tmp_path / "m.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "mentionwatch", "--db", str(database), "import", str(tmp_path / "big.csv"),
         "--watch", "acme", "--batch-size", "500"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a test run started in the background ignores SIGINT (the shell's doing): Ctrl-C as typed
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while _stored_mentions(database) < 1000:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the import stored nothing in 2 minutes"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stored = _stored_mentions(database)
    if stored == 300_000:
        pytest.fail("the import ended before Ctrl-C reached it: make the file bigger")
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert err.strip().splitlines()[-1] == (
        f"Interrupted: {stored:,} new mentions were stored before it; the same import run again adds the "
        "rest (rows already stored are counted, not stored twice)")


# ------------------------------------------------------------------ sentiment eval: the separator

def _labeled_texts(path, **kwargs):
    from sentiment.evaluate import read_labeled

    labeled = read_labeled(path, "text", "label", **kwargs)
    return list(zip(labeled.texts, labeled.labels))


def test_sentiment_eval_reads_a_semicolon_file_and_excels_sep_line(tmp_path):
    """A file Excel saved with ';' (most of Europe) was refused: 'no column text (columns: text;label)'."""
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text('text;label\n"fine; ok";neutral\nbad, awful;negative\n', encoding="utf-8")
    assert _labeled_texts(semicolons) == [("fine; ok", 1), ("bad, awful", 0)]
    excel = tmp_path / "excel.csv"
    excel.write_text('sep=;\r\ntext;label\r\nok;neutral\r\nx;"bad\r\n', encoding="utf-8")
    from sentiment.evaluate import LabeledFileError

    with pytest.raises(LabeledFileError, match=r"excel\.csv:4: a quote"):  # lines counted from the sep= line
        _labeled_texts(excel)
    excel.write_text('sep=;\r\ntext;label\r\nok;neutral\r\n', encoding="utf-8")
    assert _labeled_texts(excel) == [("ok", 1)]


def test_sentiment_eval_delimiter_wins_and_a_wrong_one_is_one_line(tmp_path, cli):
    from sentiment.evaluate import LabeledFileError

    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("text;label\nfine;neutral\n", encoding="utf-8")
    with pytest.raises(LabeledFileError, match=r"semi\.csv:1: no column 'text': is the file separated by ';'\? \(--delimiter ';'\)"):
        _labeled_texts(semicolons, delimiter="|")  # the separator given is the one used
    tabbed = tmp_path / "tabs.txt"
    tabbed.write_text("text\tlabel\nhello, you\tpositive\n", encoding="utf-8")
    assert _labeled_texts(tabbed) == [("hello, you", 2)]  # found by its header, whatever the suffix
    assert _labeled_texts(tabbed, delimiter="\t") == [("hello, you", 2)]
    result = cli("sentiment", "eval", tabbed, "--text-col", "text", "--label-col", "label", "--delimiter", "x")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --delimiter: 'x' is not one of ',', ';', 'tab', '|'"


# ------------------------------------------------------------------ import --update

def _score_everything(database) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO scores (mention_id, model_id, label, p_negative, p_neutral, "
                           "p_positive, scored_at) SELECT id, 'm1', 'neutral', 0.1, 0.8, 0.1, "
                           "'2026-12-01T00:00:00Z' FROM mentions")


def _stored(database) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT m.external_id, m.created_at, m.text, m.author, count(s.mention_id) FROM mentions m "
            "LEFT JOIN scores s ON s.mention_id = m.id GROUP BY m.id ORDER BY m.id").fetchall()


def test_import_update_corrects_rows_stored_before(cli, tmp_path):
    """Re-importing never corrected a stored row: a file imported with the wrong --date-order kept
    its wrong dates, and `forget` keeps the ids out of later imports."""
    (tmp_path / "first.csv").write_text("id,text,created_at,author\n1,great flight,03/05/2026 10:00,ann\n"
                                        "2,awful delay,04/05/2026 11:00,bob\n", encoding="utf-8")
    assert cli("--db", "u.db", "import", "first.csv", "--watch", "acme", "--date-order", "mdy").exit_code == 0
    _score_everything(tmp_path / "u.db")
    (tmp_path / "again.csv").write_text("id,text,created_at\n1,great flight,03/05/2026 10:00\n"
                                        "2,awful delay!!,04/05/2026 11:00\n3,new words,05/05/2026 09:00\n",
                                        encoding="utf-8")
    plain = cli("--db", "u.db", "import", "again.csv", "--date-order", "dmy")
    assert plain.output.startswith("again.csv: 1 inserted, 2 already present, 0 rejected")
    assert "another text" in plain.output  # without --update nothing stored changes
    assert [row[1:3] for row in _stored(tmp_path / "u.db")][:2] == [
        ("2026-03-05T10:00:00Z", "great flight"), ("2026-04-05T11:00:00Z", "awful delay")]

    updated = cli("--db", "u.db", "import", "again.csv", "--date-order", "dmy", "--update")
    assert updated.exit_code == 0, updated.output
    assert updated.output.splitlines() == ["again.csv: 0 inserted, 3 already present (2 updated), 0 rejected",
                                           "again.csv: 1 row had the id of a stored import mention with another "
                                           "text, which it replaced (--update)"]
    assert _stored(tmp_path / "u.db") == [
        ("1", "2026-05-03T10:00:00Z", "great flight", "ann", 1),  # the file has no author: ann is kept
        ("2", "2026-05-04T11:00:00Z", "awful delay!!", "bob", 0),  # a new text is scored again
        ("3", "2026-05-05T09:00:00Z", "new words", None, 0),
    ]
    assert "awful delay!!" in cli("--db", "u.db", "search", "awful").output  # the search index follows
    again = cli("--db", "u.db", "import", "again.csv", "--date-order", "dmy", "--update")
    assert again.output.strip() == "again.csv: 0 inserted, 3 already present (0 updated), 0 rejected"


# ------------------------------------------------------------------ status during a long run

def test_status_shows_a_running_jobs_past_next_time_as_after_this_run(tmp_path):
    """A crawl running past its next time showed that time as '… (3m ago)', as if the service were late."""
    from mentionwatch.commands.service import format_report
    from mentionwatch.service_state import (JobSchedule, health_report, mark_process, save_schedules,
                                            start_job_run)
    from storage import open_db
    from storage.timeutil import to_iso

    db = open_db(tmp_path / "s.db")
    mark_process(db, "running")
    now = dt.datetime.now(dt.timezone.utc)
    past, future = to_iso(now - dt.timedelta(minutes=3)), to_iso(now + dt.timedelta(minutes=12))
    save_schedules(db, [JobSchedule("collect:acme:rss", "collect", "acme", "rss", 900.0, past),
                        JobSchedule("detect", "detect", None, None, 900.0, future),
                        JobSchedule("score", "score", None, None, 900.0, past)])
    start_job_run(db, "collect:acme:rss")
    start_job_run(db, "detect")
    lines = format_report(health_report(db, None)).splitlines()
    collect = next(line for line in lines if line.strip().startswith("collect:acme:rss"))
    detect = next(line for line in lines if line.strip().startswith("detect "))
    score = next(line for line in lines if line.strip().startswith("score "))
    assert "after this run ends" in collect and "ago" not in collect.split("running", 1)[1]
    assert f"{future} (in 1" in detect  # running, its next time still ahead: shown as it is
    assert f"{past} (3m ago)" in score  # not running: a time gone is shown as gone


# ------------------------------------------------------------------ backtest at its --until

def test_backtest_leaves_the_hour_ending_at_until_to_the_next_period(db, model_id):
    """The hour ending at --until was counted in an alert's peak and window while the escalation it
    caused was left out: 'high, peak 42' where the rule makes 40 critical."""
    from alerts.detect import backtest
    from mentionwatch.config import parse_config
    from test_alerts_detection import START, add_stream, config_text

    rule = "  min_count: 100000\n  thresholds:\n    - {count: 20, window: 1h, severity: high}"
    config = parse_config(config_text(rule))
    day = 6 * 24
    add_stream(db, model_id, burst={day: [("reddit", 30)], day + 1: [("reddit", 42)]})
    hour = lambda h: START + dt.timedelta(hours=day + h)  # noqa: E731
    [before] = backtest(db, config, hour(-3), hour(2))  # the runs up to hour 1: 42 not seen yet
    assert (before.severity, before.window_end) == ("high", "2025-03-07T01:00:00Z")
    assert 30 <= before.observed < 40
    [after] = backtest(db, config, hour(-3), hour(3))  # the run at hour 2 sees the second hour
    assert (after.severity, after.window_end) == ("critical", "2025-03-07T02:00:00Z")
    assert after.observed >= 40
    [next_period] = backtest(db, config, hour(2), hour(3))
    assert (next_period.severity, next_period.escalations) == ("critical", [("2025-03-07T02:00:00Z", "critical")])


def test_an_alert_quotes_the_rule_it_opened_under_after_the_rule_is_edited():
    """With '20 in 1h' edited to '10 in 1h' while its alert was open, the alert read 'rule: at least
    20 in 50m' (the span of its peak), a rule that never existed."""
    from alerts.detect import rule_window
    from mentionwatch.config import parse_config
    from test_alerts_detection import config_text

    edited = parse_config(config_text("  thresholds:\n    - {count: 10, window: 1h}")).alert_settings("acme")
    assert rule_window("threshold:20 in 1h", edited) == 3600
    assert rule_window("threshold:5 in 90m", edited) == 5400
    assert rule_window("threshold:night shift", edited) is None  # a named rule's name says no window


def test_a_mastodon_gap_line_does_not_claim_statuses_are_missing():
    """A search crawl that had read every new status still said they were 'not read yet' (only an
    empty page shows the end of a stretch)."""
    from crawler.pollers.mastodon import _gap_line

    line = _gap_line([{"min_id": "100", "max_id": "140"}], 2)
    assert line.startswith("mastodon: statuses after id 100 and before id 140 may not all be read yet: a poll reads at most 2 page(s) ")


# ------------------------------------------------------------------ import --timezone

def test_import_timezone_places_times_written_without_a_zone(cli, tmp_path):
    """Times without a zone could only be taken as UTC: an export in Paris time was stored an hour
    (in summer two) late, and alerts' windows moved with it."""
    (tmp_path / "paris.csv").write_text(
        "id,text,created_at\n1,winter,2026-03-05 10:00\n2,summer,05.07.2026 10:00\n3,zoned,2026-03-05T10:00:00Z\n"
        "4,offset,2026-03-05 10:00 +0100\n5,utc name,2026-03-05 10:00 UTC\n6,compact,20260305\n"
        "7,unix,1772704800\n", encoding="utf-8")
    result = cli("--db", "p.db", "import", "paris.csv", "--timezone", "Europe/Paris")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "p.db") as connection:
        stored = dict(connection.execute("SELECT text, created_at FROM mentions"))
    assert stored == {"winter": "2026-03-05T09:00:00Z", "summer": "2026-07-05T08:00:00Z",
                      "zoned": "2026-03-05T10:00:00Z", "offset": "2026-03-05T09:00:00Z",
                      "utc name": "2026-03-05T10:00:00Z", "compact": "2026-03-04T23:00:00Z",
                      "unix": "2026-03-05T10:00:00Z"}


@pytest.mark.parametrize("written, message", [
    ("Paris", "Error: --timezone: 'Paris' is not a time zone"),
    ("UTC+1", "Error: --timezone: 'UTC+1' is not a time zone: a time zone is a place, not an offset"),
])
def test_import_timezone_mistakes_are_one_line_and_store_nothing(cli, tmp_path, written, message):
    (tmp_path / "f.csv").write_text("id,text,created_at\n1,a,2026-03-05 10:00\n", encoding="utf-8")
    result = cli("--db", "m.db", "import", "f.csv", "--timezone", written)
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert not (tmp_path / "m.db").exists()


# ------------------------------------------------------------------ rename keeps an import's links

def test_a_rename_after_a_rematch_keeps_the_imported_links_imported(tmp_path):
    """Renamed in the watchlist, rematched (the new name's query linked the imported posts), then
    `rename`: the old name's 'import' links lost to the new name's 'query' ones, and a later
    rematch offered to unlink imported posts."""
    from storage import Mention, open_db, save_mentions
    from storage.rename import apply_rename, plan_rename

    db = open_db(tmp_path / "r.db")
    save_mentions(db, [Mention("twitter", "1", "flight delayed again", "2026-11-02T10:00:00Z",
                               watches=("usair",), linked_by="import"),
                       Mention("twitter", "2", "another flight", "2026-11-02T11:00:00Z", watches=("usair",))])
    save_mentions(db, [Mention("twitter", "1", "flight delayed again", "2026-11-02T10:00:00Z",
                               watches=("usairways",)),  # the rematch under the new name: a query link
                       Mention("twitter", "2", "another flight", "2026-11-02T11:00:00Z", watches=("usairways",))])
    apply_rename(db, plan_rename(db, "usair", "usairways"))
    links = db.execute("SELECT m.external_id, w.watch, w.linked_by FROM mention_watches w "
                       "JOIN mentions m ON m.id = w.mention_id ORDER BY 1").fetchall()
    assert links == [("1", "usairways", "import"), ("2", "usairways", "query")]


# ------------------------------------------------------------------ report: the negative shares

def test_the_risk_table_shows_the_negative_share_now_and_before(db):
    """The README says the page shows 'the negative share now and before'; it showed neither."""
    from mentionwatch.triage.report import WatchSection, _risk_table
    from mentionwatch.triage.risk import watch_risk
    from test_report_risk import END, _last_day, _steady
    from storage import Mention, save_mentions
    from storage.timeutil import to_iso

    _steady(db, "storm", 10)
    _last_day(db, "storm", 30)
    calm = [Mention("forum", f"ok-{n}", "storm is fine", to_iso(END - dt.timedelta(hours=1 + n / 10)),
                    watches=("storm",)) for n in range(10)]
    save_mentions(db, calm)
    db.conn.execute("INSERT INTO scores SELECT id, 'm', 'positive', 0.05, 0.05, 0.9, '2024-07-01T00:00:00Z' "
                    "FROM mentions WHERE external_id LIKE 'ok-%'")
    risk = watch_risk(db, "storm", "m", to_iso(END))
    table = _risk_table([WatchSection("storm", risk, [], {}, 40, 30)])
    assert "<th>negative share (24 h / 7 days before)</th>" in table
    assert '<td class="num">75% / 100%</td>' in table  # 30 of 40 now, every one of the 70 before


def test_a_reports_default_week_starts_at_local_midnight_across_a_clock_change():
    """`report --until 2015-03-10 --timezone America/New_York` started at 2015-03-02 23:00: 168 hours
    back in UTC, so the first day's bar was a one-hour stub."""
    from mentionwatch.triage.report import _days_before

    assert _days_before("2015-03-10T04:00:00Z", 7, "America/New_York") == "2015-03-03T05:00:00Z"  # midnights
    assert _days_before("2015-11-05T05:00:00Z", 7, "America/New_York") == "2015-10-29T04:00:00Z"
    assert _days_before("2015-03-10T04:00:00Z", 7, "UTC") == "2015-03-03T04:00:00Z"


def test_a_reports_title_names_the_last_day_in_it_and_links_take_any_case():
    from mentionwatch.triage.report import ReportResult, _post_html, render_html

    result = ReportResult(Path("r.html"), since="2015-02-20T00:00:00Z", until="2015-02-23T00:00:00Z",
                          model_id="m", timezone="UTC")
    assert "<title>mentionwatch report 2015-02-20 to 2015-02-22</title>" in render_html(result)
    post = {"text": "late again", "url": " HTTPS://example.com/p/1", "created_at": "2015-02-21T10:00:00Z"}
    assert '<a href="HTTPS://example.com/p/1" rel="noreferrer">link</a>' in _post_html(post, "UTC")


# ------------------------------------------------------------------ review of import --update

def test_the_service_scores_again_what_an_update_changed_behind_its_place(tmp_path, cli):
    """The service's score job reads on from the last mention it read: texts `import --update`
    changed lower down waited, unscored, for a restart (README: 'or the service' scores them)."""
    from types import SimpleNamespace

    from storage import open_db
    from test_scheduler_scoring import _service

    class Reader:  # a stand-in model: "refund" reads negative, the rest positive
        model_id = "words-test"

        def score_texts(self, texts):
            return [SimpleNamespace(label="negative" if "refund" in text else "positive", p_negative=0.8,
                                    p_neutral=0.1, p_positive=0.1) for text in texts]

    service = _service(tmp_path)
    service._get_scorer = Reader
    (tmp_path / "old.csv").write_text("id,text,created_at\n1,acme was fine,2026-06-06T10:00:00Z\n"
                                      "2,acme shipped on time,2026-06-06T11:00:00Z\n", encoding="utf-8")
    assert cli("--config", service.config_path, "import", "old.csv", "--watch", "acme").exit_code == 0
    db = open_db(service.db_path)
    service._run_job("score", "score")
    (tmp_path / "new.csv").write_text("id,text,created_at\n1,acme lost my bags and refuses a refund,"
                                      "2026-06-06T10:00:00Z\n", encoding="utf-8")
    updated = cli("--config", service.config_path, "import", "new.csv", "--update")
    assert "(1 updated)" in updated.output
    assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == 1
    service._run_job("score", "score")
    labels = dict(db.execute("SELECT m.external_id, s.label FROM mentions m JOIN scores s ON s.mention_id = m.id"))
    assert labels["1"] == "negative" and len(labels) == 2
    assert db.execute("SELECT count(*) FROM rescore_requests").fetchone()[0] == 0  # asked once
    service._close_connections()


def test_a_score_of_words_an_update_replaced_meanwhile_is_not_stored(db):
    """`score` read the old text, `--update` changed it, and the old words' score was stored for
    good: the mention counted as scored and was never scored again."""
    from types import SimpleNamespace

    from sentiment import score_unscored
    from storage import Mention, save_mentions

    save_mentions(db, [Mention("import", "1", "great flight", "2026-11-01T10:00:00Z")])

    class UpdatedWhileScoring:
        model_id = "m"

        def score_texts(self, texts):
            db.execute("UPDATE mentions SET text = 'worst airline ever lost my bags' WHERE external_id = '1'")
            db.conn.commit()
            return [SimpleNamespace(label="positive", p_negative=0.1, p_neutral=0.1, p_positive=0.8) for _ in texts]

    first = score_unscored(db, UpdatedWhileScoring())
    assert first.scored == 0 and db.execute("SELECT count(*) FROM scores").fetchone()[0] == 0


def test_import_update_takes_only_a_files_first_row_of_an_id(cli, tmp_path):
    """A repeated id: the first row is stored, yet `--update` stored the later one while warning it
    was 'not stored'; across batches the values flipped at every run."""
    (tmp_path / "dup.csv").write_text("id,text,created_at\n1,first version,2026-11-01T10:00:00Z\n"
                                      "2,other,2026-11-01T11:00:00Z\n1,second version,2026-11-01T10:00:00Z\n",
                                      encoding="utf-8")
    for _ in range(2):
        result = cli("--db", "u.db", "import", "dup.csv", "--update", "--batch-size", "1")
        assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "dup.csv: 0 inserted, 3 already present (0 updated), 0 rejected"
    with sqlite3.connect(tmp_path / "u.db") as connection:
        assert connection.execute("SELECT text FROM mentions WHERE external_id = '1'").fetchone() == ("first version",)


def test_import_update_says_which_stored_mentions_an_erasure_kept_as_they_were(cli, tmp_path):
    (tmp_path / "a.csv").write_text("id,text,created_at,author\n1,great flight,2026-11-03T10:00:00Z,ann\n"
                                    "2,awful delay,2026-11-04T11:00:00Z,carl\n", encoding="utf-8")
    assert cli("--db", "f.db", "import", "a.csv").exit_code == 0
    assert cli("--db", "f.db", "forget", "--author", "bob", "--source", "import", "--yes").exit_code == 0
    (tmp_path / "b.csv").write_text("id,text,created_at,author\n1,great flight,2026-11-03T10:00:00Z,ann\n"
                                    "2,awful delay!!,2026-11-04T11:00:00Z,bob\n", encoding="utf-8")
    result = cli("--db", "f.db", "import", "b.csv", "--update")
    assert "replaced" not in result.output  # the row kept out replaced nothing
    assert "1 not stored (erased before and kept out" in result.output
    assert ("b.csv: warning: 1 row(s) fall under an erasure (mentionwatch forget) while a mention with their id "
            "is stored, which was left as it is (ids 2)") in result.output


def test_import_update_names_the_texts_it_replaced(cli, tmp_path):
    (tmp_path / "s2024.csv").write_text("id,text,created_at\n1,survey 2024 answer,2026-11-01\n", encoding="utf-8")
    (tmp_path / "s2025.csv").write_text("id,text,created_at\n1,survey 2025 answer,2026-11-02\n", encoding="utf-8")
    cli("--db", "s.db", "import", "s2024.csv")
    result = cli("--db", "s.db", "import", "s2025.csv", "--update")
    assert ("s2025.csv: 1 row had the id of a stored import mention with another text, which it replaced "
            "(--update)") in result.output


def test_backtest_counts_a_watch_whose_mentions_are_all_in_the_hour_ending_at_until_as_checked(db, model_id):
    from alerts.detect import backtest
    from mentionwatch.config import parse_config
    from storage import Mention, save_mentions
    from test_alerts_detection import START, config_text

    save_mentions(db, [Mention("reddit", str(n), "acme is terrible today", START + dt.timedelta(minutes=minutes),
                               watches=("acme",)) for n, minutes in enumerate((10, 40))])
    db.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, '2025-03-02T00:00:00Z' FROM mentions",
               [model_id])
    db.conn.commit()
    config = parse_config(config_text())
    unchecked: list[str] = []
    assert backtest(db, config, START - dt.timedelta(hours=1), START + dt.timedelta(hours=1),
                    unchecked=unchecked) == []
    assert unchecked == []  # its mentions are the next period's: not 'no scored mentions'
    before: list[str] = []
    backtest(db, config, START - dt.timedelta(days=2), START - dt.timedelta(days=1), unchecked=before)
    assert before == ["acme"]


def test_sentiment_eval_reads_excels_sep_line_naming_a_tab(tmp_path):
    tabbed = tmp_path / "t.csv"
    tabbed.write_text("sep=\t\ntext\tlabel\nhi, you\tpositive\n", encoding="utf-8")
    assert _labeled_texts(tabbed) == [("hi, you", 2)]
    semicolons = tmp_path / "s.csv"
    semicolons.write_text("text;label\nok;neutral;x\n", encoding="utf-8")
    from sentiment.evaluate import LabeledFileError

    with pytest.raises(LabeledFileError, match="a text with a semicolon in it must be in double quotes"):
        _labeled_texts(semicolons)


# ------------------------------------------------------------------ second review of the session's fixes

@pytest.mark.parametrize("written, stored", [
    ("Tue, 24 Feb 2015 11:35:52 -0000", "2015-02-24T11:35:52Z"),  # RFC 2822's UTC, as email.utils writes it
    ("Tue, 24 Feb 2015 11:35:52 GMT-0000", "2015-02-24T11:35:52Z"),
    ("24 Feb 2015 14:02 -0000", "2015-02-24T14:02:00Z"),
    ("2026-03-05Z", "2026-03-05T00:00:00Z"),
    ("2026-03-05+01:00", "2026-03-04T23:00:00Z"),  # Python 3.11 read it as 01:00, with or without --timezone
    ("Tue Feb 24 11:35:52 -0800 2015", "2015-02-24T19:35:52Z"),
    ("Thu Mar 05 2026 14:02:00 GMT+0100 (CET)", "2026-03-05T13:02:00Z"),
    ("2026-03-05 10:00", "2026-03-05T01:00:00Z"),  # no zone: Tokyo's
])
def test_timezone_applies_only_to_times_written_without_a_zone(written, stored):
    from zoneinfo import ZoneInfo

    from storage.timeutil import parse_file_timestamp

    assert parse_file_timestamp(written, "dmy", ZoneInfo("Asia/Tokyo")) == stored


def test_the_share_column_is_a_dash_only_for_a_watch_not_scored_yet(db):
    from mentionwatch.triage.report import WatchSection, _risk_table
    from mentionwatch.triage.risk import watch_risk
    from storage import Mention, save_mentions
    from storage.timeutil import to_iso
    from test_report_risk import END, _last_day, _steady

    _steady(db, "storm", 10)
    _last_day(db, "storm", 30)
    save_mentions(db, [Mention("forum", "new-0", "storm news", to_iso(END - dt.timedelta(hours=2)),
                               watches=("storm",))])  # a small backlog: the score is kept, and its figures
    risk = watch_risk(db, "storm", "m", to_iso(END))
    assert risk.has_score and '<td class="num">100% / 100%</td>' in _risk_table([WatchSection("storm", risk, [], {}, 31, 30)])
    save_mentions(db, [Mention("forum", f"new-{n}", "storm news", to_iso(END - dt.timedelta(hours=2)),
                               watches=("storm",)) for n in range(1, 6)])  # too many: not scored yet
    risk = watch_risk(db, "storm", "m", to_iso(END))
    assert not risk.scored_enough
    assert '<td class="num">&ndash; / &ndash;</td>' in _risk_table([WatchSection("storm", risk, [], {}, 36, 30)])


def test_a_report_at_the_edges_of_the_calendar_in_a_time_zone_is_no_traceback():
    from mentionwatch.triage.report import _days_before

    assert _days_before("9999-12-31T23:00:00Z", 7, "Asia/Tokyo") == "9999-12-24T23:00:00Z"
    assert _days_before("0001-01-01T03:00:00Z", 7, "America/New_York") == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize("text", ["1⭐", "1/10 ⭐", "0 👍", "🇺🇸", "@user 1️⃣"])
def test_ratings_and_flags_are_left_to_the_model(text):
    from sentiment.textprep import clean, emoji_of_wordless

    assert emoji_of_wordless(clean(text)) is None


def test_an_emoji_seen_in_few_tweets_is_left_to_the_model():
    from sentiment.emoji_lexicon import emoji_only_probabilities

    assert emoji_only_probabilities("✘") is None  # 6 tweets in the ranking, 5 positive
    assert emoji_only_probabilities("❌❌") is None  # 56, 30 positive
    assert emoji_only_probabilities("☹️") is None  # 20: the model reads 'white frowning face'
    assert int(np.argmax(emoji_only_probabilities("👎"))) == 0 and int(np.argmax(emoji_only_probabilities("❤"))) == 2


@pytest.mark.parametrize("text, emoji", [("🇬🇧❤️", "❤️"), ("@user 🇫🇷 ❤️ 🇫🇷", "❤️"), ("❤️ 2026", None),
                                         ("１⭐", None), ("0 ❤️", None), ("★☆☆☆☆", None), ("1🌟", None)])
def test_flags_are_left_out_and_only_ratings_hold_numbers(text, emoji):
    """A flag beside ❤️ sent the mention to the model, which reads 'heavy black heart' as negative."""
    from sentiment.textprep import clean, emoji_of_wordless

    assert emoji_of_wordless(clean(text)) == emoji


def test_an_impossible_date_with_an_offset_is_named_as_written():
    from storage.timeutil import parse_file_timestamp

    with pytest.raises(ValueError, match=r"^unrecognised timestamp '2026-02-30\+01:00'$"):
        parse_file_timestamp("2026-02-30+01:00")


def test_a_report_from_the_first_day_of_year_1_in_a_zone_west_of_utc_is_no_traceback(cli, tmp_path):
    (tmp_path / "a.csv").write_text("id,text,created_at\n1,acme ok,2026-11-01T10:00:00Z\n", encoding="utf-8")
    cli("--db", "y.db", "import", "a.csv", "--watch", "acme")
    result = cli("--db", "y.db", "report", "--until", "0001-01-02", "--timezone", "America/New_York", "--out", "r")
    assert result.exit_code == 0 and "Traceback" not in result.output


# ------------------------------------------------------------------ a PR analyst's corrected export

def test_a_corrected_export_without_update_is_told_to_use_it(cli, tmp_path):
    """The warning about rows with another text advised its own --source, which stores every post
    twice; rows whose time alone changed (a first import without --timezone) were not mentioned."""
    (tmp_path / "v1.csv").write_text("id,text,created_at\n1,late again,2026-11-01 10:00\n2,fine,2026-11-01 11:00\n",
                                     encoding="utf-8")
    (tmp_path / "v2.csv").write_text("id,text,created_at\n1,late again!!,2026-11-01 10:00\n2,fine,2026-11-01 11:00\n",
                                     encoding="utf-8")
    cli("--db", "c.db", "import", "v1.csv")
    texts = cli("--db", "c.db", "import", "v2.csv")
    assert "if the file is a newer export of the same posts, run it again with --update" in texts.output
    times = cli("--db", "c.db", "import", "v1.csv", "--timezone", "Europe/Paris")
    assert ("v1.csv: warning: 2 rows had the id and text of a stored import mention with another time, and were "
            "kept as stored: to store the file's times (a corrected --timezone or --date-order), run it again "
            "with --update") in times.output


def test_an_update_that_moves_the_posts_of_an_alert_names_the_alert(cli, tmp_path, model_id):
    from alerts.detect import run_detection
    from mentionwatch.config import parse_config
    from storage import open_db
    from test_alerts_detection import START, add_stream, config_text

    db = open_db(tmp_path / "a.db")
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 40)]})
    [alert_id] = run_detection(db, parse_config(config_text()), now=START + dt.timedelta(hours=burst_hour + 1),
                               notify=False).opened
    moved = (START + dt.timedelta(hours=burst_hour - 30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    db.close()
    (tmp_path / "fix.csv").write_text(f"id,text,created_at\nb{burst_hour}-reddit-0,acme checkout keeps failing "
                                      f"(post {burst_hour}-reddit-0),{moved}\n", encoding="utf-8")
    result = cli("--db", "a.db", "import", "fix.csv", "--source", "reddit", "--update")
    assert "(1 updated)" in result.output
    assert f"1 open alert(s) hold posts whose time or text this update changed (#{alert_id})" in result.output
    with sqlite3.connect(tmp_path / "a.db") as connection:
        connection.execute("UPDATE alerts SET status = 'resolved'")
    (tmp_path / "fix2.csv").write_text(f"id,text,created_at\nb{burst_hour}-reddit-1,acme refund never arrived "
                                       f"(post {burst_hour}-reddit-1),{moved}\n", encoding="utf-8")
    resolved = cli("--db", "a.db", "import", "fix2.csv", "--source", "reddit", "--update")
    assert "(1 updated)" in resolved.output and "alert(s)" not in resolved.output  # closed already
    same_time = (START + dt.timedelta(hours=burst_hour, minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "who.csv").write_text(f"id,text,created_at,author\nb{burst_hour}-reddit-2,acme app crashes on login "
                                      f"(post {burst_hour}-reddit-2),{same_time},someone\n", encoding="utf-8")
    with sqlite3.connect(tmp_path / "a.db") as connection:
        connection.execute("UPDATE alerts SET status = 'open'")
    author_only = cli("--db", "a.db", "import", "who.csv", "--source", "reddit", "--update")
    assert "(1 updated)" in author_only.output and "alert(s)" not in author_only.output  # counts unmoved


def test_an_exports_author_url_and_title_columns_are_read_in_any_case(cli, tmp_path):
    """'Author', 'URL', 'Title' were silently not read: the client's spreadsheet had no authors."""
    (tmp_path / "e.csv").write_text("id,text,created_at,Author,URL,Title\n1,acme late,2026-11-01,Ann,http://x/1,Hello\n",
                                    encoding="utf-8")
    assert cli("--db", "e.db", "import", "e.csv").exit_code == 0
    with sqlite3.connect(tmp_path / "e.db") as connection:
        assert connection.execute("SELECT author, url, title FROM mentions").fetchall() == [("Ann", "http://x/1", "Hello")]


def test_an_export_naming_no_column_is_read_from_its_column_line_with_quoted_suggestions(cli, tmp_path):
    """The title line was taken for the header ('columns are: Brandwatch Consumer Research export'),
    with no suggestion; a suggestion with a space could not be typed as shown."""
    (tmp_path / "bw.csv").write_text("Brandwatch Consumer Research export\nQuery: acme\n\nResource Id;Date;Full Text;Author\n"
                                     "1;10/03/2015 10:00;acme is late;ann\n", encoding="utf-8")
    result = cli("--db", "bw.db", "import", "bw.csv")
    assert result.exit_code == 2
    assert result.output.startswith("Error: bw.csv:4: missing columns id (did you mean --id-col 'Resource Id'?), "
                                    "text (did you mean --text-col 'Full Text'?)")


def test_a_required_column_named_like_an_optional_one_is_read_as_named(cli, tmp_path):
    """`--text-col Title` on a header 'Title' failed: the cell was renamed to the optional 'title'."""
    (tmp_path / "news.csv").write_text("id,Title,created_at,URL\n1,Great service,2026-03-01T10:00:00Z,https://ex.com/1\n",
                                       encoding="utf-8")
    result = cli("--db", "n.db", "import", "news.csv", "--text-col", "Title")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "n.db") as connection:
        assert connection.execute("SELECT text, title, url FROM mentions").fetchall() == [
            ("Great service", None, "https://ex.com/1")]


@pytest.mark.parametrize("body", ['1,"Acme is great\nreally, truly, deeply, madly, great, they, said, so",2026-03-01 10:00\n',
                                  "1,Acme is great,2026-03-01 10:00,,,,\n"])
def test_a_first_line_naming_no_column_is_still_the_one_shown(cli, tmp_path, body):
    """A data line with more fields was shown as the header ('columns are: really, truly, …')."""
    (tmp_path / "bw.csv").write_text("Resource Id,Full Text,Date\n" + body, encoding="utf-8")
    result = cli("--db", "b.db", "import", "bw.csv")
    assert result.output.startswith("Error: bw.csv:1: missing columns id (did you mean --id-col 'Resource Id'?)")


# ------------------------------------------------------------------ fifth review: regressions of the import path

def test_a_reimport_of_a_file_repeating_an_id_is_quiet(cli, tmp_path):
    (tmp_path / "r.csv").write_text("id,text,created_at\n1,hello,2026-03-05 10:00\n1,hello,2026-03-05 12:00\n",
                                    encoding="utf-8")
    cli("--db", "r.db", "import", "r.csv")
    again = cli("--db", "r.db", "import", "r.csv")
    assert again.output.strip() == "r.csv: 0 inserted, 2 already present, 0 rejected"


def test_two_options_naming_one_column_read_every_row(cli, tmp_path):
    """`--id-col url --url-col url` stored only the rows after the 30th, silently (older than today)."""
    rows = "".join(f"{n},post {n},2026-03-05 10:{n:02d},http://x/{n}\n" for n in range(40))
    (tmp_path / "d.csv").write_text("id,text,created_at,url\n" + rows, encoding="utf-8")
    result = cli("--db", "d.db", "import", "d.csv", "--id-col", "url", "--url-col", "url")
    assert result.output.strip() == "d.csv: 40 inserted, 0 already present, 0 rejected"


def test_update_counts_only_the_texts_it_cut_now(cli, tmp_path):
    long_text = "acme " * 20_020
    (tmp_path / "l.csv").write_text(f"id,text,created_at\n1,{long_text},2026-03-05 10:00\n2,short,2026-03-05 11:00\n",
                                    encoding="utf-8")
    first = cli("--db", "l.db", "import", "l.csv")
    assert "1 text cut to 100,000 characters" in first.output
    again = cli("--db", "l.db", "import", "l.csv", "--update")
    assert again.output.strip() == "l.csv: 0 inserted, 2 already present (0 updated), 0 rejected"


def test_a_time_column_of_dates_alone_is_warned_about(cli, tmp_path):
    """A Meltwater-style export with the date and the time in two columns, imported by its date:
    every post stored at midnight, silently, and an hourly rule fired every day."""
    (tmp_path / "d.csv").write_text("id,text,created_at\n1,a,10/03/2015\n2,b,11/03/2015\n", encoding="utf-8")
    dates = cli("--db", "d.db", "import", "d.csv", "--date-order", "dmy")
    assert ("d.csv: warning: every created_at is a date without a time of day, so the mentions are stored at "
            "midnight") in dates.output
    (tmp_path / "t.csv").write_text("id,text,created_at\n3,a,2015-03-10\n4,b,2015-03-10 10:00\n5,c,1425981600\n"
                                    "6,d,10/03/2015 2 PM\n", encoding="utf-8")
    mixed = cli("--db", "d.db", "import", "t.csv", "--date-order", "dmy")
    assert "without a time of day" not in mixed.output
