"""What a first-time user's walkthrough (third) found: a watchlist mistake or an unset webhook
variable must not lock the alert inbox during an incident."""
from __future__ import annotations

from storage import Mention, open_db, save_mentions

WATCHLIST = """\
database: m.db
{extra}
watches:
  - name: acme
    query: {{any: [acme]}}
"""


def _setup(tmp_path, extra: str) -> None:
    (tmp_path / "mentionwatch.yaml").write_text(WATCHLIST.format(extra=extra), encoding="utf-8")
    db = open_db(tmp_path / "m.db")
    save_mentions(db, [Mention("reddit", "p1", "acme is down", "2025-03-01T10:00:00Z", watches=("acme",))])
    db.close()


def test_a_mistake_elsewhere_in_the_watchlist_does_not_lock_stats_and_the_alert_inbox(cli, tmp_path):
    _setup(tmp_path, "alerts:\n  min_cont: 5")
    for command in (["stats"], ["alerts", "list"], ["search", "acme"]):
        result = cli(*command)
        if command[0] == "search":  # reads the watches: refused, one line
            assert result.exit_code == 2 and "min_cont" in result.stderr
            continue
        assert result.exit_code == 0, result.output
        warning = result.stderr.strip().splitlines()
        assert len(warning) == 1 and warning[0].startswith("Warning: mentionwatch.yaml:3: alerts.min_cont")
    assert "1" in cli("stats").stdout  # the stored mention is counted from m.db beside the watchlist


def test_with_db_given_a_mistake_in_the_watchlist_it_reads_is_still_said(cli, tmp_path, monkeypatch):
    """Walkthrough 15: with --db or MENTIONWATCH_DB, `stats` went on without a word and blamed the
    model ('the configured sentiment model is unknown')."""
    _setup(tmp_path, "alerts:\n  min_cont: 5")
    for given in (["--db", tmp_path / "m.db"], []):
        if not given:
            monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "m.db"))
        result = cli(*given, "stats")
        assert result.exit_code == 0, result.output
        assert result.stderr.strip().splitlines() == [
            "Warning: mentionwatch.yaml:3: alerts.min_cont: unknown setting 'min_cont' (did you mean 'min_count'?) (the "
            "watchlist was not used; mend the file before the commands that need the rest)"]


def test_an_unset_webhook_variable_stops_only_that_target(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_TEST_HOOK", raising=False)
    _setup(tmp_path, "notifications:\n  - name: team\n    url: ${MW_TEST_HOOK}")
    for command in (["alerts", "list"], ["search", "acme"], ["stats"], ["detect"]):
        result = cli(*command)
        assert result.exit_code == 0 and "MW_TEST_HOOK" not in result.stderr, (command, result.output)
    status = cli("status")
    assert "notification 'team': no URL: environment variable MW_TEST_HOOK (in its url) is not set" \
        in status.output
    tested = cli("notify", "test")
    assert tested.exit_code == 1
    assert "  team: no URL: environment variable MW_TEST_HOOK (in its url) is not set" in tested.stdout.splitlines()


def test_a_yaml_syntax_error_says_where_to_look(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text("watches:\n  - name: acme\n     query: x\n", encoding="utf-8")
    result = cli("stats")
    assert result.exit_code == 2
    assert "check this line's indentation" in result.stderr


def test_backtest_and_detect_refuse_a_bare_year_as_export_does(cli, tmp_path):
    _setup(tmp_path, "")
    result = cli("detect", "--at", "20150225")  # a compact date, as written (it was Unix seconds of 1970)
    assert result.exit_code == 0, result.output
    result = cli("detect", "--at", "20151")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: Invalid value for --at: '20151' is read as 1970-01-01T05:35:51Z, before any "
        "mention can be dated: write a date such as 2015-02-20"]
    # backtest reads its period as export does, in export's words
    for command in (["backtest", "--since", "2015", "--until", "2015-02-25"],
                    ["export", "--since", "2015", "--until", "2015-02-25", "--out", "x.csv"]):
        result = cli(*command)
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            "Error: Invalid value for --since: '2015' is read as Unix seconds, 1970-01-01T00:33:35Z, "
            "before any mention can be dated: write a date such as 2015-02-20 (or 7d)"]


def test_a_command_run_outside_the_watchlists_folder_says_so(cli, tmp_path):
    result = cli("alerts", "list")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: mentionwatch.db: no such database, and no mentionwatch.yaml in {tmp_path}: run the command "
        "in your watchlist's folder, or give --config (run 'mentionwatch init' only to start a new watchlist here)"]
    assert not (tmp_path / "mentionwatch.db").exists()


def test_config_after_the_command_says_where_it_goes(cli, tmp_path):
    result = cli("crawl", "--config", "mentionwatch.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --config goes before the command: mentionwatch --config FILE crawl ..."
    verbose = cli("stats", "-v")
    assert verbose.exit_code == 2
    assert verbose.stderr.strip() == "Error: -v goes before the command: mentionwatch -v stats ..."


def test_a_misspelt_required_key_is_named_as_unknown_with_a_suggestion(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(
        "watches:\n  - name: acme\n    querry: {any: [acme]}\n", encoding="utf-8")
    result = cli("detect")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("Error: mentionwatch.yaml:3: watches[0].querry: unknown setting 'querry'")
    assert "did you mean 'query'" in line and "(and 1 more problem)" in line


def test_a_second_file_numbered_like_the_first_is_warned_about(cli, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,text,created_at\n1,acme refund please,2024-01-01T00:00:00Z\n"
                     "2,acme again,2024-01-01T00:00:00Z\n", encoding="utf-8")
    second.write_text("id,text,created_at\n1,a different acme post,2024-01-02T00:00:00Z\n"
                      "2,acme again,2024-01-01T00:00:00Z\n", encoding="utf-8")
    assert cli("import", first).exit_code == 0
    again = cli("import", first)  # the same file again: nothing to warn about
    assert again.exit_code == 0 and "warning" not in again.stderr
    result = cli("import", second)
    assert result.exit_code == 0
    assert "0 inserted, 2 already present" in result.stdout
    assert result.stderr.strip() == (
        f"{second}: warning: 1 row had the id of a stored import mention with another text, "
        "and was not stored: if the file is a newer export of the same posts, run it again with --update; "
        "a file that numbers its rows as another one did needs its own --source")


def test_an_alert_id_is_taken_as_the_tool_writes_it(cli, tmp_path):
    _setup(tmp_path, "")
    for written in ("#7", "7"):
        result = cli("alerts", "show", written)
        assert result.exit_code == 2 and result.stderr.strip() == "Error: no alert with id 7"
    assert "is not an alert id" in cli("alerts", "show", "x7").stderr


def test_import_refuses_a_watch_that_differs_from_one_only_in_capitals(cli, tmp_path):
    _setup(tmp_path, "")
    posts = tmp_path / "p.csv"
    posts.write_text("id,text,created_at\n9,acme again,2024-01-01T00:00:00Z\n", encoding="utf-8")
    result = cli("import", posts, "--watch", "Acme")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: --watch Acme: there is a watch named 'acme' (names that differ "
                                     "only in capitals would be two watches): use --watch acme")
    assert cli("import", posts, "--watch", "acme").exit_code == 0


def test_search_since_after_every_stored_mention_says_how_old_they_are(cli, tmp_path):
    _setup(tmp_path, "")
    result = cli("search", "acme", "--since", "7d")
    assert result.exit_code == 0
    found, hint = result.stderr.strip().splitlines()
    assert found == "0 mentions found"
    assert hint.startswith("hint: the newest stored mention is from 2025-03-01T10:00:00Z, before --since 20")
    assert "hint" not in cli("search", "nothinglikethis").stderr


def test_status_says_the_database_variable_it_lacks(cli, tmp_path, monkeypatch):
    """Walkthrough 15: `database: ${NODB}/x.db` with NODB unset gave 'no such database' for a path
    holding '${NODB}' literally."""
    monkeypatch.delenv("MW_TEST_NODB", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text("database: ${MW_TEST_NODB}/x.db\nwatches: []\n", encoding="utf-8")
    for extra in ([], ["--json"]):
        result = cli("status", *extra)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            "Error: mentionwatch.yaml: database: environment variable MW_TEST_NODB is not set in this shell "
            "(status needs it to find the database; or give --db)")


def test_init_with_db_writes_that_database_into_the_starter(cli, tmp_path, monkeypatch):
    """Walkthrough 15: `init --db other.db` made other.db but wrote `database: mentionwatch.db`, so
    the commands after it (without --db) said 'no such database'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert cli("--db", "data/other.db", "init").exit_code == 0
    assert "\ndatabase: data/other.db\n" in (tmp_path / "mentionwatch.yaml").read_text(encoding="utf-8")
    stats = cli("stats")
    assert stats.exit_code == 0, stats.output
    assert stats.stdout.startswith(f"Database: {tmp_path / 'data' / 'other.db'}")


def test_init_with_db_names_only_a_database_the_watchlist_can_hold(cli, tmp_path, monkeypatch):
    """Sixth review: 'data/ünï😀.db' was written as JSON escapes YAML reads as lone surrogates,
    'my$file.db' as a variable reference every command then refused, and a folder given with --db
    was written into the watchlist before init refused it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert cli("--db", "data/ünï😀.db", "init").exit_code == 0
    assert cli("stats").stdout.startswith(f"Database: {tmp_path / 'data' / 'ünï😀.db'}")
    (tmp_path / "mentionwatch.yaml").unlink()
    assert cli("--db", "data/a\x85b.db", "init").exit_code == 0  # YAML reads a raw NEL as a line break
    assert cli("stats").stdout.startswith("Database: " + str(tmp_path / "data" / "a\x85b.db"))
    (tmp_path / "mentionwatch.yaml").unlink()
    dollar = cli("--db", "data/my$file.db", "init")
    assert dollar.exit_code == 0 and "a watchlist cannot name a path with '$' in it" in dollar.stderr
    assert cli("stats").exit_code == 2  # the default it names is not there: nothing named wrongly
    (tmp_path / "mentionwatch.yaml").unlink()
    assert cli("--db", "data", "init").exit_code == 2
    assert not (tmp_path / "mentionwatch.yaml").exists()
    assert cli("--db", "data/first.db", "init").exit_code == 0
    again = cli("--db", "data/second.db", "init")
    assert "Note: mentionwatch.yaml names the database" in again.stderr and "give --db data/second.db" in again.stderr


def test_score_with_nothing_stored_says_so(cli, tmp_path, monkeypatch):
    """Walkthrough 15: it said 'every mention has a score' of an empty database."""
    monkeypatch.chdir(tmp_path)
    assert cli("init").exit_code == 0
    assert cli("score").stdout.strip() == "Nothing to score: no mention is stored yet (crawl or import some first)."


def test_status_finds_the_unset_database_variable_beside_another_mistake(cli, tmp_path, monkeypatch):
    """Sixth review: with another mistake in the file, status fell back to mentionwatch.db beside it
    (and reported that one, empty, when it was there); and a variable whose value holds '${Q}' was
    taken for an unset Q."""
    monkeypatch.delenv("MW_TEST_NODB", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text("database: ${MW_TEST_NODB}/x.db\nalerts:\n  min_cont: 5\n"
                                                "watches: []\n", encoding="utf-8")
    open_db(tmp_path / "mentionwatch.db").close()
    result = cli("status")
    assert result.exit_code == 2 and "environment variable MW_TEST_NODB is not set" in result.stderr
    (tmp_path / "lit${Q}").mkdir()
    open_db(tmp_path / "lit${Q}" / "x.db").close()
    monkeypatch.setenv("MW_TEST_NODB", str(tmp_path / "lit${Q}"))
    (tmp_path / "mentionwatch.yaml").write_text("database: ${MW_TEST_NODB}/x.db\nwatches: []\n", encoding="utf-8")
    found = cli("status")
    assert found.exit_code == 0, found.output


def test_the_watchlist_warning_comes_with_a_named_missing_file_and_an_own_exit_code(cli, tmp_path):
    """Sixth review: `--config nope.yaml --db m.db stats` went on silently, and the warning was lost
    when a command ended with its own exit code (import with a rejected row: 3)."""
    _setup(tmp_path, "")
    named = cli("--config", tmp_path / "nope.yaml", "--db", tmp_path / "m.db", "stats")
    assert named.exit_code == 0 and "nope.yaml: no such file" in named.stderr and "Warning:" in named.stderr
    assert "mend the file" not in named.stderr  # there is no file to mend
    assert named.stderr.rstrip().endswith("(the watchlist was not used)")
    _setup(tmp_path, "alerts:\n  min_cont: 5")
    (tmp_path / "rows.csv").write_text("id,text,created_at\nr1,acme,2025-03-02T10:00:00Z\nr2,acme,not a date\n",
                                       encoding="utf-8")
    imported = cli("import", tmp_path / "rows.csv", "--watch", "acme")
    assert imported.exit_code == 3, imported.output
    assert "Warning: mentionwatch.yaml:3: alerts.min_cont" in imported.stderr


def test_status_finds_an_unset_database_variable_however_the_yaml_writes_it(cli, tmp_path, monkeypatch):
    """Seventh review: the line-by-line reading missed a value on the next line and a JSON-style file."""
    monkeypatch.delenv("MW_TEST_NODB", raising=False)
    for text in ("database:\n  ${MW_TEST_NODB}/x.db\nwatches: []\n", '{"database": "${MW_TEST_NODB}/x.db", "watches": []}\n'):
        (tmp_path / "mentionwatch.yaml").write_text(text, encoding="utf-8")
        result = cli("status")
        assert result.exit_code == 2 and "environment variable MW_TEST_NODB is not set" in result.stderr, text


def test_init_with_db_beside_a_watchlist_with_a_mistake_still_says_which_database_it_names(cli, tmp_path, monkeypatch):
    """Seventh review: the mistake elsewhere in the file hid the note, and a warning said 'the
    watchlist was not used' of init."""
    monkeypatch.chdir(tmp_path)
    assert cli("init").exit_code == 0
    watchlist = tmp_path / "mentionwatch.yaml"
    watchlist.write_text(watchlist.read_text(encoding="utf-8").replace("sensitivity: 0.5", "sensitivity: off"),
                         encoding="utf-8")
    again = cli("--db", "a $x.db", "init")
    assert again.exit_code == 0, again.output
    assert "Warning" not in again.stderr
    assert "Note: mentionwatch.yaml names the database" in again.stderr and "give --db 'a $x.db'" in again.stderr
