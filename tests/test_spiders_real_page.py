"""The reviews spider on a real recorded review page: the saved Google Play page of jp.mixi (2016,
40 Japanese reviews, ../shared/data/api/googleplay), served on 127.0.0.1 and crawled with selectors
written in the watchlist only. The googleplay poller parses the same page with its own Python code;
both must agree on every review.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from crawler.pollers.googleplay import GooglePlayPoller
from crawler.runner import run_spider
from mentionwatch.local_servers import LocalServer
from storage import open_db

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 0}
PAGE_PATH = "/store/apps/details?id=jp.mixi"

PLAY_2016_SELECTORS = {
    "item": "div.single-review",
    "id": "div.review-header::attr(data-reviewid)",
    "author": "span.author-name ::text",
    "date": "span.review-date::text",
    "date_format": "%Y年%m月%d日",
    "title": "div.review-body span.review-title::text",
    "text": "xpath:.//div[contains(concat(' ', normalize-space(@class), ' '), ' review-body ')]/text()",
    "url": "a.reviews-permalink::attr(href)",
    "rating": "div.current-rating::attr(style)",  # "width: 80%"
    "rating_out_of": 100,
    "match_query": False,  # keep every review of the app, whatever it says
}


@pytest.fixture
def play_page_site(shared_file):
    html = shared_file("api/googleplay/google_play_review_jp.mixi.html").read_bytes()

    class PlayPage(LocalServer):
        def handle_get(self, request):
            if request.path == "/robots.txt":
                self.reply(request, 200, b"User-agent: *\nAllow: /\n", "text/plain")
            else:
                self.reply(request, 200, html, "text/html; charset=utf-8")

    with PlayPage() as server:
        yield server.url, html


def words(text: str | None) -> str | None:
    return " ".join(text.split()) if text else text


def test_selectors_from_the_watchlist_read_a_real_review_page(play_page_site, tmp_path):
    base, html = play_page_site
    watch = {"name": "mixi", "query": {"any": ["mixi"]}}
    source = {"type": "reviews", "options": {"start_urls": [base + PAGE_PATH], **PLAY_2016_SELECTORS}}
    result = run_spider(tmp_path / "m.db", watch, source, settings_overrides=FAST, timeout=120)

    expected = {m.external_id: m for m in GooglePlayPoller.parse(html.decode("utf-8"))}
    assert len(expected) == 40
    assert (result["new"], result["rejected"], result["errors"]) == (len(expected), 0, [])
    db = open_db(tmp_path / "m.db")
    rows = list(db.query("SELECT * FROM mentions"))
    db.close()
    host = urlsplit(base).netloc
    assert {row["external_id"].removeprefix(f"{host}:") for row in rows} == set(expected)
    for row in rows:
        poller = expected[row["external_id"].removeprefix(f"{host}:")]
        assert words(row["text"]) == words(poller.text)
        assert row["created_at"] == poller.created_at
        assert row["title"] == poller.title
        assert row["author"] == poller.author
        assert row["lang"] == "ja"
        assert row["rating"] == poller.rating
        assert urlsplit(row["url"])[2:] == urlsplit(poller.url)[2:]
