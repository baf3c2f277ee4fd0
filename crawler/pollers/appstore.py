"""Apple App Store customer reviews from the iTunes RSS feed (JSON, or the same feed as Atom XML).

No key needed. Apple serves at most 10 pages of 50 reviews per app and country, most recent first;
each poll reads pages until it reaches a review already stored. Some captured JSON feeds carry no
date per review: those reviews get the feed's `updated` time instead.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from crawler.pollers.base import FetchError, Page, Poller, dig, optional_text, parse_items, text_of
from storage import Mention

MAX_PAGES = 10  # Apple's limit
_ATOM = "{http://www.w3.org/2005/Atom}"
_IM = "{http://itunes.apple.com/rss}"


class AppStorePoller(Poller):
    source = "appstore"
    description = "Apple App Store customer reviews (iTunes RSS, JSON; pages 1-10)"
    options_doc = {
        "app_id": "the app's numeric id (from its App Store URL: .../id1234567890) [required]",
        "country": "two-letter store country (default 'us')",
        "format": "'json' (default) or 'xml' (the same feed as Atom)",
        "max_pages": "pages of 50 reviews read per poll, 1-10 (default 10)",
    }
    default_base_url = "https://itunes.apple.com"
    default_max_pages = MAX_PAGES
    min_interval = 2.0

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """The customer-reviews feed as JSON (dict) or Atom XML (bytes/str) -> mentions."""
        if isinstance(payload, (bytes, str)):
            return _parse_xml(payload, problems)
        feed = dig(payload, "feed")
        if isinstance(feed, dict) and "entry" not in feed:
            return []  # an app without reviews
        entries = dig(feed, "entry")
        if isinstance(entries, dict):
            entries = [entries]  # a page with one review is not a list
        fallback_time = dig(feed, "updated", "label")
        return parse_items(entries, lambda e: _mention_from_json(e, fallback_time), "appstore", problems)

    def pages(self) -> Iterator[Page]:
        app_id = str(self.option("app_id", "")).strip()
        if not app_id.isdigit():
            raise FetchError("appstore: options.app_id must be the app's numeric id")
        country = str(self.option("country", "us")).lower()
        kind = self.choice_option("format", ("json", "xml"))
        for number in range(1, min(self.max_pages, MAX_PAGES) + 1):
            url = (f"{self.base_url}/{country}/rss/customerreviews/page={number}/id={app_id}"
                   f"/sortby=mostrecent/{kind}")
            if kind == "json":
                payload = self.fetcher.get_json(url)
                feed = dig(payload, "feed")
                if not isinstance(feed, dict):
                    raise FetchError(f"appstore: page {number}: unexpected response: no feed")
                entries = feed.get("entry", [])  # no 'entry': an app without reviews
                page, hit_known = self.make_page(payload, [entries] if isinstance(entries, dict) else entries)
            else:
                payload = self.fetcher.get(url).content
                if b"<feed" not in payload[:4000]:
                    raise FetchError(f"appstore: page {number}: expected an Atom feed, got something else")
                page, hit_known = self.make_page(payload)
            yield page
            if hit_known or not page.fetched or page.fetched < 50:
                break


def _mention_from_json(entry: dict, fallback_time: Any) -> Mention:
    review_id = text_of(dig(entry, "id", "label"))
    if not review_id:
        raise ValueError("review has no id")
    rating = dig(entry, "im:rating", "label")
    created = dig(entry, "updated", "label") or fallback_time
    return Mention(
        source="appstore",
        external_id=review_id,
        text=text_of(dig(entry, "content", "label")),
        title=optional_text(dig(entry, "title", "label"), "title"),
        created_at=created,
        url=optional_text(dig(entry, "link", "attributes", "href"), "url"),
        author=optional_text(dig(entry, "author", "name", "label"), "author"),
        rating=rating,
    )


def _parse_xml(payload: bytes | str, problems: list[str] | None) -> list[Mention]:
    problems = [] if problems is None else problems
    try:
        root = ET.fromstring(payload.encode("utf-8") if isinstance(payload, str) else payload)
    except ET.ParseError as exc:
        problems.append(f"appstore: not XML: {exc}")
        return []
    except LookupError as exc:  # an encoding the XML declaration names that Python does not know
        problems.append(f"appstore: not XML: {exc}")
        return []
    entries = [_xml_entry(e) for e in root.iter(f"{_ATOM}entry")]
    return parse_items(entries, lambda e: _mention_from_xml(e), "appstore", problems)


def _xml_entry(element: ET.Element) -> dict:
    """The fields of one Atom <entry> as a flat dict (text content; the 'text' <content> only)."""
    def text(tag: str) -> str | None:
        node = element.find(tag)
        return node.text if node is not None else None

    content = next((c.text for c in element.findall(f"{_ATOM}content") if c.get("type") == "text"), None)
    link = element.find(f"{_ATOM}link")
    return {
        "id": text(f"{_ATOM}id"), "updated": text(f"{_ATOM}updated"), "title": text(f"{_ATOM}title"),
        "content": content, "rating": text(f"{_IM}rating"),
        "author": text(f"{_ATOM}author/{_ATOM}name"),
        "url": link.get("href") if link is not None else None,
    }


def _mention_from_xml(entry: dict) -> Mention:
    if not entry["id"]:
        raise ValueError("review has no id")
    return Mention(source="appstore", external_id=entry["id"].strip(), text=entry["content"] or "",
                   title=entry["title"], created_at=entry["updated"], url=entry["url"],
                   author=entry["author"], rating=entry["rating"])
