"""The configurable review/forum spider (`type: reviews`): selectors come from the watchlist.

It starts at each of `start_urls`, reads every `item` on the page with the field selectors, and
follows `next_page` (an http(s) link; anything else, such as a disabled button's
`javascript:void(0)`, is the end of the list) up to `max_pages` pages. Review sites list the newest
first, so once a page ends with two reviews an earlier finished crawl of this listing read, the
older pages behind it are not fetched again (like the API pollers stop at the first known item);
`stop_at_known: false` turns that off. Each listing remembers the hashed ids of the reviews its
finished crawls read, stored or left out by the query (cursor `seen` + a hash of its start URL,
filed under `reviews:seen`; the newest MEMORY_LIMIT). It goes by the page's last two reviews, not
any known one on it: a review shown above the new ones on every page ("most helpful", a sticky
thread) would stop it above the reviews they pushed onto the next page, and one closing every page
would too if it went by the last alone. Reviews stored for another watch,
or by another listing of the watch (a site's forum and its product pages share ids), do not stop
it: this listing has not read them. A listing whose memory is an older version's (none) stops at
any review stored for the watch, as that version did.

A listing that stops part-way (a page failing, the crawl's time limit, `max_pages` reached before
the known reviews, the process killed) must not leave a gap: the next crawl would stop at the
reviews of its first pages and never reach the older ones. So each start URL has a cursor, set to
"unfinished since <time>" before its crawl stores anything and set to "done" when the listing ends
cleanly (its last page, or a page holding reviews stored before) with nothing left unstored (a
batch the database refused leaves it unfinished). While it is unfinished, the next crawl skips the
reviews the unfinished crawl(s) read (stored since that time, or filtered or rejected by them: the
mark keeps the hashed ids of those read but not stored since then) instead of stopping at them, and
stops at reviews stored before it: the pages never reached are read. Neither the pages holding only
those reviews nor the pages down to the deepest one the unfinished crawl(s) reached (the mark keeps
its number) count towards `max_pages`, so each crawl reads up to `max_pages` pages past where they
stopped: the listing gets done however deep it is, even once the mark holds more than MEMORY_LIMIT
ids (it keeps those of the deepest pages read: the ones the newest reviews push past that page). A
listing's first crawl ever that reaches `max_pages` is done: `max_pages` bounds how far back a new
listing is read.

A review without a date (no `date` selector, or it matches nothing on that review) is dated with the
time its page was fetched. A start page whose `item` selector matches nothing is an error line: the
site has most likely changed its markup, and a silent `ok` would hide that for good. A later page
where it matches nothing ends the list (sites often keep a next link on their empty last pages). A
start page that robots.txt disallows is an error line too; a later page it disallows (or one not
fetched for another lasting reason, such as too many redirects) ends the list, as does a next link
back to a page already read (the same page with a `#fragment`): left unfinished, every crawl would
re-read the listing.

The marks are filed under `reviews:listings`, not a hash of the options, so that an option edit
keeps them (those an older version filed under the options' hash are read too). A listing without
a mark is new (its first crawl), unless the database is from before the marks: reviews of this
source type stored for the watch, and no listing of it marked. Marks and memories of an older
version (no `seen` cursor) stop at any review stored for the watch, as that version did.
"""
from __future__ import annotations

import hashlib
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
SEEN_CURSOR = "seen "  # + url_digest(start URL): hashed ids of the reviews its finished crawls read
SEEN_KEY = "reviews:seen"  # where the SEEN_CURSORs are filed (an option edit keeps them too)
MEMORY_LIMIT = 2000  # hashed review ids kept per listing, in `seen` and in an unfinished mark


class ReviewSpider(MentionSpiderMixin, scrapy.Spider):
    name = "reviews"
    source_type = "reviews"

    def __init__(self, watch, source, db_path, **kwargs):
        super().__init__(**kwargs)
        self.options = self.setup(watch, source, db_path)
        self._ids_seen: set[str] = set()  # ids yielded by this crawl so far
        self._pages_requested: set[str] = set()  # canonical URLs (no fragment) asked for
        self._pages_read: set[str] = set()  # canonical URLs of the pages parsed
        # start URL -> {"since": time, "first": bool, "read": [hashed ids], "pages": int}: the
        # listing's unfinished mark; `_resume` holds those the last crawl left unfinished, which
        # this one resumes; "read" are the reviews the unfinished crawl(s) read that are not stored
        # since `since` (filtered, rejected, stored before: `_read_before` tells the others by their
        # stored time), newest first; "pages" the deepest page number they reached
        self._marks: dict[str, dict] = {}
        self._resume: dict[str, dict] = {}
        # start URL -> hashed ids its finished crawls read, newest first (None: an older version's
        # listing, with no such memory)
        self._seen: dict[str, dict[str, None] | None] = {}
        self._listing_of_page: dict[str, tuple[str, int]] = {}  # page URL -> (start URL, page)
        self._read_now: dict[str, dict[str, int]] = {}  # start URL -> {review id: page} read now
        self._deepest: dict[str, int] = {}  # start URL -> the deepest page number read now
        self._listings_done: set[str] = set()  # start URLs whose listing ended cleanly this crawl
        self._listings_failed: set[str] = set()  # start URLs with a batch the database refused

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
        # a database from before the marks (reviews stored, no listing marked) must not have its
        # listings taken for new ones
        before_marks = (not any(name.startswith(LISTING_CURSOR) for name in cursors)
                        and self._reviews_stored())
        memories = load_cursors(db, self.watch.name, SEEN_KEY)
        now, marks, seen = utc_now_iso(), {}, {}
        for url in self.options.start_urls:
            name = LISTING_CURSOR + url_digest(url)
            state = cursors.get(name)
            self._seen[url] = _memory(memories.get(SEEN_CURSOR + url_digest(url)))
            resume = _unfinished(state)
            if resume is not None:
                self._marks[url] = self._resume[url] = resume
                marks[name] = state  # an older version's mark moves to LISTINGS_KEY
                continue
            first = state is None and not before_marks
            if first:  # nothing read yet: saved now, so a crawl killed part-way keeps it
                self._seen[url] = {}
                seen[SEEN_CURSOR + url_digest(url)] = "[]"
            self._marks[url] = {"since": now, "first": first, "read": [], "pages": 0}
            marks[name] = json.dumps(self._marks[url])
        save_cursors(db, self.watch.name, LISTINGS_KEY, marks)
        save_cursors(db, self.watch.name, SEEN_KEY, seen)

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
        self._listing_of_page[response.url] = (listing, page)
        if self.unreadable(response):
            return
        self._deepest[listing] = max(self._deepest.get(listing, 0), page)
        # later pages may legitimately be empty (the end of the list); a start page may not
        seen = self._seen.get(listing)
        items = self.read_mentions(response, expect_items=page == 1, site_url=listing,
                                   read_before=None if seen is None else lambda review: _id_hash(review) in seen)
        if page > 1 and not items:
            self._end_at_an_empty_page(response.url, listing)
            return
        shows_new = bool({item["external_id"] for item in items} - self._ids_seen)
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
        # a page showing no review new to this crawl (empty, or the last one's again) always
        # counts: else a listing that never ends would be read further on every crawl
        if not read_before and not (shows_new and self._reached_before(listing, page)):
            counted += 1
        if counted > self.options.max_pages:
            self.logger.info("max_pages (%d) reached at %s", self.options.max_pages, response.url)
            if not self.options.stop_at_known or self._first_crawl(listing):
                self._listings_done.add(listing)  # else the next crawl reads on from here
            return
        yield self._listing_request(next_url, page + 1, listing, counted)

    def _end_at_an_empty_page(self, url: str, listing: str) -> None:
        """A later page without reviews ends the list. Before any review stored by an earlier crawl
        was reached, though, it may be an error page served with status 200 ("try again later"):
        the listing is then left unfinished, so the next crawl reads on from there to the stored
        reviews, as after `max_pages`, instead of losing the reviews behind it."""
        if not self.options.stop_at_known or self._first_crawl(listing):
            self.logger.info("%s holds no reviews: end of the list", url)
            self._listings_done.add(listing)
        else:
            self.logger.info("%s holds no reviews before any stored one was reached: the next crawl "
                             "reads on from here", url)

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
        """(whether paging stops here: the page ends with reviews the listing's finished crawls
        read; whether the page was read before: every review on it read by the unfinished
        crawl(s) this one resumes).

        Reviews this crawl already yielded (a review repeated on two pages) do not count: they may
        be stored by now."""
        ids = {item["external_id"] for item in items}
        new_to_this_crawl = ids - self._ids_seen
        self._ids_seen |= ids
        if not self.options.stop_at_known or not new_to_this_crawl:
            return False, False
        stored = self._stored_times(new_to_this_crawl)
        seen = self._seen.get(listing)
        if seen is not None:
            if self._ends_with_reviews_read_before(items, seen):
                return True, False
        elif self._stops_at(stored, listing):
            return True, False
        resumed = listing in self._resume
        return False, resumed and new_to_this_crawl == ids and self._read_before(ids, stored, listing)

    def _ends_with_reviews_read_before(self, items, seen: dict[str, None]) -> bool:
        """Whether the page's last two reviews (or its only one) were read by the listing's finished
        crawls. Not any known review on it: one shown above the new ones on every page ("most
        helpful", a sticky thread) would stop the crawl above those they pushed onto the next page;
        nor only the last: a sticky post closing every page would."""
        last = [item["external_id"] for item in items][-2:]
        return all(_id_hash(external_id) in seen for external_id in last)

    def _stops_at(self, stored: dict[str, str], listing: str) -> bool:
        """Whether paging stops at these reviews stored for the watch, for an older version's
        listing, with no memory of its reviews: at any review stored for the watch, while it is
        resumed only at one stored before the unfinished crawl(s) began."""
        resume = self._resume.get(listing)
        return any(resume is None or matched_at < resume["since"] for matched_at in stored.values())

    def _read_before(self, ids: set[str], stored: dict[str, str], listing: str) -> bool:
        """Whether the unfinished crawl(s) read every one of these reviews: stored since they began,
        or else read by them (filtered, rejected, stored before: their mark keeps those hashed ids,
        at most MEMORY_LIMIT; `_reached_before` covers the pages whose ids it dropped)."""
        mark = self._marks[listing]
        read = set(mark["read"])
        return all(_id_hash(external_id) in read or stored.get(external_id, "") >= mark["since"]
                   for external_id in ids)

    def _reached_before(self, listing: str, page: int) -> bool:
        """Whether the unfinished crawl(s) this one resumes read down to this page number or past
        it. Such a page does not count towards `max_pages` even when the mark no longer holds the
        ids of its reviews: else, once the mark is full, the pages whose ids it dropped would count
        on every crawl, and a deep listing would never be read past them."""
        resume = self._resume.get(listing)
        return resume is not None and page <= resume["pages"]

    def note_items_stored(self, items: list) -> None:
        for item in items:
            self._note_read(item)

    def note_item_dropped(self, item, reason: str) -> None:
        self._note_read(item)  # filtered or rejected: read all the same

    def _note_read(self, item) -> None:
        listing, page = self._listing_of_page.get(item.get("page_url"), (None, 0))
        if listing is not None and item.get("external_id"):
            self._read_now.setdefault(listing, {}).setdefault(str(item["external_id"]), page)

    def note_storage_failed(self, items: list, exc: Exception) -> None:
        """An error line; the listings of these pages stay unfinished, so the next crawl reads them
        again."""
        super().note_storage_failed(items, exc)
        for item in items:
            listing, _ = self._listing_of_page.get(item.get("page_url"), (None, 0))
            if listing is not None:
                self._listings_failed.add(listing)

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
            marks, seen = self._listing_cursors()
            save_cursors(self.database(), self.watch.name, LISTINGS_KEY, marks)
            save_cursors(self.database(), self.watch.name, SEEN_KEY, seen)
        super().closed(reason)

    def _listing_cursors(self) -> tuple[dict[str, str], dict[str, str]]:
        """Each listing's mark, and its `seen` memory: done (and what it read added to its memory)
        when it ended cleanly with everything stored, else still unfinished, with what this crawl
        read and `_read_before` needs added to the mark (and the deepest page it reached)."""
        marks, seen = {}, {}
        for url, mark in self._marks.items():
            digest = url_digest(url)
            read_now = self._read_now.get(url, {})
            read_ids = sorted(read_now, key=read_now.get)  # newest (first pages) first
            if url in self._listings_done and url not in self._listings_failed:
                marks[LISTING_CURSOR + digest] = DONE
                # this crawl read the listing from its first page to its end: all it holds
                read = [_id_hash(external_id) for external_id in read_ids] + mark["read"]
                seen[SEEN_CURSOR + digest] = json.dumps(_newest(read + list(self._seen[url] or ())))
            else:
                marks[LISTING_CURSOR + digest] = json.dumps(
                    {**mark, "read": self._unfinished_read(url, mark, read_ids),
                     "pages": max(mark.get("pages", 0), self._deepest.get(url, 0))})
        return marks, seen

    def _unfinished_read(self, url: str, mark: dict, read_ids: list[str]) -> list[str]:
        """The hashed ids an unfinished mark keeps: those of the reviews read (by this crawl or the
        ones it resumes) that `_read_before` cannot tell by their stored time (filtered, rejected,
        or stored for the watch before `since`), newest first; at most MEMORY_LIMIT, those of the
        deepest pages (the pages down to the deepest one reached do not count anyway: the ids
        matter for those the newest reviews pushed past it)."""
        stored = self._stored_times(set(read_ids)) if read_ids else {}
        now = [_id_hash(external_id) for external_id in read_ids
               if not stored.get(external_id, "") >= mark["since"]]
        now_set = set(now)
        earlier = [hashed for hashed in mark["read"] if hashed not in now_set]
        # ids of earlier crawls this one did not meet again lie past its last page when it did
        # not get as deep as they did (a page failed); else they are gone from the listing
        deeper = self._deepest.get(url, 0) < mark.get("pages", 0)
        read = list(dict.fromkeys(now + earlier if deeper else earlier + now))
        return read[-MEMORY_LIMIT:]


def _page_key(url: str) -> str:
    """A page's URL as the duplicate filter compares it: without its fragment, query sorted."""
    return canonicalize_url(url)


def _unfinished(state: str | None) -> dict | None:
    """{"since", "first", "read", "pages"} of a listing cursor that says unfinished; None for done
    or none."""
    if not state or state == DONE:
        return None
    try:
        value = json.loads(state)
        read = value.get("read") or []
        pages = value.get("pages") or 0  # none in an older version's mark
        return {"since": str(value["since"]), "first": bool(value.get("first")),
                "read": [str(hashed) for hashed in read] if isinstance(read, list) else [],
                "pages": pages if isinstance(pages, int) and not isinstance(pages, bool) else 0}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _memory(value: str | None) -> dict[str, None] | None:
    """A `seen` cursor as an ordered set of hashed ids; None when there is none (or unreadable)."""
    try:
        hashes = json.loads(value) if value else None
    except ValueError:
        return None
    return dict.fromkeys(str(hashed) for hashed in hashes) if isinstance(hashes, list) else None


def _id_hash(external_id: str) -> str:
    """A review id as the marks keep it: hashed, since an id may hold a URL, and cursor values
    are stored as they are."""
    return hashlib.sha256(str(external_id).encode("utf-8")).hexdigest()[:16]


def _newest(hashes: list[str]) -> list[str]:
    """The first MEMORY_LIMIT distinct hashes (the newest reviews come first)."""
    return list(dict.fromkeys(hashes))[:MEMORY_LIMIT]
