"""The hand-over to the Scrapy half: `reviews` and `sitemap` sources go to
crawler.runner.run_spider_from_config.

The runner itself (one OS process per crawl) is tested by the Scrapy half; here a stand-in runner
checks what collect_source passes and how it records the outcome, and one real crawl of a local
page checks the whole hand-over.
"""
from __future__ import annotations

import json

import pytest

import crawler.collect
from crawler.collect import collect_all
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer
from sites.review_site import LAST_PAGE, REDESIGNED_PAGE, SHORT_LIST, serve_site


def make_config() -> Config:
    return Config.model_validate({"watches": [{
        "name": "shop", "query": {"any": ["acme"]},
        "sources": [{"type": "hackernews", "enabled": False},
                    {"type": "reviews", "options": {"start_urls": ["http://127.0.0.1:1/reviews"],
                                                    "item": "div.review", "text": "p::text"}},
                    {"type": "sitemap", "options": {"sitemap_urls": ["http://127.0.0.1:1/sitemap.xml"]}}]}]})


def test_spider_sources_use_the_runner(db, monkeypatch):
    calls = []

    def run_spider_from_config(db_path, config, watch_name, source_index):
        calls.append((db_path, config, watch_name, source_index))
        if source_index == 1:
            return {"fetched": 12, "new": 9, "duplicates": 2, "rejected": 1, "errors": []}
        return {"fetched": 0, "new": 0, "duplicates": 0, "rejected": 0,
                "errors": ["sitemap: 127.0.0.1:1: connection refused"]}

    monkeypatch.setattr(crawler.collect, "run_spider_from_config", run_spider_from_config)
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
    def run_spider_from_config(*args):
        raise RuntimeError("spider process exited with code 1")

    monkeypatch.setattr(crawler.collect, "run_spider_from_config", run_spider_from_config)
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


def collect_reviews(db, base: str, start_paths: list[str], **options):
    """One collection pass of a `reviews` source over pages of the test site."""
    config = Config.model_validate({"watches": [{
        "name": "acme", "query": {"any": ["acme"]},
        "sources": [{"type": "reviews", "options": {
            "start_urls": [base + path for path in start_paths], "item": "div.review",
            "text": "p.body ::text", "author": ".author::text", "date": "time::attr(datetime)",
            "id": "::attr(data-id)", "next_page": "a.next::attr(href)", "min_interval": 0,
            **options}}]}]})
    (result,) = collect_all(db, config)
    row = db.execute("SELECT status, new, errors FROM crawl_runs WHERE id = ?",
                     [result.run_id]).fetchone()
    return result, row


@pytest.mark.parametrize("start_paths, status", [
    ([REDESIGNED_PAGE], "failed"),
    ([REDESIGNED_PAGE, SHORT_LIST[0]], "partial"),  # the other start page still yields its review
])
def test_a_start_page_without_items_is_recorded_as_an_error(db, start_paths, status):
    with serve_site() as site:
        result, (row_status, _, errors) = collect_reviews(db, site.base, start_paths)
    expected = f"{site.base}{REDESIGNED_PAGE}: item selector 'div.review' matched nothing (site changed?)"
    assert (result.status, result.errors) == (status, [expected])
    assert (row_status, json.loads(errors)) == (status, [expected])


def test_a_failing_page_after_a_page_that_stored_nothing_is_a_failed_run(db):
    """Page 3's reviews are all rejected (the date selector reads author names), page 4 answers
    500: nothing was stored, so the run failed."""
    with serve_site() as site:
        result, row = collect_reviews(db, site.base, [f"/acme/reviews-{LAST_PAGE}.html"],
                                      date=".author::text")
    broken = f"{site.base}/acme/reviews-{LAST_PAGE + 1}.html: HTTP 500"
    assert (result.status, result.new, result.rejected, result.errors) == ("failed", 0, 2, [broken])
    assert row[:2] == ("failed", 0)
