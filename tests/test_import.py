"""`mentionwatch import`: real airline tweets, broken rows, JSONL, and a process killed mid-import."""
from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

AIRLINE_ARGS = ("--source", "twitter", "--watch", "airlines", "--id-col", "tweet_id",
                "--text-col", "text", "--time-col", "tweet_created", "--author-col", "name")


@pytest.fixture(autouse=True)
def _database_named(tmp_path, monkeypatch):
    """The database named, as in a watchlist's folder: an import that would create one in a folder
    without a watchlist adds a note to its output (tests/test_walk4_fixes.py)."""
    monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "mentionwatch.db"))


def test_airline_tweets_import_once(cli, shared_file, tmp_path):
    tweets = shared_file("airline/Tweets.csv")
    assert cli("init").exit_code == 0
    first = cli("import", tweets, *AIRLINE_ARGS)
    assert first.exit_code == 0, first.output
    assert "14485 inserted, 155 already present, 0 rejected" in first.output
    second = cli("import", tweets, *AIRLINE_ARGS)
    assert "0 inserted, 14640 already present" in second.output
    db = sqlite3.connect(tmp_path / "mentionwatch.db")
    assert db.execute("select count(*) from mentions").fetchone()[0] == 14485
    row = db.execute("select created_at, author from mentions where external_id='570306133677760513'").fetchone()
    assert row == ("2015-02-24T19:35:52Z", "cairdin")  # 11:35:52 -0800 in the file


def test_broken_rows_rejected_with_line_and_reason(cli, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text(
        "id,text,created_at,author\n"
        "1,fine post,2024-01-01T10:00:00Z,ann\n"
        "2,,2024-01-01T10:00:00Z,bob\n"
        "3,bad time,not a date,cy\n"
        "4,too,many,fields,here\n"
        '5,"multi\nline post",2024-01-02 10:00:00,dee\n'
        ",no id,2024-01-01,eve\n"
        "7,last good,1704103200,fay\n",
        encoding="utf-8",
    )
    result = cli("import", path, "--watch", "acme")
    assert result.exit_code == 3
    errors = result.stderr.splitlines()
    assert f"{path}:3: rejected: text: empty" in errors
    assert f"{path}:4: rejected: created_at: unrecognised timestamp 'not a date'" in errors
    assert f"{path}:5: rejected: expected 4 fields, found 5" in errors
    assert f"{path}:8: rejected: id: missing" in errors
    assert "3 inserted, 0 already present, 4 rejected" in result.stdout
    assert "Traceback" not in result.output


def test_missing_column_is_one_line_exit_2(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,body,when\n1,a,2024-01-01\n")
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {path}:1: missing columns text, created_at (columns are: id, body, when)"
    assert not list(tmp_path.glob("mentionwatch.db*"))  # the database it would have made is not left behind


def test_a_file_it_cannot_use_leaves_an_existing_database_alone(cli, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("id,text,created_at\n1,acme,2024-01-01\n")
    bad.write_text("id,body,when\n1,a,2024-01-01\n")
    assert cli("import", good).exit_code == 0
    assert cli("import", bad).exit_code == 2
    import sqlite3

    stored = sqlite3.connect(tmp_path / "mentionwatch.db").execute("SELECT text FROM mentions").fetchall()
    assert stored == [("acme",)]


def test_missing_column_names_the_closest_and_lists_every_column_uncut(cli, shared_file):
    tweets = shared_file("airline/Tweets.csv")
    result = cli("import", tweets, "--id-col", "tweet_id", "--text-col", "Text")  # no created_at
    assert result.exit_code == 2
    with tweets.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    assert len(", ".join(header)) > 200  # the list the old message cut after 200 characters
    assert result.stderr.strip() == (
        f"Error: {tweets}:1: missing columns Text (did you mean --text-col text?), created_at "
        f"(did you mean --time-col tweet_created?) (columns are: {', '.join(header)})")


def test_jsonl_import_and_search(cli, tmp_path):
    path = tmp_path / "m.jsonl"
    rows = [{"id": 1, "text": "小米 手机 电池 太差", "created_at": "2024-05-01T08:00:00Z", "lang": "zh"},
            {"id": 2, "text": "the refund never came", "created_at": 1714550400, "url": "https://x/2"},
            "not an object", {"id": 3}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{broken\n", encoding="utf-8")
    result = cli("import", path, "--source", "forum")
    assert "2 inserted" in result.stdout and "3 rejected" in result.stdout
    found = cli("search", "refund", "--json")
    hit = json.loads(found.stdout.splitlines()[0])
    assert hit["external_id"] == "2" and hit["url"] == "https://x/2"
    unclosed = cli("search", 'unbalanced "quote')  # refused in one line, never an empty answer
    assert unclosed.exit_code == 2 and "not closed" in unclosed.output


def test_killed_import_loses_no_committed_row(tmp_path, shared_file):
    """kill -9 the importer mid-file: committed batches stay, the file stays consistent, a rerun completes."""
    tweets = shared_file("airline/Tweets.csv")
    db_path = tmp_path / "k.db"
    base = [sys.executable, "-m", "mentionwatch", "--db", str(db_path), "import", str(tweets),
            *AIRLINE_ARGS, "--batch-size", "50"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(db_path, timeout=5) as conn:
                stored = conn.execute("select count(*) from mentions").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if stored >= 500:
            break
    assert proc.poll() is None, "import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(db_path)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    kept = conn.execute("select count(*) from mentions").fetchone()[0]
    assert kept >= stored  # nothing that was committed is lost
    linked = conn.execute("select count(*) from mention_watches").fetchone()[0]
    assert linked == kept  # each committed mention has its watch link: batches are atomic
    conn.close()
    rerun = subprocess.run(base, env=env, capture_output=True, text=True, timeout=300)
    assert f"{14485 - kept} inserted" in rerun.stdout
    conn = sqlite3.connect(db_path)
    assert conn.execute("select count(*) from mentions").fetchone()[0] == 14485


def _stored(tmp_path, sql="select count(*) from mentions"):
    return sqlite3.connect(tmp_path / "mentionwatch.db").execute(sql).fetchall()


def test_a_reach_sqlite_cannot_hold_rejects_that_row_only(cli, tmp_path):
    path = tmp_path / "reach.csv"
    rows = [f"{i},post {i},2024-01-01T10:00:00Z,{100000000000000000000 if i == 50 else i}"
            for i in range(1, 101)]
    path.write_text("id,text,created_at,author_reach\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"{path}:51: rejected: author_reach: 100000000000000000000 is out of range (0 to 9223372036854775807)"]
    assert "99 inserted, 0 already present, 1 rejected" in result.stdout
    jsonl = tmp_path / "reach.jsonl"
    jsonl.write_text('{"id": "j1", "text": "a", "created_at": "2024-01-01", "author_reach": 1e30}\n'
                     '{"id": "j2", "text": "b", "created_at": "2024-01-01", "author_reach": 7}\n')
    result = cli("import", jsonl)
    assert result.exit_code == 3
    assert result.stderr.startswith(f"{jsonl}:1: rejected: author_reach: 1e+30 is out of range")
    assert _stored(tmp_path) == [(100,)]


def test_bytes_that_are_not_utf8_reject_the_row_and_encoding_reads_them(cli, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("id,text,created_at\n1,café crème,2024-01-01\n2,plain,2024-01-01\n".encode("cp1252"))
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [f"{path}:2: rejected: not UTF-8 text (try --encoding cp1252)"]
    assert _stored(tmp_path, "select text from mentions") == [("plain",)]  # never 'caf\ufffd'
    again = cli("import", path, "--encoding", "cp1252")
    assert again.exit_code == 0, again.output
    assert "1 inserted, 1 already present, 0 rejected" in again.stdout
    assert _stored(tmp_path, "select text from mentions where external_id = '1'") == [("café crème",)]


def test_undecodable_jsonl_line_rejected_and_unknown_encoding_is_a_mistake(cli, tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"id": 1, "text": "caf\xe9", "created_at": "2024-01-01"}\n'
                     b'{"id": 2, "text": "fine", "created_at": "2024-01-01"}\n')
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [f"{path}:1: rejected: not UTF-8 text (try --encoding cp1252)"]
    wrong = cli("import", path, "--encoding", "latin-9x")
    assert wrong.exit_code == 2
    assert wrong.stderr.strip() == "Error: --encoding: unknown encoding 'latin-9x' (e.g. utf-8, cp1252, latin-1)"


def test_dates_before_1990_or_in_the_future_are_rejected(cli, tmp_path):
    import datetime as dt

    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "dates.csv"
    path.write_text("id,text,created_at\n"
                    "1,far future,9999-12-31T23:59:59Z\n"
                    "2,year one,0001-01-01\n"
                    "3,just before,1989-12-31T23:59:59Z\n"
                    "4,first allowed,1990-01-01\n"
                    f"5,a source clock ahead by hours,{soon}\n", encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"{path}:2: rejected: created_at: 9999-12-31T23:59:59Z is in the future",
        f"{path}:3: rejected: created_at: 0001-01-01T00:00:00Z is before 1990",
        f"{path}:4: rejected: created_at: 1989-12-31T23:59:59Z is before 1990",
        f"{path}: warning: 1 row dated after now (local times read as UTC? give --timezone, then import again "
        "with --update): stored, but spike detection leaves them out until that time (first on line 6)",
    ]
    assert _stored(tmp_path, "select external_id from mentions order by 1") == [("4",), ("5",)]


@pytest.mark.parametrize("option, value, message", [
    ("--source", "", "Error: --source: must not be empty"),
    ("--source", "   ", "Error: --source: must not be empty"),
    ("--watch", "bad name!", "Error: --watch: 'bad name!' is not a valid watch name"),
    ("--watch", "", "Error: --watch: '' is not a valid watch name"),
    ("--watch", "café", "Error: --watch: 'café' is not a valid watch name: 'é' is not allowed; use "
                        "1-64 ASCII letters (A-Z, a-z), digits, '_', '.' or '-', starting with a "
                        "letter or digit"),
])
def test_unusable_source_or_watch_is_one_mistake_and_stores_nothing(cli, tmp_path, option, value, message):
    path = tmp_path / "posts.csv"
    path.write_text("id,text,created_at\n1,hello,2024-01-01\n2,again,2024-01-02\n", encoding="utf-8")
    result = cli("import", path, option, value)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message)
    assert not (tmp_path / "mentionwatch.db").exists() or _stored(tmp_path) == [(0,)]


def test_watch_names_follow_the_watchlist_rule(cli, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("id,text,created_at\n1,hello,2024-01-01\n", encoding="utf-8")
    assert cli("import", path, "--watch", "acme.eu_2-x", "--watch", "B2").exit_code == 0
    assert sorted(_stored(tmp_path, "select watch from mention_watches")) == [("B2",), ("acme.eu_2-x",)]
    assert cli("import", path, "--watch", "-leading-dash").exit_code == 2
    assert cli("import", path, "--watch", "x" * 65).exit_code == 2


def test_reimport_with_a_new_watch_says_how_many_mentions_it_gained(cli, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("id,text,created_at\n1,hello,2024-01-01\n2,again,2024-01-02\n", encoding="utf-8")
    assert cli("import", path).stdout.strip() == f"{path}: 2 inserted, 0 already present, 0 rejected"
    path.write_text("id,text,created_at\n1,hello,2024-01-01\n2,again,2024-01-02\n"
                    "3,new one,2024-01-03\n", encoding="utf-8")
    linked = cli("import", path, "--watch", "acme")
    assert linked.stdout.strip() == (f"{path}: 1 inserted, 2 already present, 0 rejected; "
                                     "2 already-stored mentions added to watch acme")
    again = cli("import", path, "--watch", "acme")  # nothing new to link: nothing to say
    assert again.stdout.strip() == f"{path}: 0 inserted, 3 already present, 0 rejected"
    assert _stored(tmp_path, "select count(*) from mention_watches where watch = 'acme'") == [(3,)]


def test_an_optional_column_named_but_absent_is_refused_and_nothing_stored(cli, shared_file, tmp_path):
    tweets = shared_file("airline/Tweets.csv")
    result = cli("import", tweets, "--source", "twitter", "--watch", "united", "--id-col", "tweet_id",
                 "--text-col", "text", "--time-col", "tweet_created", "--author-col", "nme",
                 "--url-col", "nosuch")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(
        f"Error: {tweets}:1: missing columns nme (did you mean --author-col name?), nosuch "
        "(columns are: tweet_id,")
    assert not (tmp_path / "mentionwatch.db").exists()  # nothing stored: not even the new database is left


def test_optional_columns_left_at_their_default_may_be_absent(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,text,created_at\n1,fine,2024-01-01T10:00:00Z\n")
    assert cli("import", path).exit_code == 0  # no author, url, lang or author_reach column
    named = cli("import", path, "--lang-col", "lang")  # named on purpose: then it must be there
    assert named.exit_code == 2 and "missing column lang (columns are: id, text, created_at)" in named.stderr


def test_every_missing_column_gets_its_own_suggestion(cli, shared_file):
    tweets = shared_file("airline/Tweets.csv")
    result = cli("import", tweets, "--source", "twitter", "--watch", "airlines")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {tweets}:1: missing columns id (did you mean --id-col tweet_id?), created_at "
        "(did you mean --time-col tweet_created?) (columns are:")


def test_closest_column_prefers_a_whole_word_then_the_spelling():
    from mentionwatch.importer import closest_column

    header = ["tweet_id", "airline_sentiment_confidence", "name", "tweet_created", "Text"]
    assert closest_column("id", header) == "tweet_id"  # not ...confidence, where "id" is no word
    assert closest_column("text", header) == "Text"
    assert closest_column("created_at", header) == "tweet_created"
    assert closest_column("nme", header) == "name"
    assert closest_column("nosuch", header) is None


def test_a_text_longer_than_the_limit_is_stored_cut_and_the_import_says_so(tmp_path, cli):
    from storage.mentions import MAX_TEXT_CHARS

    csv = tmp_path / "long.csv"
    csv.write_text("id,text,created_at\n1," + "a" * (MAX_TEXT_CHARS + 50) + ",2025-03-01T10:00:00Z\n"
                   "2,short,2025-03-01T10:00:00Z\n", encoding="utf-8")
    result = cli("--db", str(tmp_path / "t.db"), "import", str(csv))
    assert result.exit_code == 0, result.output
    assert "2 inserted, 0 already present, 0 rejected, 1 text cut to 100,000 characters" in result.output


def test_excels_sep_line_says_the_separator(cli, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("sep=;\nid;text;created_at\n1;acme, again;2026-01-01T00:00:00Z\n", encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert "1 inserted" in result.stdout
    assert cli("search", "again").stdout.count("acme, again") == 1


def test_an_export_opening_with_lines_about_itself_is_read_from_its_column_names(cli, tmp_path):
    """Brandwatch-like: a title and the query before the header."""
    path = tmp_path / "export.csv"
    path.write_text("Brandwatch Consumer Research export\nQuery: acme,,\n"
                    "id,text,created_at\n1,acme is bad,2026-01-01T00:00:00Z\n2,acme is fine,2026-01-02T00:00:00Z\n",
                    encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert "2 inserted, 0 already present, 0 rejected" in result.stdout
    assert f"{path}: warning: the column names are on line 3: the 2 lines above them were skipped" \
        in result.stderr.splitlines()


def test_a_title_column_named_otherwise_is_read_with_title_col(cli, tmp_path):
    path = tmp_path / "news.csv"
    path.write_text("id,text,created_at,Headline\n1,the body,2026-01-01T00:00:00Z,Acme recalls its kettles\n",
                    encoding="utf-8")
    assert cli("import", path, "--title-col", "Headline").exit_code == 0
    import sqlite3

    assert sqlite3.connect(tmp_path / "mentionwatch.db").execute("SELECT title FROM mentions").fetchall() == [
        ("Acme recalls its kettles",)]
    missing = cli("import", path, "--title-col", "Heading", "--source", "other")
    assert missing.exit_code == 2 and "missing column Heading (did you mean --title-col Headline?)" in missing.stderr


def test_a_watch_name_nobody_knows_is_warned_about_with_the_close_one(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,text,created_at\n1,acme is bad,2026-01-01T00:00:00Z\n", encoding="utf-8")
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n",
                                                encoding="utf-8")
    assert cli("init").exit_code == 0
    typo = cli("import", path, "--watch", "acmee")
    assert typo.exit_code == 0
    assert ("Warning: --watch acmee is a new watch: neither the watchlist nor the database had one of that name "
            "(did you mean --watch acme?); its mentions are filed under it all the same") in typo.stderr.splitlines()
    known = cli("import", path, "--watch", "acme")
    assert known.exit_code == 0 and "Warning" not in known.stderr


def test_a_broken_jsonl_line_is_rejected_with_where_it_breaks(cli, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1, "text": "acme ok", "created_at": "2026-01-01T00:00:00Z"}\n'
                    '{"id": 2, "text": "acme\tbad", "created_at": "2026-01-01T00:00:00Z"}\n', encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 3
    assert f"{path}:2: rejected: invalid JSON: Invalid control character at column 24" in result.stderr.splitlines()


def test_column_names_below_lines_about_the_export_are_found_for_the_error_too(cli, tmp_path):
    """A title line with a quote in it, then names close to the ones asked for: the error names
    the line they are on and the close ones, and the `sep=` line gives way to --delimiter."""
    path = tmp_path / "export.csv"
    path.write_text('sep=;\n"Acme" mentions export, December 2026\nQuery Id,Full Text,Date\n1,acme bad,2026-01-01\n',
                    encoding="utf-8")
    result = cli("import", path, "--delimiter", ",", "--id-col", "Query Id", "--text-col", "Full text",
                 "--time-col", "Date")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {path}:3: missing column Full text (did you mean --text-col 'Full "
                                     "Text'?) (columns are: Query Id, Full Text, Date)")  # quoted, as typed
    one_line = tmp_path / "one.csv"
    one_line.write_text("Report\nid,text,created_at\n1,acme bad,2026-01-01\n", encoding="utf-8")
    read = cli("import", one_line)
    assert read.exit_code == 0 and "the 1 line above them was skipped" in read.stderr


def test_an_impossible_compact_date_is_said_to_be_no_date(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,text,created_at\n1,acme bad,20261301\n", encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 3
    assert (f"{path}:2: rejected: created_at: 20261301 is no date: read as YYYYMMDD, its month or day is out "
            "of range") in result.stderr.splitlines()


def test_an_entity_an_older_version_stored_twice_escaped_is_no_clash(cli, tmp_path):
    from storage import Mention, open_db, save_mentions

    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("import", "1", "Tom &amp;amp; Jerry", "2024-01-01T00:00:00Z")])
    db.close()
    path = tmp_path / "x.csv"
    path.write_text("id,text,created_at\n1,Tom &amp;amp; Jerry,2024-01-01T00:00:00Z\n", encoding="utf-8")
    again = cli("import", path)
    assert again.exit_code == 0 and "1 already present" in again.stdout and "warning" not in again.stderr
