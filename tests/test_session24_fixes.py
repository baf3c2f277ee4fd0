"""Fixes of the session of 2026-12-07 (the twenty-fourth), each from a review or the left-alone list."""
from __future__ import annotations

import sqlite3

import pytest


def test_two_capitalisations_of_an_optional_column_are_named_in_a_warning(cli, tmp_path):
    """'Author' and 'AUTHOR' in one header: neither was read, and nothing said so."""
    (tmp_path / "a.csv").write_text("id,text,created_at,Author,AUTHOR,URL\n1,acme late,2026-11-01 10:00,Ann,ann99,"
                                    "http://x/1\n", encoding="utf-8")
    result = cli("--db", "a.db", "import", "a.csv")
    assert result.exit_code == 0, result.output
    assert ("the columns 'Author' and 'AUTHOR' could each be the author column, so neither is read: "
            "name the one to import with --author-col") in result.output
    with sqlite3.connect(tmp_path / "a.db") as connection:
        assert connection.execute("SELECT author, url FROM mentions").fetchall() == [(None, "http://x/1")]
    chosen = cli("--db", "b.db", "import", "a.csv", "--author-col", "AUTHOR")
    assert "could each be" not in chosen.output
    with sqlite3.connect(tmp_path / "b.db") as connection:
        assert connection.execute("SELECT author FROM mentions").fetchall() == [("ann99",)]


@pytest.mark.parametrize("command", [("backtest", "--since", "", "--until", "2015-02-25"),
                                     ("backtest", "--since", "2015-02-20", "--until", " "),
                                     ("export", "--since", "", "--out", "x.csv"),
                                     ("report", "--until", "", "--out", "rep"),
                                     ("search", "late", "--since", "")])
def test_an_empty_time_is_a_mistake_not_an_open_period(cli, tmp_path, command):
    """`backtest --since "$START"` with START unset replayed nothing and said 'No alerts would have
    been raised' (exit 0); export, report and search read an empty time as no limit."""
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n")
    assert cli("init").exit_code == 0
    result = cli(*command)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --" in result.output and "empty (give a time such as 2015-02-20" in result.output
    assert "Traceback" not in result.output


def test_browse_refuses_an_empty_host_instead_of_listening_on_every_interface(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n")
    assert cli("init").exit_code == 0
    result = cli("browse", "--host", "", "--port", "8123")
    assert result.exit_code == 2
    assert result.output.startswith("Error: Invalid value for --host: empty (127.0.0.1 serves this computer only")


@pytest.mark.parametrize("setting, line", [("alerts:\n  warmup: 99999999999d\n", 5),
                                           ("alerts:\n  cooldown: 3000000d\n", 5),
                                           ("alerts:\n  thresholds:\n    - {count: 3, window: 100000000h}\n", 6)])
def test_a_duration_too_long_for_dates_is_one_line_about_the_watchlist(cli, tmp_path, setting, line):
    """A traceback (OverflowError) from detect, backtest or run, instead of a line about the setting."""
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n" + setting)
    result = cli("backtest", "--since", "2015-02-16", "--until", "2015-02-26")
    assert result.exit_code == 2, result.output
    assert f"mentionwatch.yaml:{line}:" in result.output and "is too long: at most 3650d (10 years)" in result.output
    assert "Traceback" not in result.output


def test_a_wrong_delimiter_blames_the_header_line_and_names_the_right_separator(cli, tmp_path):
    """`--delimiter ';'` on a comma file took a data line split by a ';' in its text for the header:
    'q.csv:2: missing columns ... (columns are: 50,"hello, united",2026-01-01)'."""
    (tmp_path / "q.csv").write_text('id,text,created_at\n50,"hello; united",2026-01-01\n', encoding="utf-8")
    result = cli("--db", "q.db", "import", "q.csv", "--delimiter", ";")
    assert result.exit_code == 2
    assert result.output.startswith("Error: q.csv:1: missing columns")
    assert "(--delimiter ',')" in result.output


def test_an_excel_sep_line_naming_a_tab_is_read_as_the_separator(cli, tmp_path):
    """'sep=<tab>' lost its tab to strip(): the line was taken for a title ('the column names are on line 2:
    the 1 line above them was skipped')."""
    (tmp_path / "t.csv").write_text("sep=\t\nid\ttext\tcreated_at\n1\tacme, late\t2026-03-05 10:00\n", encoding="utf-8")
    result = cli("--db", "t.db", "import", "t.csv")
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
    with sqlite3.connect(tmp_path / "t.db") as connection:
        assert connection.execute("SELECT text FROM mentions").fetchall() == [("acme, late",)]


def _pipe_import(cli, tmp_path, *command):
    """Run the command with a named pipe that a thread writes a small CSV into (a pipe from zcat)."""
    import os
    import threading

    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)

    def write():
        try:
            with open(fifo, "w", encoding="utf-8") as handle:  # blocks until a reader opens it, if ever
                handle.write("id,text,created_at\n1,acme late,2026-03-05 10:00\n")
        except OSError:
            pass
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = cli(*[str(fifo) if part == "PIPE" else part for part in command])
    if writer.is_alive():  # nothing opened the pipe: open it once, so the writer's thread ends
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    return result


@pytest.mark.parametrize("command", [("--db", "p.db", "import", "PIPE"),
                                     ("sentiment", "eval", "PIPE", "--text-col", "text", "--label-col", "label")])
def test_a_pipe_is_refused_in_one_line_instead_of_losing_its_header_or_hanging(cli, tmp_path, command):
    """`zcat x.csv.gz | import /dev/stdin` lost its first 64 KiB to the encoding sniff ('missing columns
    ... columns are: 568897315458691072, ...'), a short one read as empty, and a named pipe hung."""
    result = _pipe_import(cli, tmp_path, *command)
    assert result.exit_code == 2, result.output
    assert "p.csv: this is a pipe, not a file: save the data to a file first" in result.output


def test_standard_input_as_dash_is_named(cli, tmp_path):
    result = cli("--db", "d.db", "import", "-")
    assert result.exit_code == 2
    assert result.output.startswith("Error: -: standard input is not read: save the data to a file first")


@pytest.mark.parametrize("command, option", [(("--db", "", "stats"), "'--db'"),
                                             (("--config", "", "stats"), "'--config'"),
                                             (("backup", ""), "'FILE'")])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(cli, tmp_path, command, option):
    """`--db "$DB"` with DB unset said '.: is a folder, not a database file'; `backup ''` said '.: already
    exists (… --force …)', as if forcing it could help."""
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n")
    result = cli(*command)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}: empty (a file or folder name is needed)" in result.output


def test_restore_preview_of_the_database_itself_says_it_cannot_be_done(cli, tmp_path):
    """The preview said 'Would restore mw.db … run the same command with --yes', which then refused."""
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n")
    assert cli("init").exit_code == 0
    for command in (("restore", "mentionwatch.db"), ("restore", "mentionwatch.db", "--yes")):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert "mentionwatch.db: is the database itself: nothing to restore" in result.output


def test_forget_takes_an_id_written_as_the_tool_writes_it_and_words_a_bad_one_plainly(cli, tmp_path):
    from storage import Mention, open_db, save_mentions

    db = open_db(tmp_path / "f.db")
    save_mentions(db, [Mention("reddit", "x1", "acme is awful", "2026-03-02T10:00:00Z")])
    [mention_id] = db.execute("SELECT id FROM mentions").fetchone()
    db.close()
    preview = cli("--db", "f.db", "forget", f"#{mention_id}")
    assert preview.exit_code == 0, preview.output
    bad = cli("--db", "f.db", "forget", "abc")
    assert bad.exit_code == 2
    assert "'abc' is not a valid integer" in bad.output and "range" not in bad.output
    assert "is not in the range 1<=x<=" in cli("--db", "f.db", "forget", "0").output


def test_an_unset_variable_as_a_sources_interval_stops_only_the_commands_that_poll(cli, tmp_path, monkeypatch):
    """'interval: ${UNSET_I}' stopped stats, search and report ("not a duration: '${UNSET_I}'"), which
    run without the sources' variables; crawl and run, which poll, name the unset variable."""
    monkeypatch.delenv("MW_S24_UNSET_I", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text(
        "watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
        "      - type: hackernews\n        interval: ${MW_S24_UNSET_I}\n")
    assert cli("init").exit_code == 0
    for command in (("stats",), ("search", "acme")):
        result = cli(*command)
        assert result.exit_code == 0, result.output
    crawl = cli("crawl")
    assert crawl.exit_code == 2
    assert ("mentionwatch.yaml:6: watches[0].sources[0].interval: environment variable MW_S24_UNSET_I is not set"
            in crawl.output)


_CTRL_C_WHILE_LOADING = """
import importlib.abc, os, signal, sys

class CtrlCWhenTheCommandsLoad(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "mentionwatch.app":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlCWhenTheCommandsLoad())
sys.argv = ["mentionwatch", "stats"]
from mentionwatch.cli import main
main()
"""


def test_ctrl_c_while_the_commands_load_ends_with_one_line(tmp_path):
    """A Ctrl-C in the first half-second printed a KeyboardInterrupt traceback from the imports."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    done = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_LOADING], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "Interrupted."


def test_a_reader_that_stops_early_ends_every_command_as_export_does(tmp_path):
    """`search … | head -1` exited 1 (click's broken-pipe handling, 'a failure' in the README) where
    `export --out - | head -1` exits 141 as other Unix tools do."""
    import subprocess
    import sys

    from conftest import REPO_ROOT
    from storage import Mention, open_db, save_mentions

    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n")
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("reddit", str(n), f"acme post {n} " + "x" * 200, "2026-03-02T10:00:00Z",
                               watches=("acme",)) for n in range(3000)])
    db.close()
    command = (f"{sys.executable} -m mentionwatch search acme --limit 3000 | head -c 10 > /dev/null; "
               "exit ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 141, done.stderr
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


def test_a_file_in_the_other_format_than_its_name_says_is_named_in_one_line(cli, tmp_path):
    """JSON Lines named .csv got "did you mean --id-col '{"id": 1'?"; a CSV named .jsonl rejected
    every row as invalid JSON (exit 3)."""
    (tmp_path / "j.csv").write_text('{"id": 1, "text": "acme late", "created_at": "2026-03-01T10:00:00Z"}\n',
                                    encoding="utf-8")
    as_csv = cli("--db", "j.db", "import", "j.csv")
    assert as_csv.exit_code == 2
    assert as_csv.output.strip() == ("Error: j.csv:1: this line is a JSON object, not column names: the file looks "
                                     "like JSON Lines; name it j.jsonl")
    (tmp_path / "c.jsonl").write_text("id,text,created_at\n1,acme late,2026-03-01 10:00\n", encoding="utf-8")
    as_jsonl = cli("--db", "c.db", "import", "c.jsonl")
    assert as_jsonl.exit_code == 2
    assert as_jsonl.output.strip() == ("Error: c.jsonl:1: this line names the columns of a table, not a JSON "
                                       "object: the file looks like CSV; name it c.csv")


def test_sentiment_eval_with_the_wrong_delimiter_names_the_right_one(cli, tmp_path):
    (tmp_path / "l.csv").write_text("text,label\nacme is late,negative\n", encoding="utf-8")
    result = cli("sentiment", "eval", "l.csv", "--text-col", "text", "--label-col", "label", "--delimiter", ";")
    assert result.exit_code == 2
    assert "l.csv:1: no column 'text': is the file separated by ','? (--delimiter ',')" in result.output


def test_an_erasure_counts_only_what_it_erased_when_another_took_some_meanwhile(tmp_path, monkeypatch):
    """The last, write-locked pass no longer selects from the whole table again (seconds under the
    lock on a big database): it takes the first pass's rest and what was stored since; each batch
    counts what it erased, not what another erasure took meanwhile (a middle batch overcounted)."""
    import contextlib

    import storage.erasure
    from storage import Mention, open_db, save_mentions
    from storage.erasure import Selection, erase

    monkeypatch.setattr(storage.erasure, "ERASE_BATCH", 3)
    db = open_db(tmp_path / "e.db")
    save_mentions(db, [Mention("reddit", f"p{n}", "acme", "2025-03-01T10:00:00Z", author="Jane") for n in range(7)]
                  + [Mention("reddit", "other", "acme", "2025-03-01T10:00:00Z", author="bob")])
    transaction, committed = db.atomic, []

    @contextlib.contextmanager
    def then_others_write():
        with transaction():
            yield db
        committed.append(True)
        if len(committed) == 1:  # after the first batch: another erasure takes p4 (of the second batch)
            other = open_db(tmp_path / "e.db")  # and p6 (of the last), and a collector stores one
            other.execute("DELETE FROM mentions WHERE external_id IN ('p4', 'p6')")
            other.conn.commit()
            save_mentions(other, [Mention("reddit", "late", "acme", "2025-03-02T10:00:00Z", author="＠ＪＡＮＥ")])
            other.close()

    monkeypatch.setattr(db, "atomic", then_others_write)
    done = erase(db, Selection(author="jane"), what="x", actor="t")
    monkeypatch.setattr(db, "atomic", transaction)
    assert len(done.plan.mention_ids) == 6  # p0-p3, p5 and the late one, full-width '＠ＪＡＮＥ' folded as 'jane'
    assert db.execute("SELECT external_id FROM mentions").fetchall() == [("other",)]
    assert db.execute("SELECT mentions FROM erasures").fetchone()[0] == 6
    db.close()


def test_a_warmup_too_long_for_any_keep_mentions_says_what_to_change():
    """'keep at least 3657d', which the parser refuses as longer than 3650d."""
    from mentionwatch.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"more than the longest duration \(3650d\): shorten the warm-up, or "
                                          r"leave keep_mentions out"):
        parse_config("alerts: {warmup: 3650d}\nservice: {keep_mentions: 3650d}\nwatches: []\n")
    with pytest.raises(ConfigError, match="keep at least 37d"):
        parse_config("alerts: {warmup: 30d}\nservice: {keep_mentions: 30d}\nwatches: []\n")


def test_import_without_update_also_names_a_stored_mention_whose_row_an_erasure_keeps_out(cli, tmp_path):
    """Without --update the summary said '1 not stored (erased before and kept out …)', suggesting
    the post was gone while a mention with its id stayed stored, and the id was not named."""
    (tmp_path / "a.csv").write_text("id,text,created_at,author\n2,awful delay,2026-11-04T11:00:00Z,carl\n",
                                    encoding="utf-8")
    assert cli("--db", "f.db", "import", "a.csv").exit_code == 0
    assert cli("--db", "f.db", "forget", "--author", "bob", "--source", "import", "--yes").exit_code == 0
    (tmp_path / "b.csv").write_text("id,text,created_at,author\n2,awful delay,2026-11-04T11:00:00Z,bob\n",
                                    encoding="utf-8")
    result = cli("--db", "f.db", "import", "b.csv")
    assert ("b.csv: warning: 1 row(s) fall under an erasure (mentionwatch forget) while a mention with their id "
            "is stored, which was left as it is (ids ") in result.output


def test_a_command_started_with_ctrl_c_ignored_keeps_it_ignored(tmp_path):
    """A job a script starts in the background (SIGINT ignored) stopped on a Ctrl-C meant for the
    script: the loading handler replaced 'ignored' with Python's default."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    script = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nimport mentionwatch.cli\n"
              "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.stdout.strip() == "True", done.stderr


def test_a_mention_stored_between_reading_the_highest_id_and_the_first_pass_is_erased_once(tmp_path, monkeypatch):
    """It was in the first pass and among those stored since: twice in the last batch, which failed
    with 'UNIQUE constraint failed: erasing.id' after the earlier batches had committed."""
    import storage.erasure
    from storage import Mention, open_db, save_mentions
    from storage.erasure import Selection, erase

    db = open_db(tmp_path / "e.db")
    save_mentions(db, [Mention("reddit", "p0", "acme", "2025-03-01T10:00:00Z", author="jane")])
    real_selected = storage.erasure._selected_ids
    calls = []

    def a_collector_writes_first(db_, selection, above_id=0):
        calls.append(above_id)
        if len(calls) == 1:
            save_mentions(db_, [Mention("reddit", "p1", "acme", "2025-03-01T11:00:00Z", author="jane")])
        return real_selected(db_, selection, above_id)

    monkeypatch.setattr(storage.erasure, "_selected_ids", a_collector_writes_first)
    done = erase(db, Selection(author="jane"), what="x", actor="t")
    assert len(done.plan.mention_ids) == 2
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 0
    db.close()


def test_a_set_variable_whose_value_holds_a_reference_is_no_interval_for_the_service(tmp_path, monkeypatch):
    """`interval: ${MWX}` with MWX='${FAST}' (an env file a tool did not expand): `run` polled every
    15 minutes without a word; only a reference kept because its variable is unset reads as the default."""
    from mentionwatch.config import KEEP_UNSET_IN_SOURCES, KEEP_UNSET_IN_URLS, ConfigError, load_config

    monkeypatch.setenv("MW_S24_LITERAL", "${FAST}")
    monkeypatch.delenv("MW_S24_UNSET", raising=False)
    path = tmp_path / "w.yaml"
    path.write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
                    "      - type: hackernews\n        interval: ${MW_S24_LITERAL}\n")
    for keep in (KEEP_UNSET_IN_URLS, KEEP_UNSET_IN_SOURCES):
        with pytest.raises(ConfigError, match="interval: not a duration"):
            load_config(path, keep_unset_env=keep)
    path.write_text(path.read_text().replace("MW_S24_LITERAL", "MW_S24_UNSET"))
    assert load_config(path, keep_unset_env=KEEP_UNSET_IN_SOURCES).watches[0].sources[0].interval == 900.0


def test_a_service_started_with_ctrl_c_ignored_keeps_it_ignored(tmp_path):
    """`mentionwatch run &` from a script stopped on a Ctrl-C meant for the script: the service set its
    own SIGINT handler over the ignored one (SIGTERM still stops it)."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    script = ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nfrom scheduler import Service\n"
              "Service._install_signal_handlers(Service.__new__(Service))\n"
              "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM).__name__)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.stdout.strip() == "True on_stop", done.stderr


def test_the_full_text_index_outlives_a_thousand_erasures(tmp_path):
    """FTS5's 'optimize' after each erasure added a level to the index whenever mentions had been
    stored since the last one; at about 1,100 erasures (three years of daily retention) every search
    and every store failed with 'database disk image is malformed'. The index is now rebuilt when its
    levels pass FULL_TEXT_LEVELS_BEFORE_REBUILD."""
    from storage import Mention, open_db, save_mentions
    from storage.erasure import FULL_TEXT_LEVELS_BEFORE_REBUILD, Selection, erase, full_text_levels

    db = open_db(tmp_path / "long.db")
    most_levels = 0
    for day in range(1_250):
        save_mentions(db, [Mention("reddit", f"p{day}-{k}", f"acme post {day} {k}", "2026-03-01T10:00:00Z")
                           for k in range(3)])
        [oldest] = db.execute("SELECT min(id) FROM mentions").fetchone()
        erase(db, Selection(mention_ids=(oldest,)), what="retention", actor="t")
        most_levels = max(most_levels, full_text_levels(db))
    assert 2 < most_levels <= FULL_TEXT_LEVELS_BEFORE_REBUILD + 2  # it grew, and was rebuilt in time
    stored = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    assert db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'acme'").fetchone()[0] == stored
    db.close()
