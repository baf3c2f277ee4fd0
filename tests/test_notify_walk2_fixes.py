"""From a first-time-user walkthrough: `mentionwatch notify test`, a true warning when `alerts resolve`
is typed in a shell without the notification URL, a word when no target takes 'resolved', and the
kind of a connection failure (never the URL's secret parts)."""
from __future__ import annotations

import json
import logging
import socket

import pytest
from apprise.decorators import notify

from alerts.notify import queue_notifications, send_pending
from mentionwatch.config import parse_config
from mentionwatch.local_servers import LocalServer

SECRET = "s3cr3t-walk2-token"
PATH_SECRET = "pathsecretwalk2"
CALLS: list[dict] = []
WATCHLIST = "mentionwatch.yaml"


@notify(on="mwwalk2test")
def _local_target(body, title, notify_type, meta, *args, **kwargs):
    """A local apprise scheme: fails for host 'down', raises for 'broken'."""
    CALLS.append({"title": title, "body": body, "host": meta.get("host"), "type": notify_type})
    if meta.get("host") == "broken":
        raise RuntimeError(f"plugin crashed {SECRET}")
    return meta.get("host") != "down"


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


class JsonHook(LocalServer):
    """A JSON webhook on 127.0.0.1 that remembers each request's path and JSON body and answers 200."""

    def __init__(self):
        super().__init__()
        self.posted: list[dict] = []
        self.port = self.httpd.server_address[1]

    def handle_post(self, request):
        length = int(request.headers.get("Content-Length", 0))
        self.posted.append({"path": request.path, "json": json.loads(request.rfile.read(length) or b"{}")})
        self.reply(request, 200, b"{}", "application/json")


@pytest.fixture
def hook():
    with JsonHook() as server:
        yield server


def _closed_port() -> int:
    """A local port nobody listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _watchlist(tmp_path, targets: str) -> None:
    (tmp_path / WATCHLIST).write_text(
        f"notifications:\n{targets}\nwatches:\n  - {{name: acme, query: {{any: [acme]}}}}\n")


def _table_counts(tmp_path) -> tuple[int, int]:
    from storage import open_db

    db = open_db(tmp_path / "mentionwatch.db")
    try:
        return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("alerts", "notifications"))
    finally:
        db.close()


# --- 1. mentionwatch notify test ---------------------------------------------------------------------

def test_notify_test_reaches_a_json_webhook_and_stores_nothing(cli, tmp_path, monkeypatch, hook):
    monkeypatch.setenv("MW_W2_HOOK", f"json://127.0.0.1:{hook.port}/{PATH_SECRET}/hook?token={SECRET}")
    _watchlist(tmp_path, "  - {name: team, url_env: MW_W2_HOOK}")
    assert cli("init").exit_code == 0
    result = cli("notify", "test")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "  team: sent"
    assert len(hook.posted) == 1
    payload = hook.posted[0]["json"]
    assert "test message — no alert" in payload["title"] and "team" in payload["title"]
    assert "mentionwatch test message — no alert" in payload["message"]
    assert str((tmp_path / WATCHLIST).resolve()) in payload["message"] and "'team'" in payload["message"]
    assert payload["type"] == "info"
    assert SECRET not in result.output and PATH_SECRET not in result.output
    assert _table_counts(tmp_path) == (0, 0)  # nothing queued, nothing recorded


def test_notify_test_says_sent_failed_or_no_url_per_target_and_exits_1(cli, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MW_W2_UP", "mwwalk2test://up")
    monkeypatch.setenv("MW_W2_DOWN", f"mwwalk2test://down/{SECRET}")
    monkeypatch.setenv("MW_W2_BROKEN", "mwwalk2test://broken")
    monkeypatch.delenv("MW_W2_UNSET", raising=False)
    _watchlist(tmp_path, "  - {name: up, url_env: MW_W2_UP}\n"
                         "  - {name: down, url_env: MW_W2_DOWN}\n"
                         "  - {name: broken, url_env: MW_W2_BROKEN}\n"
                         "  - {name: unset, url_env: MW_W2_UNSET}\n"
                         f"  - {{name: nofile, url_file: {tmp_path / 'nosuch.url'}}}")
    caplog.set_level(logging.DEBUG)
    result = cli("notify", "test")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Sending a test message to 5 notification target(s) of {WATCHLIST}:"
    assert lines[1] == "  up: sent"
    assert lines[2].startswith("  down: failed: ")
    assert lines[3].startswith("  broken: failed: ") and "exception" in lines[3].lower()
    assert lines[4] == "  unset: no URL: environment variable MW_W2_UNSET is not set or empty"
    assert lines[5] == f"  nofile: no URL: file {tmp_path / 'nosuch.url'} does not exist"
    assert lines[6] == "1 of 5 got the test message."
    assert "Traceback" not in result.output
    assert [call["host"] for call in CALLS] == ["up", "down", "broken"]
    assert all("test message — no alert" in call["title"] for call in CALLS)
    assert SECRET not in result.output and SECRET not in caplog.text
    assert "mwwalk2test://" not in caplog.text  # apprise's own lines stay out of the log, as for alerts


def test_notify_test_target_sends_to_that_one_only(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_W2_UP", "mwwalk2test://up")
    monkeypatch.setenv("MW_W2_DOWN", "mwwalk2test://down")
    _watchlist(tmp_path, "  - {name: up, url_env: MW_W2_UP}\n  - {name: down, url_env: MW_W2_DOWN}")
    result = cli("notify", "test", "--target", "up")
    assert result.exit_code == 0, result.output
    assert "  up: sent" in result.stdout and "down" not in result.stdout
    assert [call["host"] for call in CALLS] == ["up"]


def test_notify_test_unknown_target_is_one_line_listing_the_known_names(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_W2_UP", "mwwalk2test://up")
    _watchlist(tmp_path, "  - {name: team, url_env: MW_W2_UP}\n  - {name: ops, url_env: MW_W2_UP}")
    result = cli("notify", "test", "--target", "tema")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: no notification named 'tema' in {WATCHLIST} (known: team, ops)"]
    assert result.stdout == "" and CALLS == []


def test_notify_test_without_targets_or_watchlist_says_so(cli, tmp_path):
    result = cli("notify", "test")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{WATCHLIST}: no such file" in result.stderr
    _watchlist(tmp_path, "  []")
    result = cli("notify", "test")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: no notification targets in {WATCHLIST}: add one under "
                                     "`notifications:`")


# --- 4. the kind of a connection failure ------------------------------------------------------------

def test_a_refused_connection_is_named_with_its_port_but_no_secret(cli, tmp_path, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("MW_W2_HOOK", f"json://hookuser:hookpass99@127.0.0.1:{port}/{PATH_SECRET}/x?token={SECRET}")
    _watchlist(tmp_path, "  - {name: team, url_env: MW_W2_HOOK}")
    result = cli("notify", "test")
    assert result.exit_code == 1
    line = result.stdout.splitlines()[1]
    assert line == ("  team: failed: A Connection error occurred sending JSON notification to the address of "
                    f"'team': connection refused (port {port})")
    for secret in (SECRET, PATH_SECRET, "hookuser", "hookpass99", "127.0.0.1"):
        assert secret not in result.output


def test_a_refused_connection_is_stored_with_its_kind_for_an_alert(db, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("MW_W2_HOOK", f"json://127.0.0.1:{port}/{PATH_SECRET}?token={SECRET}")
    config = parse_config("notifications:\n  - {name: team, url_env: MW_W2_HOOK}\n"
                          "watches:\n  - {name: acme, query: {any: [acme]}}\n")
    alert_id = _add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium")
    assert send_pending(db, config).failed == 1
    (error,) = db.execute("SELECT last_error FROM notifications").fetchone()
    assert error.endswith(f"to the address of 'team': connection refused (port {port})")
    assert SECRET not in error and PATH_SECRET not in error


def test_the_failure_kind_comes_from_apprise_exception_lines_only():
    from alerts.notify import _failure_kind

    captured = ("2025-06-01 12:00:00,000 - DEBUG - JSON Payload: {'message': 'acme: no route to host, "
                "connection refused'}\n"
                "2025-06-01 12:00:00,001 - WARNING - A Connection error occurred sending JSON notification to h.\n")
    assert _failure_kind(captured) is None  # post text in the payload is no reason
    timeout = ("2025-06-01 12:00:00,001 - DEBUG - Socket Exception: HTTPSConnectionPool(host='h.example', "
               "port=443): Max retries exceeded with url: /T000/B000/XXXX (Caused by ConnectTimeoutError("
               "'Connection to h.example timed out. (connect timeout=10.0)'))\n")
    assert _failure_kind(timeout) == "no connection within the connect timeout (port 443)"


# --- 2. the resolve warning, from a shell without the URL ------------------------------------------

def _add_alert(db, watch: str = "acme") -> int:
    with db.conn:
        return db.execute(
            """INSERT INTO alerts (watch, rule, status, severity, score, window_start, window_end, observed,
               expected, opened_at, updated_at, explanation) VALUES (?, 'spike', 'open', 'medium', 9.5,
               '2025-06-01T11:00:00Z', '2025-06-01T12:00:00Z', 12, 1.5, '2025-06-01T12:00:00Z',
               '2025-06-01T12:00:00Z', '{}')""", [watch]).lastrowid


def _resolve(cli, tmp_path, targets: str, *, told: str | None = "team", service_problems: list[str] | None = None):
    """`alerts resolve` of an alert of acme announced to `told`; with service_problems, while a
    service (this process, recorded as running) reports those problems."""
    from mentionwatch.service_state import mark_process, record_service_view
    from storage import open_db

    _watchlist(tmp_path, targets)
    assert cli("init").exit_code == 0
    db = open_db(tmp_path / "mentionwatch.db")
    alert_id = _add_alert(db)
    if told:
        with db.conn:
            db.execute("INSERT INTO notifications (alert_id, target, state, status, attempts, created_at, sent_at) "
                       "VALUES (?, ?, 'opened:medium', 'sent', 1, '2025-06-01T12:00:00Z', '2025-06-01T12:00:00Z')",
                       [alert_id, told])
    if service_problems is not None:
        mark_process(db, "running", str(tmp_path / WATCHLIST))
        record_service_view(db, watchlist_problem=None, notification_problems=service_problems, model_id=None)
    db.close()
    return cli("alerts", "resolve", alert_id, "--actor", "dana", "--note", "refunds issued")


TEAM = "  - {name: team, url_env: MW_W2_UNSET, events: [opened, resolved]}"


def test_resolve_without_the_url_in_this_shell_says_the_sender_needs_it(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_W2_UNSET", raising=False)
    result = _resolve(cli, tmp_path, TEAM)
    assert result.exit_code == 0, result.output
    assert "Alert #1 resolved." in result.stdout
    assert result.stderr.splitlines() == [
        "Warning: this shell cannot send to notification 'team' (no URL: environment variable MW_W2_UNSET is "
        "not set or empty); the 'resolved' message is queued all the same, and the service sends it if it can "
        "('mentionwatch status' shows what the service sees)."]
    assert "will fail" not in result.output


def test_resolve_while_a_service_that_has_the_url_runs_warns_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_W2_UNSET", raising=False)
    result = _resolve(cli, tmp_path, TEAM, service_problems=[])
    assert result.exit_code == 0, result.output
    assert "(1 target(s)) is sent by the running service" in result.stdout
    assert result.stderr == ""


def test_resolve_while_the_running_service_cannot_send_either_says_it_will_fail(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_W2_UNSET", raising=False)
    problem = "no URL: environment variable MW_W2_UNSET is not set or empty"
    result = _resolve(cli, tmp_path, TEAM, service_problems=[f"notification 'team': {problem}"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"Warning: the running service cannot send to notification 'team' ({problem}): the 'resolved' "
        "message will fail until this is fixed."]


# --- 3. no target takes 'resolved' --------------------------------------------------------------------

def test_resolve_says_no_message_goes_when_no_target_takes_resolved(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_W2_UP", "mwwalk2test://up")
    result = _resolve(cli, tmp_path, "  - {name: team, url_env: MW_W2_UP}")  # events: opened, escalated
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Alert #1 resolved.",
        "No 'resolved' message: no notification target takes 'resolved' messages of watch 'acme' "
        "(add resolved to a target's events to have one)."]


def test_resolve_says_no_message_goes_without_notification_targets(cli, tmp_path):
    result = _resolve(cli, tmp_path, "  []", told=None)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Alert #1 resolved.", "No 'resolved' message: the watchlist has no notification targets."]


def test_resolve_still_says_when_no_target_was_told(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_W2_UP", "mwwalk2test://up")
    result = _resolve(cli, tmp_path, "  - {name: team, url_env: MW_W2_UP, events: [opened, resolved]}", told=None)
    assert result.exit_code == 0, result.output
    assert "No 'resolved' message: no notification target was told about this alert." in result.stdout
