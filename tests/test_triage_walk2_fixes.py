"""What a second walkthrough of `mentionwatch report` and `mentionwatch export` found: a quiet
week refused, one period stretched over every watch's history, and `export --out -`."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from storage import Mention, open_db, save_mentions
from test_export import _stock  # the small stocked database of the export tests

ROOT = Path(__file__).resolve().parents[1]


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _store(db_path, watch: str, times: list[str], text: str = "{watch} post") -> None:
    db = open_db(db_path)
    save_mentions(db, [Mention("rss", f"{watch}-{i}", text.format(watch=watch), at,
                               url=f"https://example.org/{watch}/{i}", watches=(watch,))
                       for i, at in enumerate(times)])
    db.close()


def _quiet_and_live(db_path) -> str:
    """'node' quiet since 2017; 'acme' with mentions of the last hours. Returns acme's newest."""
    _store(db_path, "node", ["2017-09-27T20:00:00Z", "2017-09-27T23:33:24Z"])
    recent = [_iso(_now() - dt.timedelta(hours=h)) for h in (30, 5, 2)]
    _store(db_path, "acme", recent)
    return recent[-1]


# ------------------------------------------------------------------ 1. a quiet week is a report

def test_the_weekly_report_of_a_quiet_watch_is_an_empty_report(cli, tmp_path):
    _quiet_and_live(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "node", "--since", "7d",
                 "--out", tmp_path / "reports" / "node-week")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("(now)"), lines[0]
    assert lines[1].startswith("  node: ")
    assert lines[1].endswith(", 0 alerts; no mentions in the period; its newest mention is "
                             "2017-09-27T23:33:24Z")
    page = (tmp_path / "reports" / "node-week" / "report.html").read_text(encoding="utf-8")
    assert ("No mentions of this watch in the period. The newest mention of this watch is "
            "2017-09-27T23:33:24Z.") in page


def test_since_7d_is_the_last_7_days_up_to_now(cli, tmp_path):
    """7d counts back from now, so the period ends now, not at the newest mention (which would
    leave out the last hours and make the period shorter than 7 days)."""
    _quiet_and_live(tmp_path / "s.db")
    before = _now()
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--since", "7d",
                 "--out", tmp_path / "r")
    after = _now() + dt.timedelta(seconds=1)
    assert result.exit_code == 0, result.output
    head = result.stdout.splitlines()[0]
    period = head.split("charts, ", 1)[1]
    since, rest = period.split(" to ", 1)
    until = rest.removesuffix(" (now)")
    assert rest.endswith(" (now)") and _iso(before) <= until <= _iso(after)
    assert (dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
            - dt.datetime.fromisoformat(since.replace("Z", "+00:00"))) == dt.timedelta(days=7)
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "3 mentions in the period" in page


def test_a_date_after_the_newest_mention_reports_the_quiet_spell_up_to_now(cli, tmp_path):
    _quiet_and_live(tmp_path / "s.db")
    quiet = cli("--db", tmp_path / "s.db", "report", "--watch", "node", "--since", "2020-01-01",
                "--out", tmp_path / "r")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.splitlines()[0].split("charts, ")[1].startswith("2020-01-01T00:00:00Z to ")
    assert quiet.stdout.splitlines()[0].endswith("(now)")
    # a date before the newest mention: the period still ends with it, as before
    busy = cli("--db", tmp_path / "s.db", "report", "--watch", "node", "--since", "2017-09-27",
               "--out", tmp_path / "r2")
    assert busy.exit_code == 0, busy.output
    assert busy.stdout.splitlines()[0].endswith(
        "2017-09-27T00:00:00Z to 2017-09-27T23:33:24Z (the newest mention)")


def test_a_since_in_the_future_is_one_line(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2999-01-01", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --since 2999-01-01T00:00:00Z is in the future (now is ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.html").exists()


# ------------------------------------------------------------------ 2. one period for every watch

def _airlines_and_news(db_path) -> None:
    _store(db_path, "us-airways", [f"2015-02-{day}T12:00:00Z" for day in range(16, 25)]
           + ["2015-02-24T19:53:37Z"])
    _store(db_path, "news", ["2024-08-01T10:00:00Z", "2024-08-08T09:00:00Z"])


def test_a_watch_whose_mentions_end_long_before_the_period_is_named(cli, tmp_path):
    """Without --until the period ends with the newest mention of all the watches reported: an
    imported history beside a newer watch gets a long period, and the command says so."""
    _airlines_and_news(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2015-02-16",
                 "--out", tmp_path / "reports" / "airlines")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("2015-02-16T00:00:00Z to 2024-08-08T09:00:00Z (the newest mention)")
    airline = next(line for line in lines if line.startswith("  us-airways: "))
    assert airline.endswith("; its newest mention is 2015-02-24T19:53:37Z")
    assert lines[-1] == ("  (the period ends with the newest mention of all these watches: for a "
                         "watch whose mentions end long before, give --until, or report it alone "
                         "with --watch)")
    news = next(line for line in lines if line.startswith("  news: "))
    assert "newest mention" not in news

    # what the hint says: --until, or the watch alone, gives the airline week
    until = cli("--db", tmp_path / "s.db", "report", "--since", "2015-02-16", "--until",
                "2015-02-25", "--out", tmp_path / "u")
    assert until.exit_code == 0, until.output
    assert until.stdout.splitlines()[0].endswith(
        "2015-02-16T00:00:00Z up to 2015-02-25T00:00:00Z (not included)")
    assert "newest mention is" not in until.stdout and "(the period ends" not in until.stdout
    alone = cli("--db", tmp_path / "s.db", "report", "--watch", "us-airways", "--since",
                "2015-02-16", "--out", tmp_path / "a")
    assert alone.exit_code == 0, alone.output
    assert alone.stdout.splitlines()[0].endswith(
        "2015-02-16T00:00:00Z to 2015-02-24T19:53:37Z (the newest mention)")
    assert "newest mention is" not in alone.stdout


# ------------------------------------------------------------------ 3. export --out -

def test_export_to_standard_output_as_csv(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "export", "--watch", "acme", "--out", "-")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert not result.stdout.startswith("\ufeff")  # no byte-order mark down a pipe
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4 and rows[0]["author"] == "alice"
    assert rows[0]["text"].startswith("'=HYPERLINK(")  # neutralised as in a file
    assert result.stderr == "standard output: 4 mentions exported (csv, sentiment from test-model)\n"


def test_export_to_standard_output_as_jsonl(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "export", "--format", "jsonl", "--out", "-")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 6 and rows[4]["text"] == "globex 服务很好，下次还会再来"
    assert result.stderr.startswith("standard output: 6 mentions exported (jsonl")
    assert not (tmp_path / "-").exists()


def test_export_of_a_workbook_to_standard_output_is_refused(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "export", "--format", "xlsx", "--out", "-")
    assert result.exit_code == 2
    assert result.stderr == ("Error: Invalid value for --out: '-' (standard output) takes --format "
                             "csv or jsonl, not xlsx: write a workbook to a file, e.g. --out "
                             "todo.xlsx\n")
    assert result.stdout == "" and not (tmp_path / "-").exists()


def test_a_file_named_dash_is_still_possible(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "export", "--out", "./-")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "-").read_bytes().startswith(b"\xef\xbb\xbf\"mention_id\"")


def test_a_reader_that_stops_early_ends_the_export_quietly(tmp_path):
    """`mentionwatch export --out - | head -1`: no traceback when head closes the pipe."""
    db_path = tmp_path / "big.db"
    _store(db_path, "acme", [f"2024-03-01T{h:02d}:{m:02d}:00Z" for h in range(24) for m in range(60)],
           text="{watch} " + "x" * 400)  # about 700 KB: more than a pipe holds
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "mentionwatch", "--db", str(db_path),
                                "export", "--out", "-"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b'"mention_id"')
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert process.returncode == 141
    assert "Traceback" not in stderr and "Broken pipe" not in stderr, stderr
