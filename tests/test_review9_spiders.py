"""The Scrapy sources against small local sites, for what the ninth review found: sitemap pages
listed with a future date, or rejected, fetched again on every crawl (#1), a new review with the
author and text of a stored one stopping the listing (#2), a `date_format` without a year (#3) and
empty later pages that did not end the list (#4).

Every crawl runs the real Scrapy engine in its own process (crawler.runner), against a server on
127.0.0.1 whose pages each test sets, into a real SQLite file.
"""
from __future__ import annotations

import calendar
import datetime as dt
import os

import pytest

from crawler.cursors import load_cursors
from storage import open_db
from storage.erasure import Selection, erase
from test_review7_spiders import HTML, WATCH, Site, crawl, sitemap

SELECTORS = {"item": "div.review", "text": "p ::text", "author": ".author::text",
             "date": "time::attr(datetime)", "next_page": "a.next::attr(href)"}


def stored(db_path, columns: str = "text") -> list:
    db = open_db(db_path)
    try:
        return sorted(tuple(row) if len(row) > 1 else row[0]
                      for row in db.execute(f"SELECT {columns} FROM mentions"))
    finally:
        db.close()


def review_pages(site: Site, reviews: list[tuple[str, str, str]], per_page: int = 2) -> None:
    """`reviews` ((author, text, date), newest first) on /list?page=1, 2, ... `per_page` a page;
    no id and no permalink, so each review's id is a fingerprint."""
    pages = [reviews[at:at + per_page] for at in range(0, len(reviews), per_page)]
    for number, page in enumerate(pages, start=1):
        items = "".join(f'<div class="review"><span class="author">{author}</span>'
                        f'<time datetime="{date}">{date}</time><p>{text}</p></div>'
                        for author, text, date in page)
        link = f'<a class="next" href="/list?page={number + 1}">Next</a>' if number < len(pages) else ""
        site.pages[f"/list?page={number}"] = (200, HTML,
                                              f'<html lang="en"><body>{items}{link}</body></html>')


def crawl_reviews(site: Site, db_path, **options) -> dict:
    site.requests.clear()
    return crawl(db_path, "reviews", {"start_urls": [f"{site.url}/list?page=1"], **SELECTORS,
                                      **options})


def crawl_sitemap(site: Site, db_path, **options) -> tuple[dict, list[str]]:
    """The run, and the listed pages it fetched."""
    site.requests.clear()
    run = crawl(db_path, "sitemap", {"sitemap_urls": [f"{site.url}/sitemap.xml"], **options})
    return run, sorted(path for path in site.requests if path.startswith("/news"))


def article(text: str) -> tuple[int, str, str]:
    return 200, HTML, f'<html lang="en"><body><article><h1>Post</h1>{text}</article></body></html>'


# --- #1: sitemap pages listed with a future date, or rejected ---------------------------------------

def test_sitemap_pages_listed_with_a_future_date_are_dated_when_fetched_and_not_first(tmp_path):
    """A CMS stamps two event pages years ahead: they came first in the newest-first order, took
    that date, were rejected as 'in the future' and fetched again on every crawl (max_pages 2), so
    the page listed with a real date was never reached."""
    db_path = tmp_path / "m.db"
    ahead = dt.date.today().year + 5
    paths = ["/news/1", "/news/2", "/news/3"]
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, paths, {
            "/news/1": f"{ahead}-01-01", "/news/2": f"{ahead}-02-01", "/news/3": "2025-05-01"}))
        for n, path in enumerate(paths, start=1):
            site.pages[path] = article(f"<p>Acme outage report {n}</p>")
        first, first_fetched = crawl_sitemap(site, db_path, max_pages=2)
        second, second_fetched = crawl_sitemap(site, db_path, max_pages=2)
    assert "/news/3" in first_fetched and len(first_fetched) == 2
    assert (first["new"], first["rejected"], second["new"], second["rejected"]) == (2, 0, 1, 0)
    assert len(second_fetched) == 1 and second_fetched[0] not in first_fetched
    dates = dict(stored(db_path, "url, created_at"))
    assert dates[f"{site.url}/news/3"] == "2025-05-01T00:00:00Z"
    # the future ones: the time they were fetched
    assert all(dates[f"{site.url}{path}"][:4] < str(ahead) for path in paths)


def test_sitemap_pages_rejected_are_not_fetched_again_until_their_date_changes(tmp_path):
    """The two newest pages hold no text (photo posts): rejected, they were fetched again on every
    crawl (max_pages 2) and the older page that mentions acme was never reached."""
    db_path = tmp_path / "m.db"
    paths = ["/news/1", "/news/2", "/news/3"]
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, paths))
        for path in paths[:2]:
            site.pages[path] = article("<img src='gallery.jpg'>")
        site.pages["/news/3"] = article("<p>Acme outage report</p>")
        runs = [crawl_sitemap(site, db_path, max_pages=2) for _ in range(3)]
        # /news/1 gets its text, and a new lastmod: fetched again
        site.pages["/news/1"] = article("<p>Acme gallery, now with a caption</p>")
        site.pages["/sitemap.xml"] = (200, "application/xml",
                                      sitemap(site, paths, {"/news/1": "2024-06-01"}))
        edited, edited_fetched = crawl_sitemap(site, db_path, max_pages=2)
    assert [fetched for _, fetched in runs] == [["/news/1", "/news/2"], ["/news/3"], []]
    assert [run["rejected"] for run, _ in runs] == [2, 0, 0]
    assert edited_fetched == ["/news/1"] and edited["new"] == 1
    assert stored(db_path) == ["Acme gallery, now with a caption", "Acme outage report"]


# --- #2: reviews with the same author and text ------------------------------------------------------

OLD = [("bob", "Acme ok", "2025-05-02"), ("Anonymous", "Good acme", "2025-05-01"),
       ("cy", "Acme meh", "2025-04-30"), ("ed", "Acme bad", "2025-04-29")]
NEW = [("Anonymous", "Good acme", "2025-06-01"), ("fay", "Acme lost my parcel", "2025-05-31"),
       ("hal", "Acme support hung up on me", "2025-05-30")]


def test_a_new_review_with_the_author_and_text_of_a_stored_one_does_not_stop_the_listing(tmp_path):
    """An anonymous 'Good acme' again, a month later: without a site id or permalink both got the
    same fingerprint, the new one was taken for the stored one, and the crawl stopped at it, never
    reading the new reviews behind it."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        review_pages(site, OLD)
        first = crawl_reviews(site, db_path)
        review_pages(site, NEW + OLD)
        second = crawl_reviews(site, db_path)
        third = crawl_reviews(site, db_path)
    assert first["new"] == 4
    assert second["new"] == 3 and second["errors"] == []
    assert stored(db_path, "text, created_at").count(("Good acme", "2025-06-01T00:00:00Z")) == 1
    assert len(stored(db_path)) == 7
    assert third["new"] == 0 and site.asked_pages() == ["/list?page=1"]


def as_earlier_version(monkeypatch, tmp_path) -> None:
    """The crawls fingerprint reviews as versions before the date was hashed in (author and text):
    each runs in a child process, so a sitecustomize on the children's PYTHONPATH sets it there."""
    folder = tmp_path / "earlier"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import crawler.spiders.extract as extract\n"
        "_with_date = extract._external_id\n"
        "def _without_date(page_url, site_id, permalink, author, text, date=None):\n"
        "    return _with_date(page_url, site_id, permalink, author, text)\n"
        "extract._external_id = _without_date\n"
        "extract._earlier_id = lambda *args: None\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(folder), os.environ.get("PYTHONPATH")])))


def test_reviews_an_earlier_version_stored_are_not_stored_again(tmp_path, monkeypatch):
    """Reviews stored under the earlier fingerprint keep it when the stored date is the page's: the
    listing still stops at them, and none is stored twice. The new 'Good acme' (another date) is
    another review."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        review_pages(site, OLD)
        with monkeypatch.context() as earlier:
            as_earlier_version(earlier, tmp_path)
            first = crawl_reviews(site, db_path)
        before = set(stored(db_path, "external_id"))
        review_pages(site, NEW + OLD)
        second = crawl_reviews(site, db_path)
        second_asked = site.asked_pages()
        third = crawl_reviews(site, db_path)
    assert first["new"] == 4
    assert (second["new"], second["duplicates"]) == (3, 3)
    # it stops at page 3, the first to end with two reviews read before (bob's, on page 2, was
    # found under its earlier id: not stored again)
    assert second_asked == ["/list?page=1", "/list?page=2", "/list?page=3"]
    assert len(stored(db_path)) == 7 and before <= set(stored(db_path, "external_id"))
    assert third["new"] == 0 and site.asked_pages() == ["/list?page=1"]


def test_a_review_erased_under_its_earlier_fingerprint_stays_out(tmp_path, monkeypatch):
    """`forget` kept out the post under the id it had then: under its new id it came back."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        review_pages(site, OLD)
        with monkeypatch.context() as earlier:
            as_earlier_version(earlier, tmp_path)
            crawl_reviews(site, db_path, stop_at_known=False)
        db = open_db(db_path)
        (mention_id,) = [row[0] for row in db.execute("SELECT id FROM mentions WHERE text = 'Acme meh'")]
        erase(db, Selection(mention_ids=(mention_id,)), what="test", actor=None, remember_posts=True)
        db.close()
        again = crawl_reviews(site, db_path, stop_at_known=False)
    assert again["new"] == 0
    assert "Acme meh" not in stored(db_path)


# --- #3: a date_format without a year ---------------------------------------------------------------

def test_a_date_format_without_a_year_reads_the_latest_such_date_not_in_the_future(tmp_path):
    """'%d %B' was accepted, then every review was rejected, dated 1900. Now a date is this year's,
    or last year's when this year's is still to come; 29 February is read (strptime alone refuses
    it), as the latest one."""
    db_path = tmp_path / "m.db"
    today = dt.datetime.now(dt.timezone.utc).date()
    yesterday = today - dt.timedelta(days=1)
    ahead = today + dt.timedelta(days=7)
    if (ahead.month, ahead.day) == (2, 29):
        ahead += dt.timedelta(days=1)
    leap_day = max(dt.date(year, 2, 29) for year in range(today.year - 8, today.year + 1)
                   if calendar.isleap(year) and dt.date(year, 2, 29) <= today + dt.timedelta(days=1))
    with Site() as site:
        items = "".join(f'<div class="review" data-id="{n}"><time>{day.day} {day:%B}</time>'
                        f"<p>Acme review {n}</p></div>"
                        for n, day in enumerate([yesterday, ahead, dt.date(2024, 2, 29)]))
        site.pages["/list?page=1"] = (200, HTML, f'<html lang="en"><body>{items}</body></html>')
        run = crawl_reviews(site, db_path, id="::attr(data-id)", date="time::text",
                            date_format="%d %B")
    assert (run["new"], run["rejected"]) == (3, 0)
    assert stored(db_path, "text, created_at") == [
        ("Acme review 0", f"{yesterday.isoformat()}T00:00:00Z"),
        ("Acme review 1", f"{ahead.replace(year=ahead.year - 1).isoformat()}T00:00:00Z"),
        ("Acme review 2", f"{leap_day.isoformat()}T00:00:00Z")]


# --- #4: a later page without reviews ---------------------------------------------------------------

def empty_pages_after_one_review(site: Site) -> None:
    """A review on page 1, then empty pages that each show a next link (a pager without end)."""
    review_pages(site, [("ann", "Acme broke", "2025-05-03")])
    site.pages["/list?page=1"] = (200, HTML, site.pages["/list?page=1"][2].replace(
        "</body>", '<a class="next" href="/list?page=2">Next</a></body>'))
    for number in range(2, 40):
        site.pages[f"/list?page={number}"] = (
            200, HTML, f'<html lang="en"><body><p>No reviews yet.</p>'
                       f'<a class="next" href="/list?page={number + 1}">Next</a></body></html>')


def test_a_later_page_without_reviews_ends_the_list(tmp_path):
    """Each crawl read every empty page up to max_pages (20), against the README's word."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        empty_pages_after_one_review(site)
        first = crawl_reviews(site, db_path, max_pages=20)
        first_asked = site.asked_pages()
        second = crawl_reviews(site, db_path, max_pages=20)
    assert first["new"] == 1 and first["errors"] == []
    assert first_asked == ["/list?page=1", "/list?page=2"]
    db = open_db(db_path)
    marks = load_cursors(db, WATCH["name"], "reviews:listings")
    db.close()
    assert list(marks.values()) == ["done"]  # as a listing's normal end
    assert second["new"] == 0 and site.asked_pages() == ["/list?page=1"]


def test_a_later_page_without_reviews_ends_the_list_without_stop_at_known(tmp_path):
    db_path = tmp_path / "m.db"
    with Site() as site:
        empty_pages_after_one_review(site)
        asked = []
        for _ in range(2):
            crawl_reviews(site, db_path, max_pages=20, stop_at_known=False)
            asked.append(site.asked_pages())
    assert asked == [["/list?page=1", "/list?page=2"]] * 2


def test_a_date_format_with_neither_a_year_nor_a_month_is_refused():
    """'%H:%M' can place no review on a day: every date would be 1 January."""
    from crawler.spiders.options import OptionsError, parse_options

    with pytest.raises(OptionsError) as caught:
        parse_options("reviews", {"start_urls": ["http://x.test/"], "item": "div", "text": "p",
                                  "date_format": "%H:%M"})
    assert str(caught.value) == ("options.date_format: invalid date_format '%H:%M': it has neither "
                                 "a year nor a month, so it can read no date (e.g. '%d %B %H:%M')")


# --- the review of these fixes -----------------------------------------------------------------------

def test_a_review_keeps_its_id_when_the_site_writes_its_date_otherwise(tmp_path):
    """The fingerprint took the date's words: '2025-05-03' becoming '2025-05-03T00:00:00Z' (a
    redesign, '3 May' gaining its year at New Year, an edited selector) made every review new, and
    the whole listing was stored twice."""
    db_path = tmp_path / "m.db"
    reviews = [("ann", "Acme broke", "2025-05-03"), ("bo", "Acme slow", "2025-05-02"),
               ("cy", "Acme rude", "2025-05-01")]
    with Site() as site:
        review_pages(site, reviews)
        first = crawl_reviews(site, db_path)
        review_pages(site, [(author, text, f"{date}T00:00:00Z") for author, text, date in reviews])
        second = crawl_reviews(site, db_path)
    assert first["new"] == 3 and second["new"] == 0
    assert len(stored(db_path)) == 3


def test_a_sitemap_page_refused_once_is_fetched_again_after_a_week(tmp_path):
    """A page served empty once was remembered until its listed date changed: for good."""
    db_path = tmp_path / "m.db"
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, ["/news/1"], {"/news/1": "2025-05-01"}))
        site.pages["/news/1"] = article("")
        first, _ = crawl_sitemap(site, db_path)
        site.pages["/news/1"] = article("<p>Acme outage report</p>")
        _, next_day = crawl_sitemap(site, db_path)
        week_ago = (dt.date.today() - dt.timedelta(days=8)).isoformat()
        db = open_db(db_path)
        with db.atomic():
            db.execute("UPDATE cursors SET value = replace(value, ?, ?)",
                       [f"~{dt.date.today().isoformat()}", f"~{week_ago}"])
        db.close()
        _, week_later = crawl_sitemap(site, db_path)
    assert first["rejected"] == 1 and next_day == []
    assert week_later == ["/news/1"] and stored(db_path) == ["Acme outage report"]


def test_an_events_page_dated_ahead_is_stored_with_its_listed_date(tmp_path):
    """Its own <time> gives the event's day, ten days ahead: it was refused as 'in the future'."""
    db_path = tmp_path / "m.db"
    listed = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    event_day = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    with Site() as site:
        site.pages["/sitemap.xml"] = (200, "application/xml", sitemap(site, ["/news/1"], {"/news/1": listed}))
        site.pages["/news/1"] = article(f'<time datetime="{event_day}">{event_day}</time><p>Acme launch party</p>')
        run, _ = crawl_sitemap(site, db_path)
    assert run["new"] == 1
    assert stored(db_path, "created_at") == [f"{listed}T00:00:00Z"]


def test_an_empty_page_before_the_stored_reviews_leaves_the_listing_to_be_read_on(tmp_path):
    """Page 2 answered 'try again later' once, with its pager: the listing was marked done and the
    new reviews behind it were never stored."""
    from test_review7_spiders import listing, on_topic

    db_path = tmp_path / "m.db"
    options = {"item": "div.review", "text": "p ::text", "id": "::attr(data-id)",
               "next_page": "a.next::attr(href)"}
    with Site() as site:
        listing(site, "list", on_topic("o4", "o3", "o2", "o1"))
        crawl(db_path, "reviews", {"start_urls": [f"{site.url}/list?page=1"], **options})
        listing(site, "list", on_topic("n6", "n5", "n4", "n3", "n2", "n1", "o4", "o3", "o2", "o1"))
        good = site.pages["/list?page=2"]
        site.pages["/list?page=2"] = (200, HTML, '<html><body><p>Try again later.</p>'
                                                  '<a class="next" href="/list?page=3">Next</a></body></html>')
        crawl(db_path, "reviews", {"start_urls": [f"{site.url}/list?page=1"], **options})
        site.pages["/list?page=2"] = good
        crawl(db_path, "reviews", {"start_urls": [f"{site.url}/list?page=1"], **options})
    db = open_db(db_path)
    ids = sorted(row[0].rsplit(":", 1)[1] for row in db.execute("SELECT external_id FROM mentions"))
    db.close()
    assert ids == ["n1", "n2", "n3", "n4", "n5", "n6", "o1", "o2", "o3", "o4"]


def test_a_day_of_the_year_without_a_year_is_read_in_its_own_year():
    """Read in 2000 (a leap year) and moved, day 61 came out as 1 March in other years, not 2 March."""
    from crawler.dates import read_with_format

    this_year = dt.datetime.now(dt.timezone.utc).year
    day = read_with_format("10", "%j")
    assert day == dt.datetime(day.year, 1, 10) and day.year in (this_year, this_year - 1)
    march = read_with_format("61", "%j")
    assert march == dt.datetime.strptime(f"61 {march.year}", "%j %Y")
