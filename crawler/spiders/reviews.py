"""The configurable review/forum spider (`type: reviews`): selectors come from the watchlist.

It starts at each of `start_urls`, reads every `item` on the page with the field selectors, and
follows `next_page` (an http(s) link; anything else, such as a disabled button's
`javascript:void(0)`, is the end of the list) up to `max_pages` pages. Review sites list the newest
first, so once a page holds a review stored for this watch by an earlier crawl, the older pages
behind it are not fetched again (like the API pollers stop at the first known item);
`stop_at_known: false` turns that off. Reviews stored for another watch do not stop it: this watch
must still read (and be linked to) them.

A listing that stops part-way (a page failing, the crawl's time limit, `max_pages` reached before
the known reviews, the process killed) must not leave a gap: the next crawl would stop at the
reviews of its first pages and never reach the older ones. So each start URL has a cursor, set to
"unfinished since <time>" before its crawl stores anything and set to "done" when the listing ends
cleanly (its last page, or a page holding reviews stored before). While it is unfinished, the
next crawl skips the reviews stored since that time instead of stopping at them (pages holding only
those do not count towards `max_pages`) and stops at reviews stored before it: the pages never
reached are read. A listing's first crawl ever that reaches `max_pages` is done: `max_pages` bounds
how far back a new listing is read.

A review without a date (no `date` selector, or it matches nothing on that review) is dated with the
time its page was fetched. A start page whose `item` selector matches nothing is an error line: the
site has most likely changed its markup, and a silent `ok` would hide that for good. So is a start
page that robots.txt disallows; a later page it disallows (or one not fetched for another lasting
reason, such as too many redirects) ends the list, as does a next link back to a page already read
(the same page with a `#fragment`): left unfinished, every crawl would re-read the listing.

The marks are filed under `reviews:listings`, not a hash of the options, so that an option edit
keeps them (those an older version filed under the options' hash are read too). A listing counts as
new (its first crawl) only if no review of this source type is stored for the watch.
"""
from __future__ import annotations

import json

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from w3lib.url import canonicalize_url

from crawler.cursors import load_cursors, load_source_cursors, save_cursors, url_digest
from crawler.spiders.common import MentionSpiderMixin
from crawler.spiders.extract import first_value
from storage import utc_now_iso

LISTING_CURSOR = "listing "  # + url_digest(start URL): the state of that listing's last crawl
# filed under the source type, not cursor_key (a hash of the options): editing an option must
# not lose an unfinished listing's mark. Marks under the options' key (older versions) are read too.
LISTINGS_KEY = "reviews:listings"
DONE = "done"


class ReviewSpider(MentionSpiderMixin, scrapy.Spider):
    name = "reviews"
    source_type = "reviews"

    def __init__(self, watch, source, db_path, **kwargs):
        super().__init__(**kwargs)
        self.options = self.setup(watch, source, db_path)
        self._ids_seen: set[str] = set()  # ids yielded by this crawl so far
        self._pages_requested: set[str] = set()  # canonical URLs (no fragment) asked for
        self._pages_read: set[str] = set()  # canonical URLs of the pages parsed
        # start URL -> {"since": time, "first": bool}: the listing's unfinished mark; `_resume`
        # holds those the last crawl left unfinished, which this one resumes
        self._marks: dict[str, dict] = {}
        self._resume: dict[str, dict] = {}
        self._listings_done: set[str] = set()  # start URLs whose listing ended cleanly this crawl

    async def start(self):
        if self.options.stop_at_known:
            self._mark_listings_unfinished()
        for url in self.options.start_urls:  # one disallowed by robots.txt is an error line
            self._pages_requested.add(_page_key(url))
            yield self.start_request(url, callback=self.parse,
                                     cb_kwargs={"page": 1, "listing": url, "counted": 1})

    def _mark_listings_unfinished(self) -> None:
        """Before anything is stored: each listing is unfinished until it ends cleanly (a crawl
        killed part-way leaves the mark). One already unfinished keeps its time and is resumed."""
        db = self.database()
        cursors = {**load_source_cursors(db, self.watch.name, self.source_cfg),
                   **load_cursors(db, self.watch.name, LISTINGS_KEY)}
        now, marks = utc_now_iso(), {}
        for url in self.options.start_urls:
            name = LISTING_CURSOR + url_digest(url)
            state = cursors.get(name)
            resume = _unfinished(state)
            if resume is not None:
                self._marks[url] = self._resume[url] = resume
                marks[name] = state  # an older version's mark moves to LISTINGS_KEY
                continue
            # never crawled: no mark, and no review stored for this watch (a database from before
            # the marks, or marks under an older key, must not be taken for a new listing)
            first = state is None and not self._reviews_stored()
            self._marks[url] = {"since": now, "first": first}
            marks[name] = json.dumps(self._marks[url])
        save_cursors(db, self.watch.name, LISTINGS_KEY, marks)

    def _reviews_stored(self) -> bool:
        """Whether any mention of this source type is stored for this watch."""
        return self.database().execute(
            "SELECT 1 FROM mentions m JOIN mention_watches w ON w.mention_id = m.id "
            "WHERE w.watch = ? AND m.source = ? LIMIT 1",
            [self.watch.name, self.source_type]).fetchone() is not None

    def _listing_request(self, url: str, page: int, listing: str, counted: int) -> scrapy.Request:
        self._pages_requested.add(_page_key(url))
        # dont_filter: the duplicate filter would drop a page silently (one redirected to a page
        # read before, say), leaving the listing unfinished for good; parse ends the list there
        return scrapy.Request(url, callback=self.parse, errback=self.on_request_error,
                              dont_filter=True,
                              cb_kwargs={"page": page, "listing": listing, "counted": counted})

    def parse(self, response, page: int = 1, listing: str | None = None, counted: int = 1):
        listing = listing or response.url
        if page > 1 and _page_key(response.url) in self._pages_read:
            self.logger.info("%s was read before by this crawl: end of the list", response.url)
            self._listings_done.add(listing)
            return
        self._pages_read.add(_page_key(response.url))
        self._pages_requested.add(_page_key(response.url))
        if self.unreadable(response):
            return
        # later pages may legitimately be empty (the end of the list); a start page may not
        items = self.read_mentions(response, expect_items=page == 1)
        # asked before the items are yielded: the pipeline stores batches while the crawl runs
        reached_known, read_before = self._known_on_page(items, listing)
        yield from items
        next_url = self._next_page_url(response)
        if next_url is None:
            self._listings_done.add(listing)
            return
        if reached_known:
            self.logger.info("%s holds reviews stored by an earlier crawl: not paging further",
                             response.url)
            self._listings_done.add(listing)
            return
        if not read_before:
            counted += 1
        if counted > self.options.max_pages:
            self.logger.info("max_pages (%d) reached at %s", self.options.max_pages, response.url)
            if not self.options.stop_at_known or self._first_crawl(listing):
                self._listings_done.add(listing)  # else the next crawl reads on from here
            return
        yield self._listing_request(next_url, page + 1, listing, counted)

    def _next_page_url(self, response) -> str | None:
        """The next listing page, or None at the end of the list: no link, a link that is not
        http(s) (a disabled button's `javascript:void(0)`), or a page this crawl asked for."""
        link = first_value(response, self.options.next_page)
        if not link:
            return None
        try:
            url = response.urljoin(link)
            key = _page_key(url)  # a port out of range fails here
        except ValueError as exc:
            self.logger.warning("%s: next_page link %r is malformed (%s): end of the list",
                                response.url, link[:100], exc)
            return None
        if not url.startswith(("http://", "https://")):
            self.logger.info("%s: next_page link %r is not an http(s) URL: end of the list",
                             response.url, link[:100])
            return None
        if key in self._pages_requested:  # itself, or a page before (fragment aside)
            self.logger.info("%s: next_page link %r leads to a page already read: end of the list",
                             response.url, link[:100])
            return None
        return url

    def on_request_error(self, failure) -> None:
        """A later listing page that is not fetched for good (robots.txt disallows it, too many
        redirects) ends the list: left unfinished, every crawl would re-read the listing down to it."""
        super().on_request_error(failure)
        listing = failure.request.cb_kwargs.get("listing")
        if (listing and failure.request.cb_kwargs.get("page", 1) > 1
                and failure.check(IgnoreRequest) and not failure.check(HttpError)):
            self.logger.info("%s not fetched (%s): end of the listing %s", failure.request.url,
                             failure.value, listing)
            self._listings_done.add(listing)

    def _known_on_page(self, items, listing: str) -> tuple[bool, bool]:
        """(whether paging stops here, whether the page was read before: every review on it
        stored by the unfinished crawl(s) this one resumes).

        Paging stops at a review stored for this watch by an earlier crawl; while the listing is
        resumed, only at one stored before the unfinished crawl began. Reviews this crawl already
        yielded (a review repeated on two pages) do not count: they may be stored by now."""
        ids = {item["external_id"] for item in items}
        new_to_this_crawl = ids - self._ids_seen
        self._ids_seen |= ids
        if not self.options.stop_at_known or not new_to_this_crawl:
            return False, False
        stored = self._stored_times(new_to_this_crawl)
        resume = self._resume.get(listing)
        if resume is None:
            return bool(stored), False
        if any(matched_at < resume["since"] for matched_at in stored.values()):
            return True, False
        return False, new_to_this_crawl == ids and set(stored) == ids

    def _stored_times(self, ids: set[str]) -> dict[str, str]:
        """When each of these ids was stored for this watch (those that are)."""
        found: dict[str, str] = {}
        id_list = sorted(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start:start + 500]
            rows = self.database().execute(
                "SELECT m.external_id, w.matched_at FROM mentions m "
                "JOIN mention_watches w ON w.mention_id = m.id "
                f"WHERE w.watch = ? AND m.source = ? AND m.external_id IN ({','.join('?' * len(chunk))})",
                [self.watch.name, self.source_type, *chunk]).fetchall()
            found.update(rows)
        return found

    def _first_crawl(self, listing: str) -> bool:
        """Whether this listing had never been crawled before the crawl(s) still unfinished."""
        return self._marks.get(listing, {}).get("first", False)

    def closed(self, reason: str) -> None:
        self.report_unanswered_start_urls(self.options.start_urls, reason)
        if self.options.stop_at_known:
            done = {LISTING_CURSOR + url_digest(url): DONE for url in self._listings_done}
            save_cursors(self.database(), self.watch.name, LISTINGS_KEY, done)
        super().closed(reason)


def _page_key(url: str) -> str:
    """A page's URL as the duplicate filter compares it: without its fragment, query sorted."""
    return canonicalize_url(url)


def _unfinished(state: str | None) -> dict | None:
    """{"since", "first"} of a listing cursor that says unfinished; None for done or none."""
    if not state or state == DONE:
        return None
    try:
        value = json.loads(state)
        return {"since": str(value["since"]), "first": bool(value.get("first"))}
    except (ValueError, TypeError, KeyError):
        return None
