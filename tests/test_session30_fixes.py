"""Defects found by the session-30 reviews (configuration, …), each pinned by a test."""
from __future__ import annotations

import pytest

from crawler.cursors import cursor_key, older_cursor_keys
from crawler.source_types import settings_key, source_label
from mentionwatch.config import ConfigError, database_setting, load_config, url_in_file

WATCH = "watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"


def _write(tmp_path, text: str, name: str = "w.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- notification URL files --------------------------------------------------------------------

def test_a_url_files_comment_lines_are_no_targets(tmp_path):
    url_file = tmp_path / "team.url"
    url_file.write_text("json://127.0.0.1:9/hook/current\n# old: json://127.0.0.1:9/hook/old\n\n")
    config = load_config(_write(tmp_path, "notifications:\n  - name: team\n    url_file: team.url\n"))
    assert config.notifications[0].resolve_url() == "json://127.0.0.1:9/hook/current"
    # two URL lines stay two (refused when sent: one target each)
    assert url_in_file("  json://a\r\n#x\r\njson://b\r\n") == "json://a\njson://b"
    assert url_in_file("# only a comment\n\n") == ""


@pytest.mark.parametrize("written", ['""', '"."', "..", '"  "'])
def test_a_url_file_naming_a_folder_or_nothing_is_refused_when_read(tmp_path, written):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, f"notifications:\n  - name: team\n    url_file: {written}\n"))
    assert str(caught.value).startswith(f"{tmp_path / 'w.yaml'}:3: notifications[0].url_file: url_file takes "
                                        "the path of a file that holds the URL")


def test_home_folder_paths_are_expanded_for_the_database_and_url_files(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / "team.url").write_text("json://127.0.0.1:9/hook\n")
    path = _write(tmp_path, "database: ~/mw.db\nnotifications:\n  - name: team\n    url_file: ~/team.url\n")
    config = load_config(path)
    assert config.database == home / "mw.db"
    assert config.notifications[0].url_file == home / "team.url"
    assert config.notifications[0].resolve_url() == "json://127.0.0.1:9/hook"
    assert database_setting(path) == home / "mw.db"


# --- ${VAR} in settings ----------------------------------------------------------------------------

FEEDS = (WATCH + "      - type: rss\n        options:\n          urls: ['https://news.example/feed?key=${FEEDKEY}']\n"
         "      - type: rss\n        options:\n          urls: ['https://news.example/other.xml']\n")


def test_a_secret_in_a_sources_options_does_not_change_its_key_or_label(tmp_path, monkeypatch):
    path = _write(tmp_path, FEEDS)
    monkeypatch.setenv("FEEDKEY", "sekrit-abcdef-123")
    first = load_config(path).watches[0]
    monkeypatch.setenv("FEEDKEY", "rotated-xyz-987")
    rotated = load_config(path).watches[0]
    monkeypatch.delenv("FEEDKEY")
    unset = load_config(path, keep_unset_env=True).watches[0]  # status, run without the secrets
    labels = {source_label(watch, watch.sources[0]) for watch in (first, rotated, unset)}
    assert len(labels) == 1 and labels.pop().startswith("rss#")
    assert cursor_key(first.sources[0]) == cursor_key(rotated.sources[0]) == cursor_key(unset.sources[0])
    assert first.sources[0].options["urls"] == ["https://news.example/feed?key=sekrit-abcdef-123"]
    # the other source, with nothing read from a variable, keeps the key it always had
    other = first.sources[1]
    assert other.written_options is other.options


def test_cursors_kept_under_the_key_with_the_secret_filled_in_are_found(tmp_path, monkeypatch):
    """Earlier versions keyed the source by its options with the secret filled in."""
    from types import SimpleNamespace

    monkeypatch.setenv("FEEDKEY", "sekrit-abcdef-123")
    source = load_config(_write(tmp_path, FEEDS)).watches[0].sources[0]
    as_before = SimpleNamespace(type=source.type, base_url=source.base_url, written_base_url=source.written_base_url,
                                options=source.options, written_options=source.options)
    assert cursor_key(as_before) != cursor_key(source)
    assert cursor_key(as_before) in older_cursor_keys(source)
    assert settings_key(as_before) != settings_key(source)


def test_a_number_or_flag_read_whole_from_a_variable_takes_its_type(tmp_path, monkeypatch):
    monkeypatch.setenv("MC", "7")
    monkeypatch.setenv("RULE_COUNT", "20")
    monkeypatch.setenv("MQ", "false")
    monkeypatch.setenv("QUERY", "2024")  # text settings keep the variable's text
    text = ("alerts:\n  min_count: ${MC}\n  thresholds:\n    - count: ${RULE_COUNT}\n"
            + WATCH.replace("{any: [acme]}", '{any: ["${QUERY}"]}')
            + "      - type: hackernews\n        options: {match_query: \"${MQ}\"}\n")
    config = load_config(_write(tmp_path, text))
    assert config.alerts.min_count == 7 and config.alerts.thresholds[0].count == 20
    assert config.watches[0].sources[0].options["match_query"] is False
    assert config.watches[0].query.any == ["2024"]


def test_an_error_line_keeps_the_files_own_path_when_a_variable_names_its_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA", str(tmp_path))
    monkeypatch.setenv("MQ", "maybe")
    path = _write(tmp_path, "database: ${DATA}/x.db\n" + WATCH
                  + "      - type: hackernews\n        options:\n          match_query: ${MQ}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}:8: watches[0].sources[0].options.match_query: expected true or false, "
                                 "got '${MQ}'")


def test_a_variable_inside_braces_unquoted_gets_a_hint_to_quote_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "alerts: {min_count: ${MC}}\n"))
    assert str(caught.value).endswith('(inside { } or [ ] a ${VARIABLE} must be quoted: "${VARIABLE}")')


def test_a_doubled_dollar_writes_a_literal_reference(tmp_path, monkeypatch):
    monkeypatch.delenv("jndi", raising=False)
    text = WATCH.replace("{any: [acme]}", "\n      phrases: ['$${jndi:ldap', 'x $${jndi} y']") + "      - type: hackernews\n"
    config = load_config(_write(tmp_path, text))
    assert config.watches[0].query.phrases == ["${jndi:ldap", "x ${jndi} y"]


# --- alert overrides, spider sources, the sentiment model --------------------------------------

def test_an_empty_thresholds_under_a_watch_is_refused_and_an_empty_list_means_none(tmp_path):
    top = "alerts:\n  thresholds: [{count: 20, window: 1h}]\n"
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, top + WATCH + "      - type: hackernews\n    alerts:\n      thresholds:\n"))
    assert str(caught.value) == (f"{tmp_path / 'w.yaml'}:9: watches[0].alerts.thresholds: is empty: write "
                                 "thresholds: [] for no threshold rules on this watch, or leave it out to use "
                                 "the global ones")
    config = load_config(_write(tmp_path, top + WATCH + "      - type: hackernews\n    alerts:\n      thresholds: []\n"))
    assert config.alert_settings("acme").thresholds == []
    config = load_config(_write(tmp_path, top + WATCH + "      - type: hackernews\n    alerts:\n      min_count: 9\n"))
    assert [rule.count for rule in config.alert_settings("acme").thresholds] == [20]


def test_an_empty_sentiment_model_is_refused_when_read(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "sentiment:\n  model: ''\n"))
    assert str(caught.value) == (f"{tmp_path / 'w.yaml'}:2: sentiment.model: is empty: write builtin, a Hugging "
                                 "Face model id or a model folder, or leave it out")


def test_reddit_oauth_pair_is_sent_without_a_windows_line_ending(monkeypatch):
    from crawler.pollers import reddit

    monkeypatch.setenv(reddit.CLIENT_ID_ENV, "myid123\r")
    monkeypatch.setenv(reddit.CLIENT_SECRET_ENV, " mysecret456\r\n")
    assert reddit._credential(reddit.CLIENT_ID_ENV) == "myid123"
    assert reddit._credential(reddit.CLIENT_SECRET_ENV) == "mysecret456"


# --- the stored data (storage review) -----------------------------------------------------------

def _database_with_mentions(tmp_path, count: int = 3):
    from storage import Mention, open_db, save_mentions

    db_path = tmp_path / "mw.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", f"p{i}", f"acme post {i} changed", "2025-03-01T10:00:00Z",
                               author=f"a{i}", url=f"https://example.org/{i}") for i in range(1, count + 1)])
    db.close()
    return db_path


def _database_with_an_alert(tmp_path):
    """A database with three mentions and one open alert (#1); its path and an open connection."""
    from storage import open_db

    db_path = _database_with_mentions(tmp_path)
    db = open_db(db_path)
    db.conn.execute("INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, opened_at, "
                    "updated_at) VALUES ('acme', 'spike', 'open', 'high', '2025-03-01T09:00:00Z', "
                    "'2025-03-01T10:00:00Z', '2025-03-01T10:00:00Z', '2025-03-01T10:00:00Z')")
    db.conn.commit()
    return db_path, db


def _stored(db_path) -> int:
    from storage import open_db

    return open_db(db_path).execute("SELECT count(*) FROM mentions").fetchone()[0]


@pytest.mark.parametrize("out", ["mw.db", "mw.db-wal", "link.csv"])
def test_export_over_the_database_or_its_files_is_refused(tmp_path, cli, out):
    db_path = _database_with_mentions(tmp_path)
    (tmp_path / "link.csv").symlink_to(db_path)
    before = db_path.read_bytes()
    result = cli("--db", db_path, "export", "--out", tmp_path / out)
    assert result.exit_code == 2
    assert "is the database itself (or one of its files): give the export another name" in result.output
    assert db_path.read_bytes() == before and _stored(db_path) == 3


def test_backup_into_the_databases_wal_file_is_refused(tmp_path, cli):
    db_path = _database_with_mentions(tmp_path)
    result = cli("--db", db_path, "backup", f"{db_path}-wal")
    assert result.exit_code == 2 and "is one of the database's own files" in result.output
    assert not (tmp_path / "mw.db-wal").exists() or (tmp_path / "mw.db-wal").stat().st_size == 0


def test_rename_on_a_database_that_does_not_exist_creates_none(tmp_path, cli):
    (tmp_path / "w.yaml").write_text("watches:\n  - name: b\n    query: {any: [b]}\n")
    result = cli("--db", tmp_path / "nodir" / "typo.db", "--config", tmp_path / "w.yaml", "rename", "a", "b")
    assert result.exit_code == 2 and "no such database" in result.output
    assert not (tmp_path / "nodir").exists()


def test_importing_a_database_file_says_it_is_a_database(tmp_path, cli):
    source = _database_with_mentions(tmp_path)
    result = cli("--db", tmp_path / "other.db", "import", source)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {source}: this is a SQLite database (a mentionwatch database or backup?), not CSV, TSV or "
        "JSON Lines: to bring a backup back use 'mentionwatch restore'; to copy mentions from another "
        "database, export them there first")
    assert "acme post" not in result.output


def test_forget_by_ids_run_again_names_the_ids_erased_already_and_erases_the_rest(tmp_path, cli):
    db_path = _database_with_mentions(tmp_path, 4)
    assert cli("--db", db_path, "forget", "1", "2", "--yes").exit_code == 0
    # as if a forget of 1-4 had been stopped after its first batch
    preview = cli("--db", db_path, "forget", "1", "2", "3", "9")
    assert preview.exit_code == 2 and "no mention with id 9; nothing was erased" in preview.output
    again = cli("--db", db_path, "forget", "1", "2", "3", "4", "--yes")
    assert again.exit_code == 0, again.output
    assert "Erased 2 mentions" in again.output and "Mentions 1, 2 were erased already" in again.output
    assert _stored(db_path) == 0
    finished = cli("--db", db_path, "forget", "3", "--yes")
    assert finished.exit_code == 0
    assert finished.output.startswith("Mention 3 was erased already (ids are never reused). Nothing was left "
                                      "to erase; the words of earlier erasures are out of the database file")


def test_forget_url_run_again_finishes_the_earlier_erasure_and_says_nothing_matched(tmp_path, cli):
    db_path = _database_with_mentions(tmp_path)
    assert cli("--db", db_path, "forget", "--url", "https://example.org/1", "--yes").exit_code == 0
    again = cli("--db", db_path, "forget", "--url", "https://example.org/1", "--yes")
    assert again.exit_code == 2
    assert "no stored mention at the address given with --url; nothing was erased (if an earlier erasure" in again.output
    assert _stored(db_path) == 2


def test_init_beside_a_watchlist_without_a_database_line_says_it_means_the_default(tmp_path, cli):
    (tmp_path / "w.yaml").write_text("watches: []\n")
    result = cli("--config", tmp_path / "w.yaml", "--db", tmp_path / "other.db", "init")
    assert result.exit_code == 0
    assert (f"{tmp_path / 'w.yaml'} has no database: line, so it means the database {tmp_path / 'mentionwatch.db'}"
            in result.stderr)
    assert f"or add a line database: {(tmp_path / 'other.db').resolve()} to it" in result.stderr


# --- alerts (alert workflow review) -------------------------------------------------------------

def test_a_threshold_rule_named_with_blanks_only_is_refused(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, 'alerts:\n  thresholds:\n    - {count: 20, window: 1h, name: "   "}\n'))
    assert str(caught.value).startswith(f"{tmp_path / 'w.yaml'}:3: alerts.thresholds[0].name: a rule's name "
                                        "cannot be only blanks")


def test_an_alert_note_may_start_with_a_dash(tmp_path, cli):
    db_path, db = _database_with_an_alert(tmp_path)
    result = cli("--db", db_path, "alerts", "note", "1", "-5% refund offered", "--actor", "dana")
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT detail FROM alert_events WHERE kind = 'note'").fetchone()[0] == "-5% refund offered"


def test_rows_dated_after_now_are_warned_about_on_import_and_named_by_detect(tmp_path, cli):
    import datetime as dt

    from storage.timeutil import to_iso

    ahead = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
    rows = [f"{i},acme is awful {i},{to_iso(ahead + dt.timedelta(minutes=i))}" for i in range(3)]
    (tmp_path / "m.csv").write_text("id,text,created_at\n1000,acme fine,2025-03-01T10:00:00Z\n" + "\n".join(rows) + "\n")
    (tmp_path / "w.yaml").write_text("database: mw.db\nwatches:\n  - name: acme\n    query: {any: [acme]}\n"
                                     "  - name: quiet\n    query: {any: [quiet]}\n    alerts: {enabled: false}\n")
    imported = cli("--config", tmp_path / "w.yaml", "import", tmp_path / "m.csv", "--watch", "acme")
    assert imported.exit_code == 0, imported.output
    assert "3 rows dated after now (local times read as UTC? give --timezone" in imported.output
    assert "(first on line 3)" in imported.output
    detected = cli("--config", tmp_path / "w.yaml", "detect")
    assert detected.exit_code == 0, detected.output
    assert f"Dated more than 10 minutes after now, so left out until their time comes: 3 of acme (the latest {to_iso(ahead + dt.timedelta(minutes=2))})" in detected.output
    assert "Alerts are off (alerts.enabled: false) for quiet: not checked." in detected.output


def test_a_note_may_start_with_a_dash_and_a_mistyped_long_option_is_refused(tmp_path, cli):
    db_path, db = _database_with_an_alert(tmp_path)
    refused = cli("--db", db_path, "alerts", "note", "1", "--actr=bob")
    assert refused.exit_code == 2 and "No such option '--actr'. Did you mean '--actor'?" in refused.output
    for args in (["--", "--actr=bob"], ["-x"], ["-5% refund, shipping fixed", "--actor", "dana"], ["-hello there"]):
        written = cli("--db", db_path, "alerts", "note", "1", *args)
        assert written.exit_code == 0 and "Note added" in written.output, written.output
    notes = [row[0] for row in db.execute("SELECT detail FROM alert_events WHERE kind = 'note' ORDER BY id")]
    assert notes == ["--actr=bob", "-x", "-5% refund, shipping fixed", "-hello there"]


def test_each_search_of_a_source_with_a_variable_in_its_options_keeps_its_own_cursor(tmp_path, monkeypatch):
    from crawler.collect import _with_options

    monkeypatch.setenv("MAXP", "2")
    path = _write(tmp_path, WATCH + '      - type: hackernews\n        options: {max_pages: "${MAXP}"}\n')
    source = load_config(path).watches[0].sources[0]
    alpha, beta = _with_options(source, query="alpha"), _with_options(source, query="beta")
    assert cursor_key(alpha) != cursor_key(beta)
    assert alpha.written_options == {"max_pages": "${MAXP}", "query": "alpha"}


def test_a_csv_export_of_the_version_before_the_lang_column_is_still_recognised(tmp_path, cli):
    from mentionwatch.triage.query import EARLIER_EXPORT_COLUMNS

    header = ",".join(EARLIER_EXPORT_COLUMNS[0])
    row = ["1", "2025-03-01T10:00:00Z", "twitter", "acme", "jane", "", "", "", "'@united lost my bag"] + [""] * 9
    (tmp_path / "old.csv").write_text(header + "\n" + ",".join(row) + "\n", encoding="utf-8")
    result = cli("--db", tmp_path / "r.db", "import", tmp_path / "old.csv", "--id-col", "mention_id",
                 "--source", "twitter")
    assert result.exit_code == 0, result.output
    from storage import open_db

    assert open_db(tmp_path / "r.db").execute("SELECT text FROM mentions").fetchone()[0] == "@united lost my bag"


def test_status_with_db_reports_a_deleted_watchlist_instead_of_failing(tmp_path, cli):
    db_path = _database_with_mentions(tmp_path)
    result = cli("--config", tmp_path / "gone.yaml", "--db", db_path, "status")
    assert result.exit_code == 0, result.output
    assert f"Watchlist: {tmp_path / 'gone.yaml'}: no such file" in result.output
    without_db = cli("--config", tmp_path / "gone.yaml", "status")
    assert without_db.exit_code == 2 and "no such file" in without_db.output


# --- search and report (triage review) ----------------------------------------------------------

def _import_rows(tmp_path, cli, rows: str, *extra):
    (tmp_path / "m.csv").write_text("id,text,created_at,title\n" + rows, encoding="utf-8")
    result = cli("--db", tmp_path / "s.db", "import", tmp_path / "m.csv", "--source", "rss", *extra)
    assert result.exit_code == 0, result.output
    return tmp_path / "s.db"


def test_a_chinese_word_joined_by_ascii_punctuation_is_found_as_typed(tmp_path, cli):
    db_path = _import_rows(tmp_path, cli, "1,床只有1.5米宽,2025-03-01T10:00:00Z,\n2,我在7-11便利店买的,2025-03-01T11:00:00Z,\n"
                                          "3,床有2.5米 1 晚,2025-03-01T12:00:00Z,\n4,送餐太慢!很慢,2025-03-01T13:00:00Z,\n")
    for query, found in (("1.5米", ["1"]), ("7-11便利店", ["2"]), ("太慢!很慢", ["4"]), ('"1.5米"', ["1"]),
                         # full-width punctuation separates words, whatever else the query holds
                         ("太慢！很慢", ["4"]), ("太慢！很慢 OR 7-11便利店", ["4", "2"])):
        result = cli("--db", db_path, "search", query, "--json")
        assert result.exit_code == 0, result.output
        import json

        assert [json.loads(line)["external_id"] for line in result.stdout.splitlines()] == found, query


def test_search_shows_a_posts_title(tmp_path, cli):
    db_path = _import_rows(tmp_path, cli, "t2,see link,2015-02-22T10:01:00Z,Zorbix outage hits users\n")
    result = cli("--db", db_path, "search", "zorbix")
    assert "Zorbix outage hits users" in result.stdout and "see link" in result.stdout


def test_a_date_without_dashes_in_a_report_is_a_day_in_the_reports_time_zone():
    from mentionwatch.commands.triage import _in_zone
    from storage.timeutil import parse_given_time

    assert _in_zone("20150222", "America/New_York") == "20150222 America/New_York"
    assert parse_given_time("20150222 America/New_York") == "2015-02-22T05:00:00Z"
    assert _in_zone("1424563200", "America/New_York") == "1424563200"  # Unix seconds: one moment everywhere
    with pytest.raises(ValueError, match="20151340 is no date: read as YYYYMMDD"):
        parse_given_time("20151340 America/New_York")


def test_inits_suggested_database_line_is_valid_yaml(tmp_path, cli):
    import yaml

    (tmp_path / "w.yaml").write_text("watches: []\n")
    result = cli("--config", tmp_path / "w.yaml", "--db", tmp_path / "it's.db", "init")
    suggested = result.stderr.split("or add a line ")[1].removesuffix(" to it\n")
    assert yaml.safe_load(suggested) == {"database": str((tmp_path / "it's.db").resolve())}


def test_a_repaired_query_reads_chinese_words_as_one_read_as_typed_does():
    from mentionwatch.triage.query_syntax import UnreadableQuery, repaired_query

    assert repaired_query("wifi*，太差 !") == "wifi* 太差"  # the prefix is kept
    assert repaired_query("wifi*太差 !") == "wifi* 太差"
    assert repaired_query("太慢，NOT，很慢!") == "太慢 NOT 很慢"
    with pytest.raises(UnreadableQuery, match="a minus does not leave a word out"):
        repaired_query("太慢，-很慢")
    with pytest.raises(UnreadableQuery, match="OR needs words on both sides"):
        repaired_query("OR，太慢!")


@pytest.mark.parametrize("value", ["2026 UTC", "12345678 UTC", "21001232 GMT"])
def test_a_number_with_utc_after_it_is_not_read_as_1970(tmp_path, cli, value):
    db_path = _database_with_mentions(tmp_path)
    result = cli("--db", db_path, "export", "--out", tmp_path / "e.csv", "--until", value)
    assert result.exit_code == 2 and "is read as Unix seconds" in result.output and "before any mention" in result.output


def test_a_notes_actor_may_start_with_a_dash_and_the_alert_id_stays_first(tmp_path, cli):
    db_path, db = _database_with_an_alert(tmp_path)
    assert cli("--db", db_path, "alerts", "note", "1", "--actor", "-bob", "ok note").exit_code == 0
    assert db.execute("SELECT actor, detail FROM alert_events WHERE kind = 'note'").fetchone() == ("-bob", "ok note")
    missing_value = cli("--db", db_path, "alerts", "note", "1", "-x", "--actor")
    assert missing_value.exit_code == 2 and "'--actor' requires an argument" in missing_value.output
    negative = cli("--db", db_path, "alerts", "note", "-1", "hello")
    assert negative.exit_code == 2 and "no alert with id -1" in negative.output


def test_a_column_filter_after_full_width_punctuation_still_takes_its_group():
    from mentionwatch.triage.query_syntax import repaired_query

    assert repaired_query("酒店，text:(check OR wifi)") == repaired_query("酒店 text:(check OR wifi) !")
