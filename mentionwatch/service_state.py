"""What the background service records about itself, and the health report built from it.

The service (scheduler.py) writes three things another process can read: the `service_process`
row (pid, state, heartbeat), one `service_jobs` row per scheduled job (next run, failures, back-off)
and one `job_runs` row per job run. `health_report` joins them with crawl runs, the unscored
backlog and open alerts for `mentionwatch status`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass

from sqlite_utils import Database

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
    """Record this process as the database's service (state: starting/running/stopping/stopped)."""
    now = utc_now_iso()
    with db.atomic():
        db.conn.execute(
            "INSERT INTO service_process (id, pid, host, config_path, state, started_at, heartbeat_at) "
            "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, "
            "host = excluded.host, config_path = COALESCE(excluded.config_path, config_path), "
            "state = excluded.state, heartbeat_at = excluded.heartbeat_at, "
            "started_at = CASE WHEN excluded.state = 'starting' THEN excluded.started_at "
            "ELSE started_at END",
            [os.getpid(), socket.gethostname(), config_path, state, now, now])


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
    text = json.dumps(detail, default=str) if isinstance(detail, dict) else detail
    with db.atomic():
        db.conn.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, detail = ?, seconds = ? WHERE id = ?",
            [utc_now_iso(), status, text, round(seconds, 3), run_id])


def close_interrupted_runs(db: Database) -> int:
    """Job runs left 'running' by a killed service become 'interrupted'; returns how many."""
    with db.atomic():
        cursor = db.conn.execute(
            "UPDATE job_runs SET status = 'interrupted', finished_at = ?, "
            "detail = 'the service stopped during this run' WHERE status = 'running'",
            [utc_now_iso()])
    return cursor.rowcount


def prune_job_runs(db: Database, keep_days: float, now: dt.datetime | None = None) -> int:
    """Forget finished job runs older than `keep_days` (a service writes thousands a day)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = to_iso(now - dt.timedelta(days=keep_days))
    with db.atomic():
        cursor = db.conn.execute("DELETE FROM job_runs WHERE finished_at IS NOT NULL AND finished_at < ?",
                                 [cutoff])
    return cursor.rowcount


# --- read by `mentionwatch status` -----------------------------------------------------------

def health_report(db: Database, model_id: str | None, now: dt.datetime | None = None) -> dict:
    """Everything `mentionwatch status` prints, as plain data (also its --json output)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return {
        "checked_at": to_iso(now),
        "service": _service(db, now),
        "jobs": _jobs(db),
        "sources": _sources(db),
        "backlog": _backlog(db, model_id),
        "open_alerts": _open_alerts(db),
    }


def _service(db: Database, now: dt.datetime) -> dict:
    row = db.execute("SELECT pid, host, config_path, state, started_at, heartbeat_at "
                     "FROM service_process WHERE id = 1").fetchone()
    if row is None:
        return {"state": "never started"}
    pid, host, config_path, state, started_at, heartbeat_at = row
    age = (now - from_iso(heartbeat_at)).total_seconds()
    if state in ("running", "starting", "stopping") and age > STALE_HEARTBEAT_SECONDS:
        state = f"not responding (was {state}; killed or hung?)"
    return {"state": state, "pid": pid, "host": host, "config": config_path,
            "started_at": started_at, "heartbeat_at": heartbeat_at,
            "heartbeat_age_seconds": round(age)}


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


def _sources(db: Database) -> list[dict]:
    """Per watch and source: the last run, the last success, the last error."""
    rows = db.execute(
        """
        SELECT watch, source,
               max(started_at),
               max(CASE WHEN status = 'ok' THEN finished_at END),
               max(CASE WHEN status IN ('failed', 'partial') THEN id END)
        FROM crawl_runs GROUP BY watch, source ORDER BY watch, source
        """).fetchall()
    sources = []
    for watch, source, last_run, last_ok, last_error_id in rows:
        entry = {"watch": watch, "source": source, "last_run_at": last_run,
                 "last_success_at": last_ok, "last_error_at": None, "last_error": None}
        if last_error_id is not None:
            at, errors = db.execute("SELECT started_at, errors FROM crawl_runs WHERE id = ?",
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
    total = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    if model_id is None:
        return {"mentions": total, "unscored": None, "model_id": None}
    unscored = db.execute(
        "SELECT count(*) FROM mentions m WHERE NOT EXISTS "
        "(SELECT 1 FROM scores s WHERE s.mention_id = m.id AND s.model_id = ?)", [model_id]).fetchone()[0]
    return {"mentions": total, "unscored": unscored, "model_id": model_id}


def _open_alerts(db: Database) -> list[dict]:
    rows = db.execute(
        "SELECT id, watch, source, rule, status, severity, opened_at, updated_at FROM alerts "
        "WHERE status != 'resolved' ORDER BY opened_at DESC").fetchall()
    keys = ("id", "watch", "source", "rule", "status", "severity", "opened_at", "updated_at")
    return [dict(zip(keys, row)) for row in rows]
