"""The real Scrapy engine (through crawler.runner, one OS process per crawl) against a local site.

The site (tests/sites/review_site.py) has a robots.txt that disallows /private/, listing pages with
malformed and off-topic reviews, a page that fails once (retried), a page that always answers 500,
a sitemap index, a news sitemap and an RSS feed. Expected rows are computed from the site's data.
"""
from __future__ import annotations

import math

import pytest

from crawler.items import MentionItem
from crawler.pipelines import item_to_mention
from crawler.runner import run_spider, run_spider_from_config
from crawler.settings import USER_AGENT
from mentionwatch.config import Config, Watch
from sites.review_site import (ARTICLES, FORUM_REDESIGNED, FORUM_SITEMAP, FORUM_THREADS, LAST_PAGE,
                               REDESIGNED_PAGE, REVIEWS, SHORT_LIST, good_reviews, serve_site)
from storage import open_db, parse_timestamp, utc_now_iso

# keep the crawl quick: no polite delays against our own test server
FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 1}

BATCH = 2  # mentions per storage transaction in the first review crawl

REVIEW_SELECTORS = {
    "item": "div.review",
    "text": "p.body ::text",
    "title": "h3::text",
    "author": ".author::text",
    "date": "time::attr(datetime)",
    "rating": ".stars::attr(data-rating)",
    "url": "a.permalink::attr(href)",
    "id": "::attr(data-id)",
    "next_page": "a.next::attr(href)",
}


@pytest.fixture(scope="module")
def site():
    with serve_site() as site:
        yield site


def review_watch(site, **extra_options) -> Watch:
    options = {"start_urls": [f"{site.base}/acme/reviews-1.html",
                              f"{site.base}/private/acme-internal.html"],
               **REVIEW_SELECTORS, **extra_options}
    return Watch.model_validate({"name": "acme", "query": {"any": ["acme"]},
                                 "sources": [{"type": "reviews", "options": options}]})


def stored(db_path) -> list[dict]:
    db = open_db(db_path)
    try:
        return list(db.query("SELECT m.*, w.watch FROM mentions m "
                             "LEFT JOIN mention_watches w ON w.mention_id = m.id ORDER BY m.id"))
    finally:
        db.close()


@pytest.fixture(scope="module")
def review_crawls(site, tmp_path_factory):
    """Three crawls of the review site into one database (the last one reading every page again),
    with the requests each made."""
    db_path = tmp_path_factory.mktemp("reviews") / "mentions.db"
    watch = review_watch(site)
    site.requests.clear()
    first = run_spider(db_path, watch, watch.sources[0],
                       settings_overrides={**FAST, "MENTIONWATCH_BATCH_SIZE": BATCH}, timeout=120)
    first_requests = list(site.requests)
    rows_after_first = stored(db_path)
    site.requests.clear()
    second = run_spider(db_path, watch, watch.sources[0], settings_overrides=FAST, timeout=120)
    second_requests = list(site.requests)
    site.requests.clear()
    full_watch = review_watch(site, stop_at_known=False)
    full_recrawl = run_spider(db_path, full_watch, full_watch.sources[0], settings_overrides=FAST,
                              timeout=120)
    return {"first": first, "first_requests": first_requests, "rows": rows_after_first,
            "second": second, "second_requests": second_requests,
            "full_recrawl": full_recrawl, "full_recrawl_requests": list(site.requests),
            "rows_at_end": stored(db_path)}


def test_every_good_review_is_stored_exactly_once(review_crawls):
    rows = review_crawls["rows"]
    expected = good_reviews()
    assert sorted((r["author"], r["text"]) for r in rows) == \
        sorted((g["author"], " ".join(g["text"].split())) for g in expected)
    assert len({(r["source"], r["external_id"]) for r in rows}) == len(rows)
    assert {r["watch"] for r in rows} == {"acme"}
    first = review_crawls["first"]
    assert first["new"] == len(expected)
    assert first["finish_reason"] == "finished"
    # stored in batches, the last one flushed when the spider closed
    assert first["batches"] == math.ceil((first["new"] + first["duplicates"]) / BATCH)


def test_fields_are_read_with_the_configured_selectors(review_crawls, site):
    by_author = {r["author"]: r for r in review_crawls["rows"]}
    for review in good_reviews():
        row = by_author[review["author"]]
        assert row["created_at"] == parse_timestamp(review["date"])
        assert row["rating"] == float(review["stars"])
        assert row["lang"] == "en"
        assert row["title"] == review.get("title")
        if review.get("permalink"):
            assert row["url"] == site.base + review["permalink"]
            assert row["external_id"] == site.base + review["permalink"]
        elif review.get("id"):
            assert row["external_id"].endswith(":" + review["id"])


def test_malformed_and_off_topic_reviews_are_counted_not_stored(review_crawls):
    first = review_crawls["first"]
    assert first["rejected"] == sum(1 for r in REVIEWS if r.get("malformed"))
    assert first["filtered"] == sum(1 for r in REVIEWS if r.get("off_topic"))
    assert first["duplicates"] == len(REVIEWS) - len(good_reviews()) - first["rejected"] - first["filtered"]
    assert first["fetched"] == len(REVIEWS)
    stored_texts = {r["text"] for r in review_crawls["rows"]}
    for review in REVIEWS:
        if review.get("malformed") or review.get("off_topic"):
            assert review["text"] not in stored_texts


def blocked_start_url(site) -> str:
    """The error line of review_watch's start URL that robots.txt disallows."""
    return (f"{site.base}/private/acme-internal.html: disallowed by the site's robots.txt "
            f"({site.base}/robots.txt), so this start URL is never fetched")


def test_robots_txt_is_obeyed_and_the_project_user_agent_is_sent(review_crawls, site):
    requests = review_crawls["first_requests"]
    assert "/robots.txt" in requests
    assert not [path for path in requests if path.startswith("/private/")]
    assert review_crawls["first"]["robots_blocked"] == 1
    # a start URL robots.txt disallows can never be read: an error line naming it, every crawl
    assert blocked_start_url(site) in review_crawls["first"]["errors"]
    assert blocked_start_url(site) in review_crawls["second"]["errors"]
    assert site.user_agents == {USER_AGENT}


def test_a_failing_page_is_an_error_and_a_flaky_one_is_retried(review_crawls, site):
    first = review_crawls["first"]
    broken = f"{site.base}/acme/reviews-{LAST_PAGE + 1}.html"
    assert first["errors"] == [blocked_start_url(site), f"{broken}: HTTP 500"]
    requests = review_crawls["first_requests"]
    assert requests.count("/acme/reviews-2.html") == 2  # 500 once, then read
    assert first["pages"] == LAST_PAGE


def test_a_second_crawl_adds_no_duplicates_and_reads_on_where_the_first_failed(review_crawls, site):
    """The first crawl ended on a failing page, so the second one does not stop at the reviews it
    stored: it reads on (skipping them) to the page the first could not read, which fails again.
    (tests/test_spiders_walk_fixes.py: a listing that ended cleanly stops at its known reviews.)"""
    second = review_crawls["second"]
    assert second["new"] == 0
    broken = f"{site.base}/acme/reviews-{LAST_PAGE + 1}.html"
    assert second["errors"] == [blocked_start_url(site), f"{broken}: HTTP 500"]
    assert len(review_crawls["rows_at_end"]) == len(review_crawls["rows"])
    listing_pages = [p for p in review_crawls["second_requests"] if p.startswith("/acme/")]
    assert list(dict.fromkeys(listing_pages)) == \
        [f"/acme/reviews-{n}.html" for n in range(1, LAST_PAGE + 2)]  # the failing one retried


def test_a_full_recrawl_reads_every_page_and_still_adds_nothing(review_crawls):
    recrawl = review_crawls["full_recrawl"]
    assert recrawl["new"] == 0
    assert recrawl["duplicates"] == review_crawls["first"]["new"] + review_crawls["first"]["duplicates"]
    assert recrawl["pages"] == LAST_PAGE
    assert {f"/acme/reviews-{n}.html" for n in range(1, LAST_PAGE + 1)} <= \
        set(review_crawls["full_recrawl_requests"])


def test_xpath_selectors_max_pages_and_match_query_off(site, tmp_path):
    watch = review_watch(site, item="xpath://div[@class='review']",
                         text="xpath:.//p[@class='body']//text()",
                         author="xpath:.//span[@class='author']/text()",
                         max_pages=2, match_query=False)
    db_path = tmp_path / "x.db"
    result = run_spider(db_path, watch, watch.sources[0], settings_overrides=FAST, timeout=120)
    on_two_pages = [g for g in good_reviews(keep_off_topic=True) if g["page"] <= 2]
    assert result["new"] == len(on_two_pages) and result["filtered"] == 0
    assert result["pages"] == 2
    assert sorted(r["author"] for r in stored(db_path)) == sorted(g["author"] for g in on_two_pages)


def crawl_reviews(site, db_path, start_paths, **options) -> dict:
    """One `reviews` crawl of the listed pages of the test site with REVIEW_SELECTORS (changed or,
    with None, left out by `options`)."""
    selectors = {**REVIEW_SELECTORS, **options}
    source = {"type": "reviews", "options": {
        "start_urls": [site.base + path for path in start_paths],
        **{name: value for name, value in selectors.items() if value is not None}}}
    return run_spider(db_path, {"name": "acme", "query": {"any": ["acme"]}}, source,
                      settings_overrides=FAST, timeout=120)


@pytest.mark.parametrize("date_selector", [None, "time.nowhere::text"],
                         ids=["no date selector", "date selector matching nothing"])
def test_reviews_without_a_date_get_the_time_their_page_was_fetched(site, tmp_path, date_selector):
    before = utc_now_iso()
    result = crawl_reviews(site, tmp_path / "x.db", ["/acme/reviews-1.html"], date=date_selector,
                           max_pages=1)
    after = utc_now_iso()
    on_page_1 = [r for r in REVIEWS if r["page"] == 1 and r["text"]]  # r4's bad date is not read
    assert (result["new"], result["rejected"], result["errors"]) == (len(on_page_1), 1, [])
    rows = stored(tmp_path / "x.db")
    assert sorted(r["author"] for r in rows) == sorted(r["author"] for r in on_page_1)
    assert all(before <= r["created_at"] <= after for r in rows)


def test_date_format_still_reads_iso_dates(site, tmp_path):
    """The README's example: a `datetime` attribute (ISO) together with a date_format."""
    result = crawl_reviews(site, tmp_path / "x.db", ["/acme/reviews-1.html"],
                           date_format="%d %B %Y", stop_at_known=False)
    assert result["new"] == len(good_reviews())
    assert result["rejected"] == sum(1 for r in REVIEWS if r.get("malformed"))  # "sometime last week"
    by_author = {r["author"]: r for r in stored(tmp_path / "x.db")}
    for review in good_reviews():
        assert by_author[review["author"]]["created_at"] == parse_timestamp(review["date"])


@pytest.mark.parametrize("raw, expected", [("3 May 2024", "2024-05-03T00:00:00Z"),
                                           ("2024-05-01T10:00:00+02:00", "2024-05-01T08:00:00Z")])
def test_date_format_is_tried_first_then_the_usual_forms(raw, expected):
    item = MentionItem(source="reviews", external_id="x:1", text="Acme", created_at=raw,
                       date_format="%d %B %Y", page_url="https://reviews.test/")
    assert item_to_mention(item, "acme").created_at == expected


def test_a_date_matching_neither_form_is_rejected_naming_both():
    item = MentionItem(source="reviews", external_id="x:1", text="Acme", created_at="last week",
                       date_format="%d %B %Y", page_url="https://reviews.test/")
    with pytest.raises(ValueError, match=r"^created_at: 'last week' matches neither date_format "
                                         r"'%d %B %Y' nor an ISO/RFC date$"):
        item_to_mention(item, "acme")


def test_a_start_page_whose_item_selector_matches_nothing_is_an_error(site, tmp_path):
    result = crawl_reviews(site, tmp_path / "x.db", [REDESIGNED_PAGE])
    assert result["errors"] == [f"{site.base}{REDESIGNED_PAGE}: item selector 'div.review' "
                                f"matched nothing (site changed?)"]
    assert (result["fetched"], result["pages"], result["pages_read"]) == (0, 0, 1)


def test_an_empty_page_at_the_end_of_the_list_is_no_error(site, tmp_path):
    site.requests.clear()
    result = crawl_reviews(site, tmp_path / "x.db", [SHORT_LIST[0]])
    assert SHORT_LIST[1] in site.requests
    assert (result["new"], result["errors"]) == (1, [])
    assert (result["pages"], result["pages_read"]) == (1, 2)


def test_pages_counts_only_pages_whose_mentions_were_stored(site, tmp_path):
    """`pages` decides 'partial' against 'failed': a page whose reviews were all rejected or
    filtered stored nothing; one whose reviews were stored before does count."""
    last = f"/acme/reviews-{LAST_PAGE}.html"  # its next page answers 500
    all_rejected = crawl_reviews(site, tmp_path / "x.db", [last], date=".author::text")
    assert (all_rejected["new"], all_rejected["pages"], all_rejected["pages_read"]) == (0, 0, 1)
    stored_now = crawl_reviews(site, tmp_path / "x.db", [last])
    assert (stored_now["new"], stored_now["pages"]) == (2, 1)
    stored_before = crawl_reviews(site, tmp_path / "x.db", [last], stop_at_known=False)
    assert (stored_before["new"], stored_before["duplicates"], stored_before["pages"]) == (0, 2, 1)


@pytest.fixture(scope="module")
def sitemap_crawls(site, tmp_path_factory):
    db_path = tmp_path_factory.mktemp("sitemap") / "mentions.db"
    config = Config.model_validate({"watches": [{
        "name": "acme", "query": {"any": ["acme"]},
        "sources": [{"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.base}/sitemap.xml", f"{site.base}/blog/feed.rss"],
            "follow": ["/news/", "/private/", "/blog/"]}}]}]})
    site.requests.clear()
    # the (config, watch name, source index) form, as crawler.collect calls it
    first = run_spider_from_config(db_path, config.model_dump_json(), "acme", 0,
                                   settings_overrides=FAST, timeout=120)
    first_requests = list(site.requests)
    rows = stored(db_path)
    site.requests.clear()
    second = run_spider_from_config(db_path, config, "acme", 0, settings_overrides=FAST, timeout=120)
    return {"first": first, "first_requests": first_requests, "rows": rows, "second": second,
            "second_requests": list(site.requests), "rows_at_end": stored(db_path)}


def on_topic_articles() -> dict:
    return {path: article for path, article in ARTICLES.items()
            if "acme" in article[3].lower() and not path.startswith("/private/")}


def test_sitemap_and_feed_pages_become_mentions(sitemap_crawls, site):
    rows = {r["url"].removeprefix(site.base): r for r in sitemap_crawls["rows"]}
    expected = on_topic_articles()
    assert set(rows) == set(expected)
    for path, (title, date, lastmod, body) in expected.items():
        row = rows[path]
        assert row["title"] == title
        assert row["text"] == body
        assert row["author"] == "Newsdesk"
        # a page without its own date gets the sitemap's lastmod
        assert row["created_at"] == parse_timestamp(date or lastmod)
    first = sitemap_crawls["first"]
    assert first["new"] == len(expected) and first["errors"] == []
    assert first["filtered"] == sum(1 for a in ARTICLES.values() if "acme" not in a[3].lower())


def test_sitemap_crawl_obeys_robots_and_skips_stored_pages(sitemap_crawls):
    assert "/sitemap-news.xml" in sitemap_crawls["first_requests"]  # followed from the index
    for requests in (sitemap_crawls["first_requests"], sitemap_crawls["second_requests"]):
        assert not [p for p in requests if p.startswith("/private/")]
    second = sitemap_crawls["second"]
    assert second["new"] == 0 and second["errors"] == []
    assert len(sitemap_crawls["rows_at_end"]) == len(sitemap_crawls["rows"])
    refetched = set(sitemap_crawls["second_requests"]) & set(on_topic_articles())
    assert refetched == set()


def test_sitemap_max_pages_takes_the_newest_pages_first(site, tmp_path):
    news = {path: article for path, article in ARTICLES.items() if path.startswith("/news/")}
    newest = max(news, key=lambda path: news[path][2])  # by sitemap lastmod
    source = {"type": "sitemap", "options": {"sitemap_urls": [f"{site.base}/sitemap.xml"],
                                             "follow": ["/news/"], "max_pages": 1}}
    site.requests.clear()
    result = run_spider(tmp_path / "x.db", {"name": "acme", "query": {"any": ["acme"]}}, source,
                        settings_overrides=FAST, timeout=120)
    fetched_pages = [path for path in site.requests if path in ARTICLES]
    assert fetched_pages == [newest]
    assert result["pages"] == 1


@pytest.fixture(scope="module")
def forum_crawl(site, tmp_path_factory):
    """A sitemap crawl with an `item` selector: thread pages whose posts have no date (the forum's
    sitemap gives none either), and one thread page after a redesign."""
    db_path = tmp_path_factory.mktemp("forum") / "mentions.db"
    source = {"type": "sitemap", "options": {"sitemap_urls": [site.base + FORUM_SITEMAP],
                                             "item": "div.post", "text": "p ::text",
                                             "author": ".author::text"}}
    before = utc_now_iso()
    result = run_spider(db_path, {"name": "acme", "query": {"any": ["acme"]}}, source,
                        settings_overrides=FAST, timeout=120)
    return {"result": result, "rows": stored(db_path), "before": before, "after": utc_now_iso()}


def test_sitemap_items_without_a_date_get_the_time_their_page_was_fetched(forum_crawl):
    posts = [post for thread in FORUM_THREADS.values() for post in thread]
    rows = forum_crawl["rows"]
    assert (forum_crawl["result"]["new"], forum_crawl["result"]["rejected"]) == (len(posts), 0)
    assert sorted((r["author"], r["text"]) for r in rows) == sorted(posts)
    assert all(forum_crawl["before"] <= r["created_at"] <= forum_crawl["after"] for r in rows)


def test_a_sitemap_page_whose_item_selector_matches_nothing_is_an_error(forum_crawl, site):
    result = forum_crawl["result"]
    assert result["errors"] == [f"{site.base}{FORUM_REDESIGNED}: item selector 'div.post' "
                                f"matched nothing (site changed?)"]
    assert (result["pages"], result["pages_read"]) == (len(FORUM_THREADS), len(FORUM_THREADS) + 1)
