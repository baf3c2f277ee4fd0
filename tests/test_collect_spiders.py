"""The hand-over to the Scrapy half: `reviews` and `sitemap` sources go to crawler.runner.run_spider.

The runner itself (one OS process per crawl) is tested by the Scrapy half; here a stand-in module
checks what collect_source passes and how it records the outcome.
"""
from __future__ import annotations

import json
import sys
import types

from crawler.collect import collect_all
from mentionwatch.config import Config


def make_config() -> Config:
    return Config.model_validate({"watches": [{
        "name": "shop", "query": {"any": ["acme"]},
        "sources": [{"type": "hackernews", "enabled": False},
                    {"type": "reviews", "options": {"start_urls": ["http://127.0.0.1:1/reviews"]}},
                    {"type": "sitemap", "options": {"sitemap_urls": ["http://127.0.0.1:1/sitemap.xml"]}}]}]})


def test_spider_sources_use_the_runner(db, monkeypatch, tmp_path):
    calls = []

    def run_spider(db_path, config, watch_name, source_index):
        calls.append((db_path, config, watch_name, source_index))
        if source_index == 1:
            return {"fetched": 12, "new": 9, "duplicates": 2, "rejected": 1, "errors": []}
        return {"fetched": 0, "new": 0, "duplicates": 0, "rejected": 0,
                "errors": ["sitemap: 127.0.0.1:1: connection refused"]}

    monkeypatch.setitem(sys.modules, "crawler.runner", types.SimpleNamespace(run_spider=run_spider))
    config_file = tmp_path / "watch.yaml"
    results = collect_all(db, make_config(), config_path=config_file)
    assert [(r.source, r.status) for r in results] == [("reviews", "ok"), ("sitemap", "failed")]
    assert (results[0].fetched, results[0].new, results[0].duplicates, results[0].rejected) == (12, 9, 2, 1)
    assert results[1].errors == ["sitemap: 127.0.0.1:1: connection refused"]
    db_file = db.execute("PRAGMA database_list").fetchone()[2]
    assert calls == [(db_file, str(config_file), "shop", 1), (db_file, str(config_file), "shop", 2)]
    rows = db.execute("SELECT source, status, new, errors FROM crawl_runs ORDER BY id").fetchall()
    assert rows[0] == ("reviews", "ok", 9, None)
    assert rows[1][:3] == ("sitemap", "failed", 0) and "connection refused" in json.loads(rows[1][3])[0]


def test_without_a_config_file_the_runner_gets_the_config_as_json(db, monkeypatch):
    seen = []
    monkeypatch.setitem(sys.modules, "crawler.runner", types.SimpleNamespace(
        run_spider=lambda db_path, config, watch, index: seen.append(config) or {"fetched": 0}))
    collect_all(db, make_config(), source_type="reviews")
    assert json.loads(seen[0])["watches"][0]["name"] == "shop"


def test_a_crashing_runner_is_recorded(db, monkeypatch):
    def run_spider(*args):
        raise RuntimeError("spider process exited with code 1")

    monkeypatch.setitem(sys.modules, "crawler.runner", types.SimpleNamespace(run_spider=run_spider))
    (result,) = collect_all(db, make_config(), source_type="reviews")
    assert result.status == "failed"
    assert result.errors == ["reviews: internal error: RuntimeError: spider process exited with code 1"]
