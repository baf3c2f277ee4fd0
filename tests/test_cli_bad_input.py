"""Bad input to the triage, alert and sentiment commands: one line, exit code 2, nothing lost.

Each test here failed before its fix: tracebacks (OverflowError) for huge numbers and far dates,
"database error" for an empty search, output files truncated by a failed or interrupted export.
"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mentionwatch.triage.export import export_mentions
from mentionwatch.triage.query import MentionFilters, export_rows
from storage import open_db
from test_export import MODEL, _stock  # the small stocked database of the export tests

HUGE = "99999999999999999999999"  # more than SQLite's 64-bit integers hold


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "s.db"
    _stock(path)
    return path


def _one_line_mistake(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"Error: {expected}"]


# ---------------------------------------- 1. exports never destroy the last good file

@pytest.mark.parametrize("suffix", ["csv", "jsonl", "xlsx"])
def test_interrupted_export_keeps_the_previous_file(db_path, tmp_path, suffix):
    out = tmp_path / "exports" / f"todo.{suffix}"
    out.parent.mkdir()
    out.write_bytes(b"the export from yesterday")
    db = open_db(db_path)

    def rows_then_ctrl_c():
        yield from list(export_rows(db, MentionFilters(), MODEL))[:2]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_mentions(rows_then_ctrl_c(), out, suffix)
    assert out.read_bytes() == b"the export from yesterday"
    assert [p.name for p in out.parent.iterdir()] == [out.name], "the temporary file is removed"


def test_failed_export_command_keeps_the_previous_file(cli, db_path, tmp_path):
    out = tmp_path / "exports" / "x.csv"
    out.parent.mkdir()  # export creates no folder
    assert cli("--db", db_path, "export", "--watch", "globex", "--out", out).exit_code == 0
    before = out.read_bytes()
    result = cli("--db", db_path, "export", "--query", "   ", "--out", out)
    _one_line_mistake(result, "Invalid value for --query: the search query is empty")
    assert out.read_bytes() == before
    # a successful export does replace it, and leaves no temporary file behind
    assert cli("--db", db_path, "export", "--watch", "acme", "--out", out).exit_code == 0
    assert "acme neutral remark" in out.read_text(encoding="utf-8-sig")
    assert [p.name for p in out.parent.iterdir()] == ["x.csv"]


# ---------------------------------------------------------------- 2. far-future stored dates

def _store_far_future_mention(db_path):
    """A row as an old, unchecked import left it: straight into SQLite, past every check."""
    db = open_db(db_path)
    db.execute("INSERT INTO mentions (source, external_id, text, created_at, fetched_at) VALUES "
               "('twitter', 'bogus', 'acme from the year 9999', '9999-12-31T23:59:59Z', "
               "'2024-03-06T00:00:00Z')")
    mention_id = db.execute("SELECT id FROM mentions WHERE external_id = 'bogus'").fetchone()[0]
    db.execute("INSERT INTO mention_watches (watch, mention_id, matched_at) VALUES "
               "('acme', ?, '2024-03-06T00:00:00Z')", [mention_id])
    db.conn.commit()
    db.close()


def test_report_survives_a_mention_stored_in_year_9999(cli, db_path, tmp_path):
    _store_far_future_mention(db_path)
    default = cli("--db", db_path, "report", "--out", tmp_path / "r")
    assert default.exit_code == 0, default.output
    # the default period ends with the newest mention that is not in the future
    assert "2024-02-27T13:00:01Z to 2024-03-05T13:00:00Z (the newest mention)" in default.output
    since_only = cli("--db", db_path, "report", "--since", "2024-03-01", "--out", tmp_path / "r")
    assert since_only.exit_code == 0, since_only.output
    # looking at the bogus row itself, at the very end of the calendar, works too
    at_the_end = cli("--db", db_path, "report", "--since", "9999-12-25",
                     "--until", "9999-12-31T23:59:59Z", "--out", tmp_path / "r9999")
    assert at_the_end.exit_code == 0, at_the_end.output
    assert "9999-12-25T00:00:00Z up to 9999-12-31T23:59:59Z (not included)" in at_the_end.output
    assert (tmp_path / "r9999" / "acme-volume.png").stat().st_size > 0


# ---------------------------------------------------------------- 3. numbers SQLite cannot hold

@pytest.mark.parametrize("args", [
    ("alerts", "show", HUGE), ("alerts", "ack", HUGE), ("alerts", "resolve", HUGE),
    ("alerts", "note", HUGE, "called them"), ("export", "--alert", HUGE, "--out", "x.csv"),
])
def test_huge_alert_id_is_no_such_alert(cli, db_path, args):
    _one_line_mistake(cli("--db", db_path, *args), f"no alert with id {HUGE}")


def test_huge_mention_id_is_no_such_mention(cli, db_path):
    result = cli("--db", db_path, "mark", HUGE, "--state", "handled")
    _one_line_mistake(result, f"no mention with id {HUGE}; nothing was marked")


@pytest.mark.parametrize("args", [
    ("alerts", "list", "--limit", HUGE), ("export", "--min-reach", HUGE, "--out", "x.csv"),
])
def test_huge_limit_is_a_range_error(cli, db_path, args):
    result = cli("--db", db_path, *args)
    assert result.exit_code == 2
    assert f"{HUGE} is not in the range" in result.stderr


def test_export_limit_up_to_the_largest_sqlite_integer(cli, db_path, tmp_path):
    huge = cli("--db", db_path, "export", "--limit", HUGE, "--out", tmp_path / "x.csv")
    assert huge.exit_code == 2 and "database error" not in huge.stderr
    assert f"{HUGE} is not in the range 1<=x<=9223372036854775807" in huge.stderr
    largest = cli("--db", db_path, "export", "--limit", 2**63 - 1, "--out", tmp_path / "x.csv")
    assert largest.exit_code == 0, largest.output
    assert "6 mentions exported" in largest.output


# ---------------------------------------------------------------- 4, 5. times and periods

@pytest.mark.parametrize("command", ["export", "report"])
@pytest.mark.parametrize("span", ["999999d", "9999999999999999999d"])
def test_relative_time_beyond_year_1_names_the_option(cli, db_path, tmp_path, command, span):
    out = tmp_path / ("x.csv" if command == "export" else "r")
    result = cli("--db", db_path, command, "--since", span, "--out", out)
    _one_line_mistake(result, f"Invalid value for --since: '{span}' reaches back before year 1 "
                              "(use a date such as 2015-02-20, or a shorter span such as 30d)")


@pytest.mark.parametrize("command", ["export", "report"])
def test_bad_time_names_the_option(cli, db_path, tmp_path, command):
    out = tmp_path / ("x.csv" if command == "export" else "r")
    result = cli("--db", db_path, command, "--until", "yesterday", "--out", out)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for --until: 'yesterday' is not a time")


def test_export_period_the_wrong_way_round(cli, db_path, tmp_path):
    out = tmp_path / "x.csv"
    result = cli("--db", db_path, "export", "--since", "2024-03-05", "--until", "2024-03-01",
                 "--out", out)
    _one_line_mistake(result, "Invalid value for --since: 2024-03-05T00:00:00Z is not before "
                              "--until 2024-03-01T00:00:00Z")
    assert not out.exists()


# ---------------------------------------------------------------- 6. empty full-text queries

@pytest.mark.parametrize("query", ["", "   "])
def test_empty_search_is_a_mistake(cli, db_path, query):
    _one_line_mistake(cli("--db", db_path, "search", query), "the search query is empty")


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_export_query_is_a_mistake(cli, db_path, tmp_path, query):
    result = cli("--db", db_path, "export", "--query", query, "--out", tmp_path / "x.csv")
    _one_line_mistake(result, "Invalid value for --query: the search query is empty")


NO_WORDS = "has no words to search for (punctuation and symbols are not indexed)"


@pytest.mark.parametrize("query", ['"', "*", "()", '"" ', "-", "€", "* () -"])
def test_query_without_a_word_is_a_mistake(cli, db_path, tmp_path, query):
    # before: 0 results and exit code 0, as if nothing had been posted
    _one_line_mistake(cli("--db", db_path, "search", query), f"the search query {query!r} {NO_WORDS}")
    result = cli("--db", db_path, "export", "--query", query, "--out", tmp_path / "x.csv")
    _one_line_mistake(result, f"Invalid value for --query: the search query {query!r} {NO_WORDS}")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("query, found", [
    ("globex", 3), ('"lost my parcel"', 1), ("crashing OR refund", 2), ("globex NOT crashing", 2),
    ("crash*", 1), ("服务很好", 1),
    # stray punctuation separates words, never a 'database error' nor the whole query as a phrase
    ('"AND"', 1), ("text:", 0), ("acme -", 4), ("crashing OR refund!", 2), ("refund & acme", 1),
    ("crashing, globex", 1), ("globex OR 1=1", 3), ("{refund}", 1), ("+parcel", 1), ("*parcel", 1),
    ("lost-my-parcel", 1), ("(crashing OR refund) %", 2), ("服务很好！", 1), ("globex 服务很好?", 1),
])
def test_queries_with_words_are_searched(cli, db_path, query, found):
    result = cli("--db", db_path, "search", query)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().startswith(f"{found} mention{'s' if found != 1 else ''} found")
    assert len(result.stdout.splitlines()) == found


BOTH_SIDES = "{0} needs words on both sides (to search for the word itself, write \"{0}\" in quotes)"


@pytest.mark.parametrize("query, problem", [
    # before: 0 found and exit code 0 (the whole query searched as one literal phrase)
    ("(crashing OR refund", "a bracket '(' is not closed"),
    ("NEAR(", "a bracket '(' is not closed"),
    ("(服务很好", "a bracket '(' is not closed"),
    ("服务很好)", "a closing bracket ')' has no opening one"),
    ("refund () acme", "the brackets () hold no word"),
    ('"unclosed', "a quote (\") is not closed: '\"unclosed'"),
    ("AND", BOTH_SIDES.format("AND")),
    ("refund OR", BOTH_SIDES.format("OR")),
    ("OR 服务很好", BOTH_SIDES.format("OR")),
    ("NOT refund", BOTH_SIDES.format("NOT")),
    ("refund OR NOT acme!", BOTH_SIDES.format("OR")),
    ("acme -refund", "'-refund': a minus does not leave a word out; write NOT refund after the words "
                     "to keep"),
    ("globex -服务很好", "'-服务很好': a minus does not leave a word out; write NOT 服务很好 after the "
                        "words to keep"),
])
def test_malformed_query_is_a_mistake(cli, db_path, tmp_path, query, problem):
    expected = f"the search query {query!r}: {problem}"
    _one_line_mistake(cli("--db", db_path, "search", query), expected)
    result = cli("--db", db_path, "export", "--query", query, "--out", tmp_path / "x.csv")
    _one_line_mistake(result, f"Invalid value for --query: {expected}")
    assert not (tmp_path / "x.csv").exists()


def test_lowercase_operator_gets_a_hint_when_nothing_is_found(cli, db_path, tmp_path):
    result = cli("--db", db_path, "search", "crashing or refund")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [
        "0 mentions found",
        "hint: 'or' was searched as a word; AND, OR and NOT are operators only in capitals (OR)"]
    result = cli("--db", db_path, "export", "--query", "crashing or refund", "--out", tmp_path / "x.csv")
    assert "hint: 'or' was searched as a word" in result.stderr
    found = cli("--db", db_path, "search", "acme and globex")  # found: no hint
    assert found.stderr.strip() == "1 mention found, newest first (the first column is the mention id)"


# ---------------------------------------------------------------- 7. unknown source

def test_unknown_source_is_a_mistake(cli, db_path, tmp_path):
    result = cli("--db", db_path, "export", "--source", "nosuch", "--out", tmp_path / "x.csv")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("Error: no source named 'nosuch' among the source types or in the "
                           "database (known: appstore, bluesky, github,")
    assert "reddit" in line and "twitter" in line and len(line.splitlines()) == 1
    # a known source type with nothing stored is a valid, empty selection
    empty = cli("--db", db_path, "export", "--source", "github", "--out", tmp_path / "x.csv")
    assert empty.exit_code == 0 and "0 mentions exported" in empty.output


# ---------------------------------------------------------------- 8. browse on a taken port

def test_browse_on_a_taken_port_says_so_before_serving(cli, db_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("--db", db_path, "browse", "--port", port)
    _one_line_mistake(result, f"cannot listen on 127.0.0.1:{port}: address already in use")
    assert "Serving" not in result.output


def test_browse_on_an_impossible_address(cli, db_path):
    result = cli("--db", db_path, "browse", "--host", "999.1.1.1", "--port", "8099")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot listen on 999.1.1.1:8099: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Serving" not in result.output


# ---------------------------------------------------------------- 9. sentiment eval

def test_sentiment_eval_of_a_missing_file_says_so(cli):
    result = cli("sentiment", "eval", "missing.csv")
    assert result.exit_code == 2
    assert result.stderr == "Error: missing.csv: no such file\n"  # one line, no usage text
    labels = cli("sentiment", "eval", __file__, "--labels-file", "missing-labels.txt")
    assert (labels.exit_code, labels.stderr) == (2, "Error: missing-labels.txt: no such file\n")


# ---------------------------------------------------------------- 10. report alerts and alerts help

def test_report_lists_only_alerts_active_in_the_period(cli, db_path, tmp_path):
    old = cli("--db", db_path, "report", "--since", "1990-01-01", "--until", "1990-01-02",
              "--out", tmp_path / "old")
    assert old.exit_code == 0, old.output
    html = (tmp_path / "old" / "report.html").read_text()
    assert "Alert #7" not in html and "0 alerts" in old.output
    during = cli("--db", db_path, "report", "--since", "2024-03-01", "--until", "2024-03-02",
                 "--out", tmp_path / "during")
    assert "Alert #7" in (tmp_path / "during" / "report.html").read_text()
    # still open: carried into a later period too
    later = cli("--db", db_path, "report", "--since", "2024-03-04", "--until", "2024-03-06",
                "--out", tmp_path / "later")
    assert "Alert #7" in (tmp_path / "later" / "report.html").read_text()
    assert during.exit_code == later.exit_code == 0


def test_alerts_help_names_show(cli):
    result = cli("--help")
    alerts_line = next(line for line in result.output.splitlines() if line.strip().startswith("alerts"))
    assert "show" in alerts_line


def test_replacing_follows_links_keeps_permissions_and_writes_through_special_files(tmp_path):
    import os
    import stat

    from mentionwatch.triage.atomic import replacing

    target = tmp_path / "real.csv"
    target.write_text("old")
    os.chmod(target, 0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with replacing(link) as temporary:
        Path(temporary).write_text("new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with replacing(fifo) as written:
        assert written == fifo  # a named pipe (or /dev/stdout) is written directly


# ------------------------------------------- 7. arguments the terminal's encoding could not read

@pytest.mark.parametrize("args", [["search", "caf\udce9"], ["export", "--watch", "x\udce9", "--out", "-"],
                                  ["alerts", "list", "--watch", "x\udce9"]])
def test_an_argument_with_bytes_that_are_not_utf8_is_one_line(cli, db_path, args):
    """A word typed in a Latin-1 terminal reaches Python as lone surrogates, which SQLite refuses
    deep inside a search or an export (a UnicodeEncodeError traceback)."""
    shown = args[-3] if args[0] == "export" else args[-1]
    readable = shown.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    _one_line_mistake(cli("--db", db_path, *args),
                      f"the argument {readable!r} holds bytes that are not UTF-8 text (check the terminal's encoding)")
