"""Notifications: queued once per state, delivered through apprise to a real local webhook, failures
recorded with apprise's reason and retried with backoff, URLs (secrets) never stored or logged."""
from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import threading
import time

import pytest
from apprise.decorators import notify

from alerts.notify import queue_notifications, send_pending
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
        self.reply(request, self.status, b"{}", "application/json")

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
    assert queue_notifications(db, config, acme, "resolved", "low", now=NOW) == 1
    assert {(t, s) for t, s, *_ in rows(db)} == {("everything", "opened:low"), ("acme-only", "opened:low"),
                                                 ("everything", "resolved:low")}
    assert send_pending(db, config, now=NOW).sent == 3
    assert [c["host"] for c in CALLS] == ["up", "up", "up"]


def test_a_target_that_stays_down_is_given_up_after_max_attempts(db, monkeypatch, caplog):
    from alerts.notify import MAX_ATTEMPTS

    monkeypatch.setenv("MW_DOWN", "mwnotifytest://down")
    config = make_config("  - {name: down, url_env: MW_DOWN}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    moment = NOW
    caplog.set_level(logging.WARNING)
    for _ in range(MAX_ATTEMPTS + 3):
        send_pending(db, config, now=moment)
        moment += dt.timedelta(hours=1)
    assert rows(db)[0][3] == MAX_ATTEMPTS
    assert len(CALLS) == MAX_ATTEMPTS
    given_up = [r for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1 and given_up[0].levelname == "ERROR"  # said once, after the last try


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
        f"notification 'emptyfile': no URL: file {tmp_path / 'empty.url'} is empty or cannot be read",
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


def test_a_missing_url_is_looked_up_once_per_send(db, tmp_path, monkeypatch):
    from mentionwatch.config import Notification

    lookups = []
    real_resolve = Notification.resolve_url
    monkeypatch.setattr(Notification, "resolve_url",
                        lambda target: lookups.append(target.name) or real_resolve(target))
    config = make_config(f"  - {{name: nofile, url_file: {tmp_path / 'nosuch.url'}}}")
    queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
    assert send_pending(db, config, now=NOW).failed == 1
    assert lookups == ["nofile"]  # before: a second lookup only to word the error
    assert rows(db)[0][4] == f"no URL: file {tmp_path / 'nosuch.url'} does not exist"


def _resolve_with_targets(cli, tmp_path, targets: str):
    """`alerts resolve` on a fresh alert of acme, with these notification targets configured."""
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(
        f"notifications:\n{targets}\nwatches:\n  - {{name: acme, query: {{any: [acme]}}}}\n")
    assert cli("init").exit_code == 0
    db = open_db(tmp_path / "mentionwatch.db")
    alert_id = add_alert(db)
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
    assert "(3 target(s)) is sent by the running service" in result.stdout
    assert result.stderr.splitlines() == [
        "Warning: notification 'unset': no URL: environment variable MW_NOT_SET is not set or empty: "
        "the 'resolved' message will fail until this is fixed.",
        "Warning: notification 'odd': apprise cannot use the notification URL (check its scheme and "
        "that no part is missing): the 'resolved' message will fail until this is fixed.",
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
    """The service and a hand-run `mentionwatch notify` may send at the same moment: nothing twice."""
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
    assert resolve(db, add_alert(db), "sam", config=config) == 1
    assert [(t, s) for t, s, *_ in rows(db)] == [("all", "resolved:medium")]
