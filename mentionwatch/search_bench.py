"""`mentionwatch bench search`: how long `search` takes on a large database, for words the index
answers and for Chinese words, which are found as text (a scan of the mentions a filter leaves).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import time

CHUNK = 100_000
CHINESE_EVERY = 10  # one mention in 10 is a Chinese review
RUNS = 3

# (label, query, watches, days back for --since or None)
CASES = (
    ("two words (index)", "refund delayed", (), None),
    ("phrase (index)", '"terrible support"', (), None),
    ("Chinese word, frequent", "太慢", (), None),
    ("Chinese word, frequent, --watch acme", "太慢", ("acme",), None),
    ("Chinese word, absent (reads all)", "投诉", (), None),
    ("Chinese word, absent, --watch acme", "投诉", ("acme",), None),
    ("Chinese word, absent, --since 7d", "投诉", (), 7),
    ("Chinese word AND a word", "太慢 acme", (), None),
    ("Chinese word OR a word", "投诉 OR refund", (), None),
)


def fill_database(path, count: int, seed: int) -> float:
    """Stores `count` synthetic mentions (one in CHINESE_EVERY Chinese); returns the seconds taken."""
    from storage import open_db, save_mentions
    from storage.benchdata import synthetic_mentions

    db = open_db(path)
    started = time.perf_counter()
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for offset in range(0, count, CHUNK):
        size = min(CHUNK, count - offset)
        chunk = synthetic_mentions(size, seed + offset, start=start + dt.timedelta(seconds=7 * offset),
                                   chinese_every=CHINESE_EVERY)
        save_mentions(db, [dataclasses.replace(m, external_id=f"b{offset + i}")
                           for i, m in enumerate(chunk)])
    db.close()
    return time.perf_counter() - started


def time_cases(path, limit: int) -> list[dict]:
    """Each case run RUNS times as `search` runs it (newest first, at most `limit`): the median."""
    from mentionwatch.triage.query import MentionFilters, search_rows
    from storage import open_db
    from storage.timeutil import parse_timestamp, to_iso

    db = open_db(path, migrate=False)
    newest = dt.datetime.fromisoformat(parse_timestamp(
        db.execute("SELECT max(created_at) FROM mentions").fetchone()[0]).replace("Z", "+00:00"))
    results = []
    for label, query, watches, days in CASES:
        since = to_iso(newest - dt.timedelta(days=days)) if days else None
        filters = MentionFilters(watches=watches, since=since, query=query, limit=limit)
        seconds = []
        for _ in range(RUNS):
            started = time.perf_counter()
            rows = search_rows(db, filters, "newest")
            seconds.append(time.perf_counter() - started)
        results.append({"label": label, "query": query, "rows": len(rows),
                        "ms": statistics.median(seconds) * 1000})
    db.close()
    return results
