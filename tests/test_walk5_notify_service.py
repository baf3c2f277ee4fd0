"""From a walkthrough: a failed notification's reason hides the URL's parts without blanking ordinary
words (JSON, Connection) or the target's name; and a database file replaced under the running
service is said in one ERROR line, even when several threads find it at once."""
from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time

import pytest

from alerts.notify import _without_address
from mentionwatch.logging_setup import REDACTED
from scheduler import Service
from tests.service_fakes import write_watchlist

WATCHLIST = "mentionwatch.yaml"
TOKEN = "tok_ABCDEF123456"


def _closed_port() -> int:
    """A local port nobody listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _notify_test(cli, tmp_path, monkeypatch, url: str) -> str:
    """`mentionwatch notify test --target team` to `url`; its line for the target."""
    monkeypatch.setenv("MENTIONWATCH_NOTIFY_URL", url)
    (tmp_path / WATCHLIST).write_text(
        "notifications:\n  - {name: team, url_env: MENTIONWATCH_NOTIFY_URL}\n"
        "watches:\n  - {name: acme, query: {any: [acme]}}\n")
    result = cli("notify", "test", "--target", "team")
    assert result.exit_code == 1, result.output
    return result.stdout.splitlines()[1]


# --- A. the reason of a failed notification ---------------------------------------------------------

def test_path_words_do_not_hide_the_same_words_in_other_case(cli, tmp_path, monkeypatch):
    port = _closed_port()
    line = _notify_test(cli, tmp_path, monkeypatch, f"json://127.0.0.1:{port}/json/connection")
    assert line == ("  team: failed: A Connection error occurred sending JSON notification to the address "
                    f"of 'team': connection refused (port {port})")


def test_a_path_part_named_like_the_target_leaves_the_target_named(cli, tmp_path, monkeypatch):
    port = _closed_port()
    line = _notify_test(cli, tmp_path, monkeypatch, f"json://127.0.0.1:{port}/team/{TOKEN}")
    assert line == ("  team: failed: A Connection error occurred sending JSON notification to the address "
                    f"of 'team': connection refused (port {port})")


def test_each_part_is_replaced_once_as_a_whole_word_and_as_written():
    url = f"json://hookuser:pass%20word@Hooks.Example.com/team/{TOKEN}/json"
    error = (f"failed for HOOKS.example.COM: user hookuser, pass word, {TOKEN} at /team/{TOKEN}; "
             "JSON answer from teams, team said no")
    assert _without_address(error, url, "team") == (
        f"failed for the address of 'team': user {REDACTED}, {REDACTED}, {REDACTED} at /{REDACTED}/{REDACTED}; "
        f"JSON answer from teams, {REDACTED} said no")


def test_a_part_inside_a_longer_one_does_not_cut_it_short():
    url = "ntfy://ntfy.example/acme-alerts-7f3k/acme"
    error = "topic 'acme-alerts-7f3k' refused; acme said so"
    assert _without_address(error, url, "ops") == f"topic '{REDACTED}' refused; {REDACTED} said so"


def test_tokens_and_credentials_are_hidden_in_any_case_and_run_into_other_text():
    """What the old, case-blind search hid stays hidden: a topic or token (a part with a digit or a
    sign) quoted in another case or run into other letters, a user quoted in lower case."""
    url = "ntfy://AdminUser:s3cret@ntfy.example/Acme-Alerts-7f3k/Tok3nXYZabc"
    error = "topic acme-alerts-7f3k refused (key tok3nxyzabcdef) for adminuser@ntfy.example"
    hidden = _without_address(error, url, "ops")
    for secret in ("acme-alerts", "tok3n", "adminuser"):
        assert secret not in hidden.lower(), hidden


def test_short_parts_and_the_failure_kind_are_kept():
    url = "json://127.0.0.1:9/mw/connection/refused"
    error = "A Connection error occurred sending JSON notification to 127.0.0.1 (mw): connection refused (port 9)"
    assert _without_address(error, url, "team") == ("A Connection error occurred sending JSON notification to "
                                                    "the address of 'team' (mw): connection refused (port 9)")


# --- B. the database file replaced under the running service ----------------------------------------

@pytest.fixture
def service(tmp_path):
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", "      - {type: hackernews}")
    service = Service(config_path, blocking=False)
    service._db_identity = (0, 0)  # as if started on another file: the one at the path is "new"
    return service


def _slow_stop(service) -> None:
    """Stop after a while: another thread finds the problem before the stop took effect."""
    stop = service.stop

    def slow(reason="stop requested"):
        time.sleep(0.2)
        stop(reason)
    service.stop = slow


def _from_two_threads(call) -> None:
    start = threading.Barrier(2)

    def run():
        start.wait()
        call()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def _errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_replaced_database_found_by_two_threads_is_said_once(service, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    _slow_stop(service)
    _from_two_threads(service._database_file_replaced)
    assert service._database_file_replaced()  # and once more, later: still said once
    errors = _errors(caplog)
    assert len(errors) == 1, errors
    assert "was deleted or replaced while the service ran; stopping" in errors[0]
    assert service._stopping.is_set() and service.exit_code == 1


def test_a_damaged_database_found_by_two_threads_is_said_once(service, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    _slow_stop(service)
    damaged = sqlite3.DatabaseError("database disk image is malformed")
    _from_two_threads(lambda: service._stop_if_damaged(damaged))
    errors = _errors(caplog)
    assert len(errors) == 1 and "is damaged" in errors[0], errors
    assert service._stopping.is_set() and service.exit_code == 1


def test_a_heartbeat_meeting_the_damage_a_job_found_says_nothing_more(service, caplog, monkeypatch):
    """Walkthrough 14b: after the ERROR line of a damaged database, a heartbeat under way logged
    'heartbeat: database error: table mentions already exists; will retry at the job's next run'
    for a service that was stopping."""
    import scheduler

    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    _slow_stop(service)

    def heartbeat_meets_the_damage(_db):
        service._stop_if_damaged(sqlite3.DatabaseError("database disk image is malformed"))  # a job found it
        raise sqlite3.OperationalError("table mentions already exists")

    monkeypatch.setattr(scheduler, "heartbeat", heartbeat_meets_the_damage)
    monkeypatch.setattr(service, "_database_file_replaced", lambda: False)  # the same file, damaged
    service._housekeeping_step("heartbeat")
    service._housekeeping_step("heartbeat")  # and a later one does nothing at all
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "is damaged" in lines[0], lines
