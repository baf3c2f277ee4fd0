"""Apple App Store customer reviews from the iTunes RSS feed (Atom XML, or the same feed as JSON).

No key needed. Apple serves at most 10 pages of 50 reviews per app and country, most recent first.
XML is the default format: it gives every review its own date, where the captured JSON feeds give
none (only the feed's `updated` time, the same for every review).

A poll skips stored reviews instead of stopping at them (an edited review keeps its id and may come
back at the top, as on Google Play), and stops at the first page that reaches what the last
finished poll read: a review dated at or before its newest review date (cursor `newest`), or, for
reviews without a date of their own, one whose id is not above the highest id it read (cursor
`newest_id`; Apple numbers reviews in the order they are written). A review without a date of its
own is stored only when its id is above `newest_id`, dated with the feed's `updated` time (it was
written since the last poll); on a first poll such reviews are left out, so that up to 500 reviews
of every age do not land on one instant.

A later poll that runs out of `max_pages` before that (a burst) keeps both cursors, says so in a
line, and the next polls read on past the pages it read (crawler.cursors.ListingBudget; a page
number is no place to come back to, as new reviews push the older ones down the pages). A later
poll that reads Apple's 10th page without getting there says the reviews below cannot be read.
"""
from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any

from crawler.cursors import (ListingBudget, iso_cursor, iso_time, stored_time, unix_time,
                             unread_reviews_line)
from crawler.pollers.base import FetchError, Page, Poller, dig, optional_text, parse_items, text_of
from storage import Mention

MAX_PAGES = 10  # Apple's limit
PAGE_SIZE = 50
NEWEST = "newest"  # cursor: the newest review date a finished poll read (ISO), never after its start
NEWEST_ID = "newest_id"  # cursor: the highest review id a finished poll read
log = logging.getLogger(__name__)
_ATOM = "{http://www.w3.org/2005/Atom}"
_IM = "{http://itunes.apple.com/rss}"


class AppStorePoller(Poller):
    source = "appstore"
    description = "Apple App Store customer reviews (iTunes RSS, XML; pages 1-10)"
    options_doc = {
        "app_id": "the app's numeric id (from its App Store URL: .../id1234567890) [required]",
        "country": "two-letter store country (default 'us')",
        "format": "'xml' (default: a date per review) or 'json' (the same feed, maybe without dates)",
        "max_pages": "pages of 50 reviews read per poll, 1-10 (default 10); after a burst, pages the "
                     "last poll read already do not count",
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
        kind = self.choice_option("format", ("xml", "json"))
        start = int(time.time())
        top = stored_time(self.cursors, NEWEST, iso_cursor, start, self.source)
        top_id = _review_number(self.cursors.get(NEWEST_ID))
        first_poll = top is None and top_id is None
        budget = ListingBudget(self.cursors, min(self.max_pages, MAX_PAGES))
        newest, newest_id, oldest = top, top_id, None
        for number in range(1, MAX_PAGES + 1):
            page, dated = self._fetch_page(app_id, country, kind, number)
            undated = [m for m in page.parsed if m.external_id not in dated]
            self._leave_out_undated_backlog(page, undated, top_id)
            # a review dated in the future must not hide the reviews written after it
            newest = _highest(newest, [min(t, start) for t in dated.values()])
            oldest = _lowest(oldest, dated.values())
            numbers = [_review_number(m.external_id) for m in page.parsed]
            newest_id = _highest(newest_id, numbers)
            reached = ((top is not None and any(t <= top and not _new_by_id(review, top_id)
                                                for review, t in dated.items()))
                       or (bool(undated) and _old_by_id(undated[-1], top_id)))
            last = not page.fetched or page.fetched < PAGE_SIZE or number == MAX_PAGES
            # review numbers mark the pages read: JSON reviews may have no date
            out_of_pages = budget.spend([n for n in numbers if n is not None])
            if reached or last or out_of_pages:
                # saved with the pass's last page: a pass that breaks off reads it all again
                if reached or last or first_poll:
                    page.cursors = {**budget.cursors(reached=True),
                                    **({NEWEST: iso_time(newest)} if newest is not None else {}),
                                    **({NEWEST_ID: str(newest_id)} if newest_id is not None else {})}
                else:  # a burst: the cursor stays until a poll gets down to it
                    page.cursors = budget.cursors(reached=False)
                    page.errors.append(unread_reviews_line(self.source, number, oldest, top,
                                                           self.max_pages))
                if number == MAX_PAGES and not (reached or first_poll) and page.fetched >= PAGE_SIZE:
                    page.errors.append(_past_apple_limit_line(oldest))
                yield page
                return
            yield page

    def _fetch_page(self, app_id: str, country: str, kind: str, number: int) -> tuple[Page, dict[str, int]]:
        """One page of the feed, stored reviews left out (not stopped at), and the Unix time of
        each accepted review that has a date of its own."""
        url = (f"{self.base_url}/{country}/rss/customerreviews/page={number}/id={app_id}"
               f"/sortby=mostrecent/{kind}")
        if kind == "json":
            payload = self.fetcher.get_json(url)
            feed = dig(payload, "feed")
            if not isinstance(feed, dict):
                raise FetchError(f"appstore: page {number}: unexpected response: no feed")
            entries = feed.get("entry", [])  # no 'entry': an app without reviews
            entries = [entries] if isinstance(entries, dict) else entries
            page, _ = self.make_page(payload, entries, stop_at_known=False)
            own = {str(dig(e, "id", "label")).strip() for e in entries if dig(e, "updated", "label")}
        else:
            payload = self.fetcher.get(url).content
            if b"<feed" not in payload[:4000]:
                raise FetchError(f"appstore: page {number}: expected an Atom feed, got something else")
            _refuse_unreadable_xml(payload, number)
            page, _ = self.make_page(payload, stop_at_known=False)
            own = {m.external_id for m in page.parsed}  # an XML review without a date is refused
        dated = {m.external_id: unix_time(m.created_at) for m in page.parsed if m.external_id in own}
        return page, {k: v for k, v in dated.items() if v is not None}

    def _leave_out_undated_backlog(self, page: Page, undated: list[Mention], top_id: int | None) -> None:
        """Keep a review without its own date only when it is newer than the last poll (see the
        module's notes): its stand-in date, the feed's time, is then near enough."""
        old = {id(m) for m in undated if _old_by_id(m, top_id)}
        if not old:
            return
        skipped = [m for m in page.mentions if id(m) in old]
        page.mentions = [m for m in page.mentions if id(m) not in old]
        # in the crawl's counts: left out (filtered) on a first poll; later, a poll read them before
        if top_id is None:
            page.left_out += len(skipped)
        else:
            page.already_stored += len(skipped)
        if skipped and top_id is None:
            log.warning("appstore: %d reviews left out: the JSON feed gives them no date (only the "
                        "feed's time); format: xml has their dates. Reviews written from now on are kept",
                        len(skipped))


def _past_apple_limit_line(oldest: int | None) -> str:
    """Apple's last page read without reaching the last poll's place: the rest cannot be read."""
    below = f" (before {iso_time(oldest)})" if oldest is not None else ""
    return (f"appstore: reviews older than page {MAX_PAGES}{below} and newer than the last poll's "
            f"newest review could not be read: Apple serves only the {MAX_PAGES * PAGE_SIZE} most "
            f"recent reviews; a shorter interval keeps up")


def _highest(current: int | None, values: Iterable[int | None]) -> int | None:
    return max([v for v in (current, *values) if v is not None], default=None)


def _lowest(current: int | None, values: Iterable[int | None]) -> int | None:
    return min([v for v in (current, *values) if v is not None], default=None)


def _review_number(value: object) -> int | None:
    """A review id (or the `newest_id` cursor) as a number; None when it is not one."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and len(text) <= 40 else None


def _old_by_id(mention: Mention, top_id: int | None) -> bool:
    """A review whose id is not above the last poll's `newest_id` (on a first poll: every review)."""
    number = _review_number(mention.external_id)
    return top_id is None or number is None or number <= top_id


def _new_by_id(external_id: str, top_id: int | None) -> bool:
    """A review whose id is above the last poll's `newest_id`: new, whatever its date says (one
    review dated years back, among a burst, must not end the poll with the rest of it unread)."""
    number = _review_number(external_id)
    return top_id is not None and number is not None and number > top_id


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


def _refuse_unreadable_xml(payload: bytes, number: int) -> None:
    """A page cut off (or otherwise not XML) ends the poll: read as an empty page it was taken for
    the end of the feed, and the cursor moved past the reviews it held (they were never stored)."""
    try:
        ET.fromstring(payload)
    except (ET.ParseError, LookupError) as exc:
        raise FetchError(f"appstore: page {number}: the feed is cut off or not XML ({exc}); "
                         "nothing of it is stored, the next poll reads it again") from None


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
