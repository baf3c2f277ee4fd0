"""Crawl runs left 'running' by a crawl process that is gone (killed, crashed).

Each crawl run records the process that runs it (`host:pid`). A `mentionwatch crawl` killed with
SIGKILL (or by a crash, or a closed terminal) leaves its runs 'running'; the service closes such
runs when it starts, but a hand-run crawl, `rename` and `rematch` would otherwise take them for a
crawl still going for up to two hours (storage.rename.RUNNING_AT_MOST). `close_runs_of_gone_processes`
closes the runs of processes of this machine that no longer exist. A run recorded on another
machine (a database on a shared disk), or before runs recorded their process, keeps the time rule.
"""
from __future__ import annotations

import json
import os
import socket

from storage.db import utc_now_iso

GONE_PROCESS_ERRORS = json.dumps(["interrupted: the crawl process is gone (killed or crashed); "
                                  "what it stored before is kept"])


def this_process() -> str:
    """'host:pid' of the running process, as crawl runs record it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_gone(process: str | None) -> bool:
    """Whether `process` ('host:pid') was on this machine and no longer runs. Unknown (no process
    recorded, another host, a system without POSIX signals) counts as not gone."""
    host, _, pid_text = (process or "").rpartition(":")
    if os.name != "posix" or host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: nothing is sent, only whether the process exists
    except ProcessLookupError:
        return True
    except (OverflowError, OSError):  # PermissionError among them
        return False  # it exists (another user's), or the number cannot be a process: leave it
    return False


def close_runs_of_gone_processes(db) -> int:
    """Close as failed, saying so, the crawl runs still 'running' whose process is gone; how many."""
    rows = db.execute("SELECT id, process FROM crawl_runs WHERE status = 'running' AND process IS NOT NULL"
                      ).fetchall()
    gone = [run_id for run_id, process in rows if process_is_gone(process)]
    if gone:
        with db.atomic():
            db.conn.executemany("UPDATE crawl_runs SET status = 'failed', finished_at = ?, errors = ? "
                                "WHERE id = ? AND status = 'running'",
                                [(utc_now_iso(), GONE_PROCESS_ERRORS, run_id) for run_id in gone])
    return len(gone)
