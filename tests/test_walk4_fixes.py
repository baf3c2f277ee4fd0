"""Fixes from the fourth first-time-user walkthrough: click's usage errors and a few watchlist
mistakes in one line that says what to write."""
from __future__ import annotations

import pytest

from mentionwatch.config import parse_config
from tests.test_alerts_detection import config_text

STARTER = """database: m.db
notifications:
  - {name: team, url: "json://127.0.0.1:9/x"}
watches:
  - name: acme
    query: {any: [acme]}
  - name: other
    query: {any: [other]}
"""


def _only_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("args, says, command", [
    (["alerts", "list", "--status", "closed"], "Invalid value for '--status': 'closed' is not one of",
     "mentionwatch alerts list"),
    (["alerts", "list", "--statu", "open"], "No such option '--statu'. Did you mean '--status'?",
     "mentionwatch alerts list"),
    (["alerts", "lst"], "No such command 'lst'. Did you mean 'list'?", "mentionwatch alerts"),
    (["backtest", "--since", "2015-02-17"], "Missing option '--until'.", "mentionwatch backtest"),
    (["export", "--sentiment", "bad", "--out", "x.csv"], "Invalid value for '--sentiment': 'bad'",
     "mentionwatch export"),
    (["backup", "."], "Invalid value for 'FILE'", "mentionwatch backup"),
])
def test_a_usage_error_is_one_line_naming_the_help(cli, tmp_path, args, says, command):
    (tmp_path / "mentionwatch.yaml").write_text(STARTER, encoding="utf-8")
    line = _only_error(cli(*args))
    # the test runner calls the program 'main'; a shell, 'mentionwatch'
    shown = command.replace("mentionwatch", "main", 1)
    assert line.startswith(f"Error: {says}") and line.endswith(f"(see '{shown} --help')"), line


def test_the_help_itself_still_shows_the_usage(cli):
    result = cli("alerts", "list", "--help")
    assert result.exit_code == 0 and "Usage: main alerts list [OPTIONS]" in result.output


def _error_for(cli, tmp_path, text: str) -> str:
    (tmp_path / "mentionwatch.yaml").write_text(text, encoding="utf-8")
    return _only_error(cli("stats"))


def test_a_password_in_a_notification_url_names_the_notification(cli, tmp_path):
    line = _error_for(cli, tmp_path, STARTER.replace("json://127.0.0.1", "json://pr:hunter2hunter@127.0.0.1"))
    assert "mentionwatch.yaml:3: notifications[0].url: notification 'team': this URL holds a password" in line
    assert "hunter2hunter" not in line


@pytest.mark.parametrize("renamed, says", [
    ("acme", "watch names must be unique: 'acme' is also the name of watches[0]"),
    ("Acme", "watch names must differ by more than capital letters: acme, Acme"),
])
def test_a_repeated_watch_name_points_at_the_repeat(cli, tmp_path, renamed, says):
    line = _error_for(cli, tmp_path, STARTER.replace("name: other", f"name: {renamed}"))
    assert line == f"Error: mentionwatch.yaml:7: watches[1].name: {says}"


def test_one_value_where_a_list_belongs_says_to_write_a_list(cli, tmp_path):
    line = _error_for(cli, tmp_path, STARTER.replace("{any: [acme]}", "{any: [acme], languages: en}"))
    assert line == ("Error: mentionwatch.yaml:6: watches[0].query.languages: should be a list, such as "
                    "[a, b] (or '- ' lines below it), not 'en'")


def test_a_tab_says_to_indent_with_spaces(cli, tmp_path):
    line = _error_for(cli, tmp_path, STARTER.replace("  - name: other", "\t- name: other"))
    assert line == "Error: mentionwatch.yaml:7:1: a tab: indent with spaces, not tabs"


@pytest.mark.parametrize("zone, place", [("EST", "America/New_York"), ("mst", "America/Denver")])
def test_a_fixed_us_offset_is_refused_for_the_place(cli, tmp_path, zone, place):
    line = _error_for(cli, tmp_path, config_text(f"  timezone: {zone}"))
    assert "alerts.timezone" in line and "all year, without daylight saving" in line and place in line


def test_a_place_without_daylight_saving_is_fine():
    assert parse_config(config_text("  timezone: America/Phoenix")).alerts.timezone == "America/Phoenix"


def test_an_import_in_a_folder_without_a_watchlist_says_where_the_mentions_went(cli, tmp_path):
    posts = tmp_path / "posts.csv"
    posts.write_text("id,text,created_at\n1,acme is down,2026-03-05T14:02:00Z\n", encoding="utf-8")
    first = cli("import", posts)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"{posts}: 1 inserted")
    assert first.stderr.splitlines() == [
        f"Note: there is no mentionwatch.yaml in {tmp_path}, so the mentions went into a new database, "
        "mentionwatch.db; to add them to your watchlist's, run the command in its folder or give --config"]
    assert cli("import", posts).stderr == ""  # the database is there now: said once is enough


def test_an_import_in_a_watchlists_folder_says_nothing_more(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(STARTER, encoding="utf-8")
    posts = tmp_path / "posts.csv"
    posts.write_text("id,text,created_at\n1,acme is down,2026-03-05T14:02:00Z\n", encoding="utf-8")
    result = cli("import", posts)
    assert result.exit_code == 0 and result.stderr == "", result.output


def test_a_group_without_its_command_still_shows_its_help(cli):
    result = cli("alerts")
    assert "Usage: main alerts [OPTIONS] COMMAND" in result.output and "Commands:" in result.output


@pytest.mark.parametrize("args, says", [
    (["--bogus"], "No such option '--bogus'"),
    (["--config"], "Option '--config' requires an argument."),
    (["nosuchcommand"], "No such command 'nosuchcommand'."),
])
def test_a_usage_error_before_the_command_is_one_line_too(cli, args, says):
    line = _only_error(cli(*args))
    assert line.startswith(f"Error: {says}") and line.endswith("(see 'main --help')"), line


@pytest.mark.parametrize("zone, says", [
    ("Pacific", "'Pacific' is not a time zone"),  # a folder of the zone database
    ("Europe", "'Europe' is not a time zone"),
    ("PST", "'PST' is not a time zone (did you mean 'America/Los_Angeles'?)"),
    ("CEST", "'CEST' is not a time zone (did you mean 'Europe/Paris'?)"),
    ("x" * 300, "is not a time zone"),
])
def test_a_zone_folder_or_an_abbreviation_is_one_line_with_the_place(cli, tmp_path, zone, says):
    line = _error_for(cli, tmp_path, config_text(f"  timezone: {zone}"))
    assert "alerts.timezone" in line and says in line and "MST" not in line, line


@pytest.mark.parametrize("written", ["utc", "UTC", "Z"])
def test_utc_may_be_written_as_people_write_it(written):
    assert parse_config(config_text(f"  timezone: {written}")).alerts.timezone == "UTC"


@pytest.mark.parametrize("language", ["fil", "yue", "haw", "ckb", "ca-ES-valencia", "sl-rozaj", "en-x-custom"])
def test_languages_with_only_a_three_letter_code_or_a_variant_are_real(language):
    languages = parse_config(config_text().replace("{any: [acme]}", f"{{any: [acme], languages: [{language}]}}")
                             ).watches[0].query.languages
    assert languages == [language.split("-")[0]]


@pytest.mark.parametrize("url", [
    "https://hooks.slack.com/services/T0123/B0456/${MW_TEST_HOOK_TOKEN}",  # the token from the environment
    "https://discord.com/api/webhooks/123456/${MW_TEST_HOOK_TOKEN}",
    "signal://localhost:8080/+12345678901/+12345678902",  # a self-hosted signal-cli: no token
    "json://localhost/hook?author=me",  # author is no auth parameter
])
def test_urls_without_a_token_in_the_file_are_accepted(monkeypatch, url):
    monkeypatch.setenv("MW_TEST_HOOK_TOKEN", "abcdefghijklmnop")
    config = parse_config(STARTER.replace("json://127.0.0.1:9/x", url))
    assert config.notifications[0].url.startswith(url.split("$")[0])
