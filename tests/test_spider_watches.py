"""Two watches sharing one Scrapy source: the second watch's crawl must not skip or stop at what the
first watch stored, since those mentions are not yet linked to it.

The real Scrapy engine (through run_spider, one OS process per crawl) reads the local test site
(tests/sites/review_site.py) into one database, first for one watch, then for the other.
"""
from __future__ import annotations

import pytest

from crawler.runner import run_spider
from sites.review_site import ARTICLES, good_reviews, serve_site
from storage import open_db

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 1}
WATCHES = ("acme", "acme-support")  # same query: each should end up linked to the same mentions


def watch(name: str) -> dict:
    return {"name": name, "query": {"any": ["acme"]}}


def sitemap_source(base: str) -> dict:
    return {"type": "sitemap", "options": {"sitemap_urls": [f"{base}/sitemap.xml"],
                                           "follow": ["/news/"]}}


def reviews_source(base: str) -> dict:
    return {"type": "reviews", "options": {
        "start_urls": [f"{base}/acme/reviews-1.html"], "item": "div.review",
        "text": "p.body ::text", "author": ".author::text", "date": "time::attr(datetime)",
        "url": "a.permalink::attr(href)", "id": "::attr(data-id)",
        "next_page": "a.next::attr(href)"}}


def linked(db_path, watch_name: str) -> set[str]:
    """The texts of the mentions linked to a watch."""
    db = open_db(db_path)
    try:
        rows = db.execute("SELECT m.text FROM mentions m JOIN mention_watches w "
                          "ON w.mention_id = m.id WHERE w.watch = ?", [watch_name]).fetchall()
        return {row[0] for row in rows}
    finally:
        db.close()


def mention_count(db_path) -> int:
    db = open_db(db_path)
    try:
        return db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    finally:
        db.close()


def crawl_for_each_watch(db_path, source: dict) -> list[dict]:
    return [run_spider(db_path, watch(name), source, settings_overrides=FAST, timeout=120)
            for name in WATCHES]


@pytest.mark.parametrize("make_source, expected", [
    (sitemap_source, {body for path, (_, _, _, body) in ARTICLES.items()
                      if path.startswith("/news/") and "acme" in body.lower()}),
    (reviews_source, {" ".join(review["text"].split()) for review in good_reviews()}),
], ids=["sitemap", "reviews"])
def test_the_second_watch_gets_what_the_first_stored(tmp_path, make_source, expected):
    db_path = tmp_path / "mentions.db"
    with serve_site() as site:
        first, second = crawl_for_each_watch(db_path, make_source(site.base))
    assert first["new"] == len(expected)
    assert linked(db_path, "acme") == expected
    # the second crawl reads every page again (nothing is stored for its watch yet) and links the
    # stored mentions to its watch instead of storing them twice
    assert linked(db_path, "acme-support") == expected
    assert (second["new"], second["duplicates"]) == (0, first["new"] + first["duplicates"])
    assert mention_count(db_path) == len(expected)
