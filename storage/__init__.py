"""SQLite storage for mentionwatch (through sqlite-utils).

`open_db(path)` opens (and migrates) a database; `save_mentions(db, mentions)` is the one place that
writes mentions. Everything else reads or writes its own small tables through the helpers here.
"""
from storage.db import open_db, utc_now_iso
from storage.mentions import Mention, SaveResult, save_mentions
from storage.timeutil import parse_timestamp, to_iso

__all__ = [
    "Mention",
    "SaveResult",
    "open_db",
    "parse_timestamp",
    "save_mentions",
    "to_iso",
    "utc_now_iso",
]
