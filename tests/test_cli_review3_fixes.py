"""Watchlist and service mistakes found in the third command-line review: each was accepted
silently (or crashed) and did the wrong thing; now each is one line naming the setting, exit code 2,
and never shows a secret."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from mentionwatch.config import SourceConfig

WEBHOOK = "json://hooks.example.com/services/T000/B000/XXXXSECRETXXXX"
WATCH = "watches:\n  - name: acme\n    query: {any: [acme]}\n"


def _watchlist(tmp_path, text: str) -> None:
    (tmp_path / "mentionwatch.yaml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("setting", ["url_env: ${MW_REVIEW3_HOOK}", "url_env: $MW_REVIEW3_HOOK",
                                     "url_file: ${MW_REVIEW3_HOOK}"])
def test_notification_given_the_url_where_a_name_or_file_goes_is_refused_without_showing_it(
        cli, tmp_path, monkeypatch, setting):
    """`url_env: ${SLACK_URL}` looked for a variable named after the URL: alerts never went out,
    and `status` / `notify test` printed the webhook URL as that variable's (or file's) name."""
    monkeypatch.setenv("MW_REVIEW3_HOOK", WEBHOOK)
    _watchlist(tmp_path, f"notifications:\n  - name: team\n    {setting}\n" + WATCH)
    result = cli("stats")
    assert result.exit_code == 2, result.output
    assert "mentionwatch.yaml:3: notifications[0].url_" in result.output
    assert "SECRET" not in result.output
    assert "Traceback" not in result.output


def test_notification_with_a_variable_name_still_works(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_REVIEW3_HOOK", WEBHOOK)
    _watchlist(tmp_path, "notifications:\n  - name: team\n    url_env: MW_REVIEW3_HOOK\n" + WATCH)
    assert cli("init").exit_code == 0
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert "Cannot send" not in result.output


def test_token_env_given_as_a_reference_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_REVIEW3_TOKEN", "tok-123456789")
    _watchlist(tmp_path, WATCH + "    sources:\n      - type: mastodon\n"
                                 "        options: {token_env: '${MW_REVIEW3_TOKEN}'}\n")
    result = cli("crawl")
    assert result.exit_code == 2, result.output
    assert "watches[0].sources[0].options.token_env: token_env takes the name of an environment variable" \
        in result.output
    assert "tok-123456789" not in result.output


@pytest.mark.parametrize("database, expected", [
    ("${MW_REVIEW3_DATA:-mw.db}", "'${MW_REVIEW3_DATA:-mw.db}' is not an environment variable reference"),
    ("${ MW_REVIEW3_DATA }", "'${ MW_REVIEW3_DATA }' is not an environment variable reference"),
    ("$MW_REVIEW3_DATA", "to read the environment variable MW_REVIEW3_DATA, write ${MW_REVIEW3_DATA} (with braces)"),
])
def test_a_reference_this_file_cannot_read_is_refused_not_kept_as_text(cli, tmp_path, monkeypatch,
                                                                        database, expected):
    """`database: ${DATA:-mw.db}` or `$DATA` used to create a database file named just that."""
    monkeypatch.setenv("MW_REVIEW3_DATA", "data.db")
    _watchlist(tmp_path, f"database: '{database}'\n" + WATCH)
    result = cli("init")
    assert result.exit_code == 2, result.output
    assert f"mentionwatch.yaml:1: database: {expected}" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mentionwatch.yaml"]


def test_a_cashtag_in_a_query_is_still_text(cli, tmp_path):
    _watchlist(tmp_path, "watches:\n  - name: acme\n    query: {any: [$ACME, 'acme']}\n")
    result = cli("init")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where, text, line", [
    ("watches[0].sources[0].interval", WATCH + "    sources:\n      - {type: hackernews, interval: 15}\n", 5),
    ("alerts.cooldown", "alerts:\n  cooldown: 6\n" + WATCH, 2),
    ("watches[0].alerts.warmup", WATCH + "    alerts: {warmup: 7}\n", 4),
    ("service.jitter", "service: {jitter: 1.5}\n" + WATCH, 1),
])
def test_a_duration_without_a_unit_is_refused(cli, tmp_path, where, text, line):
    """`interval: 15` meant minutes and polled every 15 seconds; `cooldown: 6` meant hours."""
    _watchlist(tmp_path, text)
    result = cli("stats")
    assert result.exit_code == 2, result.output
    number = text.split(where.rsplit(".", 1)[-1] + ": ", 1)[1].split("}")[0].split("\n")[0]
    assert f"mentionwatch.yaml:{line}: {where}: {number} has no unit: write e.g. {number}s (seconds)" \
        in result.output


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_an_endless_duration_is_refused(cli, tmp_path, value):
    """`interval: .inf` reached the scheduler, whose trigger cannot hold it."""
    _watchlist(tmp_path, WATCH + f"    sources:\n      - {{type: hackernews, interval: {value}}}\n")
    result = cli("stats")
    assert result.exit_code == 2, result.output
    assert "watches[0].sources[0].interval: not a duration" in result.output


def test_durations_passed_on_as_seconds_are_still_read():
    """The spiders' process gets its source as JSON, durations in seconds."""
    assert SourceConfig.model_validate({"type": "hackernews", "interval": 900.0}).interval == 900.0


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "watches: &x\n  - *x\n"])
def test_an_alias_inside_its_own_anchor_is_one_line_not_a_traceback(cli, tmp_path, text):
    _watchlist(tmp_path, text)
    result = cli("stats")  # catch_exceptions=False: a RecursionError would fail the test
    assert result.exit_code == 2, result.output
    assert "mentionwatch.yaml:1: an alias (*name) is used inside the anchor (&name) it refers to" \
        in result.output


@pytest.mark.parametrize("value, expected", [
    ('""', "database: is empty: write a file name such as mentionwatch.db"),
    ("", "database: is empty: write a file name, or leave it out"),
    ("[a.db]", "database: should be a file name, not list"),
])
def test_an_empty_database_setting_names_the_setting(cli, tmp_path, value, expected):
    """`database: ""` was reported as "is a folder ... (check --db)"; `database:` named pydantic's class."""
    _watchlist(tmp_path, f"database: {value}\n" + WATCH)
    result = cli("stats")
    assert result.exit_code == 2, result.output
    assert f"mentionwatch.yaml:1: {expected}" in result.output
    assert "pathlib" not in result.output


def test_the_service_log_file_is_rotated(tmp_path, monkeypatch):
    """`nohup mentionwatch run >> mentionwatch.log` grew for as long as the service ran."""
    from mentionwatch import logging_setup

    monkeypatch.setattr(logging_setup, "LOG_FILE_MAX_BYTES", 2000)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    log_file = tmp_path / "mw.log"
    try:
        logging_setup.configure_logging("json", logging.INFO, log_file=log_file)
        for number in range(500):
            logging.getLogger("mentionwatch.service").info("job score: ok in 0.01s (%d)", number)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == ["mw.log", "mw.log.1", "mw.log.2", "mw.log.3", "mw.log.4", "mw.log.5"]
    assert all((tmp_path / name).stat().st_size <= 2000 for name in files)
    assert "(499)" in log_file.read_text(encoding="utf-8")  # the newest line is in the file itself


def test_run_log_file_option(tmp_path):
    """`run --log-file FILE` writes the service's lines there, not on stderr."""
    _watchlist(tmp_path, WATCH)
    (tmp_path / "notes.db").write_text("not a database, only some text " * 10, encoding="utf-8")
    env = {key: value for key, value in os.environ.items()
           if key not in ("MENTIONWATCH_CONFIG", "MENTIONWATCH_DB")}
    command = [sys.executable, "-m", "mentionwatch", "--db", "notes.db", "run", "--log-file"]
    result = subprocess.run([*command, "mw.log"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    assert "cannot start: database error: file is not a database" in (tmp_path / "mw.log").read_text()
    logging_to, refused = result.stderr.strip().splitlines()  # the service's own lines are in the file
    assert logging_to == "mentionwatch run: logging to mw.log ('mentionwatch status' shows how it is doing)"
    # ... but a refusal to start is said on the terminal too, or it would look as if it ran
    assert refused.startswith("mentionwatch run: cannot start: database error: file is not a database (")
    assert refused.endswith(" (see mw.log)")
    missing = subprocess.run([*command, "logs/mw.log"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2  # a mistake in the command, as a folder given as the file is
    assert missing.stderr.strip() == ("Error: cannot write the log file logs/mw.log: No such file or directory"
                                      " (the folder logs does not exist)")
