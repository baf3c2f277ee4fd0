"""The hand-over to the Scrapy half: `reviews` and `sitemap` sources go to crawler.runner.run_spider.

The runner itself (one OS process per crawl) is tested by the Scrapy half; here a stand-in module
checks what collect_source passes and how it records the outcome, and one real crawl of a local
page checks the whole hand-over.
"""
from __future__ import annotations

import json
import sys
import types

from crawler.collect import collect_all
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer


def make_config() -> Config:
    return Config.model_validate({"watches": [{
        "name": "shop", "query": {"any": ["acme"]},
        "sources": [{"type": "hackernews", "enabled": False},
                    {"type": "reviews", "options": {"start_urls": ["http://127.0.0.1:1/reviews"],
                                                    "item": "div.review", "text": "p::text"}},
                    {"type": "sitemap", "options": {"sitemap_urls": ["http://127.0.0.1:1/sitemap.xml"]}}]}]})


def test_spider_sources_use_the_runner(db, monkeypatch):
    calls = []

    def run_spider(db_path, config, watch_name, source_index):
        calls.append((db_path, config, watch_name, source_index))
        if source_index == 1:
            return {"fetched": 12, "new": 9, "duplicates": 2, "rejected": 1, "errors": []}
        return {"fetched": 0, "new": 0, "duplicates": 0, "rejected": 0,
                "errors": ["sitemap: 127.0.0.1:1: connection refused"]}

    monkeypatch.setitem(sys.modules, "crawler.runner", types.SimpleNamespace(run_spider=run_spider))
    config = make_config()
    results = collect_all(db, config)
    assert [(r.source, r.status) for r in results] == [("reviews", "ok"), ("sitemap", "failed")]
    assert (results[0].fetched, results[0].new, results[0].duplicates, results[0].rejected) == (12, 9, 2, 1)
    assert results[1].errors == ["sitemap: 127.0.0.1:1: connection refused"]
    db_file = db.execute("PRAGMA database_list").fetchone()[2]
    assert calls == [(db_file, config, "shop", 1), (db_file, config, "shop", 2)]
    rows = db.execute("SELECT source, status, new, errors FROM crawl_runs ORDER BY id").fetchall()
    assert rows[0] == ("reviews", "ok", 9, None)
    assert rows[1][:3] == ("sitemap", "failed", 0) and "connection refused" in json.loads(rows[1][3])[0]


def test_a_crashing_runner_is_recorded(db, monkeypatch):
    def run_spider(*args):
        raise RuntimeError("spider process exited with code 1")

    monkeypatch.setitem(sys.modules, "crawler.runner", types.SimpleNamespace(run_spider=run_spider))
    (result,) = collect_all(db, make_config(), source_type="reviews")
    assert result.status == "failed"
    assert result.errors == ["reviews: internal error: RuntimeError: spider process exited with code 1"]


def test_a_real_review_crawl_through_collect(db):
    """End to end with the real runner: a Scrapy child process crawls a local review page."""
    page = ("<html lang='en'><body>"
            "<div class='review'><p class='text'>Acme support was slow and rude</p><span class='who'>Ann</span>"
            "<time>2024-05-01T10:00:00Z</time></div>"
            "<div class='review'><p class='text'>Acme fixed it quickly</p><span class='who'>Bob</span>"
            "<time>2024-05-02T10:00:00Z</time></div>"
            "<div class='review'><p class='text'>Nothing to do with the brand</p><span class='who'>Cy</span>"
            "<time>2024-05-03T10:00:00Z</time></div></body></html>").encode()

    class ReviewPage(LocalServer):
        def handle_get(self, request):
            if request.path == "/reviews":
                self.reply(request, 200, page, "text/html")
            else:
                status = 200 if request.path == "/robots.txt" else 404
                self.reply(request, status, b"User-agent: *\nAllow: /\n", "text/plain")

    with ReviewPage() as server:
        config = Config.model_validate({"watches": [{
            "name": "shop", "query": {"any": ["acme"]},
            "sources": [{"type": "reviews", "options": {
                "start_urls": [f"{server.url}/reviews"],
                "item": "div.review", "text": "p.text::text", "author": "span.who::text",
                "date": "time::text", "min_interval": 0}}]}]})
        (result,) = collect_all(db, config)
    assert result.status == "ok", result.errors
    assert (result.new, result.filtered) == (2, 1)
    authors = {row[0] for row in db.execute("SELECT author FROM mentions").fetchall()}
    assert authors == {"Ann", "Bob"}
    assert db.execute("SELECT new FROM crawl_runs WHERE id = ?", [result.run_id]).fetchone()[0] == 2
