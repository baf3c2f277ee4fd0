"""Fixes from a review of the service (scheduler.py, mentionwatch/service_state.py): the heartbeat
starved by slow jobs (and a second service started beside a hung one), back-off overflow after a
thousand failures, SIGHUP reloads leaking connections and tracebacks, a secret cut in two before it
was redacted, a stop held up by another program's lock, and a stop signal during the start-up.

Real SQLite files and the real Service class; fakes only at the network edge (local HTTP servers).
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

import scheduler
from mentionwatch.logging_setup import configure_logging, remember_secrets
from mentionwatch.service_state import recorded_service
from scheduler import Service, ServiceAlreadyRunning, backoff_seconds, collect_targets
from storage import open_db, utc_now_iso
from storage.timeutil import to_iso
from tests.service_fakes import LocalServer, wait_until, write_watchlist
from tests.test_scheduler import starts_once_the_other_is_gone

CLOSED_PORT_URL = "http://127.0.0.1:9"  # nothing listens: a poll fails at once


def _hn_source(url: str, interval: str = "1h", tag: str = "") -> str:
    # `tag` only makes otherwise equal sources distinct jobs (another settings hash)
    return f"""      - type: hackernews
        interval: {interval}
        base_url: {url}{tag}
        options: {{min_interval: 0}}
"""


def _service(tmp_path, sources, **kwargs) -> Service:
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", sources)
    return Service(config_path, blocking=False, collect_options={"sleep": lambda _s: None}, **kwargs)


def _stand_in_bodies(service: Service) -> None:
    """The model-backed bodies are not what these tests are about."""
    for kind in ("score", "detect", "notify"):
        setattr(service, f"_job_{kind}", lambda _db, _job_id: ("ok", {}))


def _record_other_service(db_path, pid: int, *, heartbeat_age: float = 0.0,
                          started_at: str | None = None) -> None:
    """The process row a service with `pid` on this host wrote (its heartbeat `heartbeat_age` s old)."""
    now = dt.datetime.now(dt.timezone.utc)
    db = open_db(db_path)
    with db.atomic():
        db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                        "VALUES (1, ?, ?, 'running', ?, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, "
                        "state = excluded.state, started_at = excluded.started_at, "
                        "heartbeat_at = excluded.heartbeat_at",
                        [pid, socket.gethostname(), started_at or utc_now_iso(),
                         to_iso(now - dt.timedelta(seconds=heartbeat_age))])
    db.close()


class HangingServer(LocalServer):
    """Holds every request until released (a site that accepts and does not answer)."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def handle_get(self, request):
        with self.lock:
            self.requests.append(request.path)
        self.release.wait(60)
        self.reply(request, 503, b"busy", "text/plain")


# --- 1. the heartbeat is not starved by slow jobs; a hung service blocks a second one ------------

def test_the_heartbeat_runs_while_slow_collections_fill_every_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(scheduler, "HEARTBEAT_SECONDS", 0.5)
    with HangingServer() as site:
        sources = "".join(_hn_source(site.url, tag=f"/{n}") for n in range(scheduler.MAX_WORKERS))
        service = _service(tmp_path, sources)
        _stand_in_bodies(service)
        assert len(collect_targets(service.config)) == scheduler.MAX_WORKERS
        service.start()
        try:
            wait_until(lambda: sum(j.startswith("collect:") for j in service._running) == scheduler.MAX_WORKERS,
                       30, interval=0.05, what="every worker busy with a slow collection")
            watcher = open_db(service.db_path)
            before = watcher.execute("SELECT heartbeat_at FROM service_process").fetchone()[0]
            wait_until(lambda: watcher.execute("SELECT heartbeat_at FROM service_process").fetchone()[0] > before,
                       6, interval=0.1, what="a heartbeat while the pool is full")
            assert sum(j.startswith("collect:") for j in service._running) == scheduler.MAX_WORKERS
            watcher.close()
        finally:
            site.release.set()
            service.stop("test over")
            assert service.finish() == 0


def test_retention_runs_outside_the_heartbeat(tmp_path):
    service = _service(tmp_path, "      []")
    service._apply_config(service.config, first=True)
    jobs = {job.id: job for job in service.scheduler.get_jobs()}
    assert jobs["heartbeat"].executor == scheduler.HEARTBEAT_EXECUTOR
    assert jobs["maintenance"].executor == scheduler.PIPELINE_EXECUTOR  # not the heartbeat's thread
    assert all(job.executor == scheduler.PIPELINE_EXECUTOR for job_id, job in jobs.items() if job_id != "heartbeat")
    listed = {row[0] for row in open_db(service.db_path).execute("SELECT job_id FROM service_jobs")}
    assert "maintenance" not in listed and "heartbeat" not in listed  # housekeeping: not shown by status

    erased = []
    real_erase = scheduler.erase_old_mentions
    scheduler.erase_old_mentions = lambda db, keep: erased.append(keep) or 0
    try:
        service.config.service.keep_mentions = 30 * 86400
        service._housekeeping("heartbeat")
        assert erased == []  # never inside the heartbeat
        service._housekeeping("maintenance")
        assert erased == [30 * 86400]
    finally:
        scheduler.erase_old_mentions = real_erase


def test_a_second_service_is_refused_while_a_hung_one_is_still_there(tmp_path, cli):
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    _stand_in_bodies(service)
    hung = subprocess.Popen(["sleep", "60"])  # a live process standing in for a hung service
    try:
        _record_other_service(service.db_path, hung.pid, heartbeat_age=600)
        with pytest.raises(ServiceAlreadyRunning, match=f"pid {hung.pid} on .*not responding.*still there"):
            service.start()
        result = cli("--config", service.config_path, "status")
        assert result.stdout.startswith(f"Service: not responding (was running; process {hung.pid} "
                                        "is still there: hung?)"), result.stdout
        report = recorded_service(open_db(service.db_path), dt.datetime.now(dt.timezone.utc))
        assert report["alive"] is False and report["hung"] is True
    finally:
        hung.kill()
        hung.wait()
    starts_once_the_other_is_gone(service)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="a process's start time is read from /proc")
def test_a_reused_pid_is_no_hung_service(tmp_path):
    """A process that started after the recorded service did (its pid reused, say after a reboot)
    is not that service: it neither blocks a start nor shows as hung."""
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    _stand_in_bodies(service)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        _record_other_service(service.db_path, stranger.pid, heartbeat_age=3600,
                              started_at=to_iso(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
        report = recorded_service(open_db(service.db_path), dt.datetime.now(dt.timezone.utc))
        assert report["process_gone"] is True and report["hung"] is False
        starts_once_the_other_is_gone(service)  # its process is another's now: gone all the same
    finally:
        stranger.kill()
        stranger.wait()


# --- 2. back-off after a thousand failures in a row ---------------------------------------------

def test_backoff_after_thousands_of_failures_is_the_cap():
    for failures in (63, 64, 1000, 1014, 1100, 10**6):
        assert backoff_seconds(900.0, failures, 21600.0) == 21600.0
    assert backoff_seconds(900, 2000, 900) == 900


def test_a_source_failing_for_months_still_backs_off_and_ends_its_run(tmp_path):
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    service._apply_config(service.config, first=True)
    job_id = next(iter(collect_targets(service.config)))
    service._failures[job_id] = 1100
    service._running.add(job_id)
    service._after_run(job_id, "collect", "failed", {})
    assert job_id not in service._running
    assert service._failures[job_id] == 1101
    assert service._backoff_until[job_id] is not None


def test_a_run_is_over_even_when_its_back_off_cannot_be_worked_out(tmp_path):
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    job_id = next(iter(collect_targets(service.config)))

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the back-off")

    service._update_backoff = broken
    service._running.add(job_id)
    with pytest.raises(RuntimeError):
        service._after_run(job_id, "collect", "failed", {})
    assert job_id not in service._running  # finish() does not wait out --stop-timeout for it


# --- 3. and 4. SIGHUP: no connection left behind, a locked database is one log line -------------

@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals")
def test_sighups_leave_no_connection_behind(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    made = []  # (thread, connection): a connection of a thread that has ended must be closed

    def connect(path):
        made.append((threading.current_thread(), open_db(path)))
        return made[-1][1]

    def left_behind():
        return [conn for thread, conn in made
                if not thread.is_alive() and any(c is conn for c in service._connections)]

    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL), connect=connect)
    _stand_in_bodies(service)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        service._install_signal_handlers()
        service.start()
        time.sleep(0.5)
        for _ in range(10):
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        wait_until(lambda: sum("watchlist reloaded (SIGHUP)" in r.getMessage() for r in caplog.records) == 10,
                   30, what="ten SIGHUP reloads")
        # counting the service's connections instead raced with job threads opening theirs under load
        wait_until(lambda: not left_behind() and all(not thread.is_alive() for thread, _ in made
                                                     if "_reload_on_signal" in thread.name), 10,
                   what="the reload threads' connections closed")
        assert sum("_reload_on_signal" in thread.name for thread, _ in made) == 10  # one per reload
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        service.stop("test over")
        assert service.finish() == 0


def test_a_reload_while_another_program_holds_the_lock_is_one_line(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL),
                       connect=lambda path: _with_busy_timeout(open_db(path), 100))
    _stand_in_bodies(service)
    service._apply_config(service.config, first=True)
    old_job = next(iter(collect_targets(service.config)))
    write_watchlist(service.config_path, service.db_path, _hn_source(CLOSED_PORT_URL, tag="/new"))
    blocker = sqlite3.connect(service.db_path)
    blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    errors = []
    thread = threading.Thread(target=lambda: _catching(errors, service._reload_on_signal))
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        thread.start()
        thread.join(30)
    finally:
        threading.excepthook = old_hook
        blocker.rollback()
        blocker.close()
    assert errors == []
    new_job = next(iter(collect_targets(service.config)))
    assert new_job != old_job and {j.id for j in service.scheduler.get_jobs()} >= {new_job}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("locked" in line for line in warnings), warnings
    assert all("\n" not in line for line in warnings)
    service._housekeeping("heartbeat")  # the next heartbeat records the jobs the reload made
    listed = {row[0] for row in open_db(service.db_path).execute(
        "SELECT job_id FROM service_jobs WHERE kind = 'collect'")}
    assert listed == {new_job}


def _with_busy_timeout(db, ms: int):
    db.execute(f"PRAGMA busy_timeout = {ms}")
    return db


def _catching(errors: list, function) -> None:
    try:
        function()
    except BaseException as exc:  # what would have escaped the SIGHUP thread
        errors.append(exc)


# --- 5. a secret is redacted before an error is cut -------------------------------------------

def test_a_secret_across_the_cut_of_an_error_is_redacted(tmp_path):
    out = io.StringIO()
    configure_logging("text", logging.INFO, stream=out)
    secret = "xoxb-SuperSecretSlackToken-0123456789abcdef"
    remember_secrets([secret])
    service = _service(tmp_path, "      []")

    def bad(_db, _job_id):
        raise RuntimeError("x" * (300 - 12 - len(secret) + 1) + f" posting to {secret} failed")

    service._job_notify = bad
    with pytest.raises(RuntimeError):
        service._run_job("notify", "notify")
    line = next(line for line in out.getvalue().splitlines() if "job notify" in line)
    stored = open_db(service.db_path).execute("SELECT detail FROM job_runs").fetchone()[0]
    for text in (line, stored):
        assert secret[:12] not in text
        assert "[redacted]" in text


# --- 6. a stop is bounded while another program holds the lock ------------------------------------

def test_a_stop_is_bounded_while_another_program_holds_the_lock(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL), stop_timeout=0.5)
    _stand_in_bodies(service)
    service.start()
    blocker = sqlite3.connect(service.db_path)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        service.stop("SIGTERM received")
        assert service.finish() == 0
        took = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert took < 12, f"the stop took {took:.0f}s"
    lines = [r.getMessage() for r in caplog.records if "could not record the stop" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "locked" in lines[0]


# --- 7. a stop signal during the start-up -------------------------------------------------------

def test_a_stop_during_the_start_up_does_not_defeat_the_second_service_check(tmp_path):
    first = subprocess.Popen(["sleep", "60"])  # a live process standing in for the first service
    try:
        service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
        _record_other_service(service.db_path, first.pid)
        service.stop("SIGINT received")  # Ctrl-C while it was still starting
        with pytest.raises(ServiceAlreadyRunning, match=f"pid {first.pid}"):
            service.start()
        service.finish()
        row = open_db(service.db_path).execute("SELECT pid, state FROM service_process").fetchone()
        assert row == (first.pid, "running")  # the first service's row is untouched
    finally:
        first.kill()
        first.wait()


def test_a_stop_during_the_start_up_still_records_the_stop(tmp_path):
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    _stand_in_bodies(service)
    service.stop("SIGINT received")
    service.start()  # no other service: it prepares, then does not start the scheduler
    assert not service.scheduler.running
    assert service.finish() == 0
    row = open_db(service.db_path).execute("SELECT state FROM service_process").fetchone()
    assert row == ("stopped",)
