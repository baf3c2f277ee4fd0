"""What a third review of the triage commands found: a year or a date without dashes read as Unix
seconds in 1970, a report near year 1 ending in a traceback, a watch named twice reported twice, and
the risk score reading every mention of a watch for each of its one-day windows."""
from __future__ import annotations

import csv

from storage import Mention, open_db, save_mentions
from test_export import _stock  # the small stocked database of the export tests


def _read_csv(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------- 1. --since 2024 is not 1970-01-01T00:33:44Z

def test_a_year_is_refused_and_a_date_without_dashes_is_a_date_not_1970(cli, tmp_path):
    """'--since 20240303' was Unix seconds (1970-08-23): every mention exported, and with --until
    none, without a word. Since 2026-12-07 it is 3 March 2024."""
    _stock(tmp_path / "s.db")
    since = cli("--db", tmp_path / "s.db", "export", "--out", tmp_path / "x.csv", "--since", "20240303")
    assert since.exit_code == 0, since.output
    dates = [row["created_at"] for row in _read_csv(tmp_path / "x.csv")]
    assert dates and min(dates) >= "2024-03-03"
    (tmp_path / "x.csv").unlink()
    for option, value in (("--since", "2024"), ("--until", "2024")):
        result = cli("--db", tmp_path / "s.db", "export", "--out", tmp_path / "x.csv", option, value)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for {option}: '{value}' is read as Unix seconds, 1970-" in result.output
        assert "write a date such as 2015-02-20" in result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "x.csv").exists()
    result = cli("--db", tmp_path / "s.db", "search", "acme", "--since", "2024")
    assert result.exit_code == 2 and "Invalid value for --since: '2024' is read as Unix" in result.output


def test_unix_seconds_after_1990_still_work_as_a_time(cli, tmp_path):
    _stock(tmp_path / "s.db")
    # 1709510400 is 2024-03-04T00:00:00Z: the posts of 4 and 5 March
    result = cli("--db", tmp_path / "s.db", "export", "--out", tmp_path / "x.csv",
                 "--since", "1709510400")
    assert result.exit_code == 0, result.output
    assert [row["created_at"] for row in _read_csv(tmp_path / "x.csv")] == [
        "2024-03-04T12:00:00Z", "2024-03-05T13:00:00Z"]


# ------------------------------------------------- 2. a period in the first days of year 1

def test_a_report_ending_in_the_first_days_of_year_1_is_no_traceback(cli, tmp_path):
    """The 7 days before such an --until (and the risk score's 8 days) are before year 1."""
    _stock(tmp_path / "s.db")
    for period in (("--until", "0001-01-02"), ("--since", "0001-01-01", "--until", "0001-01-03")):
        result = cli("--db", tmp_path / "s.db", "report", *period, "--out", tmp_path / "r")
        assert result.exit_code == 0, result.output
        assert "no mentions in the period" in result.stdout
        assert (tmp_path / "r" / "report.html").exists()


# ------------------------------------------------- 3. --watch acme --watch acme

def test_a_watch_named_twice_is_reported_once(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--watch", "acme",
                 "--since", "2024-02-28", "--until", "2024-03-06", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert ": 1 watch, 2 charts, " in lines[0]
    assert [line for line in lines if line.startswith("  acme: ")] == [lines[1]]
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert page.count('<h2 id="watch-acme">') == 1


# ------------------------------------------------- 4. the risk score on a large database

def test_risk_windows_are_read_through_the_time_index(tmp_path):
    """Each risk query covers a day or a week: it must start from the mentions of that window (the
    created_at index), not from every mention of the watch or every score of the model, which
    took 2 s a query on a million mentions (a report of two watches: 31 s, now 11 s)."""
    from mentionwatch.triage.risk import watch_risk

    db = open_db(tmp_path / "r.db")
    save_mentions(db, [Mention("rss", f"m{i}", "acme post", f"2024-03-0{1 + i % 5}T08:00:00Z",
                               watches=("acme",)) for i in range(20)])
    db.execute("INSERT INTO scores SELECT id, 'test-model', 'negative', 0.9, 0.05, 0.05, "
               "'2024-03-06T00:00:00Z' FROM mentions")
    db.conn.commit()
    statements = []
    db.conn.set_trace_callback(statements.append)
    risk = watch_risk(db, "acme", "test-model", "2024-03-06T00:00:00Z")
    db.conn.set_trace_callback(None)
    assert risk.negatives_recent == 4 and risk.mentions_recent == 4
    windows = [sql for sql in statements if "m.created_at >=" in sql and "mention_watches" in sql]
    assert len(windows) == 5  # the negatives, scored counts and all counts of the two windows
    for sql in windows:
        first_step = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()[0][-1]
        assert first_step.startswith("SEARCH m USING") and "idx_mentions_created_at" in first_step, (
            first_step, sql)
    db.close()


# ------------------------------------------------- 5. an export of mentions nobody has scored

def test_an_export_of_unscored_mentions_does_not_name_a_model_it_read_nothing_from(cli, tmp_path):
    """With no score stored, the configured model was still named ('sentiment from builtin-…')
    above a file whose sentiment columns are all empty."""
    db = open_db(tmp_path / "u.db")
    save_mentions(db, [Mention("rss", "u1", "acme post", "2024-03-01T08:00:00Z", watches=("acme",))])
    db.close()
    result = cli("--db", tmp_path / "u.db", "export", "--out", tmp_path / "u.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(": 1 mention exported (csv, no sentiment scores)")
    assert _read_csv(tmp_path / "u.csv")[0]["sentiment"] == ""
