"""What both mentionwatch spiders share: their arguments, the error list, known-id lookups (ids
stored for the spider's watch), and reading a fetched page's mentions.

A spider gets the watch, its source config and the database path as arguments (the runner passes
them). Failed requests and crashed callbacks become short lines in `spider.errors`, which the
runner reports; nothing is raised out of the crawl. A page robots.txt disallows is skipped quietly,
unless it is one of the source's own URLs (`start_request`): then the source can never read it, and
that is an error line. Start requests bypass the duplicate filter (a cookie wall redirecting back to
its start URL must still be read), and a start URL that never gets a response (a redirect loop, a
request dropped on the way) is an error line too, so such a run is never a silent `ok`. A 429/503
asking to wait longer than RETRY_AFTER_MAX_WAIT is given up on at once (see crawler.spiders.retry),
with a line saying so. `read_mentions` dates a mention that has no date of its own with the one its
listing gave (sitemap lastmod, feed date), else with the time its page was fetched, and reports a
page where the `item` selector matches nothing. A review an older version stored under its earlier
fingerprint (author and text, without the date) keeps that id (see `_keep_earlier_ids`).
"""
from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.dates import stored_date
from crawler.items import MentionItem
from crawler.spiders.retry import RETRY_AFTER_MAX_WAIT, response_retry_after, wait_wording
from crawler.spiders.extract import extract_mentions
from crawler.spiders.options import FieldSelectors, parse_options
from mentionwatch.config import SourceConfig, Watch
from storage import open_db, utc_now_iso
from storage.mentions import stored_for_watch

MAX_ERROR_LINES = 50  # a site failing on every page should not flood the crawl run
START = "mentionwatch_start"  # request meta: the start URL (start_urls, sitemap_urls) it began as
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
        self._start_urls_answered: set[str] = set()  # start URLs that got a response or an error
        return parse_options(self.source_cfg.type, self.source_cfg.options)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_callback_error, signal=signals.spider_error)
        crawler.signals.connect(spider._on_response, signal=signals.response_received)
        return spider

    def database(self):
        """The spider's own connection to the database (opened on first use)."""
        if self._db is None:
            self._db = open_db(self.db_path)
        return self._db

    def note_pages_in_database(self, urls: Iterable[str]) -> None:
        """These pages' mentions are in the database (committed now, or known from an earlier
        crawl and so not fetched again)."""
        self.pages_in_database.update(urls)
        self.crawler.stats.set_value("mentionwatch/pages_stored", len(self.pages_in_database))

    # what the pipeline tells the spider about its items (crawler.pipelines)

    def note_items_stored(self, items: list) -> None:
        """These items are committed to the database (new, or stored before)."""

    def note_item_dropped(self, item, reason: str) -> None:
        """The pipeline dropped this item: `reason` is 'filtered' (it does not match the watch) or
        'rejected' (malformed)."""

    def note_storage_failed(self, items: list, exc: Exception) -> None:
        """The database refused the batch holding these items: an error line, so the run is not a
        silent `ok`. Nothing marks their pages read, so the next crawl reads them again."""
        pages = sorted({item.get("page_url") or "?" for item in items})
        where = pages[0] + (f" (and {len(pages) - 1} more pages)" if len(pages) > 1 else "")
        line = (f"{where}: could not store {len(items)} mention(s): {type(exc).__name__}: "
                f"{str(exc)[:200]}")
        self.logger.error(line)
        self.add_error(line)

    def start_request(self, url: str, **kwargs) -> scrapy.Request:
        """A request for one of the source's own URLs: if robots.txt disallows it, that is an error
        line, since the source can then never read anything there."""
        meta = {**kwargs.pop("meta", {}), START: url}
        # dont_filter: a cookie wall that redirects back to the start URL would otherwise be
        # dropped as a duplicate, silently
        return scrapy.Request(url, errback=self.on_request_error, meta=meta, dont_filter=True,
                              **kwargs)

    def _on_response(self, response, request, spider) -> None:
        if spider is self and request.meta.get(START):
            self._start_urls_answered.add(request.meta[START])

    def count_page(self) -> None:
        """One more page read for mentions (sitemaps, feeds and robots.txt are not counted)."""
        self.crawler.stats.inc_value("mentionwatch/pages")

    def read_mentions(self, response, listed_date: str | None = None, *, expect_items: bool = True,
                      site_url: str | None = None, read_before=None) -> list[MentionItem]:
        """The mentions of a fetched page (counted as read). With `expect_items`, a page where the
        `item` selector matches nothing is an error line: the site most likely changed its markup,
        and a silent `ok` would hide that for good. `site_url`: the address the watchlist gives
        for the site, whose scheme and host the ids of its reviews carry (see
        _keep_ids_of_the_site); `read_before(id)`: whether the listing's earlier crawls read it."""
        self.count_page()
        items = extract_mentions(response, self.options, self.source_type,
                                 fallback_date=listed_date or utc_now_iso())
        self._keep_earlier_ids(items)
        if site_url:
            self._keep_ids_of_the_site(items, response.url, site_url, read_before)
        if not items and expect_items:
            self.add_error(f"{response.url}: item selector {self.options.item!r} matched nothing "
                           f"(site changed?)")
        return items

    def _keep_earlier_ids(self, items: list[MentionItem]) -> None:
        """An item stored under its earlier id (an older version's fingerprint: author and text,
        without the date) keeps that id when the stored date is the one on the page: else it
        would be stored twice. Stored with another date, it is another review with the same
        author and text, and takes its new id. Not stored, it keeps `earlier_id` for storage (a
        review erased under it stays out); storage's own match by address cannot be used: a
        fingerprinted review's address is its position on the page, which changes."""
        earlier = [item for item in items if item.get("earlier_id")]
        if not earlier:
            return
        stored = self._stored_dates({item["earlier_id"] for item in earlier})
        for item in earlier:
            if item["earlier_id"] not in stored:
                continue
            if stored[item["earlier_id"]] == stored_date(item["created_at"], item["date_format"]):
                item["external_id"] = item["earlier_id"]
            item["earlier_id"] = None

    def _keep_ids_of_the_site(self, items: list[MentionItem], page_url: str, site_url: str,
                              read_before=None) -> None:
        """A site that moved (a 301 from http://example.com to https://www.example.com) gives its
        reviews ids with the new host (and permalinks with the new scheme): a review known under
        the address the watchlist names (stored, erased with `forget`, or read by the listing's
        earlier crawls) keeps that id, else every review would be stored a second time, an erased
        one would come back, and the listing would never find where it stopped. New reviews take
        the new address's ids."""
        page, site = _origin(page_url), _origin(site_url)
        if not page[1] or not site[1] or page == site:
            return
        aliases = {item["external_id"]: [alias for alias in _on_site(item["external_id"], page, site)
                                          if alias != item["external_id"]] for item in items}
        wanted = {alias for candidates in aliases.values() for alias in candidates}
        known = set(self._stored_dates(wanted)) | self._forgotten(wanted)
        if read_before is not None:
            known |= {alias for alias in wanted if read_before(alias)}
        for item in items:
            known_as = [alias for alias in aliases[item["external_id"]] if alias in known]
            if known_as:
                item["external_id"] = known_as[0]

    def _forgotten(self, ids: set[str]) -> set[str]:
        """Those of these ids of this source erased with `forget` (kept out of later crawls)."""
        from storage.erasure import post_key

        keys = {post_key(self.source_type, external_id): external_id for external_id in ids}
        found: set[str] = set()
        key_list = sorted(keys)
        for start in range(0, len(key_list), 500):
            chunk = key_list[start:start + 500]
            found.update(keys[key] for (key,) in self.database().execute(
                f"SELECT key FROM forgotten WHERE key IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def _stored_dates(self, ids: set[str]) -> dict[str, str]:
        """The stored date of each of these ids of this source that is stored (for any watch)."""
        found: dict[str, str] = {}
        id_list = sorted(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start:start + 500]
            found.update(self.database().execute(
                "SELECT external_id, created_at FROM mentions WHERE source = ? "
                f"AND external_id IN ({','.join('?' * len(chunk))})",
                [self.source_type, *chunk]).fetchall())
        return found

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
        start_url = failure.request.meta.get(START)
        if start_url:
            self._start_urls_answered.add(start_url)
        if failure.check(HttpError):
            self.add_error(f"{url}: {_http_problem(failure.value.response)}")
        elif failure.check(IgnoreRequest) and ROBOTS_REFUSAL in str(failure.value):
            # a page robots.txt disallows is skipped (politeness, counted in the stats); one of the
            # source's own URLs, though, means the source can never collect anything there
            self.robots_blocked.append(url)
            if failure.request.meta.get(START):
                self.add_error(f"{url}: disallowed by the site's robots.txt ({_robots_url(url)}), "
                               "so this start URL is never fetched")
            else:
                self.logger.info("skipped %s: %s", url, failure.value)
        elif failure.check(IgnoreRequest) and start_url:
            # a redirect loop, more redirects than allowed: the source can read nothing there
            self.add_error(f"{start_url}: not read: {_ignored_reason(failure.value)}")
        elif failure.check(IgnoreRequest) and MAX_REDIRECTIONS in str(failure.value):
            # a listed or next page that never arrives anywhere, named as it was asked for
            asked = (failure.request.meta.get("redirect_urls") or [url])[0]
            self.add_error(f"{asked}: not read: {_ignored_reason(failure.value)}")
        elif failure.check(IgnoreRequest):
            self.logger.info("skipped %s: %s", url, failure.value)
        else:
            self.add_error(f"{url}: {failure.type.__name__}: {str(failure.value)[:200]}")

    def _on_callback_error(self, failure, response, spider) -> None:
        if spider is self:
            # no response: the error came from building a request (a bad start URL), not a page
            where = response.url if response is not None else "a request"
            self.add_error(f"{where}: could not read the page: "
                           f"{failure.type.__name__}: {str(failure.value)[:200]}")

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these ids of this source are stored already *for this watch* (by earlier
        crawls): one stored for another watch must still be read, to be linked to this one."""
        return stored_for_watch(self.database(), self.watch.name, self.source_type, ids)

    def report_unanswered_start_urls(self, start_urls: Iterable[str], reason: str) -> None:
        """A start URL that got neither a page nor an error (dropped on the way) is an error line;
        after a crawl stopped early, 'crawl ended early' says it already."""
        if reason != "finished":
            return
        for url in start_urls:
            if url not in self._start_urls_answered:
                self.add_error(f"{url}: never read (the request was dropped before any answer)")

    def closed(self, reason: str) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _http_problem(response) -> str:
    """'HTTP 503', or 'HTTP 429 (rate limited for 1h00m; not waiting that long)' when the site asked
    for a longer wait than the spider makes."""
    wait = response_retry_after(response)
    if response.status in (429, 503) and wait is not None and wait > RETRY_AFTER_MAX_WAIT:
        return f"HTTP {response.status} ({wait_wording(wait)}; not waiting that long)"
    return f"HTTP {response.status}"


MAX_REDIRECTIONS = "max redirections"  # Scrapy's RedirectMiddleware gives up with these words


def _ignored_reason(exc: Exception) -> str:
    """Why Scrapy dropped a request, in the user's words."""
    text = str(exc)
    if MAX_REDIRECTIONS in text:
        return "too many redirects (a redirect loop, or a login or cookie wall?)"
    return text[:200] or "the request was dropped"


def _robots_url(url: str) -> str:
    """The robots.txt that rules over this URL."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/robots.txt", "", ""))


def _origin(url: str) -> tuple[str, str]:
    """(scheme, host with its port) of an address, in small letters; ('', '') when unreadable."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower()
    except ValueError:
        return "", ""


def _on_site(external_id: str, page: tuple[str, str], site: tuple[str, str]) -> list[str]:
    """The ids a review of the page at `page` (scheme, host) may have had at `site`: 'host:id' and
    'host:sha1:…' with the host changed; a permalink with its host changed, with the start URL's
    scheme or its own (a site on https for years may be named http:// in the watchlist)."""
    if page[1] != site[1] and external_id.lower().startswith(f"{page[1]}:"):
        return [f"{site[1]}:{external_id[len(page[1]) + 1:]}"]
    try:
        parts = urlsplit(external_id)
    except ValueError:
        return []
    if parts.scheme.lower() in ("http", "https") and parts.netloc.lower() == page[1]:
        schemes = dict.fromkeys([site[0], parts.scheme.lower()])
        return [urlunsplit(parts._replace(scheme=scheme, netloc=site[1])) for scheme in schemes]
    return []
