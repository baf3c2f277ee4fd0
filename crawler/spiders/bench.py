"""Measure the Scrapy spiders: `mentionwatch bench spiders [--pages N] [--reviews M]`.

Serves a generated review site on 127.0.0.1 (N listing pages of M reviews each), then times, through
`run_spider` (one OS process per crawl, as in production):
  1. a one-page crawl: mostly the cost of starting a process and Scrapy;
  2. a full crawl of the site into a fresh database: pages and reviews per second;
  3. a second crawl: what an incremental poll costs when nothing is new (stops at page 1).
The polite delays are switched off for the local server; real sites are crawled far more slowly
(AutoThrottle, 2 requests at a time per site), so these figures are the spider's own overhead.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from crawler.runner import run_spider
from mentionwatch.local_servers import LocalServer

NO_DELAYS = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "LOG_LEVEL": "WARNING"}
WORDS = "acme order support refund delivery app login price quality broken great slow".split()


def listing_html(page: int, pages: int, reviews: int) -> str:
    items = []
    for index in range(reviews):
        number = page * reviews + index
        words = " ".join(WORDS[(number + k) % len(WORDS)] for k in range(12))
        items.append(f'<div class="review" data-id="{number}"><span class="author">user{number}'
                     f'</span><time datetime="2024-01-01T00:00:00Z"></time>'
                     f'<p class="body">Acme review {number}: {words}</p></div>')
    next_link = f'<a class="next" href="/reviews/{page + 1}">next</a>' if page + 1 < pages else ""
    return f'<html lang="en"><body>{"".join(items)}{next_link}</body></html>'


class GeneratedSite(LocalServer):
    """The generated review site: /reviews/0 … /reviews/N-1, each linking to the next."""

    def __init__(self, pages: int, reviews: int):
        super().__init__()
        self.pages = pages
        self.reviews = reviews

    def handle_get(self, request):
        if request.path == "/robots.txt":
            body = "User-agent: *\nAllow: /\n"
        else:
            body = listing_html(int(request.path.rsplit("/", 1)[-1]), self.pages, self.reviews)
        self.reply(request, 200, body.encode("utf-8"), "text/html; charset=utf-8")


def source(base: str, max_pages: int) -> dict:
    return {"type": "reviews", "options": {
        "start_urls": [f"{base}/reviews/0"], "item": "div.review", "text": "p.body::text",
        "author": ".author::text", "date": "time::attr(datetime)", "id": "::attr(data-id)",
        "next_page": "a.next::attr(href)", "max_pages": max_pages}}


def timed_crawl(db_path: Path, base: str, max_pages: int) -> tuple[dict, float]:
    watch = {"name": "bench", "query": {"any": ["acme"]}}
    started = time.perf_counter()
    result = run_spider(db_path, watch, source(base, max_pages), settings_overrides=NO_DELAYS)
    return result, time.perf_counter() - started


def run_bench(pages: int = 100, reviews: int = 20) -> None:
    """Serve the generated site, run the three timed crawls and print their figures."""
    with GeneratedSite(pages, reviews) as site, tempfile.TemporaryDirectory() as folder:
        _, one_page = timed_crawl(Path(folder) / "one.db", site.url, max_pages=1)
        full, full_seconds = timed_crawl(Path(folder) / "full.db", site.url, pages)
        again, again_seconds = timed_crawl(Path(folder) / "full.db", site.url, pages)
    print(f"one-page crawl (process + Scrapy start):  {one_page:6.2f} s")
    print(f"full crawl: {full['pages_read']} pages, {full['new']} reviews stored in {full_seconds:.2f} s "
          f"= {full['pages_read'] / full_seconds:.1f} pages/s, {full['new'] / full_seconds:.0f} reviews/s")
    print(f"second crawl: {again['new']} new, {again['pages_read']} page(s) read in {again_seconds:.2f} s")
    for result in (full, again):
        if result["errors"]:
            print("errors:", "; ".join(result["errors"][:3]))
