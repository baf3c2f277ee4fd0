"""What the seventh first-time user's walkthrough found: a duration written as a quoted number
('6', or ${VAR} holding 6) slipped past the no-unit check; year-first dates as Chinese and Japanese
spreadsheets write them, and dates with the month as a word, were refused; backtest read its period
unlike export (no 30d, a fraction of a second cut down instead of rounded up)."""
from __future__ import annotations

import pytest

from storage.timeutil import parse_file_timestamp, parse_given_time, parse_timestamp

WATCH = "watches:\n  - name: acme\n    query: {any: [acme]}\n"


@pytest.mark.parametrize("written, environment", [("'6'", {}), ('"6"', {}), ("${COOL}", {"COOL": "6"})])
def test_a_quoted_number_is_still_a_duration_without_a_unit(cli, tmp_path, monkeypatch, written, environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "mentionwatch.yaml").write_text(f"alerts:\n  cooldown: {written}\n{WATCH}", encoding="utf-8")
    result = cli("backtest", "--since", "2015-02-20", "--until", "2015-02-21")
    assert result.exit_code == 2, result.output
    assert ("mentionwatch.yaml:2: alerts.cooldown: 6 has no unit: write e.g. 6s (seconds), 6m (minutes), "
            "6h (hours) or 6d (days)") in result.output


def test_a_quoted_duration_with_a_unit_is_read(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COOL", "6h")
    (tmp_path / "mentionwatch.yaml").write_text(f"alerts:\n  cooldown: ${{COOL}}\n{WATCH}", encoding="utf-8")
    assert cli("init").exit_code == 0
    assert cli("backtest", "--since", "2015-02-20", "--until", "2015-02-21").exit_code == 0


@pytest.mark.parametrize("written, stored", [
    ("2015/2/17 10:00", "2015-02-17T10:00:00Z"),
    ("2015/02/22", "2015-02-22T00:00:00Z"),
    ("2015.02.17 10:00:05", "2015-02-17T10:00:05Z"),
    ("2015年2月17日", "2015-02-17T00:00:00Z"),
    ("2015年2月17日 10:00", "2015-02-17T10:00:00Z"),
    ("2015/2/17 10:00 +0800", "2015-02-17T02:00:00Z"),
    ("2015/2/17 10:00 CET", "2015-02-17T09:00:00Z"),
    ("24 Feb 2015", "2015-02-24T00:00:00Z"),
    ("February 24, 2015", "2015-02-24T00:00:00Z"),
])
def test_year_first_dates_and_month_words_are_read_everywhere(written, stored):
    for read in (parse_file_timestamp, parse_given_time, parse_timestamp):
        assert read(written) == stored


@pytest.mark.parametrize("written", ["2015/13/01", "2015/02/30", "2015年13月1日"])
def test_an_impossible_year_first_date_says_how_it_was_read(written):
    with pytest.raises(ValueError, match="is not a date read as year/month/day"):
        parse_file_timestamp(written)


def test_import_reads_a_chinese_spreadsheet_s_dates(cli, tmp_path):
    (tmp_path / "zh.csv").write_text("id,text,created_at\nz1,外卖很慢,2015/2/17 10:00\nz2,好吃,2015年2月18日\n",
                                     encoding="utf-8")
    result = cli("import", "zh.csv", "--source", "waimai", "--watch", "acme")
    assert result.exit_code == 0, result.output
    assert "2 inserted" in result.output


def test_backtest_reads_its_period_as_export_does(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(WATCH, encoding="utf-8")
    assert cli("init").exit_code == 0
    result = cli("backtest", "--since", "2015-02-22T10:00:00.5Z", "--until", "2015-02-23")
    assert result.exit_code == 0, result.output
    assert "between 2015-02-22T10:00:01Z (included)" in result.output  # rounded up, as export does
    result = cli("backtest", "--since", "30d", "--until", "1d")
    assert result.exit_code == 0, result.output
    assert "(included)" in result.output


def _negative_posts(db, model_id, times) -> None:
    from storage import Mention, save_mentions

    save_mentions(db, [Mention("reddit", f"n{i}", f"acme broke again {i}", moment, watches=("acme",))
                       for i, moment in enumerate(times)])
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'negative', 0.9, 0.05, 0.05, '2025-01-01T00:00:00Z')",
                        [(mention_id, model_id) for (mention_id,) in db.execute("SELECT id FROM mentions")])
    db.conn.commit()


@pytest.mark.parametrize("time_zone, window", [
    ("America/New_York", ("2015-02-22T05:00:00Z", "2015-02-23T05:00:00Z")),  # the New York day
    ("UTC", ("2015-02-23T00:00:00Z", "2015-02-24T00:00:00Z")),
])
def test_a_day_bucket_is_a_day_of_the_alerts_time_zone(db, model_id, time_zone, window):
    from alerts.detect import backtest
    from mentionwatch.config import parse_config

    # 60 posts on the evening of 22 February in New York (23 February in UTC), 40 the next afternoon
    evening = [f"2015-02-23T0{hour}:{minute:02d}:00Z" for hour in (1, 2, 3) for minute in range(0, 60, 3)]
    afternoon = [f"2015-02-23T1{hour}:{minute:02d}:00Z" for hour in (4, 5) for minute in range(0, 60, 3)]
    _negative_posts(db, model_id, evening + afternoon)
    config = parse_config(f"""
alerts: {{bucket: 1d, timezone: {time_zone}, thresholds: [{{count: 60, window: 1d}}]}}
{WATCH}""")
    findings = backtest(db, config, "2015-02-20T00:00:00Z", "2015-02-26T00:00:00Z")
    assert [(f.window_start, f.window_end) for f in findings] == [window]
    assert findings[0].observed == (60 if time_zone != "UTC" else 100)


def test_a_watchlist_saved_in_latin_1_names_the_line(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_bytes(f"{WATCH}# caf\xe9\n".encode("latin-1"))
    result = cli("backtest", "--since", "2d", "--until", "1d")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: mentionwatch.yaml:4: not UTF-8 text (byte 0xe9): save the file as UTF-8 in your editor"]


def test_an_endless_sensitivity_is_not_a_number(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(f"alerts: {{sensitivity: .nan}}\n{WATCH}", encoding="utf-8")
    result = cli("backtest", "--since", "2d", "--until", "1d")
    assert result.exit_code == 2
    assert "alerts.sensitivity: Input should be a finite number" in result.output


def test_mark_takes_a_mention_id_written_with_a_hash(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(WATCH, encoding="utf-8")
    assert cli("init").exit_code == 0
    result = cli("mark", "#7", "--state", "handled")
    assert result.exit_code == 2
    assert "no mention with id 7" in result.output  # read as the id 7, not refused as text
    result = cli("mark", "x7", "--state", "handled")
    assert "'x7' is not a mention id (a number such as 5 or #5)" in result.output


def test_a_sitemap_page_listed_without_a_date_is_checked_again_after_a_week():
    """Remembered as not matching, an undated page would otherwise never be fetched again, even once
    edited to mention the watch (or when it answered a maintenance page the one time it was read)."""
    import datetime as dt

    from crawler.spiders.sitemap import UNDATED_RECHECK_DAYS, _still_unmatched

    today = dt.date.today()
    found = lambda days_ago: "@" + (today - dt.timedelta(days=days_ago)).isoformat()  # noqa: E731
    assert _still_unmatched(found(0), "")
    assert _still_unmatched(found(UNDATED_RECHECK_DAYS - 1), "")
    assert not _still_unmatched(found(UNDATED_RECHECK_DAYS), "")
    assert not _still_unmatched(found(0), "2024-06-01")  # it has a date now
    assert _still_unmatched("2024-05-01", "2024-05-01")
    assert not _still_unmatched("2024-05-01", "2024-06-01")  # edited: read again
    assert not _still_unmatched(None, "2024-05-01")
