"""The Scrapy sources against small local sites, for what a walkthrough of the spiders found: an
interrupted `reviews` crawl finished by the next one (#1), sitemap pages whose canonical URL differs
from the listed one (#2), start URLs that redirect without end (#3), Retry-After (#4), pages robots.txt
disallows and `max_pages` (#5), malformed sitemap <loc>s (#6), a `javascript:` next link (#7), and
selectors/URLs checked when the watchlist is read (#8).

Every crawl runs the real Scrapy engine in its own process (crawler.runner), against a server on
127.0.0.1 whose pages each test sets, into a real SQLite file.
"""
from __future__ import annotations

import time

import pytest
from twisted.python.failure import Failure

from crawler.runner import run_spider
from crawler.spiders.reviews import ReviewSpider
from mentionwatch.config import ConfigError, load_config
from mentionwatch.local_servers import LocalServer
from storage import open_db

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 0}
WATCH = {"name": "acme", "query": {"any": ["acme"]}}
HTML = "text/html; charset=utf-8"
XML = "application/xml"
SELECTORS = {"item": "div.review", "text": "p ::text", "id": "::attr(data-id)",
             "next_page": "a.next::attr(href)"}


class Site(LocalServer):
    """Serves `pages` ({path with query: (status, content type, body[, headers])}); a value may be a
    list, answered in turn (the last one from then on). Records when each path was asked for."""

    def __init__(self, pages: dict, robots: str = "User-agent: *\nDisallow: /private/\n"):
        super().__init__()
        self.pages = pages
        self.robots = robots
        self.times: list[tuple[str, float]] = []

    def handle_get(self, request):
        with self.lock:
            self.requests.append(request.path)
            self.times.append((request.path, time.monotonic()))
        if request.path == "/robots.txt":
            self.reply(request, 200, self.robots.encode(), "text/plain")
            return
        answer = self.pages.get(request.path, (404, HTML, "<h1>Not found</h1>"))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        status, content_type, body, *headers = answer
        self.reply(request, status, body.encode("utf-8"), content_type, *headers)

    def asked(self, path: str) -> int:
        return self.requests.count(path)


def listing(ids: list[str], next_href: str | None) -> tuple[int, str, str]:
    reviews = "".join(f'<div class="review" data-id="{i}"><p>Acme review {i}</p></div>' for i in ids)
    link = f'<a class="next" href="{next_href}">Next</a>' if next_href else ""
    return 200, HTML, f'<html lang="en"><body>{reviews}{link}</body></html>'


def paged_listing(site: Site, ids: list[str], per_page: int = 3) -> None:
    """`ids` newest first on /list?page=1, 2, ... `per_page` a page."""
    pages = [ids[at:at + per_page] for at in range(0, len(ids), per_page)]
    for number, page_ids in enumerate(pages, start=1):
        next_href = f"/list?page={number + 1}" if number < len(pages) else None
        site.pages[f"/list?page={number}"] = listing(page_ids, next_href)


def crawl(site: Site, db_path, source_type: str, options: dict, settings: dict | None = None) -> dict:
    source = {"type": source_type, "options": {"min_interval": 0, **options}}
    return run_spider(db_path, WATCH, source, settings_overrides={**FAST, **(settings or {})},
                      timeout=120)


def crawl_reviews(site: Site, db_path, start: str = "/list?page=1", settings: dict | None = None,
                  **options) -> dict:
    return crawl(site, db_path, "reviews", {"start_urls": [site.url + start], **SELECTORS, **options},
                 settings)


def stored(db_path, column: str = "external_id") -> list[str]:
    db = open_db(db_path)
    try:
        return sorted(row[0] for row in db.execute(f"SELECT {column} FROM mentions"))
    finally:
        db.close()


def review_ids(site: Site, ids) -> list[str]:
    host = site.url.removeprefix("http://")
    return sorted(f"{host}:{i}" for i in ids)


# --- #1: an interrupted reviews crawl is finished by the next one ----------------------------------

def test_a_page_that_failed_is_read_by_the_next_crawl(tmp_path):
    """Page 2 answers 503 on the first crawl only. The second crawl must not stop at page 1's
    stored reviews: it reads on to pages 2-4. The crawl after that, with nothing left unfinished,
    stops at page 1 again."""
    db_path = tmp_path / "m.db"
    ids = [f"r{n}" for n in range(12, 0, -1)]
    with Site({}) as site:
        paged_listing(site, ids)
        site.pages["/list?page=2"] = [(503, HTML, "busy"), site.pages["/list?page=2"]]
        first = crawl_reviews(site, db_path)
        second = crawl_reviews(site, db_path)
        site.requests.clear()
        third = crawl_reviews(site, db_path)
    assert first["errors"] == [f"{site.url}/list?page=2: HTTP 503"] and first["new"] == 3
    assert second["errors"] == [] and second["new"] == 9
    assert stored(tmp_path / "m.db") == review_ids(site, ids)
    assert third["new"] == 0 and [p for p in site.requests if p != "/robots.txt"] == ["/list?page=1"]


def test_a_crawl_cut_by_max_pages_before_the_known_reviews_is_read_on(tmp_path):
    """max_pages 1. A burst of 6 new reviews (2 pages) above the stored ones: the first crawl after
    the burst reads page 1 only. The next one skips page 1 (it holds only what that crawl stored, so
    it does not count towards max_pages) and reads page 2: no review of the burst is lost."""
    db_path = tmp_path / "m.db"
    old = [f"r{n}" for n in range(6, 0, -1)]
    burst = [f"r{n}" for n in range(12, 6, -1)]
    with Site({}) as site:
        paged_listing(site, old)
        crawl_reviews(site, db_path, max_pages=1)  # the listing's first crawl: page 1, then done
        time.sleep(1.1)  # stored times are in whole seconds: the burst's crawl starts a second later
        paged_listing(site, burst + old)
        cut = crawl_reviews(site, db_path, max_pages=1)
        resumed = crawl_reviews(site, db_path, max_pages=1)
        site.requests.clear()
        after = crawl_reviews(site, db_path, max_pages=1)
    assert cut["new"] == 3
    assert resumed["new"] == 3 and resumed["errors"] == []
    assert stored(db_path) == review_ids(site, burst + old[:3])
    # the burst is read: the next crawl stops at the reviews of page 3, stored before it
    assert after["new"] == 0
    assert [p for p in site.requests if p != "/robots.txt"] == [f"/list?page={n}" for n in (1, 2, 3)]


def test_a_new_listing_cut_by_max_pages_is_not_read_back_further(tmp_path):
    """max_pages bounds how far back a listing's first crawl reads: the next crawl stops at the
    reviews it stored."""
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        paged_listing(site, [f"r{n}" for n in range(9, 0, -1)])
        first = crawl_reviews(site, db_path, max_pages=1)
        site.requests.clear()
        second = crawl_reviews(site, db_path, max_pages=1)
    assert first["new"] == 3 and second["new"] == 0
    assert [p for p in site.requests if p != "/robots.txt"] == ["/list?page=1"]


# --- #2: sitemap pages whose canonical URL is not the listed one -----------------------------------

def canonical_site(site: Site, count: int) -> None:
    """A sitemap listing /a/N/ (trailing slash) for pages whose canonical URL is /a/N."""
    urls = "".join(f"<url><loc>{site.url}/a/{n}/</loc></url>" for n in range(count))
    site.pages["/sitemap.xml"] = (200, XML, '<?xml version="1.0"?><urlset xmlns="http://www.'
                                            f'sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')
    for n in range(count):
        site.pages[f"/a/{n}/"] = (200, HTML, f'<html lang="en"><head><link rel="canonical" '
                                             f'href="/a/{n}"></head><body><article><p>Acme article '
                                             f'{n}</p></article></body></html>')


def test_pages_stored_under_their_canonical_url_are_not_fetched_again(tmp_path):
    db_path = tmp_path / "m.db"
    options = {"max_pages": 3}
    with Site({}) as site:
        canonical_site(site, 6)
        options["sitemap_urls"] = [f"{site.url}/sitemap.xml"]
        runs = [crawl(site, db_path, "sitemap", options) for _ in range(3)]
    assert [run["new"] for run in runs] == [3, 3, 0]
    assert runs[2]["pages_read"] == 0
    assert stored(db_path) == sorted(f"{site.url}/a/{n}" for n in range(6))
    assert all(site.asked(f"/a/{n}/") == 1 for n in range(6))


def test_a_database_from_before_stores_no_page_twice(tmp_path):
    """Pages stored under their canonical URL by an older version (no record of the listed URL):
    fetched once more, counted as duplicates, never stored twice; then skipped."""
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        canonical_site(site, 3)
        options = {"sitemap_urls": [f"{site.url}/sitemap.xml"]}
        crawl(site, db_path, "sitemap", options)
        db = open_db(db_path)
        db.execute("DELETE FROM cursors")  # what an older version left: no listed URLs recorded
        db.conn.commit()
        db.close()
        again = crawl(site, db_path, "sitemap", options)
        last = crawl(site, db_path, "sitemap", options)
    assert again["new"] == 0 and again["duplicates"] == 3
    assert len(stored(db_path)) == 3
    assert last["pages_read"] == 0


# --- #3: start URLs whose redirects never reach a page ---------------------------------------------

def test_a_redirect_loop_on_a_start_url_is_an_error_line(tmp_path):
    with Site({"/loop": (302, HTML, "", {"Location": "/loop2"}),
               "/loop2": (302, HTML, "", {"Location": "/loop"})}) as site:
        result = crawl_reviews(site, tmp_path / "m.db", start="/loop")
    assert result["errors"] == [f"{site.url}/loop: not read: too many redirects (a redirect loop, "
                                "or a login or cookie wall?)"]
    assert result["pages_read"] == 0


def test_a_cookie_wall_redirecting_back_to_the_start_url_is_read(tmp_path):
    """/list -> /consent (sets a cookie) -> /list: the second /list is no duplicate to drop."""

    class CookieWall(Site):
        def handle_get(self, request):
            if request.path == "/list" and "consent=yes" not in (request.headers.get("Cookie") or ""):
                self.reply(request, 302, b"", HTML, {"Location": "/consent",
                                                      "Set-Cookie": "consent=yes; Path=/"})
                return
            super().handle_get(request)

    with CookieWall({"/consent": (302, HTML, "", {"Location": "/list"}),
                     "/list": listing(["c1", "c2"], None)}) as site:
        result = crawl_reviews(site, tmp_path / "m.db", start="/list")
    assert result["errors"] == [] and result["new"] == 2


# --- #4: Retry-After ---------------------------------------------------------------------------------

def test_a_short_retry_after_is_waited_for(tmp_path):
    with Site({"/list": [(429, "text/plain", "slow down", {"Retry-After": "2"}),
                         listing(["w1"], None)]}) as site:
        result = crawl_reviews(site, tmp_path / "m.db", start="/list", settings={"RETRY_TIMES": 2})
    asked = [moment for path, moment in site.times if path == "/list"]
    assert result["errors"] == [] and result["new"] == 1
    assert len(asked) == 2 and asked[1] - asked[0] >= 1.9


def test_a_long_retry_after_is_not_waited_for_and_says_so(tmp_path):
    with Site({"/list": (429, "text/plain", "slow down", {"Retry-After": "3600"})}) as site:
        started = time.monotonic()
        result = crawl_reviews(site, tmp_path / "m.db", start="/list", settings={"RETRY_TIMES": 2})
    assert result["errors"] == [f"{site.url}/list: HTTP 429 (rate limited for 1h00m; not waiting "
                                "that long)"]
    assert site.asked("/list") == 1
    assert time.monotonic() - started < 30


# --- #5, #6: sitemaps: robots.txt before max_pages; malformed <loc>s ---------------------------------

def urlset(entries: list[tuple[str, str | None]]) -> tuple[int, str, str]:
    urls = "".join(f"<url><loc>{loc}</loc>" + (f"<lastmod>{date}</lastmod>" if date else "")
                   + "</url>" for loc, date in entries)
    return 200, XML, ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                      f'sitemap/0.9">{urls}</urlset>')


def article(n: int) -> tuple[int, str, str]:
    return 200, HTML, f'<html lang="en"><body><article><p>Acme post {n}</p></article></body></html>'


def test_pages_robots_txt_disallows_do_not_use_up_max_pages(tmp_path):
    """The newest listed page is disallowed: with max_pages 1 the newest allowed one is read."""
    with Site({"/post/1": article(1), "/post/2": article(2)}) as site:
        site.pages["/sitemap.xml"] = urlset([(f"{site.url}/private/3", "2024-04-03"),
                                             (f"{site.url}/post/2", "2024-04-02"),
                                             (f"{site.url}/post/1", "2024-04-01")])
        result = crawl(site, tmp_path / "m.db", "sitemap",
                       {"sitemap_urls": [f"{site.url}/sitemap.xml"], "max_pages": 1})
    assert result["errors"] == [] and result["new"] == 1
    assert stored(tmp_path / "m.db", "url") == [f"{site.url}/post/2"]
    assert result["robots_blocked"] == 1
    assert not [path for path in site.requests if path.startswith("/private/")]


def test_a_malformed_loc_is_skipped_and_a_relative_one_is_read(tmp_path):
    with Site({f"/post/{n}": article(n) for n in (1, 2, 3)}) as site:
        site.pages["/sitemap.xml"] = urlset([(f"{site.url}/post/1", "2024-01-01"),
                                             ("http://127.0.0.1:99999/x", "2024-01-02"),
                                             ("/post/2", None), (f"{site.url}/post/3", None)])
        result = crawl(site, tmp_path / "m.db", "sitemap",
                       {"sitemap_urls": [f"{site.url}/sitemap.xml"]})
    assert result["errors"] == [] and result["new"] == 3
    assert stored(tmp_path / "m.db", "url") == [f"{site.url}/post/{n}" for n in (1, 2, 3)]


# --- #7: a next link that is not a link --------------------------------------------------------------

def test_a_javascript_next_link_is_the_end_of_the_list(tmp_path):
    with Site({"/list": listing(["j1"], "javascript:void(0)")}) as site:
        result = crawl_reviews(site, tmp_path / "m.db", start="/list")
    assert result["errors"] == [] and result["new"] == 1


# --- #8: options checked when the watchlist is read --------------------------------------------------

HEAD = "watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n"


@pytest.mark.parametrize("option, value, expected", [
    ("text", '"xpath:foo(.)"', "options.text: invalid selector 'xpath:foo(.)': Unregistered function"),
    ("text", '"xpath:$foo"', "options.text: invalid selector 'xpath:$foo': Undefined variable"),
    ("start_urls", '["http://127.0.0.1:99999/list"]',
     "options.start_urls[0]: bad port in 'http://127.0.0.1:99999/list' (a port is a number from "
     "1 to 65535)"),
])
def test_selectors_and_ports_are_checked_when_the_watchlist_is_read(tmp_path, option, value, expected):
    options = {"start_urls": '["http://example.org/list"]', "item": '"div.review"', "text": '"p::text"'}
    options[option] = value
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + "      - type: reviews\n        options:\n"
                    + "".join(f"          {name}: {text}\n" for name, text in options.items()))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).endswith(expected)
    assert len(str(caught.value).splitlines()) == 1


def test_an_xpath_that_reads_text_or_numbers_is_still_accepted(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + "      - type: reviews\n        options:\n"
                    "          start_urls: ['http://example.org/list']\n"
                    "          item: \"xpath://div[has-class('review')]\"\n"
                    "          text: 'xpath:string(.)'\n          rating: 'xpath:count(.//i)'\n")
    assert load_config(path).watches[0].sources[0].type == "reviews"


def test_a_callback_error_without_a_response_is_an_error_line(tmp_path):
    spider = ReviewSpider(WATCH, {"type": "reviews", "options": {
        "start_urls": ["http://example.org/list"], **SELECTORS}}, tmp_path / "m.db")
    spider._on_callback_error(Failure(ValueError("Port out of range")), None, spider)
    assert spider.errors == ["a request: could not read the page: ValueError: Port out of range"]


# --- re-test of the resume marks and canonical cursors -------------------------------------------

def clear_cursors(db_path) -> None:
    """What an older version's database looks like: reviews stored, no marks."""
    db = open_db(db_path)
    try:
        db.execute("DELETE FROM cursors")
        db.conn.commit()
    finally:
        db.close()


def asked_pages(site: Site) -> list[str]:
    return [path for path in site.requests if path != "/robots.txt"]


def test_an_unfinished_listing_is_resumed_after_an_option_edit(tmp_path):
    """Page 2 fails; the operator then edits an option (max_pages). The mark is not filed under a
    hash of the options, so the next crawl still reads on to pages 2-4."""
    db_path = tmp_path / "m.db"
    ids = [f"r{n}" for n in range(12, 0, -1)]
    with Site({}) as site:
        paged_listing(site, ids)
        site.pages["/list?page=2"] = [(503, HTML, "busy"), site.pages["/list?page=2"]]
        first = crawl_reviews(site, db_path)
        second = crawl_reviews(site, db_path, max_pages=20)
    assert first["new"] == 3
    assert second["errors"] == [] and second["new"] == 9
    assert stored(db_path) == review_ids(site, ids)


def test_a_listing_with_stored_reviews_but_no_mark_is_not_a_first_crawl(tmp_path):
    """An upgraded database (reviews stored, no mark): a burst cut by max_pages must be read on by
    the next crawl, not marked done as if the listing were new."""
    db_path = tmp_path / "m.db"
    old = [f"r{n}" for n in range(6, 0, -1)]
    burst = [f"r{n}" for n in range(12, 6, -1)]
    with Site({}) as site:
        paged_listing(site, old)
        crawl_reviews(site, db_path, max_pages=1)
        clear_cursors(db_path)
        time.sleep(1.1)
        paged_listing(site, burst + old)
        cut = crawl_reviews(site, db_path, max_pages=1)
        resumed = crawl_reviews(site, db_path, max_pages=1)
    assert cut["new"] == 3 and resumed["new"] == 3
    assert stored(db_path) == review_ids(site, burst + old[:3])


@pytest.mark.parametrize("last_next", ["#reviews", "?page=2#top"])
def test_a_next_link_to_the_same_page_with_a_fragment_ends_the_list(tmp_path, last_next):
    """Page 2's next link is itself plus a fragment: the listing ends there (done), so the next
    crawl stops at page 1's stored reviews instead of re-reading the listing."""
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        site.pages["/list?page=1"] = listing(["r6", "r5", "r4"], "/list?page=2")
        site.pages["/list?page=2"] = listing(["r3", "r2", "r1"], last_next)
        first = crawl_reviews(site, db_path)
        site.pages["/list?page=1"] = listing(["r7", "r6", "r5", "r4"], "/list?page=2")
        site.requests.clear()
        second = crawl_reviews(site, db_path)
    assert first["new"] == 6 and first["errors"] == []
    assert second["new"] == 1 and asked_pages(site) == ["/list?page=1"]


def test_a_later_page_robots_txt_disallows_ends_the_list(tmp_path):
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        site.pages["/list?page=1"] = listing(["r6", "r5"], "/list?page=2")
        site.pages["/list?page=2"] = listing(["r4", "r3"], "/private/3")
        site.pages["/private/3"] = listing(["r2", "r1"], None)
        first = crawl_reviews(site, db_path)
        site.pages["/list?page=1"] = listing(["r7", "r6", "r5"], "/list?page=2")
        site.requests.clear()
        second = crawl_reviews(site, db_path)
    assert first["new"] == 4 and first["errors"] == []
    assert second["new"] == 1 and asked_pages(site) == ["/list?page=1"]


def test_canonicals_survive_an_option_edit(tmp_path):
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        canonical_site(site, 3)
        options = {"sitemap_urls": [f"{site.url}/sitemap.xml"]}
        first = crawl(site, db_path, "sitemap", options)
        edited = crawl(site, db_path, "sitemap", {**options, "max_pages": 40})
    assert first["new"] == 3 and edited["pages_read"] == 0


def test_one_canonical_for_every_page_is_not_remembered(tmp_path):
    """A misconfigured CMS gives every listed page the canonical URL /a/0 (itself listed); once the
    site is fixed, the other pages are fetched and stored."""
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        canonical_site(site, 4)
        urls = "".join(f"<url><loc>{site.url}/a/{n}</loc></url>" for n in range(4))
        site.pages["/sitemap.xml"] = (200, XML, '<?xml version="1.0"?><urlset xmlns="http://www.'
                                                f'sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')
        for n in range(4):
            fixed = (200, HTML, f'<html lang="en"><body><article><p>Acme article {n}</p></article>'
                                '</body></html>')
            broken = (200, HTML, '<html lang="en"><head><link rel="canonical" href="/a/0"></head>'
                                 f'<body><article><p>Acme article {n}</p></article></body></html>')
            site.pages[f"/a/{n}"] = [broken, fixed]
        options = {"sitemap_urls": [f"{site.url}/sitemap.xml"]}
        first = crawl(site, db_path, "sitemap", options)
        second = crawl(site, db_path, "sitemap", options)
    assert first["new"] == 1
    assert second["new"] == 3
    assert stored(db_path) == sorted(f"{site.url}/a/{n}" for n in range(4))
