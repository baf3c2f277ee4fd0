"""Strangers' posts meet the terminal, the spreadsheet and the chart: nothing they hold is obeyed.

Also the edges of the triage options: '_' beside Chinese in a query, a missing --out folder and
--since/--until with fractions of a second.
"""
from __future__ import annotations

import csv
import json
import unicodedata

import pytest

from storage import Mention, open_db, save_mentions

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\x1b[0m"
HOSTILE = [
    # (external id, author, url, text)
    ("esc", "\x1b[5mblink\x1b[0m", "https://e.example/\x1b[31m", f"ansi {ESCAPES} clear"),
    ("nul", "nul\x00l", "https://e.example/n", "null\x00byte \x08backspace \x7f del \x9b c1"),
    ("bidi", "\u202eadmin", "https://e.example/b", "bidi \u202eevil\u202c txt.exe \u2066 iso \u2069"),
    ("nl", "multi\nline", "https://e.example/\r\nFAKE: line", "newline\ninjection\r\nfake: line"),
    ("emoji", "ana", "https://e.example/e", "family \U0001F468\u200d\U0001F469\u200d\U0001F467 ok"),
]


def _terminal_obeys(output: str) -> list[str]:
    """The characters of `output` a terminal would act on or hide: controls other than the line
    ends between lines, and format characters except the zero-width joiner."""
    return sorted({char for char in output if char != "\n" and char != "\u200d"
                   and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")})


@pytest.fixture
def hostile_db(tmp_path):
    path = tmp_path / "hostile.db"
    db = open_db(path)
    save_mentions(db, [Mention(source="evilsrc", external_id=eid, text=f"{text} flight",
                               created_at="2015-02-20T10:00:00Z", author=author, url=url,
                               watches=("evil",))
                       for eid, author, url, text in HOSTILE])
    _store_alert(db)
    db.close()
    return path


def _store_alert(db) -> None:
    """An alert whose explanation, timeline, owner and notification hold the hostile texts."""
    top = [{"mention_id": index, "created_at": "2015-02-20T10:00:00Z", "source": "evilsrc",
            "author": author, "author_reach": 10, "url": url, "text": text, "p_negative": 0.9}
           for index, (_, author, url, text) in enumerate(HOSTILE, start=1)]
    explanation = {"summary": f"summary {ESCAPES}", "top_mentions": top,
                   "terms": [{"term": "te\x1b[1mrm", "count": 3, "lift": 2.0}],
                   "sources": {"evil\u202esrc": 5}}
    db.execute("INSERT INTO alerts (id, watch, rule, severity, window_start, window_end, opened_at, "
               "updated_at, owner, status, explanation) VALUES (1, 'evil', 'spike', 'high', "
               "'2015-02-20T00:00:00Z', '2015-02-21T00:00:00Z', '2015-02-20T12:00:00Z', "
               "'2015-02-20T12:00:00Z', ?, 'acknowledged', ?)",
               ["own\x1b[8mer\nFAKE", json.dumps(explanation)])
    db.execute("INSERT INTO alert_events (alert_id, at, actor, kind, detail) VALUES (1, "
               "'2015-02-20T12:00:00Z', ?, 'note', ?)", ["act\u202eor", "note\r\nFAKE LINE\x07"])
    db.execute("INSERT INTO notifications (alert_id, target, state, status, attempts, last_error, "
               "created_at) VALUES (1, 'ops', 'opened:high', 'failed', 1, ?, "
               "'2015-02-20T12:00:00Z')", ["HTTP 500: \x1b[2Jgone"])
    db.conn.commit()


# ---------------------------------------------------------------- the terminal

def test_search_shows_control_characters_without_obeying_them(cli, hostile_db):
    result = cli("--db", hostile_db, "search", "flight", "--limit", 50)
    assert result.exit_code == 0, result.output
    assert _terminal_obeys(result.stdout) == []
    lines = result.stdout.splitlines()
    assert len(lines) == len(HOSTILE), "an author or text with a line break stays on its line"
    shown = "\n".join(lines)
    assert "\\x1b[5mblink\\x1b[0m" in shown and "\\x1b]0;pwned\\x07" in shown
    assert "nul\\x00l" in shown and "\\x08backspace \\x7f del \\x9b c1" in shown
    assert "\\u202eadmin" in shown and "\\u2066 iso \\u2069" in shown
    assert "multi line" in shown
    assert "\U0001F468\u200d\U0001F469\u200d\U0001F467" in shown, "emoji sequences survive"


def test_search_json_escapes_what_json_dumps_leaves_raw(cli, hostile_db):
    result = cli("--db", hostile_db, "search", "flight", "--limit", 50, "--json")
    assert result.exit_code == 0, result.output
    assert _terminal_obeys(result.stdout) == []
    assert "\\u007f" in result.stdout and "\\u202e" in result.stdout and "\\u009b" in result.stdout
    rows = {row["external_id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert {eid: (row["author"], row["url"], row["text"]) for eid, row in rows.items()} == {
        eid: (author, url, f"{text} flight") for eid, author, url, text in HOSTILE}


def test_alerts_show_and_list_print_database_text_inert(cli, hostile_db):
    shown = cli("--db", hostile_db, "alerts", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert _terminal_obeys(shown.stdout) == []
    assert not any(line.startswith("FAKE") for line in shown.stdout.splitlines())
    for visible in ("own\\x1b[8mer FAKE", "summary \\x1b]0;pwned\\x07", "te\\x1b[1mrm",
                    "evil\\u202esrc 5", "\\u202eadmin", "https://e.example/  FAKE: line",
                    "act\\u202eor: note  FAKE LINE\\x07", "HTTP 500: \\x1b[2Jgone"):
        assert visible in shown.stdout, visible
    listed = cli("--db", hostile_db, "alerts", "list")
    assert listed.exit_code == 0, listed.output
    assert _terminal_obeys(listed.stdout) == []
    assert "own\\x1b[8mer FAKE" in listed.stdout and len(listed.stdout.splitlines()) == 3


def test_terminal_safe_keeps_ordinary_text_and_marks_every_hidden_character():
    from mentionwatch.terminal import terminal_safe

    assert terminal_safe("酒店 café\u200c ok 🏴\U000E0067\U000E0062\U000E007F") == (
        "酒店 café\u200c ok 🏴\U000E0067\U000E0062\U000E007F")
    assert terminal_safe("a\tb\r\nc\u2028d") == "a b  c d"
    assert terminal_safe("\u00ad\u200b\ufeff\U000E0001\udc80") == "\\xad\\u200b\\ufeff\\U000e0001\\udc80"


# ---------------------------------------------------------------- the spreadsheet

def test_csv_quotes_every_field_so_a_semicolon_never_starts_a_cell(cli, tmp_path):
    db_path = tmp_path / "semi.db"
    db = open_db(db_path)
    save_mentions(db, [Mention(source="s", external_id="1", author="bob;@SUM(1+1);x",
                               text="great service;=cmd|' /C calc'!A0;thanks",
                               created_at="2015-02-20T10:00:00Z", watches=("w",))])
    db.close()
    out = tmp_path / "out.csv"
    assert cli("--db", db_path, "export", "--out", out).exit_code == 0
    raw_lines = out.read_text(encoding="utf-8-sig").splitlines()
    with out.open(encoding="utf-8-sig", newline="") as handle:
        parsed = list(csv.reader(handle))
    for raw, fields in zip(raw_lines, parsed, strict=True):
        assert raw == ",".join('"' + field.replace('"', '""') + '"' for field in fields)
    assert "\"great service;=cmd|' /C calc'!A0;thanks\"" in raw_lines[1]
    assert parsed[1][parsed[0].index("author")] == "bob;@SUM(1+1);x"


# ---------------------------------------------------------------- the chart

def _one_source_db(tmp_path, source: str):
    db_path = tmp_path / "chart.db"
    db = open_db(db_path)
    save_mentions(db, [Mention(source=source, external_id="m1", text="bad flight",
                               created_at="2015-02-24T10:00:00Z", watches=("w",))])
    db.close()
    return db_path


@pytest.mark.parametrize("source", ["cost $\\frac{1}{$", "price $5 or $6", "$x^2$"])
def test_report_draws_dollar_signs_in_names_literally(cli, tmp_path, source):
    db_path = _one_source_db(tmp_path, source)
    result = cli("--db", db_path, "report", "--since", "2015-02-20", "--until", "2015-02-25",
                 "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / "report.html").exists()


def test_report_chart_failure_is_one_error_line(cli, tmp_path, monkeypatch):
    from mentionwatch.triage import charts

    def broken(*_args):
        raise ValueError("matplotlib gave up\nwith a second line")

    monkeypatch.setattr(charts, "_draw_sources", broken)
    db_path = _one_source_db(tmp_path, "s")
    result = cli("--db", db_path, "report", "--since", "2015-02-20", "--until", "2015-02-25",
                 "--out", tmp_path / "rep")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: {tmp_path / 'rep'}: cannot draw the chart "
                                     "w-sources.png: matplotlib gave up (report.html was not written)")
    assert not (tmp_path / "rep" / "report.html").exists()


# ---------------------------------------------------------------- '_' beside Chinese

@pytest.mark.parametrize("query", ["酒_", "_酒店", "酒店_lost", "lost_酒店"])
def test_underscore_separates_words_beside_chinese(cli, tmp_path, query):
    db_path = tmp_path / "zh.db"
    db = open_db(db_path)
    save_mentions(db, [Mention(source="s", external_id="m1", text="酒店太差了 lost luggage",
                               created_at="2015-02-24T10:00:00Z", watches=("w",))])
    db.close()
    result = cli("--db", db_path, "search", query)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("1 mention found"), query


# ---------------------------------------------------------------- export --out

@pytest.mark.parametrize("name", ["typo/a/b/x.csv", "a-file/x.csv"])
def test_export_refuses_a_missing_folder_and_creates_none(cli, hostile_db, tmp_path, name):
    (tmp_path / "a-file").write_text("not a folder")
    result = cli("--db", hostile_db, "export", "--out", name)
    folder = name.rsplit("/", 1)[0]
    problem = "is not a folder" if folder == "a-file" else "does not exist"
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: Invalid value for --out: folder '{folder}' {problem}"
    assert not (tmp_path / "typo").exists()


def test_export_through_a_dangling_link_creates_no_folder(cli, hostile_db, tmp_path):
    target = tmp_path / "elsewhere" / "deep" / "t.csv"
    (tmp_path / "link.csv").symlink_to(target)
    result = cli("--db", hostile_db, "export", "--out", "link.csv")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: Invalid value for --out: folder '{target.parent}' "
                                     "does not exist")
    assert not (tmp_path / "elsewhere").exists()


def test_export_refuses_an_empty_out(cli, hostile_db):
    result = cli("--db", hostile_db, "export", "--out", "")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: Invalid value for --out: the file name is empty"


def test_report_out_through_a_dangling_link_is_one_line(cli, hostile_db, tmp_path):
    (tmp_path / "rep").symlink_to(tmp_path / "nowhere" / "rep")
    result = cli("--db", hostile_db, "report", "--out", "rep")
    assert result.exit_code == 2
    assert "Invalid value for --out: 'rep' is a link to" in result.stderr
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------- fractions of a second

@pytest.mark.parametrize("option, value, expected", [
    ("--since", "2015-02-20T10:00:00.5Z", 0),    # the mention at 10:00:00 is before it
    ("--until", "2015-02-20T10:00:00.5Z", 1),    # ... and so inside a period ending there
    ("--since", "2015-02-20T10:00:00Z", 1),
    ("--until", "2015-02-20T10:00:00Z", 0),
    ("--since", "1424426400.25", 0),             # Unix seconds, 10:00:00.25
    ("--until", "1424426400250", 1),             # Unix milliseconds
])
def test_fractional_seconds_round_up_to_the_next_whole_second(cli, hostile_db, tmp_path, option,
                                                              value, expected):
    result = cli("--db", hostile_db, "export", "--source", "evilsrc", "--query", "ansi", option,
                 value, "--out", tmp_path / "x.jsonl")
    assert result.exit_code == 0, result.output
    assert f": {expected} mention" in result.stdout


def test_parse_time_limit_rounds_only_fractions():
    import datetime as dt

    from mentionwatch.triage.query import parse_time_limit

    assert parse_time_limit("2015-02-20T10:00:00.000001Z") == "2015-02-20T10:00:01Z"
    assert parse_time_limit("2015-02-20T10:00:00+01:00") == "2015-02-20T09:00:00Z"
    assert parse_time_limit("9999-12-31T23:59:59.5Z") == "9999-12-31T23:59:59Z"
    now = dt.datetime(2015, 2, 20, 10, 0, 0, 700_000, tzinfo=dt.timezone.utc)
    assert parse_time_limit("1h", now=now) == "2015-02-20T09:00:01Z"
    assert parse_time_limit("1h", now=now.replace(microsecond=0)) == "2015-02-20T09:00:00Z"
