"""Commands that overlap on one database: two `mentionwatch run` started at the same moment (exactly
one runs, the other is refused; a service that stops never records another one as stopped),
`status` while another program holds the write lock, and `mark` on a mention a `forget` is
erasing. Real processes and real SQLite files; the tests hold the write lock themselves, so each
overlap happens every time (the race a double `nohup … run &`, or systemd plus a manual start, hits).
"""
from __future__ import annotations

import os
import signal
import socket
import time

from service_fakes import start_service, wait_until, write_watchlist
from storage import open_db, utc_now_iso


def test_two_services_started_together_one_runs_the_other_is_refused(tmp_path):
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", "      []")
    db = open_db(tmp_path / "svc.db")  # migrated before the services start, so they only read at first
    db.conn.execute("BEGIN IMMEDIATE")  # both services wait for this lock at their first write
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    services = [start_service(config_path, log) for log in logs]
    try:
        wait_until(lambda: all(log.exists() for log in logs), 30, what="both services to start")
        time.sleep(3)  # both at their check by now (they start in well under a second with nothing to collect)
        db.conn.execute("ROLLBACK")
        refused = wait_until(lambda: [p for p in services if p.poll() is not None], 60, what="one to exit")
        assert len(refused) == 1 and refused[0].returncode == 1
        (running,) = [p for p in services if p is not refused[0]]
        refused_log = logs[services.index(refused[0])].read_text(encoding="utf-8")
        assert f"another mentionwatch service (pid {running.pid} on {socket.gethostname()}) is running" \
            in refused_log
        wait_until(lambda: db.execute("SELECT state FROM service_process").fetchone() == ("running",), 60,
                   what="the running service's row")
        assert db.execute("SELECT pid FROM service_process").fetchone() == (running.pid,)
    finally:
        for process in services:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in services:
            process.wait(timeout=60)
        db.close()


def test_a_stopping_service_leaves_another_services_row_alone(tmp_path):
    from mentionwatch.service_state import mark_process

    db = open_db(tmp_path / "svc.db")
    with db.atomic():
        db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                        "VALUES (1, ?, ?, 'running', '2026-12-07T00:00:00Z', '2026-12-07T00:00:00Z')",
                        [os.getpid() + 1, socket.gethostname()])
    mark_process(db, "stopped")
    assert db.execute("SELECT pid, state FROM service_process").fetchone() == (os.getpid() + 1, "running")
    mark_process(db, "starting", "watch.yaml")  # a start takes the row over
    assert db.execute("SELECT pid, state FROM service_process").fetchone() == (os.getpid(), "starting")
    db.close()


def test_status_says_a_silent_service_may_be_waiting_for_a_lock(tmp_path, cli):
    """Another program holding the write lock (DB Browser with unsaved edits) stops the service's
    heartbeat: `status` said 'hung?' and invited killing a service that goes on by itself."""
    import subprocess

    db_path = tmp_path / "mentionwatch.db"
    service = subprocess.Popen(["sleep", "60"])  # the service's process, still there
    db = open_db(db_path)
    try:
        with db.atomic():
            db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                            "VALUES (1, ?, ?, 'running', ?, '2020-01-01T00:00:00Z')",
                            [service.pid, socket.gethostname(), utc_now_iso()])
        assert "hung?" in cli("--db", db_path, "status").stdout.splitlines()[0]
        db.conn.execute("BEGIN IMMEDIATE")  # the other program's lock
        first_line = cli("--db", db_path, "status").stdout.splitlines()[0]
        db.conn.execute("ROLLBACK")
    finally:
        service.kill()
        service.wait()
        db.close()
    assert "hung?" not in first_line
    assert "the database is locked for writing, so it cannot record its heartbeat" in first_line


def test_mark_on_a_mention_being_erased_is_the_plain_unknown_mention_mistake(tmp_path):
    """`mark` typed while a `forget` erases that mention: checked under the write lock, it is 'no
    mention with id N', not a foreign-key error from SQLite."""
    import threading

    from mentionwatch.triage.marks import UnknownMentions, mark_mentions
    from storage import Mention, save_mentions

    eraser, marker = open_db(tmp_path / "x.db"), open_db(tmp_path / "x.db")
    save_mentions(eraser, [Mention("reddit", "t1", "acme is broken", "2026-12-01T10:00:00Z", watches=("acme",))])
    (mention_id,) = eraser.execute("SELECT id FROM mentions").fetchone()
    eraser.conn.execute("BEGIN IMMEDIATE")  # the forget, under way
    eraser.conn.execute("DELETE FROM mention_watches WHERE mention_id = ?", [mention_id])
    eraser.conn.execute("DELETE FROM mentions WHERE id = ?", [mention_id])
    outcome: list = []

    def mark() -> None:
        try:
            outcome.append(mark_mentions(marker, [mention_id], "handled"))
        except Exception as exc:  # noqa: BLE001 (what it raised is the point)
            outcome.append(exc)
    thread = threading.Thread(target=mark)
    thread.start()
    time.sleep(1)  # the mark waits for the forget's lock
    eraser.conn.execute("COMMIT")
    thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], UnknownMentions), outcome
    eraser.close()
    marker.close()


def test_status_of_a_user_who_cannot_write_the_database_does_not_rule_out_a_lock(tmp_path, monkeypatch):
    """A team member who may only read the database (chmod 640) cannot test the lock: SQLite opens
    it read-only and the test would say 'not locked' even while another program holds it."""
    import mentionwatch.service_state as service_state

    db = open_db(tmp_path / "mentionwatch.db")
    monkeypatch.setattr(service_state.os, "access", lambda path, mode: False)
    assert service_state._why_silent(db).startswith("hung?, or waiting for a write lock another program holds")
    db.close()
