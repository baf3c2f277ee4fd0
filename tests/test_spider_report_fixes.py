"""The Scrapy sources against small local sites, for what the collection tester reported: a dead page
listed beside stored ones (#6), start URLs robots.txt disallows (#7), script/style/noscript text
(#12), star-glyph ratings (#10) and a bad `date_format` (#11).

Every crawl runs the real Scrapy engine in its own process (crawler.runner), against a server on
127.0.0.1 whose pages each test sets.
"""
from __future__ import annotations

import json
import logging

import pytest

from crawler.collect import collect_all
from crawler.runner import run_spider
from mentionwatch.config import Config, ConfigError, load_config
from mentionwatch.local_servers import LocalServer
from storage import open_db

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 0}
WATCH = {"name": "acme", "query": {"any": ["acme"]}}
HTML = "text/html; charset=utf-8"


class Site(LocalServer):
    """Serves `pages` ({path: (status, content type, body)}); robots.txt from `robots`."""

    def __init__(self, pages: dict[str, tuple[int, str, str]], robots: str = "User-agent: *\nAllow: /\n"):
        super().__init__()
        self.pages = pages
        self.robots = robots

    def handle_get(self, request):
        path = request.path.split("?")[0]
        with self.lock:
            self.requests.append(path)
        if path == "/robots.txt":
            self.reply(request, 200, self.robots.encode(), "text/plain")
            return
        status, content_type, body = self.pages.get(path, (404, HTML, "<h1>Not found</h1>"))
        self.reply(request, status, body.encode("utf-8"), content_type)


def article(title: str, body: str) -> tuple[int, str, str]:
    return 200, HTML, (f"<html lang='en'><head><title>{title}</title></head><body><article>"
                       f"<h1>{title}</h1><p>{body}</p></article></body></html>")


def sitemap(base: str, paths: list[str]) -> tuple[int, str, str]:
    urls = "".join(f"<url><loc>{base}{path}</loc><lastmod>2024-04-0{n + 1}</lastmod></url>"
                   for n, path in enumerate(paths))
    return 200, "application/xml", ('<?xml version="1.0" encoding="UTF-8"?><urlset '
                                    f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')


def rows(db_path) -> list[dict]:
    db = open_db(db_path)
    try:
        return list(db.query("SELECT * FROM mentions ORDER BY id"))
    finally:
        db.close()


# --- #6: pages skipped as already stored are pages in the database ---------------------------------

def test_a_dead_page_beside_stored_pages_keeps_the_run_partial(db, tmp_path):
    """The sitemap lists three live pages and one that answers 404. The second crawl fetches only
    the dead one (the others are stored): it is `partial`, not `failed`."""
    live = ["/news/n1.html", "/news/n2.html", "/news/n3.html"]
    with Site({}) as site:
        site.pages.update({path: article(f"Acme news {n}", f"Acme did thing {n}.")
                           for n, path in enumerate(live)})
        site.pages["/sitemap.xml"] = sitemap(site.url, [*live, "/news/removed.html"])
        config = Config.model_validate({"watches": [{**WATCH, "sources": [{"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.url}/sitemap.xml"], "min_interval": 0}}]}]})
        (first,) = collect_all(db, config)
        site.requests.clear()
        (second,) = collect_all(db, config)
    dead = f"{site.url}/news/removed.html: HTTP 404"
    assert (first.status, first.new, first.errors) == ("partial", 3, [dead])
    assert (second.status, second.new, second.errors) == ("partial", 0, [dead])
    assert second.pages == 3  # the three stored pages, not fetched again
    assert not set(site.requests) & set(live)
    statuses = [row[0] for row in db.execute("SELECT status FROM crawl_runs ORDER BY id").fetchall()]
    assert statuses == ["partial", "partial"]


def test_a_listing_with_only_a_dead_page_still_fails(tmp_path):
    with Site({}) as site:
        site.pages["/sitemap.xml"] = sitemap(site.url, ["/news/removed.html"])
        result = run_spider(tmp_path / "x.db", WATCH, {"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.url}/sitemap.xml"]}}, settings_overrides=FAST, timeout=120)
    assert (result["pages"], result["errors"]) == (0, [f"{site.url}/news/removed.html: HTTP 404"])


# --- #7: a start URL (or every listed page) disallowed by robots.txt -------------------------------

REVIEW_PAGE = (200, HTML, "<html><body><div class='review'><p>Acme is fine</p></div></body></html>")


def reviews_source(base: str, *paths: str) -> dict:
    return {"type": "reviews", "options": {"start_urls": [base + path for path in paths],
                                           "item": "div.review", "text": "p ::text"}}


def blocked_line(base: str, path: str) -> str:
    return (f"{base}{path}: disallowed by the site's robots.txt ({base}/robots.txt), so this start "
            "URL is never fetched")


def test_a_review_start_url_disallowed_by_robots_is_an_error_line(db, tmp_path):
    with Site({"/reviews/acme.html": REVIEW_PAGE}, robots="User-agent: *\nDisallow: /reviews/\n") as site:
        config = Config.model_validate({"watches": [{**WATCH, "sources": [
            {**reviews_source(site.url, "/reviews/acme.html"), "options": {
                **reviews_source(site.url, "/reviews/acme.html")["options"], "min_interval": 0}}]}]})
        (result,) = collect_all(db, config)
    assert "/reviews/acme.html" not in site.requests
    assert (result.status, result.errors) == ("failed", [blocked_line(site.url, "/reviews/acme.html")])
    stored = db.execute("SELECT status, errors FROM crawl_runs WHERE id = ?", [result.run_id]).fetchone()
    assert stored[0] == "failed" and json.loads(stored[1]) == result.errors


def test_a_blocked_start_url_beside_a_readable_one_makes_the_run_partial(tmp_path):
    pages = {"/reviews/acme.html": REVIEW_PAGE, "/open/acme.html": REVIEW_PAGE}
    with Site(pages, robots="User-agent: *\nDisallow: /reviews/\n") as site:
        result = run_spider(tmp_path / "x.db", WATCH,
                            reviews_source(site.url, "/open/acme.html", "/reviews/acme.html"),
                            settings_overrides=FAST, timeout=120)
    assert result["errors"] == [blocked_line(site.url, "/reviews/acme.html")]
    assert (result["new"], result["pages"], result["robots_blocked"]) == (1, 1, 1)


def test_a_next_page_disallowed_by_robots_is_skipped_quietly(tmp_path):
    first = (200, HTML, "<html><body><div class='review'><p>Acme one</p></div>"
                        "<a class='next' href='/private/2.html'>next</a></body></html>")
    with Site({"/reviews/1.html": first, "/private/2.html": REVIEW_PAGE},
              robots="User-agent: *\nDisallow: /private/\n") as site:
        source = reviews_source(site.url, "/reviews/1.html")
        source["options"]["next_page"] = "a.next::attr(href)"
        result = run_spider(tmp_path / "x.db", WATCH, source, settings_overrides=FAST, timeout=120)
    assert (result["new"], result["errors"], result["robots_blocked"]) == (1, [], 1)


def test_a_sitemap_url_disallowed_by_robots_is_an_error_line(tmp_path):
    with Site({}, robots="User-agent: *\nDisallow: /maps/\n") as site:
        site.pages["/maps/sitemap.xml"] = sitemap(site.url, ["/news/a.html"])
        result = run_spider(tmp_path / "x.db", WATCH, {"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.url}/maps/sitemap.xml"]}}, settings_overrides=FAST, timeout=120)
    assert result["errors"] == [blocked_line(site.url, "/maps/sitemap.xml")]


def test_every_listed_page_disallowed_by_robots_is_an_error_line(tmp_path):
    paths = ["/news/a.html", "/news/b.html"]
    with Site({}, robots="User-agent: *\nDisallow: /news/\n") as site:
        site.pages.update({path: article("Acme", "Acme news.") for path in paths})
        site.pages["/sitemap.xml"] = sitemap(site.url, paths)
        result = run_spider(tmp_path / "x.db", WATCH, {"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.url}/sitemap.xml"]}}, settings_overrides=FAST, timeout=120)
    (error,) = result["errors"]
    assert error.startswith("all 2 listed page(s) are disallowed by the site's robots.txt (e.g. "
                            f"{site.url}/news/")
    assert result["robots_blocked"] == 2 and result["new"] == 0


# --- #12: what scripts, styles and noscript blocks hold is not text ---------------------------------

SCRIPTED_REVIEWS = (
    "<html lang='en'><head><script>var brand = 'acme';</script><style>.acme{color:red}</style></head>"
    "<body>"
    "<div class='review' data-id='1'><p>acme <script>trackReview(\"acme\")</script>works fine "
    "<style>.x{color:red}</style><noscript>enable JavaScript</noscript>today</p>"
    "<span class='who'><script>var w='x';</script>Ann</span></div>"
    "<div class='review' data-id='2'><p>Great product.<script>var brand='acme';</script>"
    "<style>.acme{}</style></p></div>"
    "</body></html>")


def test_script_style_and_noscript_text_is_left_out_of_reviews(tmp_path):
    with Site({"/reviews.html": (200, HTML, SCRIPTED_REVIEWS)}) as site:
        source = reviews_source(site.url, "/reviews.html")
        source["options"].update(author=".who ::text", id="::attr(data-id)")
        result = run_spider(tmp_path / "x.db", WATCH, source, settings_overrides=FAST, timeout=120)
    # review 2 names the brand only in its script and style: no mention of acme at all
    assert (result["new"], result["filtered"], result["errors"]) == (1, 1, [])
    (row,) = rows(tmp_path / "x.db")
    assert (row["text"], row["author"]) == ("acme works fine today", "Ann")


def test_script_text_is_left_out_of_whole_page_mentions(tmp_path):
    page = (200, HTML, "<html lang='en'><head><title>Weather</title></head><body><article><h1>Weather</h1>"
                       "<p>Sunny all weekend.<script>ads.show('acme')</script></p></article></body></html>")
    with Site({"/news/weather.html": page}) as site:
        site.pages["/sitemap.xml"] = sitemap(site.url, ["/news/weather.html"])
        result = run_spider(tmp_path / "x.db", WATCH, {"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.url}/sitemap.xml"]}}, settings_overrides=FAST, timeout=120)
    assert (result["new"], result["filtered"]) == (0, 1)


def test_a_selector_that_asks_for_a_script_still_gets_it():
    from parsel import Selector

    from crawler.spiders.extract import first_value, joined_text

    node = Selector(text="<div><p>Acme<script>x()</script> ok</p>"
                         "<script type='application/ld+json'>{\"rating\": 4}</script></div>")
    assert joined_text(node, "p ::text") == "Acme ok"
    assert first_value(node, "script[type='application/ld+json']::text") == '{"rating": 4}'
    # an XPath whose result is no node set cannot be filtered: it is applied as written
    assert joined_text(node, "xpath:string(//p)") == "Acmex() ok"


# --- #10 (spider half): a rating drawn with star glyphs ---------------------------------------------

STARRED = ("<html lang='en'><body>"
           "<div class='review' data-id='1'><span class='stars'>★★☆☆☆</span><p>acme lost my parcel</p></div>"
           "<div class='review' data-id='2'><span class='stars'>four of five</span><p>acme was ok</p></div>"
           "<div class='review' data-id='3'><span class='stars'>4 / 5</span><p>acme works</p></div>"
           "</body></html>")


def test_star_glyph_ratings_are_counted_and_unreadable_ones_left_empty(tmp_path, caplog):
    with Site({"/reviews.html": (200, HTML, STARRED)}) as site:
        source = reviews_source(site.url, "/reviews.html")
        source["options"].update(rating=".stars::text", id="::attr(data-id)")
        with caplog.at_level(logging.WARNING):
            result = run_spider(tmp_path / "x.db", WATCH, source, settings_overrides=FAST, timeout=120)
    assert (result["new"], result["rejected"]) == (3, 0)
    assert {row["text"]: row["rating"] for row in rows(tmp_path / "x.db")} == {
        "acme lost my parcel": 2.0, "acme was ok": None, "acme works": 4.0}
    # the child's warning, relayed by the runner, names the item and the field
    assert any("rating: no number in 'four of five'; kept without it" in record.getMessage()
               for record in caplog.records)


@pytest.mark.parametrize("raw, stars", [("★★☆☆☆", 2.0), ("★ ★ ★ ★ ☆", 4.0), ("⭐⭐⭐", 3.0),
                                        ("★★★⯨☆", 3.5), ("☆☆☆☆☆", 0.0)])
def test_star_glyphs_count_the_filled_stars(raw, stars):
    from crawler.pipelines import item_to_mention

    item = {"source": "reviews", "external_id": "x:1", "text": "Acme", "created_at": "2024-05-01",
            "rating": raw}
    assert item_to_mention(item, "acme").rating == stars


# --- #11: a date_format strptime cannot use is refused when the watchlist is read --------------------

@pytest.mark.parametrize("date_format, problem", [
    ("%d %b %Q", "%Q is not a strptime directive"),
    ("%d %B %", "a lone % at its end"),
    ("dd/mm/yyyy", "it has no % directive"),
])
def test_a_bad_date_format_is_one_config_line(tmp_path, date_format, problem):
    path = tmp_path / "w.yaml"
    path.write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
                    "      - type: reviews\n        options:\n"
                    "          start_urls: ['http://127.0.0.1:1/r']\n          item: div.review\n"
                    f"          text: p ::text\n          date_format: '{date_format}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:10: watches[0].sources[0].options.date_format: "
                                        f"invalid date_format {date_format!r}: ")
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_date_format_stops_a_crawl_before_it_starts(tmp_path):
    source = reviews_source("http://127.0.0.1:1", "/r")
    source["options"]["date_format"] = "%d %b %Q"
    result = run_spider(tmp_path / "x.db", WATCH, source)
    assert result["errors"] == ["reviews: options.date_format: invalid date_format '%d %b %Q': %Q is "
                                "not a strptime directive (use e.g. '%d %B %Y'; write %% for a % sign)"]
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("date_format", ["%d %B %Y", "%Y-%m-%dT%H:%M:%S%z", "%d.%m.%Y, %H:%M Uhr",
                                         "100%% on %d/%m/%Y"])
def test_good_date_formats_are_accepted(date_format):
    from crawler.spiders.options import parse_options

    options = parse_options("reviews", {"start_urls": ["http://x.test/"], "item": "div", "text": "p",
                                        "date_format": date_format})
    assert options.date_format == date_format
