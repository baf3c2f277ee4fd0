"""Reading mentions out of a page with the selectors from the watchlist (shared by both spiders).

With an `item` selector every matching node is one mention and the field selectors are read inside
it. Without one (sitemap pages) the whole page is one mention, found through common markup
(og:title, article:published_time, <article> paragraphs) unless the watchlist names selectors.
"""
from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from urllib.parse import urlsplit

from parsel import Selector, SelectorList
from parsel.csstranslator import HTMLTranslator

from crawler.dates import first_day_if_year_or_month, stored_date
from crawler.ids import url_id
from crawler.items import MentionItem
from crawler.spiders.options import XPATH_PREFIX, FieldSelectors
from storage import parse_timestamp
from storage.mentions import latest_allowed_created_at

logger = logging.getLogger(__name__)

# tried in order when the watchlist gives no selector for a whole-page mention
PAGE_DEFAULTS = {
    "title": ('meta[property="og:title"]::attr(content)', "h1 ::text", "title::text"),
    "text": ("article p ::text", "main p ::text", "p ::text"),
    "date": ('meta[property="article:published_time"]::attr(content)', "time::attr(datetime)"),
    "author": ('meta[name="author"]::attr(content)',),
}

_SPACES = re.compile(r"\s+")

# what a page holds but never shows: `p ::text` would pick up a <script>'s code (and a brand name in
# it, a false mention), a <style> sheet or a <noscript> notice
_HIDDEN = "self::script or self::style or self::noscript"
_NAMES_HIDDEN = re.compile(r"\b(script|style|noscript)\b", re.I)
_css_translator = HTMLTranslator()


def select(node: Selector, selector: str) -> SelectorList:
    """Apply a CSS selector, or an XPath one written as 'xpath:...'."""
    if selector.startswith(XPATH_PREFIX):
        return node.xpath(selector[len(XPATH_PREFIX):].strip())
    return node.css(selector)


def select_visible(node: Selector, selector: str) -> SelectorList:
    """`select`, leaving out what sits inside a <script>, <style> or <noscript> element below `node`
    (a selector that names one of them explicitly gets what it asks for)."""
    visible = _visible_xpath(selector)
    if visible is None:
        return select(node, selector)
    depth = node.xpath("count(ancestor::node())").get()
    try:
        return node.xpath(visible, mw_depth=float(depth or 0))
    except ValueError:  # an XPath whose result is not a node set (string(...), count(...))
        return select(node, selector)


@lru_cache(maxsize=256)
def _visible_xpath(selector: str) -> str | None:
    """The selector as XPath, keeping only nodes with no hidden element between them and the node
    it is applied to (ancestors deeper than it); None when it should be applied as written."""
    if _NAMES_HIDDEN.search(selector):
        return None
    if selector.startswith(XPATH_PREFIX):
        xpath = selector[len(XPATH_PREFIX):].strip()
    else:
        xpath = _css_translator.css_to_xpath(selector)
    return f"({xpath})[not(ancestor::*[{_HIDDEN}][count(ancestor::node()) > $mw_depth])]"


def first_value(node: Selector, selector: str | None) -> str | None:
    """The first non-blank match, stripped, or None."""
    if not selector:
        return None
    for value in select_visible(node, selector).getall():
        value = _SPACES.sub(" ", value).strip()
        if value:
            return value
    return None


def joined_text(node: Selector, selector: str | None) -> str:
    """Every text piece the selector matches, joined with single spaces, except before a piece that
    goes on a word (`I love <b>Acme</b>'s service`, `<a>acme.com</a>, now`) and between Chinese or
    Japanese pieces (`我很喜欢<b>小米</b>的手机`), which are written without spaces: a space there would
    keep the phrase "Acme's service" or 小米的手机 from matching."""
    if not selector:
        return ""
    pieces = (_SPACES.sub(" ", piece).strip() for piece in select_visible(node, selector).getall())
    joined = ""
    for piece in (piece for piece in pieces if piece):
        joined += piece if not joined or _goes_on(joined, piece) else f" {piece}"
    return joined


def _goes_on(joined: str, piece: str) -> bool:
    if _CJK.match(joined[-1]) and _CJK.match(piece):
        return True
    return bool(_GOES_ON_A_WORD.match(piece)) and not _EMOTICON.match(piece)


# what follows a word without a space: an English apostrophe's ending ('s, 're), a comma and the like,
# a closing bracket (not a full stop: '.NET' may open a paragraph)
_GOES_ON_A_WORD = re.compile(r"['’](?:s|t|d|m|ll|re|ve)\b|[,;:!?)%]", re.IGNORECASE)
_EMOTICON = re.compile(r"[:;][-']?[()DPp/\\|]")  # ':) would buy again' opens its own paragraph
# Han, kana and the CJK punctuation and full-width forms (not Hangul: Korean is written with spaces)
_CJK = re.compile(r"[\u3000-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60]")


def extract_mentions(response, selectors: FieldSelectors, source: str,
                     fallback_date: str | None = None) -> list[MentionItem]:
    """All mentions on one page (one per `item` node, or the page itself when there is no `item`)."""
    page_lang = selectors.lang or first_value(response, "xpath:/html/@lang")
    if selectors.item is None:
        return [_page_mention(response, selectors, source, page_lang, fallback_date)]
    return [_node_mention(response, node, index, selectors, source, page_lang, fallback_date)
            for index, node in enumerate(select(response, selectors.item))]


def _node_mention(response, node: Selector, index: int, selectors: FieldSelectors, source: str,
                  page_lang: str | None, fallback_date: str | None) -> MentionItem:
    text = joined_text(node, selectors.text)
    author = first_value(node, selectors.author)
    permalink = _absolute_url(response, first_value(node, selectors.url), "url")
    site_id = first_value(node, selectors.id)
    date = first_value(node, selectors.date)
    day = _day_of(date, selectors.date_format)
    return MentionItem(
        source=source,
        external_id=_external_id(response.url, site_id, permalink, author, text, day),
        earlier_id=_earlier_id(response.url, site_id, permalink, author, text, day),
        text=text,
        created_at=date or fallback_date,
        date_format=selectors.date_format,
        url=permalink or f"{response.url}#{index + 1}",
        author=author,
        title=first_value(node, selectors.title),
        lang=page_lang,
        rating=first_value(node, selectors.rating),
        rating_out_of=selectors.rating_out_of,
        page_url=response.url,
    )


def _page_mention(response, selectors: FieldSelectors, source: str, page_lang: str | None,
                  fallback_date: str | None) -> MentionItem:
    def field(name: str) -> str | None:
        chosen = getattr(selectors, name)
        if chosen:
            return joined_text(response, chosen) if name == "text" else first_value(response, chosen)
        for default in PAGE_DEFAULTS.get(name, ()):
            value = joined_text(response, default) if name == "text" else first_value(response, default)
            if value:
                return value
        return None

    canonical = first_value(response, 'link[rel="canonical"]::attr(href)')
    url = _absolute_url(response, canonical, "canonical link") or response.url
    return MentionItem(
        source=source,
        external_id=url_id(url),  # a page is its own mention: its URL is a stable id
        text=field("text") or "",
        created_at=(field("date") if selectors.date else _page_date(response)) or fallback_date,
        date_format=selectors.date_format,
        url=url,
        author=field("author"),
        title=field("title"),
        lang=page_lang,
        rating=first_value(response, selectors.rating),
        rating_out_of=selectors.rating_out_of,
        page_url=response.url,
    )


def _page_date(response) -> str | None:
    """The page's date from common markup: the first candidate that reads as a date. A <time> may
    hold a time of day or a duration ('09:00', 'PT5M'): taken as the date, it would get the page
    rejected instead of dated by its sitemap or feed."""
    latest = latest_allowed_created_at()
    for default in PAGE_DEFAULTS["date"]:
        for value in select_visible(response, default).getall():
            date = readable_date(value)
            if date is not None and date <= latest:  # an event's day to come: not when it was written
                return date
    return None


def readable_date(value: str | None) -> str | None:
    """A date as stored text, or None when it is missing or cannot be read. W3C's 'YYYY' and
    'YYYY-MM' are their first day (parse_timestamp would read '2024' as Unix seconds)."""
    text = first_day_if_year_or_month((value or "").strip())
    try:
        return parse_timestamp(text) if text else None
    except ValueError:
        return None


def _absolute_url(response, link: str | None, field: str) -> str | None:
    """`link` made absolute against the page, or None (with a warning) when it is malformed
    ('http://[broken'): a bad link must not cost the page's other mentions."""
    if not link:
        return None
    try:
        return response.urljoin(link)
    except ValueError as exc:
        logger.warning("%s: %s %r left out: %s", response.url, field, link[:200], exc)
        return None


def _external_id(page_url: str, site_id: str | None, permalink: str | None, author: str | None,
                 text: str, day: str | None = None) -> str:
    """The site's own id (prefixed with the host), else the permalink, else a content hash.

    The hash leaves out the page URL and the item's position on purpose: new reviews push old ones
    onto later pages, and the same review must keep the same id. It takes in the day the review's
    date reads as, when the `date` selector finds one that reads: two reviews 'Good' by 'Anonymous'
    on two days are two reviews.
    """
    host = urlsplit(page_url).netloc.rpartition("@")[2]  # without user:password@
    if site_id:
        return f"{host}:{site_id}"
    if permalink:
        return url_id(permalink)
    parts = [author or "", text] + ([day] if day else [])
    digest = hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:20]
    return f"{host}:sha1:{digest}"


def _day_of(date_text: str | None, date_format: str | None) -> str | None:
    """The UTC day a review's date text reads as ('2026-05-03'), or None when it reads as none. The
    fingerprint takes the day, not the words: '3 May' becoming '3 May 2026' at New Year, a site
    redesign ('May 3, 2026') or an edited `date` selector must not make every review a new one."""
    if not date_text:
        return None
    stored = stored_date(date_text, date_format)
    return stored[:10] if stored else None


def _earlier_id(page_url: str, site_id: str | None, permalink: str | None, author: str | None,
                text: str, day: str | None) -> str | None:
    """The id earlier versions gave the item, when it differs: they hashed a review's author and
    text alone, without its date."""
    if site_id or permalink or not day:
        return None
    return _external_id(page_url, None, None, author, text)
