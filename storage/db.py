"""Opening the database: one connection setup (WAL, busy timeout, migrations) used everywhere."""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from storage.migrations import migrations
from storage.timeutil import to_iso

BUSY_TIMEOUT_SECONDS = 30


def utc_now_iso() -> str:
    """The current time as stored text."""
    return to_iso(dt.datetime.now(dt.timezone.utc))


def open_db(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) a mentionwatch database and bring its schema up to date.

    The connection waits up to 30 s for a lock held by another process (the service and the
    CLI may share one file), and WAL lets readers go on while a writer commits.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    db.execute("PRAGMA foreign_keys = ON")
    if db.journal_mode != "wal":
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed batch
    if migrate:
        migrations.apply(db)
    return db
