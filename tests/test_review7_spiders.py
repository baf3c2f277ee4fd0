"""The Scrapy sources against small local sites, for what the seventh review found: a batch the
database refuses (#1), sitemap pages that do not match the watch fetched on every crawl (#2),
filtered reviews counted towards `max_pages` on every resumed crawl (#3), a `reviews` listing
stopping at a review another listing of the watch stored (#4), and a resumed listing stuck for good
once its unfinished mark is full (#5).

Every crawl runs the real Scrapy engine in its own process (crawler.runner), against a server on
127.0.0.1 whose pages each test sets, into a real SQLite file.
"""
from __future__ import annotations

import contextlib
import json
import os

from crawler.collect import collect_all
from crawler.cursors import load_cursors
from crawler.runner import run_spider
from mentionwatch.config import Config
from storage import open_db
from test_spiders_review3_fixes import Site as ServedPages

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 0}
WATCH = {"name": "acme", "query": {"any": ["acme"]}}
HTML = "text/html; charset=utf-8"
SELECTORS = {"item": "div.review", "text": "p ::text", "id": "::attr(data-id)",
             "next_page": "a.next::attr(href)"}


class Site(ServedPages):
    """Serves `pages` ({path with query: (status, content type, body)}), and says which were asked for."""

    def asked_pages(self) -> list[str]:
        return [path for path in self.requests if path != "/robots.txt"]


def listing(site: Site, name: str, reviews: list[tuple[str, str]], per_page: int = 2) -> None:
    """`reviews` ((id, text), newest first) on /<name>?page=1, 2, ... `per_page` a page."""
    pages = [reviews[at:at + per_page] for at in range(0, len(reviews), per_page)]
    for number, page in enumerate(pages, start=1):
        items = "".join(f'<div class="review" data-id="{i}"><p>{text}</p></div>' for i, text in page)
        link = (f'<a class="next" href="/{name}?page={number + 1}">Next</a>'
                if number < len(pages) else "")
        site.pages[f"/{name}?page={number}"] = (200, HTML,
                                                f'<html lang="en"><body>{items}{link}</body></html>')


def on_topic(*ids: str) -> list[tuple[str, str]]:
    return [(i, f"Acme review {i}") for i in ids]


def off_topic(*ids: str) -> list[tuple[str, str]]:
    return [(i, f"Some other brand, review {i}") for i in ids]


def crawl(db_path, source_type: str, options: dict, settings: dict | None = None) -> dict:
    source = {"type": source_type, "options": {"min_interval": 0, **options}}
    return run_spider(db_path, WATCH, source, settings_overrides={**FAST, **(settings or {})},
                      timeout=120)


def crawl_reviews(site: Site, db_path, name: str = "list", settings: dict | None = None,
                  **options) -> dict:
    site.requests.clear()
    return crawl(db_path, "reviews", {"start_urls": [f"{site.url}/{name}?page=1"], **SELECTORS,
                                      **options}, settings)


def stored(db_path) -> list[str]:
    """The stored ids (or page URLs), without the reviews' host prefix."""
    db = open_db(db_path)
    try:
        return sorted(row[0].rsplit(":", 1)[-1] if not row[0].startswith("http") else row[0]
                      for row in db.execute("SELECT external_id FROM mentions"))
    finally:
        db.close()


def refuse_storing(db_path, external_id_end: str) -> None:
    """Make the database refuse any insert of a mention whose id ends so (disk trouble, say)."""
    db = open_db(db_path)
    try:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON mentions WHEN NEW.external_id LIKE "
                   f"'%{external_id_end}' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        db.conn.commit()
    finally:
        db.close()


def accept_storing(db_path) -> None:
    db = open_db(db_path)
    try:
        db.execute("DROP TRIGGER refuse")
        db.conn.commit()
    finally:
        db.close()


# --- #1: a batch the database refuses ---------------------------------------------------------------

def test_a_batch_the_database_refuses_is_an_error_and_its_page_is_read_again(tmp_path):
    """Batches of 2: the one holding r3 (page 2) is refused. It was dropped silently, the run said
    `ok` and the listing was marked done, so r2 and r3 were never stored. Now it is an error line
    (the run is `partial`: pages 1 and 3 are stored) and the next crawl reads page 2 again."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        listing(site, "list", on_topic("r5", "r4", "r3", "r2", "r1", "r0"))
        refuse_storing(db_path, ":r3")
        first = crawl_reviews(site, db_path, settings={"MENTIONWATCH_BATCH_SIZE": 2})
        accept_storing(db_path)
        second = crawl_reviews(site, db_path, settings={"MENTIONWATCH_BATCH_SIZE": 2})
        third = crawl_reviews(site, db_path, settings={"MENTIONWATCH_BATCH_SIZE": 2})
    assert first["new"] == 4 and first["pages"] == 2
    assert first["errors"] == [f"{site.url}/list?page=2: could not store 2 mention(s): "
                               "IntegrityError: disk I/O error"]
    assert second["errors"] == [] and second["new"] == 2
    assert stored(db_path) == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert third["new"] == 0 and site.asked_pages() == ["/list?page=1"]  # done now


def test_a_sitemap_batch_the_database_refuses_makes_the_run_fail(tmp_path):
    """The sitemap spider fetches an unstored page again anyway, but the run said `ok`."""
    db = open_db(tmp_path / "m.db")
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, ["/a/1", "/a/2"]))
        for n in (1, 2):
            site.pages[f"/a/{n}"] = page(f"Acme article {n}")
        config = Config.model_validate({"watches": [{**WATCH, "sources": [{"type": "sitemap", "options": {
            "sitemap_urls": [f"{site.url}/sitemap.xml"], "min_interval": 0}}]}]})
        refuse_storing(tmp_path / "m.db", "/a/2")
        (first,) = collect_all(db, config)
        accept_storing(tmp_path / "m.db")
        (second,) = collect_all(db, config)
    db.close()
    assert first.status == "failed" and first.new == 0
    assert [line.split(": ", 1)[1] for line in first.errors] == [
        "could not store 2 mention(s): IntegrityError: disk I/O error"]
    assert (second.status, second.new, second.errors) == ("ok", 2, [])


# --- #2: sitemap pages that do not match the watch -------------------------------------------------

def sitemap(site: Site, paths: list[str], lastmods: dict[str, str] | None = None) -> str:
    """A urlset of `paths`, newest first (by lastmod)."""
    lastmods = lastmods or {}
    urls = "".join(f"<url><loc>{site.url}{path}</loc><lastmod>"
                   f"{lastmods.get(path, f'2024-05-{20 - n:02d}')}</lastmod></url>"
                   for n, path in enumerate(paths))
    return ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>")


def page(text: str) -> tuple[int, str, str]:
    return 200, HTML, f'<html lang="en"><body><article><p>{text}</p></article></body></html>'


def test_sitemap_pages_that_do_not_match_are_not_fetched_again_until_their_lastmod_changes(tmp_path):
    """The four newest listed pages do not mention acme; with max_pages 2 they were fetched on
    every crawl and the two older pages that do were never reached."""
    db_path = tmp_path / "m.db"
    paths = [f"/p{n}" for n in range(1, 7)]
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, paths))
        for n, path in enumerate(paths, start=1):
            site.pages[path] = page("Acme is great" if n >= 5 else "Nothing relevant here")
        options = {"sitemap_urls": [f"{site.url}/sitemap.xml"], "max_pages": 2}
        fetched = []
        for _ in range(4):
            site.requests.clear()
            run = crawl(db_path, "sitemap", options)
            assert run["errors"] == []
            fetched.append(sorted(path for path in site.requests if path.startswith("/p")))
        # p1 is edited: a new lastmod, read again (it mentions acme now)
        site.pages["/p1"] = page("Acme is mentioned now")
        site.pages["/sitemap.xml"] = (200, "application/xml",
                                      sitemap(site, paths, {"/p1": "2024-06-01"}))
        site.requests.clear()
        edited = crawl(db_path, "sitemap", options)
    assert fetched == [["/p1", "/p2"], ["/p3", "/p4"], ["/p5", "/p6"], []]
    assert edited["new"] == 1 and [p for p in site.requests if p.startswith("/p")] == ["/p1"]
    assert stored(db_path) == sorted(f"{site.url}{path}" for path in ("/p1", "/p5", "/p6"))


def test_a_new_query_reads_the_pages_that_did_not_match_again(tmp_path):
    db_path = tmp_path / "m.db"
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, ["/p1"]))
        site.pages["/p1"] = page("Globex is great")
        source = {"type": "sitemap", "options": {"sitemap_urls": [f"{site.url}/sitemap.xml"],
                                                 "min_interval": 0}}
        runs = [run_spider(db_path, {"name": "acme", "query": query}, source,
                           settings_overrides=FAST, timeout=120)
                for query in ({"any": ["acme"]}, {"any": ["acme"]}, {"any": ["acme", "globex"]})]
    assert [(run["filtered"], run["new"]) for run in runs] == [(1, 0), (0, 0), (0, 1)]


# --- #3: filtered reviews on a resumed listing -----------------------------------------------------

def test_a_resumed_listing_counts_the_filtered_reviews_it_read_as_read(tmp_path):
    """After a burst of 10 reviews (the 4 newest off topic), max_pages 2: the off-topic pages were
    counted on every crawl, so the listing never got past them."""
    db_path = tmp_path / "m.db"
    old = on_topic("old3", "old2", "old1", "old0")
    with Site() as site:
        listing(site, "list", old)
        crawl_reviews(site, db_path, max_pages=2)
        listing(site, "list", off_topic("off3", "off2", "off1", "off0")
                + on_topic(*(f"new{n}" for n in range(5, -1, -1))) + old)
        runs, asked = [], []
        for _ in range(3):
            runs.append(crawl_reviews(site, db_path, max_pages=2))
            asked.append(len(site.asked_pages()))
        after = crawl_reviews(site, db_path, max_pages=2)
    assert [run["new"] for run in runs] == [0, 4, 2]
    assert asked == [2, 4, 6]  # each crawl reads 2 pages more than the pages read before
    assert stored(db_path) == sorted([*(f"new{n}" for n in range(6)), "old0", "old1", "old2", "old3"])
    # done: it stops at the first stored review again (page 3, below the off-topic pages)
    assert after["new"] == 0 and "/list?page=4" not in site.asked_pages()


# --- #4: a review another listing of the watch stored ----------------------------------------------

def test_a_review_another_listing_stored_does_not_stop_a_listing(tmp_path):
    """The product listing stores x1..x4; the forum listing (same site, ids shared) holds x1 on its
    first page: its first crawl stopped there and never read y2..y4."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        listing(site, "product", on_topic("x1", "x2", "x3", "x4"))
        listing(site, "forum", on_topic("x1", "y1", "y2", "y3", "y4"))
        product = crawl_reviews(site, db_path, "product")
        forum = crawl_reviews(site, db_path, "forum")
        forum_asked = site.asked_pages()
        listing(site, "forum", on_topic("y5", "x1", "y1", "y2", "y3", "y4"))
        again = crawl_reviews(site, db_path, "forum")
    assert product["new"] == 4
    assert forum["new"] == 4 and forum_asked == [f"/forum?page={n}" for n in (1, 2, 3)]
    # the forum's own earlier crawl read x1, y1 and y2: it stops at page 2, which ends with two of them
    assert again["new"] == 1 and site.asked_pages() == ["/forum?page=1", "/forum?page=2"]
    assert stored(db_path) == ["x1", "x2", "x3", "x4", "y1", "y2", "y3", "y4", "y5"]


# --- #5: a resumed listing whose unfinished mark is full --------------------------------------------

def memory_limit(monkeypatch, tmp_path, limit: int) -> None:
    """The crawls keep at most `limit` hashed ids per listing (reviews.MEMORY_LIMIT, 2,000): each
    runs in a child process, so a sitecustomize on the children's PYTHONPATH sets it there."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import crawler.spiders.reviews as reviews\nreviews.MEMORY_LIMIT = {limit}\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(folder), os.environ.get("PYTHONPATH")])))


def unfinished_mark(db_path) -> dict:
    db = open_db(db_path)
    try:
        (mark,) = load_cursors(db, WATCH["name"], "reviews:listings").values()
    finally:
        db.close()
    return json.loads(mark)


@contextlib.contextmanager
def _two_old_reviews_crawled(monkeypatch, tmp_path, db_path):
    """A site whose listing holds two reviews, crawled once (done), the mark limited to 2 ids:
    yields (site, those reviews)."""
    memory_limit(monkeypatch, tmp_path, 2)
    old = on_topic("old1", "old0")
    with Site() as site:
        listing(site, "list", old)
        crawl_reviews(site, db_path, max_pages=2)
        yield site, old


def test_a_resumed_listing_gets_done_however_many_ids_its_mark_would_need(tmp_path, monkeypatch):
    """A burst of 6 pages (an off-topic review and a new one each) above the stored ones, max_pages
    2, the mark limited to 2 ids. The mark kept every review read (stored ones too), cut to the 2
    newest: the filtered ids of page 2 on were lost, those pages counted again on every crawl, and
    each crawl stopped at page 3 for good. Now the mark keeps only the filtered ids and the deepest
    page reached, and each crawl reads 2 pages further until the stored reviews."""
    db_path = tmp_path / "m.db"
    with _two_old_reviews_crawled(monkeypatch, tmp_path, db_path) as (site, old):
        burst = []
        for p in range(6):  # newest first
            burst += off_topic(f"off{p}") + on_topic(f"new{p}")
        listing(site, "list", burst + old)
        asked, marks = [], []
        for _ in range(5):
            run = crawl_reviews(site, db_path, max_pages=2)
            assert run["errors"] == []
            asked.append(len(site.asked_pages()))
            marks.append(unfinished_mark(db_path) if len(marks) < 3 else None)
    assert asked == [2, 4, 6, 7, 1]  # done at the 4th: page 7 holds the stored reviews
    assert stored(db_path) == sorted(["old0", "old1", *(f"new{p}" for p in range(6))])
    # the limit holds (it did take effect in the crawls): the ids of the deepest filtered reviews
    assert [(len(mark["read"]), mark["pages"]) for mark in marks[:3]] == [(2, 2), (2, 4), (2, 6)]


def test_reviews_stored_while_stop_at_known_was_off_do_not_hold_a_listing_back(tmp_path, monkeypatch):
    """Crawls with `stop_at_known: false` store a burst of 6 pages; they are not in the listing's
    memory and were stored before the mark that `stop_at_known: true` sets again, so they do not
    stop it and its mark must keep their ids (more than its limit of 2). Each crawl still reads 2
    pages further, until the reviews of its last finished crawl."""
    db_path = tmp_path / "m.db"
    with _two_old_reviews_crawled(monkeypatch, tmp_path, db_path) as (site, old):
        listing(site, "list", on_topic(*(f"new{n}" for n in range(12))) + old)
        off = crawl_reviews(site, db_path, max_pages=6, stop_at_known=False)
        asked = []
        for _ in range(5):
            run = crawl_reviews(site, db_path, max_pages=2)
            assert run["errors"] == [] and run["new"] == 0
            asked.append(len(site.asked_pages()))
    assert off["new"] == 12
    assert asked == [2, 4, 6, 7, 1]  # done at the 4th: page 7 holds old1 and old0


def test_a_listing_that_never_ends_is_not_read_further_on_every_crawl(tmp_path):
    """4 pages of off-topic reviews, then empty pages that each link to the next, without end: the
    pages down to the deepest one reached were free even when they showed nothing, so each crawl
    read max_pages further than the last, for ever."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        listing(site, "list", off_topic(*(f"r{n}" for n in range(8))))
        site.pages["/list?page=4"] = (200, HTML, site.pages["/list?page=4"][2].replace(
            "</body>", '<a class="next" href="/list?page=5">Next</a></body>'))
        for number in range(5, 60):
            site.pages[f"/list?page={number}"] = (
                200, HTML, f'<html lang="en"><body><a class="next" href="/list?page={number + 1}">Next'
                           '</a></body></html>')
        asked = []
        for _ in range(6):
            crawl_reviews(site, db_path, max_pages=2)
            asked.append(len(site.asked_pages()))
    # bounded: the first empty page (5) ends the list (review 9), so no crawl reads further; a
    # finished listing of off-topic reviews is read again from the top, as one ended by its last page
    assert max(asked) <= 5, asked
