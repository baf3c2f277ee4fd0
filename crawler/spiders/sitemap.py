"""The sitemap/feed-driven spider (`type: sitemap`): crawl the pages a site lists.

`sitemap_urls` may name sitemap.xml files (nested sitemap indexes and .gz included), a robots.txt
(its `Sitemap:` lines), or RSS/Atom feeds. Listed pages are filtered by `follow` patterns, newest
first (sitemap `lastmod` / feed dates), pages already stored for this watch are skipped (one stored
for another watch is fetched, to be linked to this one), and at most `max_pages` are fetched per
run. Each page is one mention (or several with an `item` selector); a mention without its own date
gets the one its sitemap or feed gave, else the time its page was fetched. A page where the `item`
selector matches nothing is an error line, as in the `reviews` spider: every listed page should hold
items (a forum thread its posts), so the site has most likely changed its markup.

Pages skipped as already stored count as pages in the database, so one dead page listed beside them
makes the run `partial`, not `failed`. A sitemap URL disallowed by robots.txt is an error line, and
so is a crawl where every listed page it asked for is disallowed (one such page alone is skipped).
"""
from __future__ import annotations

import re

import feedparser
import scrapy
from scrapy.spiders import SitemapSpider
from scrapy.utils.sitemap import Sitemap

from crawler.spiders.common import MentionSpiderMixin
from storage import parse_timestamp

# an RSS/Atom/RDF root element, after any XML declaration, stylesheet, comment or doctype
_FEED_START = re.compile(
    rb"^\s*(<\?[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<(rss|feed|rdf:RDF)\b", re.S)


class SitemapMentionSpider(MentionSpiderMixin, SitemapSpider):
    name = "sitemap"
    source_type = "sitemap"

    def __init__(self, watch, source, db_path, **kwargs):
        self.options = self.setup(watch, source, db_path)
        self.sitemap_urls = self.options.sitemap_urls
        self.sitemap_rules = [("", "parse_page")]  # `follow` is applied in _pages_to_fetch
        self._page_patterns = [re.compile(pattern) for pattern in self.options.follow]
        self._listed_dates: dict[str, str] = {}
        self._pages_scheduled = 0
        self._listed_requested: set[str] = set()  # URLs of the listed pages asked for
        self._listed_known = 0  # listed pages not fetched: stored for this watch before
        super().__init__(**kwargs)

    async def start(self):
        for url in self.sitemap_urls:  # one disallowed by robots.txt is an error line
            yield self.start_request(url, callback=self._parse_sitemap)

    def _parse_sitemap(self, response):
        """Sitemaps and robots.txt as Scrapy reads them, plus RSS/Atom feeds; every request gets
        the errback so a failed page shows up in the run's errors."""
        if _FEED_START.match(response.body[:4096]):
            requests = self._feed_requests(response)
        elif response.url.endswith("/robots.txt") or self._sitemap_type(response) is not None:
            requests = super()._parse_sitemap(response)
        else:
            self.add_error(f"{response.url}: neither a sitemap nor an RSS/Atom feed")
            return
        for request in requests:
            if request.callback == self.parse_page:
                self._listed_requested.add(request.url)
            yield request.replace(errback=self.on_request_error)

    def _sitemap_type(self, response) -> str | None:
        """'urlset' or 'sitemapindex' when the response is a sitemap, else None."""
        body = self._get_sitemap_body(response)
        if not body:
            return None
        try:
            kind = Sitemap(body).type
        except Exception:  # lxml on garbage: not a sitemap, whatever the reason
            return None
        return kind if kind in ("urlset", "sitemapindex") else None

    def sitemap_filter(self, entries):
        """Nested sitemaps pass through; page entries are chosen by `_pages_to_fetch`."""
        if getattr(entries, "type", None) != "urlset":
            yield from entries
            return
        listed = [entry for entry in entries if entry.get("loc")]
        yield from self._pages_to_fetch(listed, date_key="lastmod")

    def _feed_requests(self, response):
        feed = feedparser.parse(response.body)
        listed = [{"loc": response.urljoin(entry.get("link")),
                   "date": entry.get("published") or entry.get("updated")}
                  for entry in feed.entries if entry.get("link")]
        for entry in self._pages_to_fetch(listed, date_key="date"):
            yield scrapy.Request(entry["loc"], callback=self.parse_page)

    def _pages_to_fetch(self, listed: list[dict], date_key: str) -> list[dict]:
        """Followed pages not yet stored for this watch, newest first, within what is left of
        `max_pages`."""
        listed = [entry for entry in listed if self._followed(entry["loc"])]
        listed.sort(key=lambda entry: _sortable_date(entry.get(date_key)), reverse=True)
        if self.options.item is None and self.options.skip_known:
            known = self.known_ids(entry["loc"] for entry in listed)
            listed = [entry for entry in listed if entry["loc"] not in known]
            # their mentions are in the database: with a dead page beside them the run is
            # 'partial', not 'failed'
            self.note_pages_in_database(known)
            self._listed_known += len(known)
        room = max(self.options.max_pages - self._pages_scheduled, 0)
        if len(listed) > room:
            self.logger.info("max_pages (%d) reached: %d listed pages left for the next run",
                             self.options.max_pages, len(listed) - room)
            listed = listed[:room]
        self._pages_scheduled += len(listed)
        for entry in listed:
            if entry.get(date_key):
                self._listed_dates[entry["loc"]] = entry[date_key]
        return listed

    def _followed(self, url: str) -> bool:
        return not self._page_patterns or any(p.search(url) for p in self._page_patterns)

    def closed(self, reason: str) -> None:
        """Every listed page disallowed by robots.txt (none stored before): the source can never
        collect anything, which is an error line rather than a quiet `ok`."""
        blocked = [url for url in self.robots_blocked if url in self._listed_requested]
        if blocked and len(blocked) == len(self._listed_requested) and not self._listed_known:
            self.add_error(f"all {len(blocked)} listed page(s) are disallowed by the site's robots.txt "
                           f"(e.g. {blocked[0]}), so none can be read")
        super().closed(reason)

    def parse_page(self, response):
        if self.unreadable(response):
            return
        listed_date = self._listed_dates.get(response.request.url) or \
            self._listed_dates.get(response.url)
        yield from self.read_mentions(response, listed_date)


def _sortable_date(value: str | None) -> str:
    """Stored-form date text (sorts in time order), or '' when missing or unreadable."""
    try:
        return parse_timestamp(value)
    except ValueError:
        return ""
