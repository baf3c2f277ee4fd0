"""The configurable review/forum spider (`type: reviews`): selectors come from the watchlist.

It starts at each of `start_urls`, reads every `item` on the page with the field selectors, and
follows `next_page` up to `max_pages` pages. Review sites list the newest first, so once a page holds
a review stored for this watch by an earlier crawl, the older pages behind it are not fetched again
(like the API pollers stop at the first known item); `stop_at_known: false` turns that off. Reviews
stored for another watch do not stop it: this watch must still read (and be linked to) them.

A review without a date (no `date` selector, or it matches nothing on that review) is dated with the
time its page was fetched. A start page whose `item` selector matches nothing is an error line: the
site has most likely changed its markup, and a silent `ok` would hide that for good. So is a start
page that robots.txt disallows (later pages it disallows are skipped quietly).
"""
from __future__ import annotations

import scrapy

from crawler.spiders.common import MentionSpiderMixin
from crawler.spiders.extract import first_value


class ReviewSpider(MentionSpiderMixin, scrapy.Spider):
    name = "reviews"
    source_type = "reviews"

    def __init__(self, watch, source, db_path, **kwargs):
        super().__init__(**kwargs)
        self.options = self.setup(watch, source, db_path)
        self._ids_seen: set[str] = set()  # ids yielded by this crawl so far

    async def start(self):
        for url in self.options.start_urls:  # one disallowed by robots.txt is an error line
            yield self.start_request(url, callback=self.parse, cb_kwargs={"page": 1})

    def _listing_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse, errback=self.on_request_error,
                              cb_kwargs={"page": page})

    def parse(self, response, page: int = 1):
        if self.unreadable(response):
            return
        # later pages may legitimately be empty (the end of the list); a start page may not
        items = self.read_mentions(response, expect_items=page == 1)
        # asked before the items are yielded: the pipeline stores batches while the crawl runs
        reached_known = self.options.stop_at_known and self._stored_by_earlier_crawl(items)
        yield from items
        next_link = first_value(response, self.options.next_page)
        if not next_link:
            return
        if page >= self.options.max_pages:
            self.logger.info("max_pages (%d) reached at %s", self.options.max_pages, response.url)
            return
        if reached_known:
            self.logger.info("%s holds reviews stored by an earlier crawl: not paging further",
                             response.url)
            return
        yield self._listing_request(response.urljoin(next_link), page + 1)

    def _stored_by_earlier_crawl(self, items) -> bool:
        """Whether the page holds a review stored for this watch before this crawl. Reviews this
        crawl already yielded (a review repeated on two pages) do not count: they may be stored by
        now."""
        ids = {item["external_id"] for item in items}
        new_to_this_crawl = ids - self._ids_seen
        self._ids_seen |= ids
        return bool(self.known_ids(new_to_this_crawl))
