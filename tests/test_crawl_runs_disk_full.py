"""A crawl run whose outcome could not be written (disk full) is written by the next collection.

Walkthrough 14b: a collection that hit a full disk left its crawl run 'running' while the service
recovered and went on; only the next start closed it, as 'interrupted: the service stopped during
this crawl', which it was not. The full disk is stood in for at the one write it stops (the run's
outcome); everything else is the real collection from a local Hacker News server.
"""
from __future__ import annotations

import sqlite3

import pytest

import crawler.collect
from crawler.collect import collect_source
from mentionwatch.config import Config
from mentionwatch.local_servers import HackerNewsServer, synthetic_hits

NEWEST = 1_750_000_000


def _config(url: str) -> Config:
    return Config.model_validate({"watches": [{
        "name": "node", "query": {"any": ["node"]},
        "sources": [{"type": "hackernews", "base_url": url, "options": {"query": "node", "max_pages": 1}}]}]})


def test_a_run_whose_outcome_met_a_full_disk_is_recorded_by_the_next_collection(db, monkeypatch):
    real_finish = crawler.collect._finish_run
    disk = {"full": True}

    def finish_unless_full(database, result, finished_at=None):
        if disk["full"]:
            raise sqlite3.OperationalError("database or disk is full")
        real_finish(database, result, finished_at)

    monkeypatch.setattr(crawler.collect, "_finish_run", finish_unless_full)
    with HackerNewsServer(synthetic_hits(20, 60, NEWEST, "node {n}")) as server:
        config = _config(server.url)
        watch = config.watches[0]
        with pytest.raises(sqlite3.OperationalError):
            collect_source(db, config, watch, watch.sources[0], sleep=lambda s: None)
        assert db.execute("SELECT status FROM crawl_runs").fetchall() == [("running",)]
        disk["full"] = False  # space is back
        collect_source(db, config, watch, watch.sources[0], sleep=lambda s: None)
    runs = db.execute("SELECT status, new, finished_at IS NOT NULL FROM crawl_runs ORDER BY id").fetchall()
    assert runs == [("ok", 20, 1), ("ok", 0, 1)]
    first_ended, second_started = db.execute(
        "SELECT (SELECT finished_at FROM crawl_runs WHERE id = 1), (SELECT started_at FROM crawl_runs WHERE id = 2)"
    ).fetchone()
    assert first_ended <= second_started  # when it ended, not when it could be written (third review)
