"""The sitemap/feed-driven spider (`type: sitemap`): crawl the pages a site lists.

`sitemap_urls` may name sitemap.xml files (nested sitemap indexes and .gz included), a robots.txt
(its `Sitemap:` lines), or RSS/Atom feeds. Listed pages are filtered by `follow` patterns, newest
first (sitemap `lastmod` / feed dates; one later than storage allows counts as none), pages already
stored for this watch are skipped (one stored for another watch is fetched, to be linked to this
one), and at most `max_pages` are fetched per run. Each page is one mention (or several with an
`item` selector); a mention without its own date gets the one its sitemap or feed gave, else the
time its page was fetched. A page where the `item` selector matches nothing is an error line, as in
the `reviews` spider: every listed page should hold items (a forum thread its posts), so the site
has most likely changed its markup.

Pages skipped as already stored count as pages in the database, so one dead page listed beside them
makes the run `partial`, not `failed`. A sitemap URL disallowed by robots.txt is an error line, and
so is a crawl where every listed page it asked for is disallowed (one such page alone is skipped).
Listed pages robots.txt disallows are left out before `max_pages` is applied, so they never use up
the run's pages. A relative `<loc>` is read against its sitemap's URL; a malformed one (a port out of
range) is skipped with a warning, the rest of the sitemap is read.

A page is stored under its canonical URL (`<link rel="canonical">`), which may differ from the URL
its sitemap lists (a trailing slash, a `utm_` query, http for https). Such a listed URL is remembered
with its canonical one (cursors named `canonical` and a hash of the listed URL), so that the next crawl knows the
page is stored and does not fetch it again. They are filed under `sitemap:canonicals` (an option
edit keeps them). A pair is not remembered (and one remembered is cleared) when the canonical URL is
another URL the sitemap lists or the canonical of another listed URL too: a site giving every page
one canonical URL would otherwise keep its other pages from ever being fetched, even once fixed.

A page fetched and found not to match the watch (or rejected: no text, a date storage refuses) is
not stored, yet must not be fetched on every crawl: it would use up `max_pages` again and again,
and the older listed pages would never be reached. So such pages are remembered (cursor
`unmatched`, under the source's cursor key: a hash of each listed URL with the date its sitemap or
feed gave, at most UNMATCHED_LIMIT of them, for the watch's query as it was) and left out until
their date changes, the query changes, or an option that says what is read (selectors,
`match_query`, ...) is edited; a page listed without a date is fetched again UNDATED_RECHECK_DAYS
after it was found not to match.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import math
import re
import time
import zlib
from urllib.parse import urlsplit

import feedparser
import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.gz import gzip_magic_number
from scrapy.utils.reactor import CallLaterOnce
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.spiders import SitemapSpider
from scrapy.utils.sitemap import Sitemap

from crawler.cursors import cursor_key, load_cursors, load_source_cursors, save_cursors, url_digest
from crawler.spiders.common import MentionSpiderMixin
from crawler.ids import url_id
from crawler.spiders.extract import readable_date
from storage.mentions import latest_allowed_created_at

CANONICAL_CURSOR = "canonical "  # + url_digest(listed URL): the canonical URL its page is stored under
# filed under the source type, not cursor_key (a hash of the options): editing an option must
# not make every page be fetched again. Those under the options' key (older versions) are read too.
CANONICALS_KEY = "sitemap:canonicals"
UNMATCHED_CURSOR = "unmatched"  # {"query": hash, "pages": {page hash: listed date, or "@" + day found}}
UNMATCHED_LIMIT = 5000  # pages remembered as not matching the watch
# a page listed without a date may change unannounced (an edit, a maintenance page answered once):
# it is fetched again this many days after it was found not to match
UNDATED_RECHECK_DAYS = 7
SITEMAP_MAX_UNPACKED = 50 * 2**20  # the sitemap protocol's limit on a file's size, unpacked
REJECTED_MARK = "~"  # an `unmatched` entry for a page storage refused: "~<day found>|<listed date>"

# an RSS/Atom/RDF root element, after a UTF-8 byte order mark and any XML declaration,
# stylesheet, comment or doctype
_FEED_START = re.compile(
    rb"^(\xef\xbb\xbf)?\s*(<\?[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<(rss|feed|rdf:RDF)\b",
    re.S)


class SitemapMentionSpider(MentionSpiderMixin, SitemapSpider):
    name = "sitemap"
    source_type = "sitemap"

    def __init__(self, watch, source, db_path, **kwargs):
        self.options = self.setup(watch, source, db_path)
        self.sitemap_urls = self.options.sitemap_urls
        self.sitemap_rules = [("", "parse_page")]  # `follow` is applied in _pool
        self._page_patterns = [re.compile(pattern) for pattern in self.options.follow]
        self._listed_dates: dict[str, str] = {}
        # listed URL -> entry ({"loc", "date"}) of every sitemap and feed read so far: the pages are
        # chosen, newest first across all of them, once every one is read (_schedule_listed_pages)
        self._listed_pool: dict[str, dict] = {}
        self._pool_timer: CallLaterOnce | None = None  # chooses from the pool if sitemaps are slow
        self._started = time.monotonic()
        self._pages_scheduled = 0
        self._listed_requested: set[str] = set()  # URLs of the listed pages asked for
        self._listed_known = 0  # listed pages not fetched: stored for this watch before
        self._canonical_of: dict[str, str] = {}  # url_digest(listed URL) -> canonical URL, from earlier crawls
        self._new_canonicals: dict[str, str] = {}  # listed URL -> canonical URL, found by this crawl
        self._listed_urls: set[str] = set()  # every URL the sitemaps and feeds list, this crawl
        self._canonicals_filed: set[str] = set()  # cursor names read under CANONICALS_KEY
        # page hash -> listed date ("" for none) of pages found not to match the watch: those of
        # earlier crawls, and those this crawl found
        self._unmatched: dict[str, str] = {}
        self._unmatched_now: dict[str, str] = {}
        self._listed_unmatched = 0  # listed pages not fetched: found not to match before
        self._listed_of_page: dict[str, str] = {}  # fetched page URL -> the URL its sitemap lists
        super().__init__(**kwargs)

    async def start(self):
        self._started = time.monotonic()  # the pool's early choice is halfway to the time limit
        if self._skips_known():
            db = self.database()
            filed = load_cursors(db, self.watch.name, CANONICALS_KEY)
            own = load_source_cursors(db, self.watch.name, self.source_cfg)
            self._canonicals_filed = {name for name in filed if name.startswith(CANONICAL_CURSOR)}
            self._canonical_of = {
                name[len(CANONICAL_CURSOR):]: value
                for name, value in {**own, **filed}.items()
                if name.startswith(CANONICAL_CURSOR)}
            self._unmatched = _unmatched_pages(own.get(UNMATCHED_CURSOR), self._query_hash())
        for url in self.sitemap_urls:  # one disallowed by robots.txt is an error line
            yield self.start_request(url, callback=self._parse_sitemap)

    def _parse_sitemap(self, response):
        """Sitemaps and robots.txt as Scrapy reads them, plus RSS/Atom feeds; every request gets
        the errback so a failed page shows up in the run's errors."""
        if _FEED_START.match(response.body[:4096]):
            requests = self._feed_requests(response)
        elif response.url.endswith("/robots.txt"):
            requests = super()._parse_sitemap(response)
        elif self._sitemap_type(response) is not None:
            requests = self._sitemap_requests(response)
        elif gzip_magic_number(response):  # not a sitemap once unpacked, or Scrapy gave up unpacking it
            unpacked = self._unpacked(response.body)
            if unpacked is None:
                self.add_error(f"{response.url}: a gzip file larger than {self._max_size // 2**20} MB once "
                               "unpacked (a sitemap may hold 50 MB): not read")
                return
            if not unpacked:
                self.add_error(f"{response.url}: a broken gzip file: not read")
                return
            if _FEED_START.match(unpacked[:4096]):
                requests = self._feed_requests(response.replace(body=unpacked))
            elif _sitemap_kind(unpacked) is not None:  # a .gz served as XML: Scrapy left it packed
                requests = self._sitemap_requests(response, unpacked)
            else:
                self.add_error(f"{response.url}: neither a sitemap nor an RSS/Atom feed (once unpacked)")
                return
        else:
            self.add_error(f"{response.url}: neither a sitemap nor an RSS/Atom feed")
            return
        for request in requests:
            yield request.replace(errback=self.on_request_error)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._schedule_listed_pages, signal=signals.spider_idle)
        # a .gz sitemap may unpack to the protocol's 50 MB, past the size a page may have
        spider._max_size = max(spider._max_size, SITEMAP_MAX_UNPACKED)
        return spider

    def _schedule_listed_pages(self, spider) -> None:
        """Once every sitemap and feed is read (the crawl has nothing else to do), the pages to
        fetch: newest first across all of them, so that a yearly archive's sitemap answering first
        does not use up `max_pages` before this year's is read."""
        if spider is self and self._listed_pool:
            self._fetch_pooled_pages()
            raise DontCloseSpider

    def _fetch_pooled_pages(self) -> None:
        """Ask for the pool's pages (newest first, within what is left of `max_pages`). Also run
        halfway to the crawl's time limit when sitemaps are still being read (a slow site, a large
        index): the time limit must not come with no page asked for."""
        if self._pool_timer is not None:
            self._pool_timer.cancel()
            self._pool_timer = None
        listed, self._listed_pool = list(self._listed_pool.values()), {}
        for entry in self._pages_to_fetch(listed):
            self._listed_requested.add(entry["loc"])
            # dont_filter: the pool lists each page once; the duplicate filter would only drop a page
            # whose redirects loop silently, where too many redirects is an error line
            request = scrapy.Request(entry["loc"], callback=self.parse_page, errback=self.on_request_error,
                                     dont_filter=True)
            self.crawler.engine.crawl(request)

    def _unpacked(self, body: bytes) -> bytes | None:
        """A gzip file's content; None when it is larger than `_max_size` (b"" when it is broken)."""
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as file:
                unpacked = file.read(self._max_size + 1)
        except (OSError, EOFError, zlib.error):
            return b""
        return None if len(unpacked) > self._max_size else unpacked

    def _sitemap_type(self, response) -> str | None:
        """'urlset' or 'sitemapindex' when the response is a sitemap, else None."""
        body = self._get_sitemap_body(response)
        return _sitemap_kind(body) if body else None

    def _sitemap_requests(self, response, body: bytes | None = None) -> list[scrapy.Request]:
        """The nested sitemaps of an index; a urlset's pages go to the pool (_schedule_listed_pages).
        `body`: the sitemap, when it is not the response's own body as Scrapy reads it."""
        body = body if body is not None else self._get_sitemap_body(response)
        sitemap = Sitemap(body)
        kind = sitemap.type
        complete_part = _complete_part(body, kind)
        if complete_part is None:
            entries = list(sitemap)
        else:  # cut off: its last entry (a URL cut short, say) is not read
            body = complete_part
            entries = list(Sitemap(body)) if body else []
            self.add_error(f"{response.url}: the sitemap is cut off (it has no </{kind}>): "
                           f"its {len(entries)} complete entries are read")
        listed = self._usable_entries(_with_news_dates(entries, body), response)
        if kind == "sitemapindex":
            return [scrapy.Request(entry["loc"], callback=self._parse_sitemap) for entry in listed]
        self._pool([{"loc": entry["loc"], "date": entry.get("lastmod")} for entry in listed])
        return []

    def _usable_entries(self, entries, response) -> list[dict]:
        """The sitemap's entries with a `loc` made absolute against the sitemap's URL; a malformed
        one is skipped with a warning (it must not cost the pages listed after it)."""
        usable = []
        for entry in entries:
            url = self._request_url(entry.get("loc"), response)
            if url is not None:
                usable.append({**entry, "loc": url})
        return usable

    def _request_url(self, loc: str | None, response) -> str | None:
        """A listed URL as Scrapy requests it, or None (with a warning) when it cannot be."""
        if not loc:
            return None
        try:
            return scrapy.Request(response.urljoin(loc.strip())).url
        except ValueError as exc:
            self.logger.warning("%s: skipped the listed URL %r: %s", response.url, loc[:200], exc)
            return None

    def _feed_requests(self, response) -> list:
        feed = feedparser.parse(response.body)
        self._pool(self._usable_entries(
            [{"loc": entry.get("link"), "date": entry.get("published") or entry.get("updated")}
             for entry in feed.entries if entry.get("link")], response))
        return []

    def _pool(self, listed: list[dict]) -> None:
        """Keep a sitemap's or feed's followed pages ({"loc", "date"}) for _schedule_listed_pages;
        a page listed twice (a news sitemap and the full one) is one page, with its latest date."""
        self._listed_urls.update(entry["loc"] for entry in listed)
        for entry in listed:
            if not self._followed(entry["loc"]):
                continue
            before = self._listed_pool.get(entry["loc"])
            if before is None or _listed_date(entry, "date") > _listed_date(before, "date"):
                self._listed_pool[entry["loc"]] = entry
        limit = self.crawler.settings.getfloat("CLOSESPIDER_TIMEOUT")
        if self._listed_pool and self._pool_timer is None and limit > 0:
            self._pool_timer = CallLaterOnce(self._fetch_pooled_pages)
            self._pool_timer.schedule(max(limit / 2 - (time.monotonic() - self._started), 0.0))

    def _pages_to_fetch(self, listed: list[dict]) -> list[dict]:
        """Followed pages not yet stored for this watch, newest first, within what is left of
        `max_pages`."""
        listed = [entry for entry in listed if entry["loc"] not in self._listed_requested]
        listed.sort(key=lambda entry: _listed_date(entry, "date"), reverse=True)
        listed = self._without_disallowed(listed)
        if self._skips_known():
            known = self.known_ids(self._stored_id(entry["loc"]) for entry in listed)
            listed = [entry for entry in listed if self._stored_id(entry["loc"]) not in known]
            # their mentions are in the database: with a dead page beside them the run is
            # 'partial', not 'failed'
            self.note_pages_in_database(known)
            self._listed_known += len(known)
            listed = self._without_unmatched(listed, "date")
        room = max(self.options.max_pages - self._pages_scheduled, 0)
        if len(listed) > room:
            self.logger.info("max_pages (%d) reached: %d listed pages left for the next run",
                             self.options.max_pages, len(listed) - room)
            listed = listed[:room]
        self._pages_scheduled += len(listed)
        for entry in listed:
            # an unreadable or future date is no date: the page's fetch time is used
            date = _listed_date(entry, "date")
            if date:
                self._listed_dates[entry["loc"]] = date
        return listed

    def _without_unmatched(self, listed: list[dict], date_key: str) -> list[dict]:
        """The entries less those an earlier crawl found not to match the watch, at the date they
        are listed with now."""
        fetch = [entry for entry in listed
                 if not _still_unmatched(self._unmatched.get(_page_hash(entry["loc"])),
                                         _listed_date(entry, date_key))]
        self._listed_unmatched += len(listed) - len(fetch)
        return fetch

    def note_item_dropped(self, item, reason: str) -> None:
        """A page that does not match the watch is remembered with its listed date. One that storage
        refused (no text, a date still to come) is remembered for UNDATED_RECHECK_DAYS only: what
        made it unusable may pass (an event's page dated the day it happens, a page served empty
        once)."""
        listed_url = self._listed_of_page.get(item.get("page_url"))
        if reason not in ("filtered", "rejected") or listed_url is None or not self._skips_known():
            return
        listed_date = self._listed_dates.get(listed_url) or ""
        today = dt.date.today().isoformat()
        if reason == "rejected":
            mark = f"{REJECTED_MARK}{today}|{listed_date}"
        else:
            mark = listed_date or "@" + today
        self._unmatched_now[_page_hash(listed_url)] = mark

    def _unmatched_to_save(self) -> str | None:
        """The `unmatched` cursor: the pages remembered before that were not fetched again, then
        those found now; past UNMATCHED_LIMIT, pages no longer listed go first, then the oldest."""
        if not (self._unmatched or self._unmatched_now):
            return None
        listed = {_page_hash(url) for url in self._listed_urls}
        fetched = {_page_hash(url) for url in self._listed_requested}
        kept = {digest: date for digest, date in self._unmatched.items() if digest not in fetched}
        pages = ([(digest, date) for digest, date in kept.items() if digest not in listed]
                 + [(digest, date) for digest, date in kept.items() if digest in listed]
                 + list(self._unmatched_now.items()))
        return json.dumps({"query": self._query_hash(), "pages": dict(pages[-UNMATCHED_LIMIT:])})

    def _query_hash(self) -> str:
        """What the pages were matched against: another query may match them."""
        return url_digest(self.watch.query.model_dump_json())[:16]

    def _skips_known(self) -> bool:
        return self.options.item is None and self.options.skip_known

    def _stored_id(self, listed_url: str) -> str:
        """The id a listed page is stored under: its canonical URL, when an earlier crawl found
        one that differs, else the listed URL. A canonical URL that the sitemap lists itself is
        no longer trusted (see `_remembered_canonicals`): the page is fetched again."""
        canonical = self._canonical_of.get(url_digest(listed_url))
        if canonical is None or canonical in self._listed_urls:
            return url_id(listed_url)
        return url_id(canonical)

    def _remembered_canonicals(self) -> dict[str, str | None]:
        """The cursors to save: each listed URL this crawl found stored under another canonical
        one, except where that canonical URL is itself another page the sitemap lists, or is the
        canonical of another listed URL too (a misconfigured CMS giving every page one canonical
        URL: remembered, the other pages would never be fetched again, even once the site is
        fixed). Such pairs remembered by an earlier crawl are cleared (None)."""
        remembered = {**self._canonical_of,
                      **{url_digest(listed): canonical
                         for listed, canonical in self._new_canonicals.items()}}
        shared: dict[str, int] = {}
        for canonical in remembered.values():
            shared[canonical] = shared.get(canonical, 0) + 1
        values: dict[str, str | None] = {}
        for digest, canonical in remembered.items():
            if shared[canonical] > 1 or canonical in self._listed_urls:
                if digest in self._canonical_of:
                    values[CANONICAL_CURSOR + digest] = None
            elif (CANONICAL_CURSOR + digest not in self._canonicals_filed
                  or self._canonical_of[digest] != canonical):
                values[CANONICAL_CURSOR + digest] = canonical
        return values

    def _without_disallowed(self, listed: list[dict]) -> list[dict]:
        """The entries robots.txt allows (as far as this crawl has read it): those it disallows must
        not use up `max_pages`. They count as pages robots.txt kept from this crawl."""
        allowed, blocked = [], []
        for entry in listed:
            if self._robots_allows(entry["loc"]):
                allowed.append(entry)
            else:
                blocked.append(entry["loc"])
        if blocked:
            self.robots_blocked.extend(blocked)
            self._listed_requested.update(blocked)
            self.crawler.stats.inc_value("robotstxt/forbidden", len(blocked))
            self.logger.info("skipped %d listed page(s) robots.txt disallows, e.g. %s",
                             len(blocked), blocked[0])
        return allowed

    def _robots_allows(self, url: str) -> bool:
        """False when robots.txt, already read for the URL's site, disallows it; a site whose
        robots.txt is not read yet is left to Scrapy's RobotsTxtMiddleware."""
        robots = self._robots_middleware()
        if robots is None:
            return True
        parser = robots._parsers.get(urlsplit(url).netloc)
        if parser is None or not hasattr(parser, "allowed"):  # none, or still being fetched
            return True
        user_agent = robots._robotstxt_useragent or robots._default_useragent
        return parser.allowed(url, user_agent)

    def _robots_middleware(self) -> RobotsTxtMiddleware | None:
        if not self.settings.getbool("ROBOTSTXT_OBEY"):
            return None
        for middleware in self.crawler.engine.downloader.middleware.middlewares:
            if isinstance(middleware, RobotsTxtMiddleware):
                return middleware
        return None

    def _followed(self, url: str) -> bool:
        return not self._page_patterns or any(p.search(url) for p in self._page_patterns)

    def closed(self, reason: str) -> None:
        """Every listed page disallowed by robots.txt (none stored before): the source can never
        collect anything, which is an error line rather than a quiet `ok`."""
        if self._pool_timer is not None:  # the crawl is over: nothing more is asked for
            self._pool_timer.cancel()
        blocked = [url for url in self.robots_blocked if url in self._listed_requested]
        if (blocked and len(blocked) == len(self._listed_requested)
                and not (self._listed_known or self._listed_unmatched)):
            self.add_error(f"all {len(blocked)} listed page(s) are disallowed by the site's robots.txt "
                           f"(e.g. {blocked[0]}), so none can be read")
        self.report_unanswered_start_urls(self.sitemap_urls, reason)
        if self._skips_known():
            values = self._remembered_canonicals()
            # older versions' cursors under the options' key: cleared there as well
            own = {name: None for name, value in values.items() if value is None}
            save_cursors(self.database(), self.watch.name, CANONICALS_KEY, values)
            unmatched = self._unmatched_to_save()
            if unmatched is not None:
                own[UNMATCHED_CURSOR] = unmatched
            save_cursors(self.database(), self.watch.name, cursor_key(self.source_cfg), own)
        super().closed(reason)

    def parse_page(self, response):
        if self.unreadable(response):
            return
        listed_url = (response.meta.get("redirect_urls") or [response.request.url])[0]
        self._listed_of_page[response.url] = listed_url
        listed_date = self._listed_dates.get(listed_url) or self._listed_dates.get(response.url)
        mentions = self.read_mentions(response, listed_date)
        if self._skips_known() and mentions and mentions[0]["url"] != listed_url:
            self._new_canonicals[listed_url] = mentions[0]["url"]
        yield from mentions


def _sitemap_kind(body: bytes) -> str | None:
    """'urlset' or 'sitemapindex' when `body` is a sitemap, else None."""
    try:
        kind = Sitemap(body).type
    except Exception:  # lxml on garbage: not a sitemap, whatever the reason
        return None
    return kind if kind in ("urlset", "sitemapindex") else None


def _with_news_dates(entries: list[dict], body: bytes) -> list[dict]:
    """The entries, each without a `lastmod` given its Google News `<news:publication_date>` in its
    place: Scrapy's Sitemap reads the `<news:news>` element as empty text, and news sitemaps often
    carry no other date."""
    if b"publication_date" not in body:
        return entries
    dates = _news_dates(body)
    return [entry if entry.get("lastmod") or entry.get("loc") not in dates
            else {**entry, "lastmod": dates[entry["loc"]]} for entry in entries]


def _news_dates(body: bytes) -> dict[str, str]:
    """{loc as written: publication date} of a news sitemap's entries."""
    from lxml import etree

    parser = etree.XMLParser(recover=True, remove_comments=True, resolve_entities=False, huge_tree=True)
    root = etree.fromstring(body, parser=parser)
    dates: dict[str, str] = {}
    for entry in root if root is not None else []:
        loc = date = None
        for element in entry.iter():
            # the name without its namespace ('{uri}loc') or an undeclared prefix ('news:news')
            name = element.tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1] if isinstance(element.tag, str) else None
            if name == "loc" and loc is None:
                loc = (element.text or "").strip()
            elif name == "publication_date" and date is None:
                date = (element.text or "").strip()
        if loc and date:
            dates[loc] = date
    return dates


def _complete_part(body: bytes, kind: str | None) -> bytes | None:
    """None for a sitemap that is whole (its closing </urlset> or </sitemapindex> is there, whatever
    a host put after it); for one cut off, the part up to its last complete entry (closed by </url>
    or </sitemap>), b"" when there is none: the entry after them may hold a URL cut short. A sitemap
    in UTF-16 (the protocol asks for UTF-8) is taken as whole: its tags are no ASCII bytes."""
    if kind not in ("urlset", "sitemapindex") or body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:200]:
        return None
    closed = rb"</(?:[\w.-]+:)?" + kind.encode() + rb"\s*>"
    empty = rb"<(?:[\w.-]+:)?" + kind.encode() + rb"\b[^<>]*/>"  # <urlset xmlns="…"/>: a sitemap listing nothing
    if re.search(closed, body, re.I) or re.search(empty, body, re.I):
        return None
    entry = b"url" if kind == "urlset" else b"sitemap"
    closings = list(re.finditer(rb"</(?:[\w.-]+:)?" + entry + rb"\s*>", body, re.I))
    return body[:closings[-1].end()] if closings else b""


def _page_hash(url: str) -> str:
    """A listed page as the `unmatched` cursor keeps it: a short hash (an address may hold a secret)."""
    return url_digest(url)[:16]


def _still_unmatched(remembered: str | None, listed_date: str) -> bool:
    """Whether a page found not to match is left out: listed at the date it had then, or listed
    without a date and found less than UNDATED_RECHECK_DAYS ago."""
    if remembered is None:
        return False
    if remembered.startswith(REJECTED_MARK):  # refused by storage: a week, at the same listed date
        found_text, _, date_then = remembered[len(REJECTED_MARK):].partition("|")
        return date_then == listed_date and _days_since(found_text) < UNDATED_RECHECK_DAYS
    if not remembered.startswith("@"):
        return bool(listed_date) and remembered == listed_date
    return not listed_date and _days_since(remembered[1:]) < UNDATED_RECHECK_DAYS


def _days_since(day_text: str) -> float:
    """Days since an ISO day; infinite for one that cannot be read (so it is rechecked)."""
    try:
        return (dt.date.today() - dt.date.fromisoformat(day_text)).days
    except ValueError:
        return math.inf


def _listed_date(entry: dict, date_key: str) -> str:
    """The date a sitemap or feed gives a page, as stored text; "" for none. One later than storage
    allows (a scheduled event's page, a year typo) is none: it would win the newest-first order on
    every crawl, and date the page so that storage refuses it."""
    date = readable_date(entry.get(date_key)) or ""
    return "" if date > latest_allowed_created_at() else date


def _unmatched_pages(value: str | None, query_hash: str) -> dict[str, str]:
    """The pages of an `unmatched` cursor saved for this query; none for another query (or none)."""
    try:
        saved = json.loads(value) if value else {}
        pages = saved.get("pages") if saved.get("query") == query_hash else {}
    except (ValueError, AttributeError):
        return {}
    return {str(digest): str(date) for digest, date in pages.items()} if isinstance(pages, dict) else {}
