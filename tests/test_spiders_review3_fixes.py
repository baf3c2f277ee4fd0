"""The Scrapy sources against small local sites, for what the third review of the spiders found:
sitemap dates that could not be read (#1), a feed starting with a byte order mark (#2), a malformed
link in one review (#3), page URLs too long to be an id (#4), a malformed next link (#5) and a
<time> that holds no date (#6).

Every crawl runs the real Scrapy engine in its own process (crawler.runner), against a server on
127.0.0.1 whose pages each test sets, into a real SQLite file.
"""
from __future__ import annotations

from urllib.parse import quote

from crawler.runner import run_spider
from mentionwatch.local_servers import LocalServer
from storage import open_db

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 0}
WATCH = {"name": "acme", "query": {"any": ["acme"]}}
HTML = "text/html; charset=utf-8"
XML = "application/xml"


class Site(LocalServer):
    """Serves `pages` ({path with query: (status, content type, body as bytes or text)})."""

    def __init__(self, pages: dict | None = None):
        super().__init__()
        self.pages = pages or {}

    def handle_get(self, request):
        with self.lock:
            self.requests.append(request.path)
        if request.path == "/robots.txt":
            self.reply(request, 200, b"User-agent: *\nAllow: /\n", "text/plain")
            return
        status, content_type, body = self.pages.get(request.path, (404, HTML, "<h1>Not found</h1>"))
        self.reply(request, status, body if isinstance(body, bytes) else body.encode("utf-8"),
                   content_type)


def crawl(db_path, source_type: str, options: dict) -> dict:
    source = {"type": source_type, "options": {"min_interval": 0, **options}}
    return run_spider(db_path, WATCH, source, settings_overrides=FAST, timeout=120)


def stored(db_path, columns: str = "external_id") -> list:
    db = open_db(db_path)
    try:
        return sorted(tuple(row) for row in db.execute(f"SELECT {columns} FROM mentions"))
    finally:
        db.close()


def sitemap(site: Site, entries: list[tuple[str, str | None]]) -> tuple[int, str, str]:
    """A urlset of (path, lastmod or None)."""
    urls = "".join(f"<url><loc>{site.url}{path}</loc>"
                   + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</url>"
                   for path, lastmod in entries)
    return 200, XML, ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                      f'sitemap/0.9">{urls}</urlset>')


def article(body: str) -> tuple[int, str, str]:
    return 200, HTML, f'<html lang="en"><body><article>{body}</article></body></html>'


# --- #1: a sitemap <lastmod> parse_timestamp cannot read as written --------------------------------

def test_sitemap_lastmod_in_w3c_reduced_forms_or_unreadable_dates_the_page(tmp_path):
    """'2024-05' and '2024' are valid W3C <lastmod>s: they were rejected (unrecognised; '2024' read
    as Unix seconds, before 1990), losing pages without a date of their own. An unreadable one is no
    date: the page is kept, dated with its fetch time."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        site.pages["/sitemap.xml"] = sitemap(site, [("/a/0", "2024-05"), ("/a/1", "2023"),
                                                    ("/a/2", "early May")])
        for n in range(3):
            site.pages[f"/a/{n}"] = article(f"<p>Acme article {n}</p>")
        run = crawl(db_path, "sitemap", {"sitemap_urls": [f"{site.url}/sitemap.xml"]})
    assert run["new"] == 3 and run["rejected"] == 0 and run["errors"] == []
    dates = dict(stored(db_path, "url, created_at"))
    assert dates[f"{site.url}/a/0"] == "2024-05-01T00:00:00Z"
    assert dates[f"{site.url}/a/1"] == "2023-01-01T00:00:00Z"
    assert dates[f"{site.url}/a/2"] > "2025"  # the fetch time


# --- #2: a feed that begins with a UTF-8 byte order mark -------------------------------------------

def test_a_feed_with_a_byte_order_mark_is_read(tmp_path):
    db_path = tmp_path / "m.db"
    with Site() as site:
        feed = ('\ufeff<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t'
                f'</title><item><title>x</title><link>{site.url}/a/1</link><pubDate>Fri, 03 May '
                '2024 10:00:00 GMT</pubDate></item></channel></rss>')
        site.pages["/feed.rss"] = (200, "application/rss+xml", feed.encode("utf-8"))
        site.pages["/a/1"] = article("<p>Acme article</p>")
        run = crawl(db_path, "sitemap", {"sitemap_urls": [f"{site.url}/feed.rss"]})
    assert run["errors"] == [] and run["new"] == 1
    assert stored(db_path, "url, created_at") == [(f"{site.url}/a/1", "2024-05-03T10:00:00Z")]


# --- #3: one review with a malformed link ----------------------------------------------------------

def test_a_malformed_permalink_costs_only_that_link_not_the_page(tmp_path):
    """urljoin raised on 'http://[broken', which crashed the page: none of its reviews stored."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        reviews = "".join(f'<div class="review"><a href="{href}">#</a><p>Acme review {n}</p></div>'
                          for n, href in enumerate(["/r/0", "http://[broken/r/1", "/r/2"]))
        site.pages["/list"] = (200, HTML, f'<html lang="en"><body>{reviews}</body></html>')
        run = crawl(db_path, "reviews", {"start_urls": [f"{site.url}/list"], "item": "div.review",
                                         "text": "p ::text", "url": "a::attr(href)"})
    assert run["errors"] == [] and run["new"] == 3
    urls = [url for (url,) in stored(db_path, "url")]
    assert urls == [f"{site.url}/list#2", f"{site.url}/r/0", f"{site.url}/r/2"]


def test_a_malformed_canonical_link_keeps_the_page_under_its_own_url(tmp_path):
    db_path = tmp_path / "m.db"
    with Site() as site:
        site.pages["/sitemap.xml"] = sitemap(site, [("/a/1", "2024-05-03")])
        site.pages["/a/1"] = (200, HTML, '<html lang="en"><head><link rel="canonical" '
                                         'href="http://[broken/a/1"></head><body><article><p>Acme '
                                         'article</p></article></body></html>')
        run = crawl(db_path, "sitemap", {"sitemap_urls": [f"{site.url}/sitemap.xml"]})
    assert run["errors"] == [] and run["new"] == 1
    assert stored(db_path) == [(f"{site.url}/a/1",)]


# --- #4: page URLs longer than an id may be ---------------------------------------------------------

def test_a_page_with_a_long_percent_encoded_url_is_stored_once_and_not_fetched_again(tmp_path):
    """A 50-character Japanese slug is over 500 characters percent-encoded: the page was rejected
    (external_id too long) and fetched again on every crawl."""
    db_path = tmp_path / "m.db"
    slug = quote("アクメの新製品レビュー：使ってみた感想と良い点・悪い点をまとめました（二〇二四年五月版）"
                 "とても長いタイトルです")
    path = f"/2024/05/{slug}/"
    with Site() as site:
        site.pages["/sitemap.xml"] = sitemap(site, [(path, "2024-05-03")])
        site.pages[path] = article("<p>Acme review</p>")
        options = {"sitemap_urls": [f"{site.url}/sitemap.xml"]}
        first = crawl(db_path, "sitemap", options)
        second = crawl(db_path, "sitemap", options)
    assert len(site.url + path) > 500
    assert first["new"] == 1 and first["rejected"] == 0
    assert second["pages_read"] == 0 and site.requests.count(path) == 1
    assert stored(db_path, "url") == [(site.url + path,)]


def test_a_review_with_a_long_permalink_is_stored(tmp_path):
    db_path = tmp_path / "m.db"
    with Site() as site:
        long_link = "/r/1?" + "&".join(f"ref{n}=tracking-value-{n}" for n in range(30))
        site.pages["/list"] = (200, HTML, f'<html lang="en"><body><div class="review"><a href="'
                                          f'{long_link}">#</a><p>Acme review</p></div></body></html>')
        options = {"start_urls": [f"{site.url}/list"], "item": "div.review", "text": "p ::text",
                   "url": "a::attr(href)"}
        first = crawl(db_path, "reviews", options)
        second = crawl(db_path, "reviews", options)
    assert len(site.url + long_link) > 500
    assert first["new"] == 1 and first["rejected"] == 0
    assert second["new"] == 0 and second["duplicates"] == 1


# --- #5: a next link that is no URL at all --------------------------------------------------------

def test_a_malformed_next_link_ends_the_list(tmp_path):
    """A next link with a port out of range crashed the page's callback: an error line on every
    crawl, and the listing left unfinished for good."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        site.pages["/list"] = (200, HTML, '<html lang="en"><body><div class="review" data-id="1">'
                                          '<p>Acme review</p></div><a class="next" href="'
                                          'http://127.0.0.1:99999/list?page=2">next</a></body></html>')
        options = {"start_urls": [f"{site.url}/list"], "item": "div.review", "text": "p ::text",
                   "id": "::attr(data-id)", "next_page": "a.next::attr(href)"}
        run = crawl(db_path, "reviews", options)
    assert run["errors"] == [] and run["new"] == 1
    db = open_db(db_path)
    try:
        marks = [value for (value,) in db.execute("SELECT value FROM cursors WHERE source = "
                                                  "'reviews:listings'")]
    finally:
        db.close()
    assert marks == ["done"]


# --- #6: a <time> that holds no date ----------------------------------------------------------------

def test_a_time_element_without_a_date_does_not_reject_the_page(tmp_path):
    """The first <time> was taken as the page's date even when it holds a time of day or a
    duration: the page was rejected instead of dated by the next <time> or its sitemap."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        site.pages["/sitemap.xml"] = sitemap(site, [("/a/0", "2024-05-03"), ("/a/1", "2024-05-04")])
        site.pages["/a/0"] = article('<p>Acme opens at <time datetime="09:00">9</time></p>')
        site.pages["/a/1"] = article('<p>Acme, a <time datetime="PT5M">5 min</time> read</p>'
                                     '<time datetime="2024-04-30T08:00:00Z">30 April</time>')
        run = crawl(db_path, "sitemap", {"sitemap_urls": [f"{site.url}/sitemap.xml"]})
    assert run["new"] == 2 and run["rejected"] == 0
    assert stored(db_path, "url, created_at") == [(f"{site.url}/a/0", "2024-05-03T00:00:00Z"),
                                                  (f"{site.url}/a/1", "2024-04-30T08:00:00Z")]
