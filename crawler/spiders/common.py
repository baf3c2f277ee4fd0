"""What both mentionwatch spiders share: their arguments, the error list, known-id lookups (ids
stored for the spider's watch), and reading a fetched page's mentions.

A spider gets the watch, its source config and the database path as arguments (the runner passes
them). Failed requests and crashed callbacks become short lines in `spider.errors`, which the
runner reports; nothing is raised out of the crawl. A page robots.txt disallows is skipped quietly,
unless it is one of the source's own URLs (`start_request`): then the source can never read it, and
that is an error line. `read_mentions` dates a mention that has no date of its own with the one its
listing gave (sitemap lastmod, feed date), else with the time its page was fetched, and reports a
page where the `item` selector matches nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.items import MentionItem
from crawler.spiders.extract import extract_mentions
from crawler.spiders.options import FieldSelectors, parse_options
from mentionwatch.config import SourceConfig, Watch
from storage import open_db, utc_now_iso
from storage.mentions import stored_for_watch

MAX_ERROR_LINES = 50  # a site failing on every page should not flood the crawl run
START = "mentionwatch_start"  # request meta: a start URL (start_urls, sitemap_urls) of the source
ROBOTS_REFUSAL = "robots.txt"  # in the IgnoreRequest of Scrapy's RobotsTxtMiddleware


class MentionSpiderMixin:
    """Mixed into both spiders, before the Scrapy base class."""

    source_type: str = ""

    def setup(self, watch: Watch | dict, source: SourceConfig | dict, db_path: str) -> FieldSelectors:
        """Keep the arguments, validate the options (ValueError: one line naming the field)."""
        self.watch = watch if isinstance(watch, Watch) else Watch.model_validate(watch)
        self.source_cfg = (source if isinstance(source, SourceConfig)
                           else SourceConfig.model_validate(source))
        self.db_path = str(db_path)
        self.errors: list[str] = []
        self._dropped_errors = 0
        self._db = None
        # pages whose mentions are in the database, stored by this crawl or an earlier one: what
        # makes a run with errors 'partial' rather than 'failed' (the runner reads the stat)
        self.pages_in_database: set[str] = set()
        self.robots_blocked: list[str] = []  # URLs robots.txt kept this crawl from fetching
        return parse_options(self.source_cfg.type, self.source_cfg.options)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_callback_error, signal=signals.spider_error)
        return spider

    def note_pages_in_database(self, urls: Iterable[str]) -> None:
        """These pages' mentions are in the database (committed now, or known from an earlier
        crawl and so not fetched again)."""
        self.pages_in_database.update(urls)
        self.crawler.stats.set_value("mentionwatch/pages_stored", len(self.pages_in_database))

    def start_request(self, url: str, **kwargs) -> scrapy.Request:
        """A request for one of the source's own URLs: if robots.txt disallows it, that is an error
        line, since the source can then never read anything there."""
        meta = {**kwargs.pop("meta", {}), START: True}
        return scrapy.Request(url, errback=self.on_request_error, meta=meta, **kwargs)

    def count_page(self) -> None:
        """One more page read for mentions (sitemaps, feeds and robots.txt are not counted)."""
        self.crawler.stats.inc_value("mentionwatch/pages")

    def read_mentions(self, response, listed_date: str | None = None, *,
                      expect_items: bool = True) -> list[MentionItem]:
        """The mentions of a fetched page (counted as read). With `expect_items`, a page where the
        `item` selector matches nothing is an error line: the site most likely changed its markup,
        and a silent `ok` would hide that for good."""
        self.count_page()
        items = extract_mentions(response, self.options, self.source_type,
                                 fallback_date=listed_date or utc_now_iso())
        if not items and expect_items:
            self.add_error(f"{response.url}: item selector {self.options.item!r} matched nothing "
                           f"(site changed?)")
        return items

    def unreadable(self, response) -> bool:
        """True, with one error line, for a page selectors cannot read: JSON, an image, a download
        (a site answering an error in JSON with status 200, say)."""
        if isinstance(response, TextResponse) and response.selector.type in ("html", "xml"):
            return False
        content_type = response.headers.get("Content-Type", b"").decode("latin-1")[:80]
        self.add_error(f"{response.url}: not an HTML page (Content-Type: {content_type or 'none'})")
        return True

    def add_error(self, line: str) -> None:
        if len(self.errors) < MAX_ERROR_LINES:
            self.errors.append(line)
        else:
            self._dropped_errors += 1

    def error_lines(self) -> list[str]:
        extra = [f"... and {self._dropped_errors} more errors"] if self._dropped_errors else []
        return self.errors + extra

    def on_request_error(self, failure) -> None:
        """Errback of every request: HTTP errors, timeouts, refused connections."""
        url = failure.request.url
        if failure.check(HttpError):
            self.add_error(f"{url}: HTTP {failure.value.response.status}")
        elif failure.check(IgnoreRequest) and ROBOTS_REFUSAL in str(failure.value):
            # a page robots.txt disallows is skipped (politeness, counted in the stats); one of the
            # source's own URLs, though, means the source can never collect anything there
            self.robots_blocked.append(url)
            if failure.request.meta.get(START):
                self.add_error(f"{url}: disallowed by the site's robots.txt ({_robots_url(url)}), "
                               "so this start URL is never fetched")
            else:
                self.logger.info("skipped %s: %s", url, failure.value)
        elif failure.check(IgnoreRequest):
            self.logger.info("skipped %s: %s", url, failure.value)
        else:
            self.add_error(f"{url}: {failure.type.__name__}: {str(failure.value)[:200]}")

    def _on_callback_error(self, failure, response, spider) -> None:
        if spider is self:
            self.add_error(f"{response.url}: could not read the page: "
                           f"{failure.type.__name__}: {str(failure.value)[:200]}")

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these ids of this source are stored already *for this watch* (by earlier
        crawls): one stored for another watch must still be read, to be linked to this one."""
        if self._db is None:
            self._db = open_db(self.db_path)
        return stored_for_watch(self._db, self.watch.name, self.source_type, ids)

    def closed(self, reason: str) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _robots_url(url: str) -> str:
    """The robots.txt that rules over this URL."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/robots.txt", "", ""))
