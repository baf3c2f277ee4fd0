"""Fixes from the tenth walkthrough and the ninth review (session of 2026-12-06): each test fails
without its fix."""
from __future__ import annotations

import signal
import threading
import time

import pytest

from mentionwatch.triage import export as export_module

from test_export import _stock
from test_notify import webhook  # noqa: F401  (a fixture)


def test_ctrl_c_during_an_export_exits_130_and_keeps_the_previous_file(cli, tmp_path, monkeypatch):
    """Every command stopped by Ctrl-C exits 130 with one line, as `score` does; click's own
    backstop printed "Aborted!" and exit code 1, the code of a failure."""
    db_path = tmp_path / "stocked.db"
    _stock(db_path)
    out = tmp_path / "todo.csv"
    out.write_text("yesterday's export\n", encoding="utf-8")

    def interrupted(rows, path):
        path.write_text("half a file", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "write_csv", interrupted)
    result = cli("--db", db_path, "export", "--out", out)
    assert result.exit_code == 130, result.output
    assert "Aborted" not in result.output and "Traceback" not in result.output
    assert result.stderr.strip() == "Interrupted."
    assert out.read_text(encoding="utf-8") == "yesterday's export\n"


# ------------------------------------------------------------------ review 9: notifications

def _queue_one(db, config) -> int:
    from alerts.notify import queue_notifications
    from test_notify import NOW, add_alert

    alert_id = add_alert(db)
    queue_notifications(db, config, alert_id, "opened", "medium", now=NOW)
    return alert_id


def test_a_url_file_written_by_notepad_is_read_and_one_in_another_encoding_is_named(db, webhook, tmp_path):
    """A UTF-16 url_file (Notepad, PowerShell) crashed the service at start, `status` and `notify
    test` with a traceback, and the pass that met it sent nothing to any target."""
    from alerts.notify import send_pending, target_problems
    from test_notify import NOW, make_config, rows

    notepad = tmp_path / "team.url"
    notepad.write_bytes(f"json://127.0.0.1:{webhook.port}/team\r\n".encode("utf-16"))
    latin = tmp_path / "ops.url"
    latin.write_bytes("json://127.0.0.1:1/Zürich".encode("cp1252"))
    config = make_config(f"  - {{name: team, url_file: {notepad}}}\n  - {{name: ops, url_file: {latin}}}")
    assert target_problems(config) == [f"notification 'ops': no URL: file {latin} is not UTF-8 text (save it as UTF-8)"]
    _queue_one(db, config)
    result = send_pending(db, config, now=NOW)
    assert (result.sent, result.failed) == (1, 1)
    assert len(webhook.requests) == 1
    assert [(target, status) for target, _state, status, *_ in rows(db)] == [("team", "sent"), ("ops", "failed")]


def test_one_targets_unexpected_error_is_recorded_and_the_others_still_get_theirs(db, webhook, monkeypatch):
    import alerts.notify as notify
    from test_notify import NOW, make_config, rows

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    config = make_config("  - {name: first, url_env: MW_HOOK}\n  - {name: second, url_env: MW_HOOK}")
    real = notify.message_for

    def fails_for_the_first(db, alert_id, state, target_name=None):
        if target_name == "first":
            raise KeyError("explanation")
        return real(db, alert_id, state, target_name)

    monkeypatch.setattr(notify, "message_for", fails_for_the_first)
    _queue_one(db, config)
    result = notify.send_pending(db, config, now=NOW)
    assert (result.sent, result.failed) == (1, 1) and len(webhook.requests) == 1
    first, second = rows(db)
    assert first[2] == "failed" and first[4] == "unexpected error (KeyError; see the service log)"
    assert first[5] is not None  # retried later, not left claimed
    assert second[2] == "sent"


def test_a_target_url_holding_two_apprise_urls_is_refused(db, webhook, monkeypatch):
    """apprise sends "json://a json://b" to both and counts the send failed when one fails: the one
    that worked got the same message on every retry (8 times)."""
    from alerts.notify import SEVERAL_URLS, send_pending, target_problems
    from test_notify import NOW, make_config, rows

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/ok json://127.0.0.1:1/down")
    config = make_config("  - {name: team, url_env: MW_HOOK}")
    assert target_problems(config) == [f"notification 'team': {SEVERAL_URLS}"]
    _queue_one(db, config)
    send_pending(db, config, now=NOW)
    assert webhook.requests == []
    assert rows(db)[0][2:5] == ("failed", 1, SEVERAL_URLS)


class _TricklingHook:
    """Answers a POST with a header line every half second for a minute: a stuck proxy. At exit it
    hangs up and waits for the sends it held to end, so that none goes on into the next test."""

    def __enter__(self):
        import threading

        from mentionwatch.local_servers import LocalServer

        hang_up = self.hang_up = threading.Event()

        class Trickle(LocalServer):
            def handle_post(self, request):
                request.rfile.read(int(request.headers.get("Content-Length", 0)))
                request.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(120):
                    try:
                        request.wfile.write(b"X-Still: here\r\n")
                        request.wfile.flush()
                    except OSError:
                        return
                    if hang_up.wait(0.5):
                        request.connection.close()
                        return

        self.server = Trickle().__enter__()
        self.port = self.server.httpd.server_address[1]
        return self

    def __exit__(self, *exc):
        from alerts.notify import still_sending

        self.hang_up.set()
        self.server.__exit__(*exc)
        url = f"json://127.0.0.1:{self.port}/hook?cto=1&rto=1"
        deadline = time.monotonic() + 30
        while still_sending(url) and time.monotonic() < deadline:
            time.sleep(0.1)


def test_a_receiver_that_trickles_its_answer_cannot_hold_the_sender(db, webhook, monkeypatch):
    """The read timeout bounds each read, not the answer: a receiver sending a line every half
    second held a send for as long as it liked (the service's detection waits for its sends). Cut
    off, its send goes on in the background: it must not lend its failure to the next target's
    send (that one was stored unconfirmed, never retried), and nothing more goes to it meanwhile."""
    from alerts.notify import queue_notifications, send_pending
    from test_notify import NOW, add_alert, make_config, rows

    webhook.status = 500
    with _TricklingHook() as hook:
        monkeypatch.setenv("MW_STUCK", f"json://127.0.0.1:{hook.port}/hook?cto=1&rto=1")
        monkeypatch.setenv("MW_OPS", f"json://127.0.0.1:{webhook.port}/ops")
        config = make_config("  - {name: stuck, url_env: MW_STUCK}\n  - {name: ops, url_env: MW_OPS}")
        for _ in range(3):
            queue_notifications(db, config, add_alert(db), "opened", "medium", now=NOW)
        started = time.monotonic()
        result = send_pending(db, config, now=NOW)
        took = time.monotonic() - started
        again = send_pending(db, config, now=NOW)  # the cut-off send is still going: nothing to `stuck`
    assert took < 25  # one deadline, 2 x (1 + 1) + 5 = 9 s, not one per message
    assert (result.unconfirmed, result.failed, again.unconfirmed) == (1, 1, 0)
    stuck = [row for row in rows(db) if row[0] == "stuck"]
    assert [row[2] for row in stuck] == ["unconfirmed", "pending", "pending"]
    assert stuck[0][4].startswith("no complete answer within 9 s")
    ops = [row for row in rows(db) if row[0] == "ops"]
    assert ops[0][2] == "failed" and "500" in ops[0][4], ops  # its own reason, retried later


def test_a_huge_read_timeout_in_the_url_is_capped():
    import apprise

    from alerts.notify import MAX_SEND_SECONDS, _send_deadline

    sender = apprise.Apprise()
    sender.add("json://127.0.0.1:9/x?rto=5000000000")
    assert _send_deadline(sender) == MAX_SEND_SECONDS


def test_ctrl_c_during_a_send_releases_its_claim(db, monkeypatch):
    """`detect` stopped mid-send left the row claimed: nobody sent it for 10 minutes. Ctrl-C reaches
    the main thread while the send goes on in its own."""
    import _thread

    import alerts.notify as notify
    from test_notify import NOW, make_config

    send_ends = threading.Event()
    # a test run started in the background ignores SIGINT (the shell's doing): Ctrl-C as typed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def interrupted(*args, **kwargs):
        _thread.interrupt_main()  # as Ctrl-C does
        send_ends.wait(timeout=60)
        return notify.Delivery()

    monkeypatch.setattr(notify, "deliver", interrupted)
    monkeypatch.setenv("MW_HOOK", "json://127.0.0.1:9/hook")
    config = make_config("  - {name: team, url_env: MW_HOOK}")
    _queue_one(db, config)
    try:
        with pytest.raises(KeyboardInterrupt):
            notify.send_pending(db, config, now=NOW)
    finally:
        send_ends.set()
        signal.signal(signal.SIGINT, previous)
    assert db.execute("SELECT status, attempts, claimed_at FROM notifications").fetchall() == [("pending", 0, None)]


@pytest.mark.parametrize("data", [
    "json://127.0.0.1:9/x".encode("utf-16-le"),  # UTF-16 without its byte-order mark
    b"\xff\xfe\x00\x00" + "json://127.0.0.1:9/x".encode("utf-32-le"),  # UTF-32 with one
])
def test_url_files_in_utf32_or_utf16_without_a_mark(data):
    from mentionwatch.config import url_file_text

    if data.startswith(b"\xff\xfe\x00\x00"):
        assert url_file_text(data) == "json://127.0.0.1:9/x"
    else:
        with pytest.raises(UnicodeError):
            url_file_text(data)


def test_an_erasure_stopped_during_its_index_merge_is_finished_by_running_it_again(cli, tmp_path, monkeypatch):
    """Ctrl-C while `forget` merged the full-text index left the erased words in the database file,
    and running it again (nothing left to erase) did not merge: they stayed."""
    import storage.db as storage_db
    from storage import Mention, open_db, save_mentions

    db_path = tmp_path / "mw.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", f"p{i}", f"ordinary post {i} about acme", "2025-01-01T00:00:00Z",
                               author=f"user{i}") for i in range(200)]
                  + [Mention("reddit", "secret", "acme zyxwvutsecretword", "2025-01-02T00:00:00Z", author="janedoe")])
    db.close()
    real = storage_db._Database.execute

    def interrupted_at_the_merge(self, sql, *args, **kwargs):
        if "'optimize'" in sql:
            raise KeyboardInterrupt
        return real(self, sql, *args, **kwargs)

    monkeypatch.setattr(storage_db._Database, "execute", interrupted_at_the_merge)
    stopped = cli("--db", db_path, "forget", "--author", "janedoe", "--yes")
    assert stopped.exit_code == 130 and "run the same command again to finish it" in stopped.stderr
    monkeypatch.setattr(storage_db._Database, "execute", real)

    def word_in_the_files() -> bool:
        return any(b"zyxwvutsecretword" in path.read_bytes() for path in tmp_path.glob("mw.db*"))

    assert word_in_the_files()  # what the interrupted merge left behind
    again = cli("--db", db_path, "forget", "--author", "janedoe", "--yes")
    assert again.exit_code == 0, again.output
    assert not word_in_the_files()


def test_messages_for_a_target_taken_out_of_the_watchlist_are_dropped_not_retried(db, webhook, monkeypatch):
    """They were retried 8 times over hours ('failed, attempt 6: no notification named ...'), an
    ERROR said they were given up, and `status` listed them as not delivered."""
    from alerts.notify import queue_notifications, send_pending
    from test_notify import NOW, add_alert, make_config, rows

    monkeypatch.setenv("MW_HOOK", f"json://127.0.0.1:{webhook.port}/hook")
    before = make_config("  - {name: team, url_env: MW_HOOK}\n  - {name: old-hook, url_env: MW_HOOK}")
    alert_id = add_alert(db)
    queue_notifications(db, before, alert_id, "opened", "medium", now=NOW)
    queue_notifications(db, before, alert_id, "escalated", "high", now=NOW)
    after = make_config("  - {name: team, url_env: MW_HOOK}")
    by_hand = send_pending(db, after, now=NOW)  # `detect` run with another watchlist: left alone
    assert (by_hand.sent, by_hand.superseded) == (2, 0)
    assert [row[2] for row in rows(db) if row[0] == "old-hook"] == ["pending", "pending"]
    result = send_pending(db, after, now=NOW, drop_removed_targets=True)  # the service
    assert (result.sent, result.failed, result.superseded) == (0, 0, 2)
    dropped = [row for row in rows(db) if row[0] == "old-hook"]
    assert [(row[2], row[3]) for row in dropped] == [("superseded", 0), ("superseded", 0)]
    assert dropped[0][4] == "no notification named 'old-hook' in the watchlist any more"


def test_status_says_a_silent_service_may_only_be_out_of_disk(tmp_path, cli, monkeypatch):
    """With the database's disk full the service cannot write its heartbeat: `status` said 'hung?'
    and sent the user to kill a service that goes on by itself once space is freed."""
    import shutil
    import socket
    import subprocess

    import mentionwatch.service_state as service_state
    from storage import open_db, utc_now_iso

    db_path = tmp_path / "mentionwatch.db"
    service = subprocess.Popen(["sleep", "60"])  # the service's process, still there
    try:
        db = open_db(db_path)
        with db.atomic():
            db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                            "VALUES (1, ?, ?, 'running', ?, '2020-01-01T00:00:00Z')",
                            [service.pid, socket.gethostname(), utc_now_iso()])
        db.close()
        assert "hung?" in cli("--db", db_path, "status").stdout.splitlines()[0]
        full = shutil.disk_usage(tmp_path)._replace(free=20 * 1024)
        monkeypatch.setattr(service_state.shutil, "disk_usage", lambda path: full)
        first_line = cli("--db", db_path, "status").stdout.splitlines()[0]
    finally:
        service.kill()
        service.wait()
    assert "hung?" not in first_line
    assert "the disk holding the database is full (20 KB free)" in first_line


def test_a_log_file_on_a_full_disk_gives_one_line_not_a_traceback_per_line(tmp_path, capsys):
    """`--log-file` on a full disk: Python's '--- Logging error ---' and a call stack for every line
    logged went to standard error (the journal)."""
    import errno
    import logging

    from mentionwatch.logging_setup import _private_rotating_handler

    class FullDisk:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def seek(self, *args):
            return 0

        def tell(self):
            return 0

    handler = _private_rotating_handler(tmp_path / "service.log")
    handler.stream = FullDisk()
    logger = logging.getLogger("mentionwatch.test_full_disk")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(3):
            logger.warning("job %d ran", n)
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    assert err.splitlines() == [f"mentionwatch: cannot write the log file {tmp_path / 'service.log'} "
                                "(No space left on device); lines are lost until it can be written again"]
