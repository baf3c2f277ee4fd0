"""Alerts written by several connections at once, and a crash between an alert and its notifications.

The interleavings are forced, not left to timing: one connection holds the write lock (BEGIN
IMMEDIATE) until the step under test, on its own connection, has reached its first write, which
that connection's SQL trace (sqlite3's `set_trace_callback`) shows. A crash is a real process
death at the moment the first notification row is written: a temporary trigger of the crashing
connection calls an SQL function that ends the process.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import threading

import pytest

from alerts.detect import run_detection
from alerts.lifecycle import LifecycleError, acknowledge, resolve
from alerts.notify import queue_notifications
from mentionwatch.config import parse_config
from storage import open_db
from tests.test_alerts_detection import START, add_stream, config_text

CRASHED = 71  # the exit code of a process that died where the test made it die
BURST_HOUR = 6 * 24 + 8


@pytest.fixture
def path(tmp_path):
    return tmp_path / "shared.db"


@pytest.fixture
def config():
    """Detection's test config; its target also takes the 'resolved' messages."""
    return parse_config(config_text(target_events="opened, resolved"))


def reaches_a_write(db) -> threading.Event:
    """An Event set when the connection starts a transaction or a write, before it waits for the lock."""
    reached = threading.Event()

    def trace(sql: str) -> None:
        if sql.lstrip().upper().startswith(("BEGIN", "INSERT", "UPDATE", "DELETE")):
            reached.set()

    db.conn.set_trace_callback(trace)
    return reached


@contextlib.contextmanager
def holding_the_write_lock(db):
    """BEGIN IMMEDIATE on this connection; the block's writes commit when it ends."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()  # nothing to commit when a step inside the block committed by itself


class Step(threading.Thread):
    """A call on another thread; `outcome` is what it returned or raised."""

    def __init__(self, call, *args, **kwargs):
        super().__init__(daemon=True)
        self.call, self.args, self.kwargs = call, args, kwargs
        self.outcome = None
        self.start()

    def run(self):
        try:
            self.outcome = self.call(*self.args, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            self.outcome = exc

    def result(self, timeout: float = 60):
        self.join(timeout)
        assert not self.is_alive(), "the step never finished"
        return self.outcome


def add_alert(db, config) -> int:
    """An open alert of acme whose 'opened' message was sent (so 'resolved' is news to its target)."""
    with db.atomic():
        alert_id = db.execute(
            """INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, updated_at)
               VALUES ('acme', 'spike', 'medium', '2025-06-01T11:00:00Z', '2025-06-01T12:00:00Z',
                       '2025-06-01T12:00:00Z', '2025-06-01T12:00:00Z')""").lastrowid
    queue_notifications(db, config, alert_id, "opened", "medium")
    with db.atomic():
        db.execute("UPDATE notifications SET status = 'sent', sent_at = '2025-06-01T12:00:05Z' WHERE alert_id = ?",
                   [alert_id])
    return alert_id


def timeline(db, alert_id: int) -> list[str]:
    return [kind for (kind,) in db.execute("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id",
                                           [alert_id])]


def states(db) -> list[str]:
    return [state for (state,) in db.execute("SELECT state FROM notifications ORDER BY id")]


# --- lifecycle steps against each other ------------------------------------------------------------

def test_an_acknowledgement_waiting_on_a_resolve_does_not_reopen_the_alert(path, config):
    resolving, acknowledging = open_db(path), open_db(path)
    alert_id = add_alert(resolving, config)
    about_to_write = reaches_a_write(acknowledging)
    with holding_the_write_lock(resolving):
        ack = Step(acknowledge, acknowledging, alert_id, "kim")
        assert about_to_write.wait(30)
        resolve(resolving, alert_id, "sam")
    outcome = ack.result()
    assert isinstance(outcome, LifecycleError) and str(outcome) == f"alert {alert_id} is already resolved"
    assert resolving.execute("SELECT status, owner FROM alerts").fetchone() == ("resolved", "sam")
    assert timeline(resolving, alert_id) == ["resolved"]


def test_two_resolves_at_once_resolve_the_alert_once(path, config):
    first, second = open_db(path), open_db(path)
    alert_id = add_alert(first, config)
    about_to_write = reaches_a_write(second)
    with holding_the_write_lock(first):
        late = Step(resolve, second, alert_id, "kim", config=config)
        assert about_to_write.wait(30)
        assert resolve(first, alert_id, "sam", config=config) == 1
    assert isinstance(late.result(), LifecycleError)
    assert timeline(first, alert_id) == ["resolved"]
    assert first.execute("SELECT actor FROM alert_events").fetchall() == [("sam",)]
    assert states(first) == ["opened:medium", "resolved:medium"]


# --- detections against each other -----------------------------------------------------------------

def test_detections_running_at_once_open_one_alert_per_incident(path, config):
    """The service and a `detect` typed by hand may run together: one incident is still one alert,
    and its 'opened' notification is queued once. Both runs have found the incident, and are about
    to store it, before either may write."""
    from sentiment import model_id_for

    holder = open_db(path)
    add_stream(holder, model_id_for(config.sentiment), burst={BURST_HOUR: [("reddit", 30)]})
    moment = START + dt.timedelta(hours=BURST_HOUR + 1)
    runs = [open_db(path) for _ in range(3)]
    about_to_write = [reaches_a_write(run) for run in runs]
    with holding_the_write_lock(holder):
        steps = [Step(run_detection, run, config, now=moment, notify=True) for run in runs]
        assert all(event.wait(60) for event in about_to_write)
    assert sorted(len(step.result().opened) for step in steps) == [0, 0, 1]
    assert holder.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    assert states(holder) == ["opened:high"]


# --- a crash between the alert and its notifications -----------------------------------------------

def _crash_when_a_notification_is_queued(db) -> None:
    """This process dies (as in kill -9 or a power cut) when the connection writes a notification row."""
    db.conn.create_function("crash", 0, lambda: os._exit(CRASHED))
    db.execute("CREATE TEMP TRIGGER crash_on_queue BEFORE INSERT ON main.notifications BEGIN SELECT crash(); END")


def _detect_and_crash(path, config, moment) -> None:
    db = open_db(path)
    _crash_when_a_notification_is_queued(db)
    run_detection(db, config, now=moment, notify=True)


def _resolve_and_crash(path, config, alert_id) -> None:
    db = open_db(path)
    _crash_when_a_notification_is_queued(db)
    resolve(db, alert_id, "sam", config=config)


def exit_code_of(target, *args) -> int:
    """Run target(*args) in a forked process (its own connection, as another program has)."""
    child = multiprocessing.get_context("fork").Process(target=target, args=args)
    child.start()
    child.join(120)
    return child.exitcode


def test_a_crash_before_the_opened_notification_is_queued_stores_neither(path, config):
    from sentiment import model_id_for

    db = open_db(path)
    add_stream(db, model_id_for(config.sentiment), burst={BURST_HOUR: [("reddit", 30)]})
    moment = START + dt.timedelta(hours=BURST_HOUR + 1)
    assert exit_code_of(_detect_and_crash, path, config, moment) == CRASHED
    assert (db.execute("SELECT count(*) FROM alerts").fetchone()[0], states(db)) == (0, [])
    result = run_detection(db, config, now=moment, notify=True)  # the next run opens it and tells
    assert len(result.opened) == 1
    assert states(db) == ["opened:high"]


def test_a_crash_before_the_resolved_notification_is_queued_leaves_the_alert_open(path, config):
    db = open_db(path)
    alert_id = add_alert(db, config)
    assert exit_code_of(_resolve_and_crash, path, config, alert_id) == CRASHED
    assert db.execute("SELECT status FROM alerts").fetchone()[0] == "open"
    assert (timeline(db, alert_id), states(db)) == ([], ["opened:medium"])
    assert resolve(db, alert_id, "sam", config=config) == 1  # resolving again works and tells
    assert states(db) == ["opened:medium", "resolved:medium"]
