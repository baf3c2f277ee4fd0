"""Hacker News stories and comments through the Algolia search API (`search_by_date`).

No key needed. The first poll reads up to `max_pages` pages, newest first; later polls ask only for
items created after the newest one read (`numericFilters=created_at_i>X`). A poll stops at the
first item already stored, except after one that stopped part-way (an error on page 3, say, or the
process killed): then the collector's `unfinished` cursor makes it page on past the items it stored
(see crawler.pollers.base); the newest-time cursor moves only when a pass finishes. A later poll
with more new items than `max_pages` pages records the rest as a gap and reads it with
`created_at_i>X,created_at_i<Y` windows (see crawler.cursors.newest_first_pages).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.cursors import Batch, Window, created_times, newest_first_pages, required_id
from crawler.pollers.base import Page, Poller, dig, html_to_text, optional_text, parse_items, text_of
from storage import Mention

HITS_PER_PAGE = 100


class HackerNewsPoller(Poller):
    source = "hackernews"
    description = "Hacker News stories and comments (Algolia search_by_date API, no key)"
    options_doc = {
        "query": "remote search text (default: built from the watch's query)",
        "tags": "Algolia tags filter (default '(story,comment)')",
        "max_pages": "pages of 100 per poll (default 5): how far back the first poll reads; later polls "
                     "read up to this many of new posts, then of any backlog",
    }
    default_base_url = "https://hn.algolia.com/api/v1"
    min_interval = 1.0

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        return True

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """An Algolia search response -> mentions (stories and comments)."""
        return parse_items(dig(payload, "hits"), _mention_from_hit, "hackernews", problems)

    def pages(self) -> Iterator[Page]:
        return newest_first_pages(self, self._fetch, name="created_at_i")

    def _fetch(self, window: Window, token: str | None) -> Batch:
        """One page of the hits in `window`, newest first (`numericFilters` on created_at_i)."""
        number = int(token or 0)
        params = {"query": self.search_terms(), "tags": self.option("tags", "(story,comment)"),
                  "hitsPerPage": HITS_PER_PAGE, "page": number}
        filters = []
        if window.after is not None:
            filters.append(f"created_at_i>{window.after}")
        if window.until is not None:
            filters.append(f"created_at_i<{window.until + 1}")  # as documented: X<created_at_i<Y
        if filters:
            params["numericFilters"] = ",".join(filters)
        payload = self.fetcher.get_json(f"{self.base_url}/search_by_date", params=params)
        # stored items are skipped, not stopped at: newest_first_pages decides where to stop
        page, _ = self.make_page(payload, dig(payload, "hits"), stop_at_known=False)
        pages_total, hits_total = dig(payload, "nbPages"), dig(payload, "nbHits")
        more = bool(page.fetched) and isinstance(pages_total, int) and number + 1 < pages_total
        hits_total = hits_total if isinstance(hits_total, int) and not isinstance(hits_total, bool) else None
        # Algolia serves 1,000 hits per query (nbPages stops at 10) whatever nbHits says
        capped = bool(page.fetched) and not more and (hits_total or 0) > (number + 1) * HITS_PER_PAGE
        return Batch(page, created_times(page.parsed), str(number + 1) if more else None, hits_total, capped)


def is_comment_hit(hit: dict) -> bool:
    """A comment (its title is its story's) rather than a story."""
    return "comment" in (hit.get("_tags") or []) or bool(hit.get("comment_text"))


def _mention_from_hit(hit: dict) -> Mention:
    object_id = required_id(hit.get("objectID"), "objectID")
    comment = is_comment_hit(hit)
    title = optional_text(hit.get("story_title" if comment else "title"), "title")
    body = text_of(hit.get("comment_text")) or text_of(hit.get("story_text"))
    created = hit.get("created_at_i")
    if created is None:
        created = hit["created_at"]
    return Mention(
        source="hackernews",
        external_id=object_id,
        text=html_to_text(body),
        title=title,
        title_is_thread=comment,
        created_at=created,
        url=f"https://news.ycombinator.com/item?id={object_id}",
        author=optional_text(hit.get("author"), "author"),
        author_reach=None,
    )
