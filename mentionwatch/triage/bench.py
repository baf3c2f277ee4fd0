"""`mentionwatch bench export`: export speed and peak memory on a large synthetic database.

The database is filled in one child process and each export runs in a fresh one, so each peak RSS
(resource.getrusage, the most memory the process ever held) belongs to that export alone. A
reference child reads the same rows with fetchall() to show what a non-streaming export would hold.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import resource
import time
from pathlib import Path

BENCH_MODEL = "bench-model"
CHUNK = 100_000


def fill_database(path: str, count: int, seed: int) -> dict:
    """count synthetic mentions with scores, one alert over 1,000 of them and some triage marks."""
    import datetime as dt

    from storage import open_db, save_mentions
    from storage.benchdata import synthetic_mentions

    db = open_db(path)
    started = time.perf_counter()
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for offset in range(0, count, CHUNK):
        size = min(CHUNK, count - offset)
        chunk = synthetic_mentions(size, seed + offset, start=start + dt.timedelta(seconds=7 * offset))
        chunk = [dataclasses.replace(m, external_id=f"b{offset + i}") for i, m in enumerate(chunk)]
        save_mentions(db, chunk)
    with db.atomic():
        db.execute(
            "INSERT INTO scores SELECT id, ?, CASE id % 3 WHEN 0 THEN 'negative' WHEN 1 THEN "
            "'neutral' ELSE 'positive' END, (id % 97) / 97.0, 0.0, 1 - (id % 97) / 97.0, "
            "'2024-06-01T00:00:00Z' FROM mentions", [BENCH_MODEL])
        db.execute("INSERT INTO alerts (id, watch, rule, severity, window_start, window_end, "
                   "opened_at, updated_at) VALUES (1, 'acme', 'spike', 'high', "
                   "'2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z', "
                   "'2024-01-02T00:00:00Z')")
        db.execute("INSERT INTO alert_mentions SELECT 1, id, id FROM mentions WHERE id <= 1000")
        db.execute("INSERT INTO triage SELECT id, 'handled', 'bench', '2024-06-01T00:00:00Z', NULL "
                   "FROM mentions WHERE id % 10 = 0")
    seconds = time.perf_counter() - started
    db.close()
    return {"seconds": seconds}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def export_once(db_path: str, out_path: str, fmt: str) -> dict:
    """Run in a fresh process: export every row; returns rows, seconds and peak RSS."""
    from storage import open_db
    from mentionwatch.triage.export import export_mentions
    from mentionwatch.triage.query import MentionFilters, export_rows

    db = open_db(db_path, migrate=False)
    rss_before = _peak_rss_mib()
    started = time.perf_counter()
    if fmt == "fetchall":  # the non-streaming reference: every row in memory at once
        rows = list(export_rows(db, MentionFilters(), BENCH_MODEL))
        count, size = len(rows), 0
    else:
        result = export_mentions(export_rows(db, MentionFilters(), BENCH_MODEL), Path(out_path), fmt)
        count, size = result.rows, Path(out_path).stat().st_size
    seconds = time.perf_counter() - started
    return {"format": fmt, "rows": count, "seconds": seconds, "rss_before_mib": rss_before,
            "peak_rss_mib": _peak_rss_mib(), "file_mib": size / 2**20}


def in_child(function, *args):
    """Call function(*args) in a fresh spawned interpreter and return its result."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)
