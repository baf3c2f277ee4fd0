"""`mentionwatch import`: real airline tweets, broken rows, JSONL, and a process killed mid-import."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

AIRLINE_ARGS = ("--source", "twitter", "--watch", "airlines", "--id-col", "tweet_id",
                "--text-col", "text", "--time-col", "tweet_created", "--author-col", "name")


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
    assert cli("search", 'unbalanced "quote').exit_code == 0


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
