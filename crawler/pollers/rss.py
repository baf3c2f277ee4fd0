"""News feeds (RSS or Atom) through feedparser, Google News search feeds included.

Each feed's ETag and Last-Modified are kept as cursors and sent back (If-None-Match /
If-Modified-Since), so an unchanged feed costs one short 304 answer. One failing feed of several is
recorded as an error while the others are still read. A cut-off answer (the XML ends before the
document does) is an error line for that feed; the entries closed before the cut are kept and its
cursors are not saved, so the next poll reads the whole feed again.
"""
from __future__ import annotations

import hashlib
import re
import urllib.parse
import xml.sax
from collections.abc import Iterator
from typing import Any

import feedparser

from crawler.pollers.base import FetchError, Page, Poller, describe_url, html_to_text, parse_items
from storage import Mention

GOOGLE_NEWS_SEARCH = "https://news.google.com/rss/search"
_ENTRY_END = re.compile(rb"</(?:\w+:)?(?:item|entry)\s*>")
_DOCUMENT_END = re.compile(rb"</(?:\w+:)?(?:rss|feed|RDF)\s*>\s*$")


class RssPoller(Poller):
    source = "rss"
    description = "News RSS/Atom feeds, including Google News search feeds"
    options_doc = {
        "urls": "list of feed URLs",
        "google_news": "true: also read the Google News search feed for the watch's query",
        "google_news_locale": "hl/gl/ceid of that feed (default 'en-US', 'US', 'US:en')",
        "query": "Google News search text (default: built from the watch's query)",
    }
    min_interval = 1.0
    # each feed is read whole and every item kept (no paging, no stop at a stored item): a pass that
    # stops part-way leaves no gap, the feeds it did not reach are simply read next time
    resumable = False

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """Feed XML (bytes or text) or an already parsed feedparser result -> mentions."""
        feed = payload if isinstance(payload, feedparser.FeedParserDict) else _parse_feed(payload)
        if feed is None:
            if problems is not None:
                problems.append("rss: payload is not a feed")
            return []
        language = feed.get("feed", {}).get("language")
        return parse_items(list(feed.get("entries", [])),
                           lambda entry: _mention_from_entry(entry, language), "rss", problems)

    def feed_urls(self) -> list[str]:
        urls = self.option("urls", [])
        urls = [urls] if isinstance(urls, str) else list(urls)
        if self.option("google_news"):
            urls.append(self._google_news_url())
        return [str(u) for u in urls]

    def pages(self) -> Iterator[Page]:
        urls = self.feed_urls()
        if not urls:
            raise FetchError("rss: no feed URLs (give options.urls or options.google_news: true)")
        failures: list[FetchError] = []
        unreported: list[str] = []  # failures not yet attached to a page
        for url in urls:
            try:
                page = self._read_feed(url)
            except FetchError as exc:
                failures.append(exc)
                unreported.append(str(exc))
                continue
            page.errors, unreported = unreported + page.errors, []
            yield page
        if len(failures) == len(urls):
            # the site down or refusing us for every feed: the source's other searches are skipped
            whole_source = all(failure.whole_source for failure in failures)
            raise FetchError(str(failures[0]) if len(urls) == 1 else
                             f"all {len(urls)} feeds failed; first: {failures[0]}", whole_source=whole_source)
        if unreported:
            yield Page([], errors=unreported)

    def _read_feed(self, url: str) -> Page:
        slot = hashlib.sha1(url.encode()).hexdigest()[:8]
        headers = {}
        if self.cursors.get(f"{slot}.etag"):
            headers["If-None-Match"] = self.cursors[f"{slot}.etag"]
        if self.cursors.get(f"{slot}.modified"):
            headers["If-Modified-Since"] = self.cursors[f"{slot}.modified"]
        url = self._absolute(url)
        response = self.fetcher.get(url, headers=headers, ok_statuses=(304,))
        if response.status_code == 304:
            return Page([])
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        where = describe_url(url)  # host and path: never the query string, which may hold a key
        feed = _parse_feed(response.content)
        if feed is None:
            raise FetchError(f"rss: {where}: not a feed (got {content_type or 'no content type'})")
        cut_off = _cut_off_error(response.content, feed)
        if cut_off:
            # the entry being written at the cut may lack its text or date: keep only closed ones
            feed["entries"] = feed["entries"][:len(_ENTRY_END.findall(response.content))]
            if not feed["entries"]:  # nothing usable came: the feed failed, not partly worked
                raise FetchError(f"rss: {where}: feed cut off ({cut_off}) before its first entry ended")
        problems: list[str] = []
        mentions = self.parse(feed, problems)  # feeds are short and not always in date order: keep all
        page = Page(mentions, fetched=len(mentions) + len(problems), rejected=len(problems))
        if cut_off:  # no cursors: a 304 next time would leave the rest of the feed unread
            page.errors = [f"rss: {where}: feed cut off ({cut_off}); "
                           f"kept the {len(feed['entries'])} complete entries before it"]
            return page
        cursors = {}
        if response.headers.get("etag"):
            cursors[f"{slot}.etag"] = response.headers["etag"]
        if response.headers.get("last-modified"):
            cursors[f"{slot}.modified"] = response.headers["last-modified"]
        page.cursors = cursors
        return page

    def _absolute(self, url: str) -> str:
        """A relative feed URL is taken from base_url (tests point base_url at a local server)."""
        if "://" in url or not self.base_url:
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def _google_news_url(self) -> str:
        hl, gl, ceid = self.option("google_news_locale", ["en-US", "US", "US:en"])
        base = self.base_url + "/rss/search" if self.source_cfg.base_url else GOOGLE_NEWS_SEARCH
        query = urllib.parse.urlencode({"q": self.search_terms(), "hl": hl, "gl": gl, "ceid": ceid})
        return f"{base}?{query}"


def _parse_feed(payload: Any) -> feedparser.FeedParserDict | None:
    """feedparser result, or None when the payload is no feed at all (HTML, JSON, garbage)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "replace")
    if not isinstance(payload, (bytes, bytearray)):
        return None
    feed = feedparser.parse(bytes(payload))
    if not feed.get("entries") and not feed.get("feed", {}).get("title") and feed.get("bozo"):
        return None
    if feed.get("version", "") == "" and not feed.get("entries"):
        return None
    return feed


def _cut_off_error(payload: bytes, feed: feedparser.FeedParserDict) -> str | None:
    """The XML error of a feed that stops before its closing tag (a cut-off answer), else None.

    Other XML errors (an undefined `&nbsp;`, a stray tag) are common in feeds that feedparser's
    lenient parser still reads whole, so they are not reported.
    """
    error = feed.get("bozo_exception")
    if not isinstance(error, xml.sax.SAXParseException) or _DOCUMENT_END.search(payload):
        return None
    return f"XML error at line {error.getLineNumber()}: {error.getMessage()}"


def _mention_from_entry(entry: dict, language: str | None) -> Mention:
    link = entry.get("link")
    external_id = entry.get("id") or link
    if not external_id:
        raise ValueError("entry has neither id nor link")
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    title = (entry.get("title") or "").strip()
    created = entry.get("published") or entry.get("updated")
    if not created:
        raise ValueError("entry has no date")
    source = entry.get("source", {})
    author = entry.get("author") or (source.get("title") if isinstance(source, dict) else None)
    return Mention(
        source="rss",
        external_id=str(external_id),
        text=html_to_text(str(summary)),
        title=html_to_text(title) or None,
        created_at=created,
        url=str(link) if link else None,
        author=str(author) if author else None,
        lang=(str(language).strip().lower() or None) if language else None,
    )
