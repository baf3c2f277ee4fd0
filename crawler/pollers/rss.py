"""News feeds (RSS or Atom) through feedparser, Google News search feeds included.

Each feed's ETag and Last-Modified are kept as cursors and sent back (If-None-Match /
If-Modified-Since), so an unchanged feed costs one short 304 answer. One failing feed of several is
recorded as an error while the others are still read. A cut-off answer (the XML ends before the
document does) is an error line for that feed; the entries closed before the cut are kept and its
cursors are not saved, so the next poll reads the whole feed again.

An rss source with `urls` and `google_news` is polled as one poll of its feeds plus one per search
(see crawler.collect.search_polls). A failure of its own feeds stops those searches only when it
came from the host they go to (a dead blog feed says nothing about Google News).

Entries without a date of their own (`pubDate` is optional in RSS 2.0) get the channel's
`lastBuildDate` or `pubDate`, else the time the feed was read, as the HTML spiders do. Log lines
about an entry name its feed (host and path).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import urllib.parse
import xml.sax
from collections.abc import Iterator
from typing import Any

import feedparser
import httpx

from crawler.ids import feed_entry_id, feed_site, url_id
from crawler.pollers.base import (FetchError, Page, Poller, describe_url, html_to_text, parse_items,
                                  remote_text)
from storage import Mention
from storage.timeutil import parse_timestamp, to_iso

log = logging.getLogger(__name__)

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
    def parse(payload: Any, problems: list[str] | None = None, *, read_at: str | None = None,
              label: str = "rss", feed_url: str | None = None, read_from: str | None = None) -> list[Mention]:
        """Feed XML (bytes or text) or an already parsed feedparser result -> mentions.

        An entry without a date gets the channel's lastBuildDate or pubDate, else `read_at` (when
        the feed was fetched); with neither it is rejected. `label` starts its log lines. A guid
        that is no address is kept under the site of `feed_url` (crawler.ids.feed_entry_id), as
        configured, so a feed that moves keeps its posts' ids; a relative link is read on the site
        the feed came from, `read_from` (after redirects; default `feed_url`)."""
        feed = payload if isinstance(payload, feedparser.FeedParserDict) else _parse_feed(payload)
        if feed is None:
            if problems is not None:
                problems.append(f"{label}: payload is not a feed")
            return []
        channel = feed.get("feed", {})
        language = channel.get("language")
        entries = list(feed.get("entries", []))
        fallback, what = _channel_date(channel), "the channel's date"
        if fallback is None and read_at:
            fallback, what = read_at, "the time the feed was read"
        undated = sum(1 for e in entries if isinstance(e, dict) and not _entry_date(e))
        if undated and fallback:
            log.info("%s: %d entr%s without a date: dated with %s (%s)", label, undated,
                     "y" if undated == 1 else "ies", what, fallback)
        site = feed_site(feed_url) if feed_url else None
        link_base = read_from or feed_url
        return parse_items(entries, lambda entry: _mention_from_entry(entry, language, fallback, site, link_base),
                           label, problems)

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
        failures: list[tuple[str, FetchError]] = []  # (feed URL, its error)
        unreported: list[str] = []  # failures not yet attached to a page
        for url in urls:
            try:
                page = self._read_feed(url)
            except FetchError as exc:
                failures.append((url, exc))
                unreported.append(str(exc))
                continue
            page.errors, unreported = unreported + page.errors, []
            yield page
        if len(failures) == len(urls):
            # the site down or refusing us for every feed: the source's other searches (its Google
            # News feeds) are skipped, but only when the failures came from the host they go to
            search_host = _host(self._google_news_base())
            whole_source = all(exc.whole_source and _host(self._absolute(url)) == search_host
                               for url, exc in failures)
            first = failures[0][1]
            raise FetchError(str(first) if len(urls) == 1 else _all_failed(failures),
                             whole_source=whole_source, retry_at=first.retry_at)
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
        content_type = remote_text(response.headers.get("content-type", "").split(";")[0].strip().lower())
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
        read_at = to_iso(dt.datetime.now(dt.timezone.utc))
        # feeds are short and not always in date order: keep all
        mentions = self.parse(feed, problems, read_at=read_at, label=f"rss {where}", feed_url=url,
                              read_from=str(getattr(response, "url", "") or url))
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

    def _google_news_base(self) -> str:
        return self.base_url + "/rss/search" if self.source_cfg.base_url else GOOGLE_NEWS_SEARCH

    def _google_news_url(self) -> str:
        hl, gl, ceid = self.option("google_news_locale", ["en-US", "US", "US:en"])
        base = self._google_news_base()
        query = urllib.parse.urlencode({"q": self.search_terms(), "hl": hl, "gl": gl, "ceid": ceid})
        return f"{base}?{query}"



SHOWN_FAILURES = 5


def _all_failed(failures: list[tuple[str, FetchError]]) -> str:
    """One line naming each feed's error (the first SHOWN_FAILURES), not only the first feed's."""
    shown = "; ".join(str(exc) for _url, exc in failures[:SHOWN_FAILURES])
    more = len(failures) - SHOWN_FAILURES
    return f"all {len(failures)} feeds failed: {shown}" + (f"; and {more} more" if more > 0 else "")

def _host(url: str) -> tuple[str, int | None] | None:
    try:
        parsed = httpx.URL(url)
    except Exception:  # an unparsable URL shares no host with anything
        return None
    return (parsed.host.lower(), parsed.port) if parsed.host else None


def _entry_date(entry: dict) -> Any:
    # dict.get: feedparser's own get() maps a missing `updated` to `published` with a warning
    return dict.get(entry, "published") or dict.get(entry, "updated")


def _channel_date(channel: dict) -> str | None:
    """The channel's lastBuildDate (feedparser: `updated`) or pubDate (`published`), if readable."""
    for key in ("updated", "published"):
        value = dict.get(channel, key) if isinstance(channel, dict) else None
        if isinstance(value, str) and value.strip():
            try:
                parse_timestamp(value)
            except ValueError:
                continue
            return value
    return None


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


def _mention_from_entry(entry: dict, language: str | None, fallback_date: str | None = None,
                        site: str | None = None, link_base: str | None = None) -> Mention:
    written_link = entry.get("link")
    # a relative link ('/posts/1') is on the site the feed came from
    link = urllib.parse.urljoin(link_base, str(written_link)) if written_link and link_base else written_link
    guid = entry.get("id")
    if not guid and not link:
        raise ValueError("entry has neither id nor link")
    text = _entry_text(entry)
    title = (entry.get("title") or "").strip()
    created = _entry_date(entry) or fallback_date
    if not created:
        raise ValueError("entry has no date (and neither has the feed)")
    created = _with_ist_placed(created, site, language)
    source = entry.get("source", {})
    author = entry.get("author") or (source.get("title") if isinstance(source, dict) else None)
    if guid:
        external_id = feed_entry_id(_without_slot_mark(str(guid), link), site)
        earlier_id = url_id(str(guid))  # a bare guid, or one with its slot mark, was once the id
    else:
        external_id, earlier_id = url_id(str(link)), url_id(str(written_link))
    return Mention(
        source="rss",
        external_id=external_id,
        earlier_id=earlier_id if earlier_id != external_id else None,
        text=text,
        title=_as_text(title, _type_of(entry.get("title_detail"))) or None,
        created_at=created,
        url=str(link) if link else None,
        author=str(author) if author else None,
        lang=_entry_language(entry) or _language_code(language),
    )


def _with_ist_placed(date: Any, site: str | None, language: Any) -> Any:
    """'Thu, 08 Aug 2024 15:39:03 IST' with IST as an offset. Indian news feeds write their dates
    so; the name is India's (+05:30) unless the feed's site or language is Irish (+01:00, Irish
    Standard Time is the summer's) or Israeli (+02:00). Read as it stands, it was taken as UTC."""
    if not isinstance(date, str) or not _IST_AT_END.search(date):
        return date
    place = f"{site or ''} {str(language or '').lower().replace('_', '-')}"
    if re.search(r"\.ie\b|(?:^|\s)ga\b|-ie\b", place):
        offset = "+0100"
    elif re.search(r"\.il\b|(?:^|\s)(?:he|iw)\b|-il\b", place):
        offset = "+0200"
    else:
        offset = "+0530"
    return _IST_AT_END.sub(f" {offset}", date)


_IST_AT_END = re.compile(r"(?<=\d)\s*\(?IST\)?\s*$")


def _entry_text(entry: dict) -> str:
    """The entry's words as plain text: its full content (RSS `content:encoded`, Atom `content`),
    as a short summary beside it may not name the brand, and the summary (RSS `description`) too
    where the content does not hold it: a content that is an image and "Read more" says nothing."""
    content = entry["content"][0] if entry.get("content") else {}
    full = ""
    if isinstance(content, dict) and content.get("value"):
        full = _as_text(str(content["value"]), _type_of(content))
    summary = _as_text(str(entry.get("summary") or ""), _type_of(entry.get("summary_detail") or content))
    if not full or not summary or _holds_summary(full, summary):
        return full or summary
    return f"{summary}\n\n{full}"


# where a summary is cut short: 'words […]', 'words … Continue reading →', 'words. Read more', and a
# blog's footer after the cut or after a whole short post ('The post Acme recall appeared first on …')
_CUT_MARK = re.compile(r"\[?(?:…|\.\.\.)\]?")
# a link's words, then at most a quoted title, a title before an arrow, 'on Medium' or 'at News', or
# a colon ('Read the rest of the lawsuit here' is a sentence of the summary, not a link)
_LINK = (r"\[?(?:continue reading|read more|read the full (?:story|article|post)|read the rest)\b"
         r"(?: ?[“\"‘'][^“”\"]{0,200}[”\"’']| [^\n]{0,120}?[→»›]| (?:on|at) [^\n]{1,60}|:)?[ .…\]→»›>]*")
_FOOTER = r"the post\b.{0,300}\bappeared first on\b.*"
# the link after a sentence's end, a closing quote or bracket, a cut mark, or alone at the end; then
# the footer a blog adds
_CUT_END = re.compile(rf"(?: ?\[?(?:…|\.\.\.)\]?)?(?:(?:(?<=[.!?…\]”’\"')»]) ?| ){_LINK})?(?: ?{_FOOTER})?$",
                      re.IGNORECASE)
_AFTER_THE_CUT = re.compile(rf" ?(?:{_LINK})?(?: ?{_FOOTER})?$", re.IGNORECASE)
_SHORTEST_HELD = 20  # a shorter start ('So...') is held only by a content that starts with it


def _holds_summary(full: str, summary: str) -> bool:
    """Whether the content holds the summary's words up to where it is cut short (most summaries
    are the content's first words, with "[…]", "… Continue reading" or a blog's footer after them;
    an ellipsis followed by more words, 'were... not over, says Acme', is no cut). Both are compared
    with their spaces folded, first (a run of thousands of spaces would make the patterns slow)."""
    summary, content = (" ".join(text.split()) for text in (summary, full))
    content = content.casefold()
    cut = _CUT_MARK.search(summary)
    if cut and _AFTER_THE_CUT.match(summary, cut.end()):
        before_the_cut = summary[:cut.start()].strip().casefold()[:200]
        if len(before_the_cut) >= _SHORTEST_HELD and before_the_cut in content:
            return True
    start = _CUT_END.sub("", summary, count=1).strip().casefold()[:200]
    return start in content if len(start) >= _SHORTEST_HELD else bool(start) and content.startswith(start)


def _without_slot_mark(guid: str, link: Any) -> str:
    """A guid that is the entry's own link plus a fragment ('…/article#10': BBC marks each place a
    story holds in the feed so) names that link; a fragment the link has too (a live blog's
    '…#post-7') is part of the item's address and kept."""
    address, hash_mark, _ = guid.partition("#")
    if hash_mark and isinstance(link, str) and "#" not in link and address == link:
        return address
    return guid


def _entry_language(entry: dict) -> str | None:
    """The language the entry itself is written in (Atom's xml:lang on the entry or its content),
    which may differ from the feed's."""
    for key in ("content", "summary_detail", "title_detail"):
        detail = entry.get(key)
        detail = detail[0] if isinstance(detail, list) and detail else detail
        if isinstance(detail, dict) and _language_code(detail.get("language")):
            return _language_code(detail.get("language"))
    return None


def _language_code(language: Any) -> str | None:
    return (str(language).strip().lower() or None) if language else None


def _type_of(detail: Any) -> str:
    """The content type feedparser gives a field ('text/plain', 'text/html'); HTML when unknown."""
    kind = detail.get("type") if isinstance(detail, dict) else None
    return kind if isinstance(kind, str) and kind else "text/html"


def _as_text(value: str, content_type: str) -> str:
    """A feed field as plain text: HTML is stripped, plain text (an Atom `type="text"` field, an RSS
    title feedparser found no markup in) is kept as it is: its '1 < 2' is no tag."""
    if content_type == "text/plain":
        return re.sub(r"[ \t]+", " ", value).strip()
    return html_to_text(value)
