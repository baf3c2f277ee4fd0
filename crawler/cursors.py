"""Per-watch, per-source cursors (newest id seen, ETag, ...) that make polls incremental.

A watch may poll two sources of one type (two feeds, two subreddits), so cursors are keyed by the
type plus a short hash of the source's settings; crawler.collect polls a searching source once per
search of the watch's query, with that search as `options.query`, so each search has its own. Callers save cursors only after the mentions they
cover are committed, so a cursor never points past unsaved data.
"""
from __future__ import annotations

from sqlite_utils import Database

from crawler.source_types import settings_key
from mentionwatch.config import SourceConfig
from storage import utc_now_iso


def cursor_key(source_cfg: SourceConfig) -> str:
    """'reddit:1a2b3c4d': stable while the source's type, base_url and options stay the same."""
    return f"{source_cfg.type}:{settings_key(source_cfg)}"


def load_cursors(db: Database, watch: str, source_key: str) -> dict[str, str]:
    rows = db.execute("SELECT name, value FROM cursors WHERE watch = ? AND source = ?",
                      [watch, source_key]).fetchall()
    return {name: value for name, value in rows if value is not None}


def save_cursors(db: Database, watch: str, source_key: str, values: dict[str, str | None]) -> None:
    """Store the cursors; a None value clears one (stored as NULL, which load_cursors leaves out)."""
    if not values:
        return
    now = utc_now_iso()
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO cursors (watch, source, name, value, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (watch, source, name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [(watch, source_key, name, None if value is None else str(value), now)
             for name, value in values.items()])
