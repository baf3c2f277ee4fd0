"""What the background service records about itself, and the health report built from it.

The service (scheduler.py) writes three things another process can read: the `service_process`
row (pid, state, heartbeat, and what it sees of its watchlist: a rejected change, notification
targets that cannot send, its sentiment model), one `service_jobs` row per scheduled job (next run,
failures, back-off) and one `job_runs` row per job run. `health_report` joins them with crawl runs,
the unscored backlog, notifications not yet delivered and open alerts for `mentionwatch status`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from mentionwatch.logging_setup import redact, redact_data
from storage import utc_now_iso
from storage.timeutil import from_iso, to_iso

STALE_HEARTBEAT_SECONDS = 90  # a running service writes one every HEARTBEAT_SECONDS (scheduler.py)


@dataclass
class JobSchedule:
    """A scheduled job as `mentionwatch status` shows it."""

    job_id: str
    kind: str
    watch: str | None = None
    source: str | None = None
    interval_seconds: float | None = None
    next_run_at: str | None = None
    failures: int = 0
    backoff_until: str | None = None


# --- written by the service -------------------------------------------------------------------

def mark_process(db: Database, state: str, config_path: str | None = None) -> None:
    """Record this process as the database's service (state: starting/running/stopping/stopped).
    Only 'starting' takes the row over; the later states change it only while it is this
    process's, so a service stopping never records another one that took over as stopped."""
    now = utc_now_iso()
    with db.atomic():
        db.conn.execute(
            "INSERT INTO service_process (id, pid, host, config_path, state, started_at, heartbeat_at) "
            "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, "
            "host = excluded.host, config_path = COALESCE(excluded.config_path, config_path), "
            "state = excluded.state, heartbeat_at = excluded.heartbeat_at, "
            "started_at = CASE WHEN excluded.state = 'starting' THEN excluded.started_at "
            "ELSE started_at END "
            "WHERE excluded.state = 'starting' OR (service_process.pid = excluded.pid "
            "AND service_process.host = excluded.host)",
            [os.getpid(), socket.gethostname(), config_path, state, now, now])


def record_service_view(db: Database, *, watchlist_problem: str | None,
                        notification_problems: list[str], model_id: str | None) -> None:
    """What this service sees of its watchlist (at start and at each reload): `status` may run
    without the service's environment and shows this while the service runs."""
    with db.atomic():
        db.conn.execute(
            "UPDATE service_process SET watchlist_problem = ?, notification_problems = ?, model_id = ? "
            "WHERE id = 1 AND pid = ?",
            [redact(watchlist_problem) if watchlist_problem else None,
             json.dumps(redact_data(notification_problems)), model_id, os.getpid()])


def process_alive(pid: int, host: str) -> bool:
    """Whether the process can be alive: on this host it is asked; another host's is assumed alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    except OSError:  # e.g. an odd pid on Windows: cannot tell
        return True
    return True


PROCESS_START_SLACK_SECONDS = 5  # the clock readings compared below agree to about a second


def process_started_after(pid: int, moment: dt.datetime) -> bool:
    """Whether the process now holding `pid` on this host started after `moment`: then it is not
    the one that recorded itself then (its pid was reused, say after a reboot). False when that
    cannot be told (no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime: clock ticks after the boot
        with open("/proc/stat", encoding="ascii") as file:
            boot = next(int(line.split()[1]) for line in file if line.startswith("btime "))
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return started > moment.timestamp() + PROCESS_START_SLACK_SECONDS


def heartbeat(db: Database) -> None:
    with db.atomic():
        db.conn.execute("UPDATE service_process SET heartbeat_at = ? WHERE id = 1 AND pid = ?",
                        [utc_now_iso(), os.getpid()])


def save_schedules(db: Database, schedules: list[JobSchedule], *, replace_all: bool = False) -> None:
    """Upsert job schedules; with replace_all, jobs not in the list are removed (after a reload)."""
    now = utc_now_iso()
    with db.atomic():
        if replace_all:
            db.conn.execute("DELETE FROM service_jobs")
        db.conn.executemany(
            "INSERT INTO service_jobs (job_id, kind, watch, source, interval_seconds, next_run_at, "
            "failures, backoff_until, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job_id) DO UPDATE SET kind = excluded.kind, watch = excluded.watch, "
            "source = excluded.source, interval_seconds = excluded.interval_seconds, "
            "next_run_at = excluded.next_run_at, failures = excluded.failures, "
            "backoff_until = excluded.backoff_until, updated_at = excluded.updated_at",
            [(s.job_id, s.kind, s.watch, s.source, s.interval_seconds, s.next_run_at, s.failures,
              s.backoff_until, now) for s in schedules])


def load_failures(db: Database) -> dict[str, tuple[int, str | None]]:
    """job_id -> (consecutive failures, back-off end) as left by the previous run of the service."""
    rows = db.execute("SELECT job_id, failures, backoff_until FROM service_jobs").fetchall()
    return {job_id: (failures or 0, until) for job_id, failures, until in rows}


def start_job_run(db: Database, job_id: str) -> int:
    with db.atomic():
        cursor = db.conn.execute(
            "INSERT INTO job_runs (job_id, started_at, status) VALUES (?, ?, 'running')",
            [job_id, utc_now_iso()])
    return cursor.lastrowid


def finish_job_run(db: Database, run_id: int, status: str, detail: dict | str | None,
                   seconds: float) -> None:
    detail = redact_data(detail)  # error lines may quote a URL with its key
    text = json.dumps(detail, default=str) if isinstance(detail, dict) else detail
    with db.atomic():
        db.conn.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, detail = ?, seconds = ? WHERE id = ?",
            [utc_now_iso(), status, text, round(seconds, 3), run_id])


INTERRUPTED_CRAWL_ERRORS = json.dumps(["interrupted: the service stopped during this crawl"])


def close_interrupted_runs(db: Database) -> int:
    """Job runs left 'running' by a killed service become 'interrupted', and crawl runs left
    'running' are closed as failed, saying so; returns how many job runs.

    Only one service works on a database, so a crawl run still 'running' when it starts (or stops
    without waiting) is its own, or one of a `mentionwatch crawl` typed by hand meanwhile, which
    writes its real outcome over this when it ends.
    """
    now = utc_now_iso()
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE job_runs SET status = 'interrupted', finished_at = ?, "
            "detail = 'the service stopped during this run' WHERE status = 'running'", [now])
        db.conn.execute("UPDATE crawl_runs SET status = 'failed', finished_at = ?, errors = ? "
                        "WHERE status = 'running'", [now, INTERRUPTED_CRAWL_ERRORS])
    return cursor.rowcount


def prune_job_runs(db: Database, keep_days: float, now: dt.datetime | None = None) -> int:
    """Forget finished job runs older than `keep_days` (a service writes thousands a day)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = to_iso(now - dt.timedelta(days=keep_days))
    with db.atomic():
        cursor = db.conn.execute("DELETE FROM job_runs WHERE finished_at IS NOT NULL AND finished_at < ?",
                                 [cutoff])
    return cursor.rowcount


PRUNE_BATCH = 10_000  # crawl runs deleted per transaction, so collectors wait milliseconds, not seconds


def prune_crawl_runs(db: Database, keep_days: float, now: dt.datetime | None = None) -> int:
    """Forget finished crawl runs older than `keep_days` (20 sources polled every 15 minutes write
    700,000 a year), except what `mentionwatch status` shows of each watch and source: its last
    run, last success and last error, however old. Returns how many were deleted."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = to_iso(now - dt.timedelta(days=keep_days))
    old_ids = [row[0] for row in db.execute(
        """
        WITH shown (id) AS (  -- the rows _sources reads: with max(), SQLite takes the bare id from its row
            SELECT id FROM (SELECT id, max(started_at) FROM crawl_runs GROUP BY watch, source)
            UNION SELECT id FROM (SELECT id, max(finished_at) FROM crawl_runs
                                  WHERE status IN ('ok', 'partial') GROUP BY watch, source)
            UNION SELECT max(id) FROM crawl_runs WHERE status IN ('failed', 'partial') GROUP BY watch, source)
        SELECT id FROM crawl_runs
        WHERE finished_at IS NOT NULL AND finished_at < ? AND id NOT IN shown
        """, [cutoff])]
    for start in range(0, len(old_ids), PRUNE_BATCH):
        batch = old_ids[start:start + PRUNE_BATCH]
        with db.atomic():
            db.conn.execute(f"DELETE FROM crawl_runs WHERE id IN ({','.join('?' * len(batch))})", batch)
    return len(old_ids)


# --- read by `mentionwatch status` -----------------------------------------------------------

def health_report(db: Database, model_id: str | None, now: dt.datetime | None = None) -> dict:
    """Everything `mentionwatch status` prints, as plain data (also its --json output).

    `model_id` is the model of the watchlist as the caller reads it; while the service runs, the
    model it recorded is the one the backlog is counted for.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    service = recorded_service(db, now)
    if service.get("alive") and service.get("model_id"):
        model_id = service["model_id"]
    jobs = _jobs(db)
    if service.get("process_gone"):
        _show_runs_interrupted(jobs)
    return {
        "checked_at": to_iso(now),
        "service": service,
        "jobs": jobs,
        "sources": _sources(db),
        "backlog": _backlog(db, model_id),
        "undelivered_notifications": _undelivered_notifications(db, now),
        "open_alerts": _open_alerts(db),
    }


def live_service(db: Database, now: dt.datetime | None = None) -> dict | None:
    """The recorded service (see `recorded_service`) when it is alive, else None."""
    service = recorded_service(db, now or dt.datetime.now(dt.timezone.utc))
    return service if service["alive"] else None


def recorded_service(db: Database, now: dt.datetime) -> dict:
    """The service this database records, and whether it is alive: in a running state, with a
    heartbeat at most STALE_HEARTBEAT_SECONDS old and, on this host, a process still there.

    `hung` is True for a service in a running state whose heartbeat is older than that while its
    process is still there on this host: it is not alive for `status`, but it holds the database,
    and a second service must not start beside it."""
    row = db.execute("SELECT pid, host, config_path, state, started_at, heartbeat_at, watchlist_problem, "
                     "notification_problems, model_id FROM service_process WHERE id = 1").fetchone()
    if row is None:
        return {"state": "never started", "alive": False}
    pid, host, config_path, state, started_at, heartbeat_at, watchlist_problem, targets, model_id = row
    age = (now - from_iso(heartbeat_at)).total_seconds()
    alive = state in ("running", "starting", "stopping")
    here = host == socket.gethostname()
    gone = alive and not process_alive(pid, host)
    if alive and not gone and here and age > STALE_HEARTBEAT_SECONDS and started_at:
        # a process that started after the service did holds its pid now (a reboot, say): the
        # service is gone. Asked only of a stale heartbeat: a fresh one proves the service there,
        # even when the clock jumped since its start (no clock at boot: NTP sets it later)
        gone = process_started_after(pid, from_iso(started_at))
    hung = False
    if gone:
        state, alive = f"not running (was {state}; process {pid} is gone: killed or crashed)", False
    elif alive and age > STALE_HEARTBEAT_SECONDS:
        if here:  # the process is there: hung (or starved), not killed
            hung = True
            state = f"not responding (was {state}; process {pid} is still there: {_why_silent(db)})"
        else:
            state = f"not responding (was {state}; killed or hung?)"
        alive = False
    return {"state": state, "alive": alive, "hung": hung, "pid": pid, "host": host, "config": config_path,
            "started_at": started_at, "heartbeat_at": heartbeat_at,
            "heartbeat_age_seconds": round(age), "process_gone": gone, "watchlist_problem": watchlist_problem,
            "notification_problems": json.loads(targets) if targets else [], "model_id": model_id}


def _why_silent(db: Database) -> str:
    """'hung?', unless the disk holding the database is full or the database is locked for writing:
    then the service cannot write its heartbeat, and it goes on once space is freed or the lock is
    let go (killing it would not help)."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    try:
        free = shutil.disk_usage(os.path.dirname(path) or ".").free if path else None
    except OSError:
        free = None
    if free is not None and free < DISK_FULL_BYTES:
        return (f"the disk holding the database is full ({free // 1024} KB free), so it cannot record "
                "its heartbeat; free some space and it goes on")
    locked = _locked_for_writing(path) if path else False
    if locked:
        return ("the database is locked for writing, so it cannot record its heartbeat: another program "
                "holding it (DB Browser for SQLite with unsaved changes, a sqlite3 shell inside BEGIN) "
                "stops every writer; it goes on once that program lets go")
    if locked is None:
        return ("hung?, or waiting for a write lock another program holds on the database (this user "
                "cannot write it, so cannot tell which)")
    return "hung?"


def _locked_for_writing(path: str) -> bool | None:
    """Whether a write to the database would wait for another connection's lock now; None when
    this user cannot write it (SQLite then opens it read-only, and the test would always pass)."""
    if not os.access(path, os.W_OK):
        return None
    try:
        probe = sqlite3.connect(f"{Path(path).as_uri()}?mode=rw", uri=True, timeout=0)
    except (sqlite3.Error, ValueError):
        return False
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    finally:
        probe.close()


DISK_FULL_BYTES = 1024 * 1024  # less free than this: SQLite cannot grow the database or its log


def _jobs(db: Database) -> list[dict]:
    rows = db.execute(
        """
        SELECT j.job_id, j.kind, j.watch, j.source, j.interval_seconds, j.next_run_at, j.failures,
               j.backoff_until, r.started_at, r.status, r.detail, r.seconds
        FROM service_jobs j
        LEFT JOIN job_runs r ON r.id = (SELECT max(id) FROM job_runs WHERE job_id = j.job_id)
        ORDER BY CASE j.kind WHEN 'collect' THEN 0 ELSE 1 END, j.job_id
        """).fetchall()
    keys = ("job_id", "kind", "watch", "source", "interval_seconds", "next_run_at", "failures",
            "backoff_until", "last_run_at", "last_status", "last_detail", "last_seconds")
    return [dict(zip(keys, row)) for row in rows]


GONE_RUN_DETAIL = "the service process is gone (killed or crashed) during this run"


def _show_runs_interrupted(jobs: list[dict]) -> None:
    """The service process is known to be gone: its runs still 'running' in the database ended with
    it. They are shown as interrupted (the next start closes them in the database)."""
    for job in jobs:
        if job["last_status"] == "running":
            job["last_status"] = "interrupted"
            job["last_detail"] = json.dumps({"error": GONE_RUN_DETAIL})


def _sources(db: Database) -> list[dict]:
    """Per watch and source: the last run, the last success, the last error, each dated when its run
    ended. A `partial` run (one page or feed failed, the rest was read) is both a success and an
    error: a sitemap with one dead link must not read as never collecting."""
    rows = db.execute(
        """
        SELECT watch, source,
               max(started_at),
               max(CASE WHEN status IN ('ok', 'partial') THEN finished_at END),
               max(CASE WHEN status IN ('failed', 'partial') THEN id END)
        FROM crawl_runs GROUP BY watch, source ORDER BY watch, source
        """).fetchall()
    sources = []
    for watch, source, last_run, last_ok, last_error_id in rows:
        entry = {"watch": watch, "source": source, "last_run_at": last_run,
                 "last_success_at": last_ok, "last_error_at": None, "last_error": None}
        if last_error_id is not None:
            at, errors = db.execute("SELECT coalesce(finished_at, started_at), errors FROM crawl_runs WHERE id = ?",
                                    [last_error_id]).fetchone()
            entry["last_error_at"] = at
            entry["last_error"] = _first_error(errors)
        sources.append(entry)
    return sources


def _first_error(errors_json: str | None) -> str | None:
    try:
        errors = json.loads(errors_json) if errors_json else []
    except ValueError:
        return errors_json
    if not errors:
        return None
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{errors[0]}{more}"


def _backlog(db: Database, model_id: str | None) -> dict:
    from sentiment.store import count_unscored

    total = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    if model_id is None:
        return {"mentions": total, "unscored": None, "model_id": None}
    return {"mentions": total, "unscored": count_unscored(db, model_id), "model_id": model_id}


UNCONFIRMED_RECENT_DAYS = 7
UNCONFIRMED_TEXT = "unconfirmed: the receiver took the request but did not answer in time; not re-sent"


def _undelivered_notifications(db: Database, now: dt.datetime) -> list[dict]:
    """Notifications not sent yet (waiting for their first try, failed and due again, or given up),
    and recent 'unconfirmed' ones (a target that may not have been told): of alerts not resolved, or
    sent in the last UNCONFIRMED_RECENT_DAYS days."""
    from alerts.notify import MAX_ATTEMPTS

    since = to_iso(now - dt.timedelta(days=UNCONFIRMED_RECENT_DAYS))
    rows = db.execute(
        "SELECT n.id, n.alert_id, n.target, n.state, n.attempts, n.last_error, n.next_attempt_at, "
        "n.created_at, n.status = 'unconfirmed', n.sent_at FROM notifications n "
        "LEFT JOIN alerts a ON a.id = n.alert_id WHERE n.status IN ('pending', 'failed') "
        "OR (n.status = 'unconfirmed' AND (a.status != 'resolved' OR n.sent_at >= ?)) ORDER BY n.id",
        [since]).fetchall()
    keys = ("id", "alert_id", "target", "state", "attempts", "last_error", "next_attempt_at", "created_at",
            "unconfirmed", "sent_at")
    notifications = [dict(zip(keys, row)) for row in rows]
    for notification in notifications:
        notification["unconfirmed"] = bool(notification["unconfirmed"])
        notification["given_up"] = not notification["unconfirmed"] and notification["attempts"] >= MAX_ATTEMPTS
    return notifications


def _open_alerts(db: Database) -> list[dict]:
    rows = db.execute(
        "SELECT id, watch, source, rule, status, severity, opened_at, updated_at FROM alerts "
        "WHERE status != 'resolved' ORDER BY opened_at DESC").fetchall()
    keys = ("id", "watch", "source", "rule", "status", "severity", "opened_at", "updated_at")
    return [dict(zip(keys, row)) for row in rows]
