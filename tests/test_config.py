"""Watchlist config: the starter file is valid, bad files give one clear line and exit code 2."""
from __future__ import annotations

import pytest

from mentionwatch.config import ConfigError, load_config, parse_config, parse_duration

GOOD = """
database: data/mw.db
watches:
  - name: acme
    query: {phrases: ["ACME Corp"], exclude: [anvil], languages: [en]}
    sources:
      - type: mastodon
        base_url: https://fosstodon.org
        interval: 10m
    alerts: {min_count: 9}
notifications:
  - name: team
    url_env: MW_TEST_URL
"""


def test_starter_file_is_valid(cli, tmp_path):
    result = cli("init")
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "mentionwatch.yaml")
    assert config.watches[0].name == "acme"
    assert config.watches[0].sources[0].interval == 900
    assert config.database == tmp_path / "mentionwatch.db"
    assert (tmp_path / "mentionwatch.db").exists()


def test_good_config_values_and_overrides(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.database == tmp_path / "data" / "mw.db"
    assert config.watches[0].sources[0].interval == 600
    assert config.watches[0].sources[0].base_url == "https://fosstodon.org"
    settings = config.alert_settings("acme")
    assert settings.min_count == 9 and settings.bucket == 3600


def test_paths_in_the_watchlist_are_relative_to_its_folder(tmp_path, monkeypatch):
    (tmp_path / "models" / "mine").mkdir(parents=True)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "team.url").write_text("json://127.0.0.1:9/hook\n")
    path = tmp_path / "w.yaml"
    path.write_text("sentiment: {model: models/mine}\n"
                    "notifications:\n  - {name: team, url_file: secrets/team.url}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the command runs from another folder
    config = load_config(path)
    assert config.sentiment.model == str(tmp_path / "models" / "mine")
    assert config.notifications[0].resolve_url() == "json://127.0.0.1:9/hook"
    hub_id = tmp_path / "h.yaml"
    hub_id.write_text("sentiment: {model: cardiffnlp/twitter-roberta-base-sentiment-latest}\n")
    assert load_config(hub_id).sentiment.model == "cardiffnlp/twitter-roberta-base-sentiment-latest"


def test_secrets_come_from_environment(tmp_path, monkeypatch):
    config = parse_config(GOOD)
    monkeypatch.delenv("MW_TEST_URL", raising=False)
    assert config.notifications[0].resolve_url() is None
    monkeypatch.setenv("MW_TEST_URL", "json://127.0.0.1:9/hook")
    assert config.notifications[0].resolve_url() == "json://127.0.0.1:9/hook"


def test_env_reference_interpolated_and_missing_one_reported(monkeypatch):
    text = "watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n      - type: reddit\n        base_url: ${MW_BASE}\n"
    monkeypatch.setenv("MW_BASE", "http://127.0.0.1:1")
    assert parse_config(text).watches[0].sources[0].base_url == "http://127.0.0.1:1"
    monkeypatch.delenv("MW_BASE")
    with pytest.raises(ConfigError, match=r"<config>:6: watches\[0\]\.sources\[0\]\.base_url: environment variable MW_BASE is not set"):
        parse_config(text)


@pytest.mark.parametrize("text, expected", [
    ("watches: [\n  {name: a\n", r"w\.yaml:3:1: YAML syntax error"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n      - type: reddit\n        interval: soon\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.interval: not a duration: 'soon'"),
    ("watches:\n  - name: a\n    query: {}\n", r"w\.yaml:3: watches\[0\]\.query: give at least one of phrases, any, all"),
    # an exclusion every wanted post holds (walkthrough 8: `rematch` would have unlinked them all)
    ("watches:\n  - name: a\n    query: {any: [united, united airlines], exclude: [\u00dcnited]}\n",
     r"w\.yaml:3: watches\[0\]\.query: exclude '\u00dcnited' is in every post the query wants \(matching "
     r"ignores case and accents\): the watch would match nothing"),
    ("watches:\n  - name: a\n    query: {any: [x], all: [Acme Corp], exclude: [acme]}\n",
     r"w\.yaml:3: watches\[0\]\.query: exclude 'acme' is in every post"),
    ("alerts:\n  min_count: lots\n", r"w\.yaml:2: alerts\.min_count: Input should be a valid integer"),
    ("watches: 3\n", r"w\.yaml:1: watches: should be a list, such as \[a, b\] \(or '- ' lines below it\), not int"),
    ("- just\n- a list\n", r"w\.yaml:1: the file must be a mapping"),
    ("colour: blue\n", r"w\.yaml:1: colour: unknown setting 'colour'$"),
    ("alerts:\n  cooldwn: 3h\n", r"w\.yaml:2: alerts\.cooldwn: unknown setting 'cooldwn' \(did you mean 'cooldown'\?\)"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    sorces: []\n",
     r"w\.yaml:4: watches\[0\]\.sorces: unknown setting 'sorces' \(did you mean 'sources'\?\)"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n      - type: hackrnews\n",
     r"w\.yaml:5: watches\[0\]\.sources\[0\]\.type: unknown source type 'hackrnews' \(did you mean 'hackernews'\?\)"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n      - type: myspace\n",
     r"w\.yaml:5: watches\[0\]\.sources\[0\]\.type: unknown source type 'myspace' \(known: reddit, .*, sitemap\)"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n      - type: reviews\n"
     "        options: {start_urls: ['https://example.org/r'], item: 'div[', text: 'p::text'}\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.options\.item: invalid selector 'div\['"),
    ("alerts:\n  bucket: 0.001s\n", r"w\.yaml:2: alerts\.bucket: a bucket must be between 1m and 1d, not 0\.001s"),
    ("alerts:\n  bucket: 2d\n", r"w\.yaml:2: alerts\.bucket: a bucket must be between 1m and 1d, not 2d$"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    alerts: {bucket: 2d}\n",
     r"w\.yaml:4: watches\[0\]\.alerts\.bucket: a bucket must be between 1m and 1d"),
    # the baseline compares the same time of day, so a day must be whole buckets
    ("alerts:\n  bucket: 7m\n",
     r"w\.yaml:2: alerts\.bucket: a bucket must divide a day evenly, e\.g\. 5m, 15m, 1h; not 7m$"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    alerts: {bucket: 25m}\n",
     r"w\.yaml:4: watches\[0\]\.alerts\.bucket: a bucket must divide a day evenly, e\.g\. 5m, 15m, 1h; not 25m$"),
    ("notifications:\n  - {name: '   ', url_env: X}\n",
     r"w\.yaml:2: notifications\[0\]\.name: a notification needs a name that is not blank"),
    ("notifications:\n  - {name: '', url_env: X}\n",
     r"w\.yaml:2: notifications\[0\]\.name: a notification needs a name that is not blank"),
    ("notifications:\n  - {name: \"team\\tchat\", url_env: X}\n",
     r"w\.yaml:2: notifications\[0\]\.name: 'team\\tchat' cannot be a notification name: it holds control"),
    ("alerts:\n  min_count: true\n", r"w\.yaml:2: alerts\.min_count: expected a number, got true$"),
    # words YAML reads as true/false: the line says to quote them, in the file's own spelling
    ("watches:\n  - name: on\n    query: {any: [x]}\n",
     r"w\.yaml:2: watches\[0\]\.name: YAML reads a bare on as true: put it in quotes \('on'\)"),
    ("watches:\n  - name: a\n    query:\n      any: [x, On]\n",
     r"w\.yaml:4: watches\[0\]\.query\.any\[1\]: YAML reads a bare On as true: put it in quotes \('On'\)"),
    ("watches:\n  - name: a\n    query:\n      any: [x]\n      languages: [No]\n",
     r"w\.yaml:5: watches\[0\]\.query\.languages\[0\]: YAML reads a bare No as false"),
    ("watches:\n  - name: a\n    query:\n      any: [x, 007]\n",
     r"w\.yaml:4: watches\[0\]\.query\.any\[1\]: YAML reads a bare 007 as the number 7: put it in quotes \('007'\)"),
    ("watches:\n  - name: a\n    query:\n      any: [x, '  ']\n",
     r"w\.yaml:4: watches\[0\]\.query\.any\[1\]: a term cannot be blank \(signs that matching"),
    ("watches:\n  - name: a\n    query:\n      any: [x]\n      languages: [en, Englisch]\n",
     r"w\.yaml:5: watches\[0\]\.query\.languages\[1\]: 'Englisch' is not a language code"),
    ("alerts:\n  thresholds:\n    - count: 2.5\n", r"w\.yaml:3: alerts\.thresholds\[0\]\.count: Input should be a valid integer"),
    ("alerts:\n  bucket: 1h\n  cooldown: 2h\n  bucket: 2h\n", r"w\.yaml:4: 'bucket' is set twice in the same place"),
    ("alerts:\nwatches: []\n", r"w\.yaml:1: alerts: is empty: write its settings indented below it, or leave it out$"),
    ("alerts: 5\n", r"w\.yaml:1: alerts: should be settings \(name: value lines\), not int$"),
    ("notifications:\n  - name: t\n    url_env: X\n    watches: [airline]\n"
     "watches:\n  - name: airlines\n    query: {any: [x]}\n",
     r"w\.yaml:4: notifications\[0\]\.watches\[0\]: no watch named 'airline' \(did you mean 'airlines'\?\)"),
    ("notifications:\n  - {name: t, url_env: X, events: []}\n",
     r"w\.yaml:2: notifications\[0\]\.events: give at least one of opened, escalated, resolved"),
    ("alerts:\n  thresholds:\n    - {count: 20, window: 30m}\n",
     r"w\.yaml:3: alerts\.thresholds\[0\]\.window: 30m is not a whole number of buckets \(the bucket is 1h\)"),
    ("alerts:\n  bucket: 15m\n  thresholds:\n    - {count: 20, window: 30m}\n"
     "watches:\n  - name: a\n    query: {any: [x]}\n    alerts: {bucket: 20m}\n",
     r"w\.yaml:4: alerts\.thresholds\[0\]\.window: 30m .*\(the bucket of watch 'a' is 20m\)"),
    ("watches:\n  - name: a\n    query: {any: [x]}\n    alerts:\n      thresholds:\n        - {count: 3, window: 90m}\n",
     r"w\.yaml:6: watches\[0\]\.alerts\.thresholds\[0\]\.window: 90m is not a whole number of buckets"),
    # watch names: plain words naming the characters that are not allowed, never a regex
    ("watches:\n  - name: 外卖\n    query: {any: [外卖]}\n",
     r"w\.yaml:2: watches\[0\]\.name: '外卖' is not a valid watch name: '外' and '卖' are not "
     r"allowed; use 1-64 ASCII letters \(A-Z, a-z\), digits, '_', '\.' or '-', starting with a "
     r"letter or digit$"),
    ("watches:\n  - name: café\n    query: {any: [x]}\n",
     r"w\.yaml:2: watches\[0\]\.name: 'café' is not a valid watch name: 'é' is not allowed; use"),
    ("watches:\n  - name: _acme\n    query: {any: [x]}\n",
     r"w\.yaml:2: watches\[0\]\.name: '_acme' is not a valid watch name: it starts with '_'; use"),
    ("watches:\n  - name: " + "a" * 65 + "\n    query: {any: [x]}\n",
     r"watches\[0\]\.name: 'a{65}' is not a valid watch name: it is 65 characters long; use"),
])
def test_bad_config_gives_one_line(tmp_path, text, expected):
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


@pytest.mark.parametrize("written", ["on", "off", "yes", "No", "true"])
def test_a_duration_yaml_reads_as_true_or_false_is_named_as_written(tmp_path, written):
    path = tmp_path / "w.yaml"
    path.write_text(f"alerts:\n  cooldown: {written}\nwatches: []\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == f"{path}:2: alerts.cooldown: not a duration: {written} (use e.g. 30s, 15m, 1h, 1d)"


def test_cli_reports_bad_config_with_exit_2(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text("alerts:\n  cooldown: [1, 2]\n")
    result = cli("stats")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mentionwatch.yaml:2: alerts.cooldown: not a duration" in lines[0]
    assert "Traceback" not in result.output


def test_cli_missing_explicit_config(cli):
    result = cli("--config", "nope.yaml", "stats")
    assert result.exit_code == 2
    assert "nope.yaml: no such file" in result.stderr


@pytest.mark.parametrize("bucket", ["1m", "90s", "5m", "20m", "45m", "1h", "3h", "8h", "12h", "1d"])
def test_every_bucket_that_divides_a_day_is_accepted(bucket):
    config = parse_config(f"alerts: {{bucket: {bucket}}}\nwatches:\n  - name: a\n    query: {{any: [x]}}\n"
                          f"    alerts: {{bucket: {bucket}}}\n")
    assert config.alert_settings("a").bucket == parse_duration(bucket)


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("1.5h", 5400), ("2d", 172800), (60, 60)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_duplicate_watch_names_rejected():
    with pytest.raises(ConfigError, match=r"watch names must be unique: 'a' is also the name of watches\[0\]"):
        parse_config("watches:\n  - {name: a, query: {any: [x]}}\n  - {name: a, query: {any: [y]}}\n")


def test_watch_names_that_differ_only_in_capitals_rejected():
    # report charts are named after the watch: one would overwrite the other on macOS or Windows
    with pytest.raises(ConfigError, match="watch names must differ by more than capital letters: acme, Acme"):
        parse_config("watches:\n  - {name: acme, query: {any: [x]}}\n  - {name: Acme, query: {any: [y]}}\n")


def test_a_notification_url_with_a_password_written_in_the_file_is_refused(monkeypatch):
    text = "notifications:\n  - {{name: team, url: \"{url}\"}}\nwatches:\n  - {{name: a, query: {{any: [x]}}}}\n"
    with pytest.raises(ConfigError, match="this URL holds a password") as refused:
        parse_config(text.format(url="mailtos://pr:hunter2-secret@example.com"))
    assert "hunter2" not in str(refused.value)
    monkeypatch.setenv("MW_TEST_MAIL_URL", "mailtos://pr:hunter3-secret@example.com")
    assert parse_config(text.format(url="${MW_TEST_MAIL_URL}")).notifications[0].url.startswith("mailtos://")
    assert parse_config(text.format(url="json://127.0.0.1:8080/hook")).notifications[0].url  # no secret in it


def test_a_value_from_the_environment_is_not_echoed_in_an_error_line(monkeypatch):
    """It may be a secret: a webhook URL, a base_url with a password in it."""
    monkeypatch.setenv("MW_BASE", "ftp://user:PASSLEAK1@host/x")
    text = ("watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n"
            "      - {type: hackernews, base_url: '${MW_BASE}'}\n")
    with pytest.raises(ConfigError) as error:
        parse_config(text, "w.yaml")
    assert "PASSLEAK1" not in str(error.value)
    assert "not an http(s) URL: '${MW_BASE}'" in str(error.value)


_WATCHLIST_WITH_A_SOURCE_TOKEN = """\
watches:
  - name: acme
    query: {any: [acme]}
    sources:
      - type: rss
        options: {urls: ["https://feeds.example.com/acme?key=${MW_UNSET_FEED_KEY}"]}
      - type: rss
        options: {urls: ["${MW_UNSET_FEED_KEY}"]}
      - type: mastodon
        base_url: ${MW_UNSET_FEED_KEY}
"""


def test_commands_that_poll_no_source_run_without_the_sources_secrets(cli, tmp_path, monkeypatch):
    """A PR lead opening the report or searching needs no source token; collecting does."""
    monkeypatch.delenv("MW_UNSET_FEED_KEY", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text(_WATCHLIST_WITH_A_SOURCE_TOKEN)
    from storage import open_db

    open_db(tmp_path / "mentionwatch.db").close()
    for command in (["stats"], ["search", "acme"], ["alerts", "list"]):
        result = cli(*command)
        assert result.exit_code == 0, (command, result.output)
    crawl = cli("crawl")
    assert crawl.exit_code == 2
    assert "environment variable MW_UNSET_FEED_KEY is not set" in crawl.stderr


def test_an_unset_variable_outside_the_sources_is_still_an_error(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_UNSET_DATA_DIR", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text("database: ${MW_UNSET_DATA_DIR}/mentionwatch.db\n")
    result = cli("stats")
    assert result.exit_code == 2
    assert "database: environment variable MW_UNSET_DATA_DIR is not set" in result.stderr


def test_status_reads_a_watchlist_whose_variables_are_unset_anywhere(cli, tmp_path, monkeypatch):
    """`status` is a health check run from any shell: an unset variable (a systemd credentials
    folder, say) is no watchlist mistake there."""
    from storage import open_db

    monkeypatch.delenv("MW_UNSET_CREDENTIALS", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text(
        "notifications:\n  - name: team\n    url_file: ${MW_UNSET_CREDENTIALS}/team.url\n"
        "watches:\n  - name: acme\n    query: {any: [acme]}\n")
    open_db(tmp_path / "mentionwatch.db").close()
    result = cli("status")
    assert "environment variable MW_UNSET_CREDENTIALS is not set" not in result.output
    assert "Watchlist:" not in result.output  # no watchlist problem reported at all
    assert "Traceback" not in result.output
