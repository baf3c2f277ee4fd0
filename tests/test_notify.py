"""Notifications: queued once per state, delivered through apprise to a real local webhook, failures
recorded with apprise's reason and retried with backoff, URLs (secrets) never stored or logged."""
from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import json
import logging
import multiprocessing
import socketserver
import sqlite3
import threading
import time

import pytest
from apprise.decorators import notify

from alerts.notify import queue_notifications, send_pending
from storage.timeutil import to_iso
from mentionwatch.config import parse_config
from mentionwatch.local_servers import LocalServer

SECRET = "s3cr3t-token-42"
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
CALLS: list[dict] = []


@notify(on="mwnotifytest")
def _flaky_target(body, title, notify_type, meta, *args, **kwargs):
    """Our own apprise scheme: fails while the URL's host is 'down', raises for 'broken', takes 50 ms for 'slow'."""
    CALLS.append({"title": title, "body": body, "host": meta.get("host")})
    if meta.get("host") == "slow":
        time.sleep(0.05)
    if meta.get("host") == "broken":
        raise RuntimeError("plugin crashed")
    return meta.get("host") != "down"


class Webhook(LocalServer):
    """A JSON webhook on 127.0.0.1 that answers with `status` and remembers each request.

    `delay` seconds pass before each answer; while `hold` is set, requests wait for its release.
    """

    def __init__(self):
        super().__init__()
        self.port = self.httpd.server_address[1]
        self.status = 200
        self.requests: list[dict] = []
        self.delay = 0.0
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()

    def handle_post(self, request):
        length = int(request.headers.get("Content-Length", 0))
        self.requests.append(json.loads(request.rfile.read(length) or b"{}"))
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(timeout=60)
        time.sleep(self.delay)
        try:
            self.reply(request, self.status, b"{}", "application/json")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender stopped waiting (its read timeout)

    def __exit__(self, *exc):
        if self.hold is not None:
            self.hold.set()  # release the requests still held, so their threads end now
        super().__exit__(*exc)


@pytest.fixture
def webhook():
    with Webhook() as hook:
        yield hook


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


def make_config(targets: str):
    return parse_config(f"""
service: {{notify_retry_interval: 2m, max_backoff: 10m}}
notifications:
{targets}
watches:
  - name: acme
    query: {{any: [acme]}}
  - name: other
    query: {{any: [other]}}
""")


def add_alert(db, watch="acme", severity="medium") -> int:
    explanation = {"summary": f"12 negative mentions of {watch}", "terms": [], "sources": {"reddit": 12},
                   "top_mentions": [{"mention_id": 1, "source": "reddit", "author": "pat", "author_reach": 5,
                                     "url": "https://example.org/p/1", "created_at": "2025-06-01T11:00:00Z",
                                     "text": "acme lost my order again", "p_negative": 0.97}]}
    with db.conn:
        return db.execute(
            """INSERT INTO alerts (watch, rule, status, severity, score, window_start, window_end, observed,
               expected, opened_at, updated_at, explanation) VALUES (?, 'spike', 'open', ?, 9.5,
               '2025-06-01T11:00:00Z', '2025-06-01T12:00:00Z', 12, 1.5, ?, ?, ?)""",
            [watch, severity, "2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z", json.dumps(explanation)],
        ).lastrowid


def mark_told(db, alert_id: int, target: str, state: str = "opened:medium") -> None:
    """As if `state` had reached `target` earlier."""
    with db.conn:
        db.execute("INSERT INTO notifications (alert_id, target, state, status, attempts, created_at, sent_at) "
                   "VALUES (?, ?, ?, 'sent', 1, '2025-06-01T12:00:00Z', '2025-06-01T12:00:00Z')",
                   [alert_id, target, state])


def rows(db):
    return db.execute("SELECT target, state, status, attempts, last_error, next_attempt_at FROM notifications "
                      "ORDER BY id").fetchall()


def test_json_webhook_gets_the_alert_once(db, webhook, monkeypatch):
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook?token={SECRET}")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    assert queue_notifications(db, config, alert_id, "opened", "medium", now=NOW) == 1
    assert queue_notifications(db, config, alert_id, "opened", "medium", now=NOW) == 0  # same state
    assert send_pending(db, config, now=NOW).sent == 1
    assert send_pending(db, config, now=NOW).sent == 0
    assert len(webhook.requests) == 1
    payload = webhook.requests[0]
    assert "acme" in payload["title"] and "acme lost my order again" in payload["message"]
    assert rows(db) == [("ops", "opened:medium", "sent", 1, None, None)]
    # an escalation is a new state: announced once more
    assert queue_notifications(db, config, alert_id, "escalated", "high", now=NOW) == 1
    send_pending(db, config, now=NOW)
    assert len(webhook.requests) == 2


def test_failure_is_recorded_with_the_reason_and_retried_with_backoff(db, webhook, monkeypatch, caplog):
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook?token={SECRET}")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    webhook.status = 500
    caplog.set_level(logging.DEBUG)
    result = send_pending(db, config, now=NOW)
    assert (result.sent, result.failed) == (0, 1)
    [(_target, _state, status, attempts, error, retry_at)] = rows(db)
    assert (status, attempts) == ("failed", 1)
    assert "500" in error
    assert retry_at == "2025-06-01T12:02:00Z"  # notify_retry_interval after the first failure

    assert send_pending(db, config, now=NOW + dt.timedelta(minutes=1)).failed == 0  # not due yet
    assert send_pending(db, config, now=NOW + dt.timedelta(minutes=2)).failed == 1
    assert rows(db)[0][5] == "2025-06-01T12:06:00Z"  # doubled: 4 minutes after the second failure
    later = NOW + dt.timedelta(minutes=6)
    send_pending(db, config, now=later)
    assert rows(db)[0][5] == "2025-06-01T12:14:00Z"  # capped at max_backoff (10 minutes)

    webhook.status = 200
    assert send_pending(db, config, now=later + dt.timedelta(minutes=10)).sent == 1
    assert rows(db)[0][2:5] == ("sent", 4, None)
    assert len(webhook.requests) == 4

    stored = json.dumps(db.execute("SELECT * FROM notifications").fetchall())
    assert SECRET not in stored and "127.0.0.1" not in stored
    assert SECRET not in caplog.text


def test_missing_url_crashing_plugin_and_unknown_scheme_are_failures_not_crashes(db, monkeypatch, caplog):
    monkeypatch.delenv("MW_NOT_SET", raising=False)
    monkeypatch.setenv("MW_BROKEN", "mwnotifytest://broken")
    monkeypatch.setenv("MW_ODD", "nosuchscheme://x")
    config = make_config("  - {name: nourl, url_env: MW_NOT_SET}\n"
                         "  - {name: broken, url_env: MW_BROKEN}\n"
                         "  - {name: odd, url_env: MW_ODD}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    caplog.set_level(logging.DEBUG)
    result = send_pending(db, config, now=NOW)
    assert (result.sent, result.failed) == (0, 3)
    assert "nosuchscheme://" not in caplog.text and "mwnotifytest://" not in caplog.text
    errors = {target: error for target, _s, _st, _a, error, _r in rows(db)}
    assert "MW_NOT_SET is not set" in errors["nourl"]
    assert "exception" in errors["broken"].lower()
    assert "cannot use the notification URL" in errors["odd"]


def test_targets_follow_events_and_watches(db, monkeypatch):
    monkeypatch.setenv("MW_A", "mwnotifytest://up")
    config = make_config("  - {name: everything, url_env: MW_A, events: [opened, escalated, resolved]}\n"
                         "  - {name: acme-only, url_env: MW_A, watches: [acme]}\n"
                         "  - {name: other-only, url_env: MW_A, watches: [other]}")
    acme = add_alert(db, "acme")
    assert queue_notifications(db, config, acme, "opened", "low", now=NOW) == 2
    assert send_pending(db, config, now=NOW).sent == 2
    assert queue_notifications(db, config, acme, "resolved", "low", now=NOW) == 1
    assert {(t, s) for t, s, *_ in rows(db)} == {("everything", "opened:low"), ("acme-only", "opened:low"),
                                                 ("everything", "resolved:low")}
    assert send_pending(db, config, now=NOW).sent == 1
    assert [c["host"] for c in CALLS] == ["up", "up", "up"]


def test_a_target_that_stays_down_is_given_up_after_max_attempts(db, monkeypatch, caplog):
    from alerts.notify import MAX_ATTEMPTS

    monkeypatch.setenv("MW_DOWN", "mwnotifytest://down")
    config = make_config("  - {name: down, url_env: MW_DOWN}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    moment = NOW
    caplog.set_level(logging.WARNING)
    results = []
    for _ in range(MAX_ATTEMPTS + 3):
        results.append(send_pending(db, config, now=moment))
        moment += dt.timedelta(hours=1)
    assert rows(db)[0][3] == MAX_ATTEMPTS
    assert len(CALLS) == MAX_ATTEMPTS
    given_up = [r for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1 and given_up[0].levelname == "ERROR"  # said once, after the last try
    # walkthrough 14a: `detect` printed "1 failed (retried later)" for the try that was given up
    assert [(r.failed, r.given_up) for r in results[:MAX_ATTEMPTS]] == [(1, 0)] * (MAX_ATTEMPTS - 1) + [(1, 1)]
    from mentionwatch.commands.alerts import _sent_summary
    assert _sent_summary(results[MAX_ATTEMPTS - 1]) == (
        "0 sent, 0 failed (retried later), 1 given up after the last try (not tried again; "
        "'alerts show' has the last error)")
    assert _sent_summary(results[0]) == "0 sent, 1 failed (retried later)"


def test_a_url_file_that_is_a_folder_is_called_a_folder(tmp_path):
    """Walkthrough 14a: 'url_file: /tmp' was said not to exist."""
    from alerts.notify import target_problems

    config = make_config(f"  - {{name: dir, url_file: {tmp_path}}}")
    assert target_problems(config) == [f"notification 'dir': no URL: {tmp_path} is a folder, not a file"]


def test_targets_that_cannot_send_are_named_before_any_alert(tmp_path, monkeypatch, caplog):
    from alerts.notify import target_problems, warn_about_targets

    monkeypatch.delenv("MW_NOT_SET", raising=False)
    monkeypatch.setenv("MW_ODD", "nosuchscheme://x")
    monkeypatch.setenv("MW_GOOD", "json://127.0.0.1:9/hook")
    (tmp_path / "empty.url").write_text("\n")
    config = make_config("  - {name: unset, url_env: MW_NOT_SET}\n"
                         f"  - {{name: nofile, url_file: {tmp_path / 'nosuch.url'}}}\n"
                         f"  - {{name: emptyfile, url_file: {tmp_path / 'empty.url'}}}\n"
                         "  - {name: odd, url_env: MW_ODD}\n"
                         "  - {name: good, url_env: MW_GOOD}")
    assert target_problems(config) == [
        "notification 'unset': no URL: environment variable MW_NOT_SET is not set or empty",
        f"notification 'nofile': no URL: file {tmp_path / 'nosuch.url'} does not exist",
        f"notification 'emptyfile': no URL: file {tmp_path / 'empty.url'} is empty (or holds only # comment lines)",
        "notification 'odd': apprise cannot use the notification URL (check its scheme and that no part is missing)",
    ]
    caplog.set_level(logging.WARNING)
    warn_about_targets(config)
    assert len(caplog.records) == 4 and "nosuchscheme" not in caplog.text


def test_status_says_which_targets_cannot_send(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_NOT_SET", raising=False)
    (tmp_path / "mentionwatch.yaml").write_text(
        "notifications:\n  - {name: team, url_env: MW_NOT_SET}\nwatches: []\n")
    assert cli("init").exit_code == 0
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert "Cannot send: notification 'team': no URL: environment variable MW_NOT_SET is not set" in result.stdout


def test_a_missing_url_file_fails_the_send_with_its_name_and_a_retry(db, tmp_path):
    config = make_config(f"  - {{name: nofile, url_file: {tmp_path / 'nosuch.url'}}}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    assert send_pending(db, config, now=NOW).failed == 1
    assert rows(db) == [("nofile", "opened:medium", "failed", 1,
                         f"no URL: file {tmp_path / 'nosuch.url'} does not exist",
                         "2025-06-01T12:02:00Z")]  # retried after notify_retry_interval


def _resolve_with_targets(cli, tmp_path, targets: str):
    """`alerts resolve` on a fresh alert of acme, with these notification targets configured."""
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(
        f"notifications:\n{targets}\nwatches:\n  - {{name: acme, query: {{any: [acme]}}}}\n")
    assert cli("init").exit_code == 0
    db = open_db(tmp_path / "mentionwatch.db")
    alert_id = add_alert(db)
    mark_told(db, alert_id, "team")  # announced: only then is 'resolved' news to anyone
    db.close()
    return cli("alerts", "resolve", alert_id, "--actor", "sam")


def test_resolve_warns_about_targets_that_cannot_send_it(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MW_NOT_SET", raising=False)
    monkeypatch.setenv("MW_ODD", f"nosuchscheme://{SECRET}")
    monkeypatch.setenv("MW_GOOD", f"json://127.0.0.1:9/hook?token={SECRET}")
    result = _resolve_with_targets(cli, tmp_path,
                                   "  - {name: unset, url_env: MW_NOT_SET, events: [resolved]}\n"
                                   "  - {name: odd, url_env: MW_ODD, events: [resolved]}\n"
                                   "  - {name: good, url_env: MW_GOOD, events: [resolved]}\n"
                                   "  - {name: notresolved, url_env: MW_NOT_SET}")
    assert result.exit_code == 0, result.output
    assert ("(3 target(s)) is queued: no service is running now; the service sends it when it runs, "
            "or the next 'mentionwatch detect' does") in result.stdout
    assert result.stderr.splitlines() == [
        "Warning: this shell cannot send to notification 'unset' (no URL: environment variable MW_NOT_SET is "
        "not set or empty); the 'resolved' message is queued all the same, and the service sends it if it can "
        "('mentionwatch status' shows what the service sees).",
        "Warning: this shell cannot send to notification 'odd' (apprise cannot use the notification URL (check "
        "its scheme and that no part is missing)); the 'resolved' message is queued all the same, and the "
        "service sends it if it can ('mentionwatch status' shows what the service sees).",
    ]
    assert SECRET not in result.output and "nosuchscheme" not in result.output


def test_resolve_with_targets_that_can_send_warns_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_GOOD", "json://127.0.0.1:9/hook")
    result = _resolve_with_targets(cli, tmp_path, "  - {name: good, url_env: MW_GOOD, events: [resolved]}")
    assert result.exit_code == 0, result.output
    assert "(1 target(s))" in result.stdout and result.stderr == ""


def _send_in_a_process(db_path, targets, barrier, now, results):
    """Child process: its own connection and config, then send_pending together with its siblings."""
    from storage import open_db

    db = open_db(db_path)
    config = make_config(targets)
    barrier.wait(timeout=120)
    result = send_pending(db, config, now=now)
    db.close()
    results.put((result.sent, result.failed))


def test_senders_in_several_processes_send_each_notification_once(db, webhook, monkeypatch, tmp_path):
    """The service and a hand-run `mentionwatch detect` may send at the same moment: nothing twice."""
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook?token={SECRET}")  # children inherit it
    targets = "  - {name: ops, url_env: MW_HOOK}"
    config = make_config(targets)
    alert_ids = [add_alert(db, watch) for watch in ("acme", "other") * 6]
    for alert_id in alert_ids:
        queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    webhook.delay = 0.05  # a slow target keeps every sender busy while the others look for due rows
    senders = 3
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(senders), context.Queue()
    children = [context.Process(target=_send_in_a_process,
                                args=(str(tmp_path / "test.db"), targets, barrier, NOW, results))
                for _ in range(senders)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert sum(sent for sent, _ in outcomes) == len(alert_ids)
    assert sum(failed for _, failed in outcomes) == 0
    announced = sorted(int(request["message"].rsplit(" ", 1)[1]) for request in webhook.requests)
    assert announced == sorted(alert_ids)  # every alert once: no duplicates, none lost
    assert {row[2:5] for row in rows(db)} == {("sent", 1, None)}
    assert db.execute("SELECT count(*) FROM notifications WHERE claimed_at IS NOT NULL").fetchone()[0] == 0


def test_senders_in_several_threads_send_each_notification_once(tmp_path, monkeypatch):
    from storage import open_db

    monkeypatch.setenv("MW_SLOW", "mwnotifytest://slow")
    config = make_config("  - {name: slow, url_env: MW_SLOW}\n  - {name: also-slow, url_env: MW_SLOW}")
    path = tmp_path / "threads.db"
    setup = open_db(path)
    for watch in ("acme", "other") * 5:
        queue_notifications(setup, config, add_alert(setup, watch), "opened", "medium", now=NOW)
    expected = setup.execute("SELECT count(*) FROM notifications").fetchone()[0]
    barrier, outcomes = threading.Barrier(4), []

    def sender():
        connection = open_db(path)
        barrier.wait(timeout=60)
        outcomes.append(send_pending(connection, config, now=NOW).sent)
        connection.close()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(outcomes) == expected == len(CALLS) == 20
    assert setup.execute("SELECT count(*) FROM notifications WHERE status = 'sent' AND attempts = 1"
                         ).fetchone()[0] == expected
    setup.close()


def _send_and_hang(db_path, targets, now):
    from storage import open_db

    send_pending(open_db(db_path), make_config(targets), now=now)


def test_a_sender_killed_mid_send_leaves_the_row_due_again_after_the_claim_timeout(db, webhook, monkeypatch,
                                                                                   tmp_path, caplog):
    from alerts.notify import CLAIM_TIMEOUT

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook?token={SECRET}")
    targets = "  - {name: ops, url_env: MW_HOOK}"
    config = make_config(targets)
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    webhook.hold = threading.Event()  # the webhook never answers: the sender hangs mid-send
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_send_and_hang, args=(str(tmp_path / "test.db"), targets, NOW))
    child.start()
    assert webhook.arrived.wait(timeout=120)
    child.kill()
    child.join(timeout=30)
    webhook.hold.set()
    webhook.hold = None
    [(_target, _state, status, attempts, _error, _retry)] = rows(db)
    assert (status, attempts) == ("pending", 1)  # claimed and counted, never marked

    # while the claim is fresh another sender leaves the row alone (its owner may still be sending)
    assert send_pending(db, config, now=NOW + CLAIM_TIMEOUT - dt.timedelta(seconds=1)).sent == 0
    assert len(webhook.requests) == 1
    caplog.set_level(logging.WARNING)
    assert send_pending(db, config, now=NOW + CLAIM_TIMEOUT).sent == 1
    assert "never finished" in caplog.text
    assert rows(db)[0][2:5] == ("sent", 2, None)
    assert len(webhook.requests) == 2


def test_resolving_queues_the_resolved_notification_and_says_how_many(db, monkeypatch):
    from alerts.lifecycle import resolve

    monkeypatch.setenv("MW_A", "mwnotifytest://up")
    config = make_config("  - {name: all, url_env: MW_A, events: [opened, resolved]}\n"
                         "  - {name: quiet, url_env: MW_A}")
    alert_id = add_alert(db)
    mark_told(db, alert_id, "all")
    mark_told(db, alert_id, "quiet")
    assert resolve(db, alert_id, "sam", config=config) == 1
    assert [(t, s) for t, s, *_ in rows(db) if s.startswith("resolved")] == [("all", "resolved:medium")]


# --- what the messages say, and how they are formatted ------------------------------------------------

HOSTILE_POST = 'ACME </p><h1>HACKED</h1><a href="https://evil.example">click</a> & AT&T < **bold** [x](https://evil.example)'
HOSTILE_AUTHOR = "<img src=x onerror=alert(1)>"


class SmtpReceiver(socketserver.ThreadingTCPServer):
    """Just enough SMTP on 127.0.0.1 to take apprise's e-mails (no TLS, no login); keeps each message."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.messages: list[email.message.EmailMessage] = []

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _SmtpSession(socketserver.StreamRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        self.wfile.write(b"220 localhost ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 end with a dot\r\n")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                self.server.messages.append(email.message_from_bytes(data, policy=email.policy.default))
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # EHLO, MAIL, RCPT, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


def add_hostile_alert(db) -> int:
    alert_id = add_alert(db, severity="high")
    explanation = {"summary": "12 negative mentions of acme", "top_mentions": [
        {"mention_id": 1, "source": "reddit", "author": HOSTILE_AUTHOR, "text": HOSTILE_POST + "\nsecond line",
         "url": "https://example.org/p/1", "created_at": "2025-06-01T11:00:00Z", "p_negative": 0.9}]}
    with db.conn:
        db.execute("UPDATE alerts SET explanation = ? WHERE id = ?", [json.dumps(explanation), alert_id])
    return alert_id


def test_an_email_carries_post_text_as_text_never_as_markup(db, monkeypatch):
    with SmtpReceiver() as smtp:
        monkeypatch.setenv("MW_MAIL", f"mailto://127.0.0.1:{smtp.server_address[1]}"
                                      "?from=mw@example.org&to=team@example.org")
        config = make_config("  - {name: mail, url_env: MW_MAIL}")
        alert_id = add_hostile_alert(db)
        queue_notifications(db, config, alert_id, "opened", "high", now=NOW)
        assert send_pending(db, config, now=NOW).sent == 1
    [message] = smtp.messages
    assert [part.get_content_type() for part in message.walk()] == ["text/plain"]  # no HTML part to inject into
    text = message.get_content()
    assert f"- {HOSTILE_AUTHOR}: {HOSTILE_POST} second line\r\n" in text  # verbatim, one post on one line
    assert text.index("12 negative mentions") < text.index("Top negative mentions:")  # lines kept


def test_a_markdown_target_gets_post_text_escaped(db, webhook, monkeypatch):
    monkeypatch.setenv("MW_MM", f"mmost://127.0.0.1:{webhook.port}/{SECRET}")
    config = make_config("  - {name: chat, url_env: MW_MM}")
    queue_notifications(db, config, add_hostile_alert(db), "opened", "high", now=NOW)
    assert send_pending(db, config, now=NOW).sent == 1
    text = webhook.requests[0]["text"]
    assert r"\*\*bold\*\*" in text and r"\[x\]\(https://evil" in text


def test_webhooks_get_the_severity_as_the_message_type_and_a_parseable_title(db, webhook, monkeypatch):
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK, events: [opened, resolved]}")
    alert_id = add_alert(db, severity="high")
    long_post = "acme " + "refund " * 40 + "never came"
    with db.conn:
        db.execute("UPDATE alerts SET explanation = json_set(explanation, '$.top_mentions[0].text', ?)",
                   [long_post])
    queue_notifications(db, config, alert_id, "opened", "high", now=NOW)
    send_pending(db, config, now=NOW)
    [opened] = webhook.requests
    assert opened["type"] == "failure"
    assert opened["title"] == f"[mentionwatch] acme: alert #{alert_id} opened (high) - negative spike"
    body = opened["message"]
    assert body.startswith("12 negative mentions of acme\n")  # no blank line before the summary
    assert f"Acknowledge: mentionwatch alerts ack {alert_id}" in body
    assert f"Details: mentionwatch alerts show {alert_id}" in body
    post_line = next(line for line in body.splitlines() if line.startswith("- pat: "))
    assert post_line.endswith("refund…") and len(post_line) <= len("- pat: ") + 201  # cut between words
    assert "\n  https://example.org/p/1\n" in body  # the link on its own line

    from alerts.lifecycle import resolve
    resolve(db, alert_id, "sam", note="refunds issued", config=config)
    send_pending(db, config)  # now: the 'resolved' message was queued at the clock's time
    assert webhook.requests[1]["type"] == "success"


def test_a_per_source_alert_names_its_source_in_the_title(db, webhook, monkeypatch):
    """With per_source: true one incident can open an alert for the watch and one per source."""
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    whole, reddit = add_alert(db, severity="high"), add_alert(db, severity="high")
    with db.conn:
        db.execute("UPDATE alerts SET source = 'reddit' WHERE id = ?", [reddit])
    for alert_id in (whole, reddit):
        queue_notifications(db, config, alert_id, "opened", "high", now=NOW)
    assert send_pending(db, config, now=NOW).sent == 2
    assert [request["title"] for request in webhook.requests] == [
        f"[mentionwatch] acme: alert #{whole} opened (high) - negative spike",
        f"[mentionwatch] acme/reddit: alert #{reddit} opened (high) - negative spike"]


def test_the_resolved_message_says_who_when_how_long_and_why(db, webhook, monkeypatch):
    from alerts.lifecycle import resolve

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK, events: [opened, resolved]}")
    alert_id = add_alert(db)
    mark_told(db, alert_id, "ops")
    resolve(db, alert_id, "sam", note="refunds issued", config=config)
    with db.conn:  # resolved 2 h 5 min after it opened
        db.execute("UPDATE alerts SET resolved_at = '2025-06-01T14:05:00Z' WHERE id = ?", [alert_id])
    assert send_pending(db, config).sent == 1
    [message] = webhook.requests
    assert message["title"] == f"[mentionwatch] acme: alert #{alert_id} resolved (was medium) - negative spike"
    assert message["message"].splitlines() == [
        "The incident is over: resolved by sam at 2025-06-01 14:05 UTC, 2 h 5 min after it opened "
        "(2025-06-01 12:00 UTC).",
        "Note: refunds issued",
        "",
        f"Details: mentionwatch alerts show {alert_id}",
    ]


def test_an_escalation_says_what_it_grew_from_and_who_owns_it(db, webhook, monkeypatch):
    from alerts.lifecycle import acknowledge

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    send_pending(db, config, now=NOW)
    acknowledge(db, alert_id, "sam", owner="dana")
    with db.conn:
        db.execute("UPDATE alerts SET severity = 'critical' WHERE id = ?", [alert_id])
    queue_notifications(db, config, alert_id, "escalated", "critical", now=NOW)
    send_pending(db, config, now=NOW)
    escalated = webhook.requests[1]
    assert escalated["title"].startswith(f"[mentionwatch] acme: alert #{alert_id} escalated medium -> critical")
    acknowledged_line = escalated["message"].splitlines()[0]
    assert acknowledged_line.startswith("Acknowledged by sam at ") and acknowledged_line.endswith(" UTC, owner dana.")
    assert "alerts ack" not in escalated["message"]  # already owned


# --- order: no stale message, no message nobody needs ---------------------------------------------------

def test_messages_of_an_alert_resolved_before_they_went_out_are_dropped(db, monkeypatch):
    from alerts.lifecycle import resolve

    monkeypatch.setenv("MW_DOWN", "mwnotifytest://down")
    config = make_config("  - {name: team, url_env: MW_DOWN}")  # opened and escalated, not resolved
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    assert send_pending(db, config, now=NOW).failed == 1
    resolve(db, alert_id, "sam", config=config)  # the waiting opening is dropped then and there
    monkeypatch.setenv("MW_DOWN", "mwnotifytest://up")  # the target is back
    result = send_pending(db, config, now=NOW + dt.timedelta(hours=1))
    assert (result.sent, result.superseded) == (0, 0)
    assert [c["host"] for c in CALLS] == ["down"]  # the stale 'opened' never went
    [(_target, state, status, _attempts, reason, _retry)] = rows(db)
    assert (state, status) == ("opened:medium", "superseded")
    assert reason == "the alert was resolved before this message went out"


def test_an_escalation_waits_for_the_opening_of_its_alert(db, monkeypatch):
    monkeypatch.setenv("MW_T", "mwnotifytest://down")
    config = make_config("  - {name: team, url_env: MW_T}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    send_pending(db, config, now=NOW)  # fails: retried in 2 minutes
    queue_notifications(db, config, alert_id, "escalated", "high", now=NOW)  # severity stays medium here
    monkeypatch.setenv("MW_T", "mwnotifytest://up")
    assert send_pending(db, config, now=NOW + dt.timedelta(minutes=1)).sent == 0  # waits for the opening
    assert send_pending(db, config, now=NOW + dt.timedelta(minutes=2)).sent == 2
    titles = [c["title"] for c in CALLS[1:]]
    assert "opened (medium)" in titles[0] and "escalated medium -> high" in titles[1]


def test_a_late_opening_states_the_severity_of_now_and_makes_its_escalation_redundant(db, webhook, monkeypatch):
    """The target was down while the alert grew: its opening arrives titled (and typed) with the
    severity of now, and the escalation it already told is not sent as well."""
    monkeypatch.setenv("MW_HOOK", "mwnotifytest://down")
    config = make_config("  - {name: team, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    send_pending(db, config, now=NOW)  # fails: retried in 2 minutes
    with db.conn:
        db.execute("UPDATE alerts SET severity = 'critical' WHERE id = ?", [alert_id])
    queue_notifications(db, config, alert_id, "escalated", "critical", now=NOW)
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    result = send_pending(db, config, now=NOW + dt.timedelta(minutes=2))
    assert (result.sent, result.superseded) == (1, 1)
    [opened] = webhook.requests
    assert opened["title"].startswith(f"[mentionwatch] acme: alert #{alert_id} opened (critical)")
    assert opened["type"] == "failure"
    assert opened["message"].startswith("Opened at medium; it has grown to critical since.")
    opening, escalation = rows(db)
    # its row keeps the state it was queued at (the key against a second sending) and says what went
    assert opening[1:5] == ("opened:medium", "sent", 2, "sent as opened (critical)")
    assert escalation[1:3] == ("escalated:critical", "superseded")
    assert escalation[4] == "the opening already said the alert is critical"
    assert send_pending(db, config, now=NOW + dt.timedelta(hours=1)).sent == 0  # never sent later


def test_an_escalation_past_what_a_late_opening_said_grows_from_that(db, monkeypatch):
    monkeypatch.setenv("MW_T", "mwnotifytest://down")
    config = make_config("  - {name: team, url_env: MW_T}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    send_pending(db, config, now=NOW)
    with db.conn:
        db.execute("UPDATE alerts SET severity = 'high' WHERE id = ?", [alert_id])
    queue_notifications(db, config, alert_id, "escalated", "high", now=NOW)
    monkeypatch.setenv("MW_T", "mwnotifytest://up")
    assert send_pending(db, config, now=NOW + dt.timedelta(minutes=2)).sent == 1  # opened (high)
    with db.conn:
        db.execute("UPDATE alerts SET severity = 'critical' WHERE id = ?", [alert_id])
    queue_notifications(db, config, alert_id, "escalated", "critical", now=NOW + dt.timedelta(minutes=3))
    assert send_pending(db, config, now=NOW + dt.timedelta(minutes=3)).sent == 1
    titles = [c["title"] for c in CALLS[1:]]
    assert "opened (high)" in titles[0] and "escalated high -> critical" in titles[1]


def test_a_later_escalation_replaces_one_not_sent_yet(db, monkeypatch):
    monkeypatch.setenv("MW_T", "mwnotifytest://up")
    config = make_config("  - {name: team, url_env: MW_T}")
    alert_id = add_alert(db)
    mark_told(db, alert_id, "team")
    queue_notifications(db, config, alert_id, "escalated", "high", now=NOW)
    queue_notifications(db, config, alert_id, "escalated", "critical", now=NOW)
    result = send_pending(db, config, now=NOW)
    assert (result.sent, result.superseded) == (1, 1)
    assert len(CALLS) == 1 and "escalated medium -> critical" in CALLS[0]["title"]


def test_resolved_goes_only_to_targets_told_about_the_alert(db, monkeypatch):
    from alerts.lifecycle import resolve

    monkeypatch.setenv("MW_T", "mwnotifytest://up")
    config = make_config("  - {name: told, url_env: MW_T, events: [opened, resolved]}\n"
                         "  - {name: never-told, url_env: MW_T, events: [opened, resolved]}\n"
                         "  - {name: closures-only, url_env: MW_T, events: [resolved]}")
    replayed = add_alert(db)  # as after a replay or `detect --no-notify`: nobody was told
    assert resolve(db, replayed, "sam", config=config) == 0
    announced = add_alert(db)
    mark_told(db, announced, "told")
    assert resolve(db, announced, "sam", config=config) == 2  # told, and the target taking only 'resolved'
    assert send_pending(db, config).sent == 2
    assert {c["title"].split(" - ")[0] for c in CALLS} == {f"[mentionwatch] acme: alert #{announced} resolved (was medium)"}


def test_resolved_is_not_queued_for_a_target_whose_opening_never_arrived(db, monkeypatch):
    """Review 2026-12-07: resolving counted (and `status` listed) a 'resolved' for a target whose
    opening had failed, and that opening as still to be retried, though neither could ever go."""
    from alerts.lifecycle import resolve

    monkeypatch.setenv("MW_T", "mwnotifytest://down")
    config = make_config("  - {name: team, url_env: MW_T, events: [opened, resolved]}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    send_pending(db, config, now=NOW)
    assert resolve(db, alert_id, "sam", config=config) == 0  # the opening never arrived, and now never will
    [(_target, state, status, _attempts, reason, _retry)] = rows(db)
    assert (state, status, reason) == ("opened:medium", "superseded",
                                       "the alert was resolved before this message went out")
    assert send_pending(db, config).sent == 0
    assert [c["host"] for c in CALLS] == ["down"]


def test_resolved_waits_for_an_opening_being_sent_at_that_moment(db, monkeypatch):
    """An opening claimed by a sender when the alert is resolved may still get through: it is left to
    its sender, and 'resolved' is queued after it (and dropped if it never arrived)."""
    from alerts.lifecycle import resolve

    monkeypatch.setenv("MW_T", "mwnotifytest://down")
    config = make_config("  - {name: team, url_env: MW_T, events: [opened, resolved]}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    with db.atomic():  # another process is sending it right now
        db.execute("UPDATE notifications SET claimed_at = ?, attempts = 1", [to_iso(dt.datetime.now(dt.timezone.utc))])
    assert resolve(db, alert_id, "sam", config=config) == 1
    assert sorted((state, status) for _t, state, status, *_ in rows(db)) == [("opened:medium", "pending"),
                                                                           ("resolved:medium", "pending")]


# --- slow and dead targets ------------------------------------------------------------------------------

def test_a_slow_webhook_gets_the_message_once(db, webhook, monkeypatch):
    """apprise alone gives up after 4 s while the hook is still working, and each retry repeated it."""
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    webhook.delay = 5
    assert send_pending(db, config, now=NOW).sent == 1
    assert len(webhook.requests) == 1 and rows(db)[0][2] == "sent"


def test_a_webhook_that_never_answers_in_time_is_unconfirmed_and_not_repeated(db, webhook, monkeypatch, caplog):
    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook?rto=0.5&token={SECRET}")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    webhook.delay = 1.5
    caplog.set_level(logging.WARNING)
    result = send_pending(db, config, now=NOW)
    assert (result.sent, result.failed, result.unconfirmed) == (0, 0, 1)
    assert send_pending(db, config, now=NOW + dt.timedelta(hours=1)).unconfirmed == 0
    assert len(webhook.requests) == 1
    [(_target, _state, status, attempts, error, retry_at)] = rows(db)
    assert (status, attempts, retry_at) == ("unconfirmed", 1, None)
    assert error.startswith("no answer within the read timeout, so it may well have arrived; not sent again")
    assert SECRET not in error + caplog.text


def test_a_failing_target_is_tried_once_per_pass(db, monkeypatch):
    monkeypatch.setenv("MW_DOWN", "mwnotifytest://down")
    monkeypatch.setenv("MW_UP", "mwnotifytest://up")
    config = make_config("  - {name: down, url_env: MW_DOWN}\n  - {name: up, url_env: MW_UP}")
    for watch in ("acme", "other", "acme"):
        queue_notifications(db, config, add_alert(db, watch), "opened", "medium", now=NOW)
    result = send_pending(db, config, now=NOW)
    assert (result.sent, result.failed) == (3, 1)
    assert [c["host"] for c in CALLS].count("down") == 1


def test_a_threshold_alert_states_its_rule_window_and_readable_durations():
    """A window that starts at a resolution is shorter than the rule's: the rule keeps its own window."""
    from alerts.detect import rule_window
    from alerts.explain import peak_text, readable_duration

    config = parse_config("""
watches:
  - name: acme
    query: {any: [acme]}
    alerts: {thresholds: [{count: 20, window: 1h, severity: medium}]}
""")
    window = rule_window("threshold:20 in 1h", config.watches[0].alerts)
    assert window == 3600 and rule_window("spike", config.watches[0].alerts) is None
    peak = {"start": "2025-06-01T11:08:48Z", "end": "2025-06-01T12:00:00Z", "rule_window": window}
    text = peak_text("threshold:20 in 1h", 25, 20, 1.25, peak)
    assert text == ("25 negative mentions in 51 min at peak (2025-06-01T11:08:48Z -> 2025-06-01T12:00:00Z), "
                    "rule: at least 20 in 1h")
    assert [readable_duration(s) for s in (3600, 1800, 45, 3072, 7510)] == ["1h", "30m", "45s", "51 min", "2 h 5 min"]


def test_a_failed_send_stores_no_part_of_the_address(db, monkeypatch):
    """apprise's reason names the host it could not reach; the stored error names the notification."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MW_HOOK", f"json://ops:{SECRET}@localhost:{port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    assert send_pending(db, config, now=NOW).failed == 1
    [(_target, _state, status, _attempts, error, _retry_at)] = rows(db)
    assert status == "failed"
    assert "localhost" not in error and SECRET not in error
    assert "the address of 'ops'" in error


def test_a_failed_send_stores_no_ntfy_topic(db, webhook, monkeypatch):
    """On ntfy the topic works as a password; apprise's reason quotes it."""
    topic = "acme-alerts-7f3k2q"
    monkeypatch.setenv("MW_HOOK", f"ntfy://127.0.0.1:{webhook.port}/{topic}")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    webhook.status = 500
    assert send_pending(db, config, now=NOW).failed == 1
    [(_target, _state, status, _attempts, error, _retry_at)] = rows(db)
    assert status == "failed" and error
    assert topic not in error and "127.0.0.1" not in error


def test_a_send_the_service_stop_cuts_short_is_sent_at_the_next_start(db, webhook, monkeypatch, tmp_path):
    """Walkthrough 8: the service stopped (SIGTERM) while a slow webhook had the message; its claim
    stayed for ten minutes ('next try 3m ago') before another sender took it up. A review found that
    marking such a send 'unconfirmed' loses one still connecting: its claim is released instead,
    and the next start sends it at once (it may arrive twice, never zero times)."""
    from alerts.notify import settle_interrupted_sends
    from storage import open_db

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    webhook.hold = threading.Event()  # the webhook takes the message and answers only later
    sender = threading.Thread(target=lambda: send_pending(open_db(tmp_path / "test.db"), config, now=NOW))
    sender.start()
    assert webhook.arrived.wait(timeout=60)
    # the stop: the service's own connection settles what its sender threads have in flight
    assert settle_interrupted_sends(open_db(tmp_path / "test.db")) == 1
    [(_target, _state, status, attempts, error, _retry)] = rows(db)
    assert (status, attempts, error) == ("pending", 0, None)
    assert db.execute("SELECT claimed_at FROM notifications").fetchone()[0] is None
    webhook.hold.set()
    sender.join(timeout=60)
    assert settle_interrupted_sends(db) == 0  # nothing in flight any more


def test_a_sender_told_to_stop_claims_no_new_row(db, monkeypatch):
    monkeypatch.setenv("MW_A", "mwnotifytest://up")
    config = make_config("  - {name: a, url_env: MW_A}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    assert send_pending(db, config, now=NOW, keep_going=lambda: False).sent == 0
    assert rows(db)[0][2:4] == ("pending", 0) and CALLS == []


def _held_and_quick_targets(db, monkeypatch, held, quick, names: tuple[str, str]):
    """A watchlist with two web hook targets, `held` answering only once released, and an alert's
    opening queued for both."""
    held.hold = threading.Event()
    for name, hook in zip(names, (held, quick)):
        monkeypatch.setenv(f"MW_{name.upper()}", f"json://127.0.0.1:{hook.port}/hook")
    config = make_config("\n".join(f"  - {{name: {name}, url_env: MW_{name.upper()}}}" for name in names))
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    return config


def test_a_slow_target_does_not_hold_up_the_others(db, monkeypatch):
    """Sends went one after another: a mail server taking a minute delayed the team's chat by as much,
    and a receiver held to its deadline by up to 510 s. The quick target is told while the slow one
    still has its message."""
    with Webhook() as slow, Webhook() as quick:
        config = _held_and_quick_targets(db, monkeypatch, slow, quick, names=("slow", "quick"))
        told_meanwhile: list[bool] = []

        def release_slow_once_quick_is_told():
            told_meanwhile.append(quick.arrived.wait(timeout=10))
            slow.hold.set()

        releaser = threading.Thread(target=release_slow_once_quick_is_told)
        releaser.start()
        result = send_pending(db, config, now=NOW)
        releaser.join()
    assert told_meanwhile == [True]
    assert result.sent == 2 and [row[2] for row in rows(db)] == ["sent", "sent"]
    assert len(slow.requests) == len(quick.requests) == 1


def test_a_target_whose_opening_was_given_up_hears_of_a_rise_as_an_opening(db, monkeypatch):
    """A given-up opening counted as 'may have heard': the target was later told "escalated medium
    -> high" of an alert it never heard of, and queued a 'resolved' of it."""
    from alerts.notify import MAX_ATTEMPTS

    monkeypatch.setenv("MW_FLAKY", "mwnotifytest://down")
    config = make_config("  - {name: flaky, url_env: MW_FLAKY, events: [opened, escalated, resolved]}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    moment = NOW
    for _ in range(MAX_ATTEMPTS):
        send_pending(db, config, now=moment)
        moment += dt.timedelta(hours=1)
    assert rows(db)[0][2:4] == ("failed", MAX_ATTEMPTS)
    assert queue_notifications(db, config, alert_id, "resolved", "medium", now=moment) == 0
    assert queue_notifications(db, config, alert_id, "escalated", "high", now=moment) == 1
    assert [row[1] for row in rows(db)] == ["opened:medium", "opened:high"]


def test_two_targets_at_one_address_are_sent_to_one_after_the_other(db, monkeypatch):
    """Review: with targets side by side, a stuck receiver got a stuck send from each of two
    targets naming its URL; one at a time, the second waits until the first has ended."""
    from alerts import notify

    monkeypatch.setattr(notify, "CLAIM_TIMEOUT", dt.timedelta(seconds=4))
    monkeypatch.setattr(notify, "CLAIM_MARGIN_SECONDS", 1.0, raising=False)
    with Webhook() as hook:
        hook.hold = threading.Event()
        url = f"json://127.0.0.1:{hook.port}/hook?rto=700"
        monkeypatch.setenv("MW_A", url)
        monkeypatch.setenv("MW_B", url)
        config = make_config("  - {name: a, url_env: MW_A}\n  - {name: b, url_env: MW_B}")
        queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
        result = send_pending(db, config, now=NOW)
        held = len(hook.requests)
        hook.hold.set()
    assert held == 1 and result.unconfirmed == 1
    assert [row[2] for row in rows(db)] == ["unconfirmed", "pending"]  # b: once the stuck send has ended


def test_an_error_while_recording_one_send_leaves_the_others_recorded(db, monkeypatch, caplog):
    """Review: an error in the round (the database locked, say) left every other send then on its
    way claimed but unrecorded, to be sent again ten minutes later."""
    from alerts import notify

    with Webhook() as slow, Webhook() as quick:
        config = _held_and_quick_targets(db, monkeypatch, slow, quick, names=("a", "b"))
        record = notify._record

        def locked_for_b(db_, config_, result, moment, row, delivery):
            if row[2] == "b":
                slow.hold.set()  # a's send ends while the round is failing
                raise sqlite3.OperationalError("database is locked")
            record(db_, config_, result, moment, row, delivery)

        monkeypatch.setattr(notify, "_record", locked_for_b)
        with pytest.raises(sqlite3.OperationalError), caplog.at_level(logging.ERROR):
            send_pending(db, config, now=NOW)
    assert dict((row[0], row[2]) for row in rows(db)) == {"a": "sent", "b": "pending"}
    assert notify._SENDING == set()


def _just_now() -> str:
    from storage.timeutil import to_iso

    return to_iso(dt.datetime.now(dt.timezone.utc))


def test_an_opening_on_its_last_try_still_counts_as_on_its_way(db, monkeypatch):
    """Review: the 8th try counts its attempt when it is claimed, before it is sent; taken for given
    up then, a rise meanwhile was queued as a second opening and a resolution for nobody."""
    from alerts.notify import MAX_ATTEMPTS

    monkeypatch.setenv("MW_FLAKY", "mwnotifytest://up")
    config = make_config("  - {name: flaky, url_env: MW_FLAKY, events: [opened, escalated, resolved]}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    with db.conn:  # the last try claimed, still sending
        db.execute("UPDATE notifications SET status = 'failed', attempts = ?, claimed_at = ?",
                   [MAX_ATTEMPTS, _just_now()])
    assert queue_notifications(db, config, alert_id, "escalated", "high", now=NOW) == 1
    assert queue_notifications(db, config, alert_id, "resolved", "high", now=NOW) == 1
    assert [row[1] for row in rows(db)] == ["opened:medium", "escalated:high", "resolved:high"]


def test_a_last_try_whose_sender_died_is_sent_once_more(db, monkeypatch, caplog):
    """Review: the 8th try's attempt is counted when it is claimed; its sender killed mid-send, the
    row was never due again: sent zero times, and never said to be given up."""
    from alerts.notify import MAX_ATTEMPTS

    monkeypatch.setenv("MW_FLAKY", "mwnotifytest://down")
    config = make_config("  - {name: flaky, url_env: MW_FLAKY}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    with db.conn:  # claimed long before NOW by a sender that died
        db.execute("UPDATE notifications SET status = 'failed', attempts = ?, claimed_at = '2025-06-01T11:00:00Z'",
                   [MAX_ATTEMPTS])
    with caplog.at_level(logging.ERROR):
        assert send_pending(db, config, now=NOW).failed == 1
    assert [c["host"] for c in CALLS] == ["down"]
    assert rows(db)[0][2:4] == ("failed", MAX_ATTEMPTS + 1)
    assert any("given up" in r.getMessage() for r in caplog.records)
    assert send_pending(db, config, now=NOW + dt.timedelta(days=1)).failed == 0  # not again



def test_a_send_whose_thread_cannot_start_is_left_for_the_next_round(db, monkeypatch, tmp_path):
    """Review: the send was counted in flight before its thread started; when none could be had,
    the round waited for it for ever (the service's notify job hung) and the row stayed claimed."""
    from storage import open_db

    monkeypatch.setenv("MW_A", "mwnotifytest://up")
    config = make_config("  - {name: a, url_env: MW_A}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    real_start = threading.Thread.start

    def no_lane_thread(thread):
        if thread.name == "notification-lane":
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", no_lane_thread)
    raised = []

    def send():
        try:
            send_pending(open_db(tmp_path / "test.db"), config, now=NOW)
        except RuntimeError as exc:
            raised.append(str(exc))

    sender = threading.Thread(target=send)
    sender.start()
    sender.join(timeout=20)
    assert not sender.is_alive() and raised == ["can't start new thread"]
    monkeypatch.setattr(threading.Thread, "start", real_start)
    assert rows(db)[0][2:4] == ("pending", 0)
    assert db.execute("SELECT claimed_at FROM notifications").fetchone()[0] is None
    assert send_pending(db, config, now=NOW).sent == 1


def test_an_escalation_waits_for_an_opening_on_its_last_try(db, monkeypatch):
    """Review: the opening on its 8th try (claimed by another sender, still on its way) was not
    waited for: the team could read 'escalated' before, or without, the opening."""
    from alerts.notify import MAX_ATTEMPTS

    monkeypatch.setenv("MW_A", "mwnotifytest://up")
    config = make_config("  - {name: a, url_env: MW_A}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    with db.conn:
        db.execute("UPDATE notifications SET status = 'failed', attempts = ?, claimed_at = ?",
                   [MAX_ATTEMPTS, _just_now()])
    queue_notifications(db, config, alert_id, "escalated", "high", now=NOW)
    assert send_pending(db, config, now=NOW).sent == 0
    assert [row[2] for row in rows(db)] == ["failed", "pending"] and CALLS == []


def test_an_opening_that_fails_on_its_way_after_the_resolution_is_dropped_with_its_resolved(db, webhook, tmp_path,
                                                                                             monkeypatch):
    """Review 2026-12-07: an opening being sent when the alert was resolved, whose send then failed,
    was listed (with the 'resolved' queued behind it) as still to be delivered until its retry time,
    though neither could ever go."""
    from alerts.lifecycle import resolve
    from storage import open_db

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: ops, url_env: MW_HOOK, events: [opened, resolved]}")
    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    webhook.hold, webhook.status = threading.Event(), 500
    sender_db = open_db(tmp_path / "test.db")
    outcome = {}
    sender = threading.Thread(target=lambda: outcome.update(result=send_pending(sender_db, config)))
    sender.start()
    try:
        assert webhook.arrived.wait(30)  # the opening is on its way
        assert resolve(db, alert_id, "sam", config=config) == 1  # it may get through: 'resolved' waits behind it
    finally:
        webhook.hold.set()
        sender.join(60)
        sender_db.close()
    assert (outcome["result"].failed, outcome["result"].superseded) == (1, 2)
    by_state = {state: (status, reason) for _t, state, status, _a, reason, _r in rows(db)}
    assert by_state["opened:medium"][0] == "superseded"
    assert by_state["opened:medium"][1].startswith("the alert was resolved before this message went out "
                                                   "(its last try failed: ")
    assert by_state["resolved:medium"] == ("superseded", "this target was never told about the alert")
