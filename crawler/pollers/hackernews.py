"""Hacker News stories and comments through the Algolia search API (`search_by_date`).

No key needed. The first poll reads up to `max_pages` pages, newest first; later polls ask only for
items created after the newest one stored (`numericFilters=created_at_i>X`). A poll stops at the
first item already stored, except after one that stopped part-way (an error on page 3, say, or the
process killed): then the collector's `unfinished` cursor makes it page on past the items it stored
(see crawler.pollers.base); the newest-time cursor moves only when a pass finishes.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.pollers.base import Page, Poller, dig, html_to_text, parse_items, text_of
from storage import Mention

HITS_PER_PAGE = 100


class HackerNewsPoller(Poller):
    source = "hackernews"
    description = "Hacker News stories and comments (Algolia search_by_date API, no key)"
    options_doc = {
        "query": "remote search text (default: built from the watch's query)",
        "tags": "Algolia tags filter (default '(story,comment)')",
        "max_pages": "pages of 100 read on the first poll (default 5)",
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
        since = self.cursors.get("created_at_i")
        newest = None
        for number in range(self.max_pages):
            params = {"query": self.search_terms(), "tags": self.option("tags", "(story,comment)"),
                      "hitsPerPage": HITS_PER_PAGE, "page": number}
            if since:
                params["numericFilters"] = f"created_at_i>{int(since)}"
            payload = self.fetcher.get_json(f"{self.base_url}/search_by_date", params=params)
            hits = dig(payload, "hits")
            page, hit_known = self.make_page(payload, hits)  # no stop while resuming
            if number == 0:
                newest = _newest_time(hits)
            pages_total = dig(payload, "nbPages")
            last = (hit_known or not page.fetched or number + 1 == self.max_pages
                    or not isinstance(pages_total, int) or number + 1 >= pages_total)
            if last and newest is not None:
                page.cursors = {"created_at_i": str(newest)}
            yield page
            if last:
                break


def _newest_time(hits: list) -> int | None:
    """The largest created_at_i of a page (Unix seconds), ignoring malformed hits."""
    times = [hit.get("created_at_i") for hit in hits if isinstance(hit, dict)]
    times = [t for t in times if isinstance(t, int) and not isinstance(t, bool)]
    return max(times, default=None)


def _mention_from_hit(hit: dict) -> Mention:
    object_id = hit["objectID"]
    title = text_of(hit.get("title")) or None
    body = text_of(hit.get("comment_text")) or text_of(hit.get("story_text"))
    is_comment = "comment" in (hit.get("_tags") or []) or bool(hit.get("comment_text"))
    created = hit.get("created_at_i")
    if created is None:
        created = hit["created_at"]
    return Mention(
        source="hackernews",
        external_id=str(object_id),
        text=html_to_text(body),
        title=title if not is_comment else (text_of(hit.get("story_title")) or None),
        created_at=created,
        url=f"https://news.ycombinator.com/item?id={object_id}",
        author=text_of(hit.get("author")) or None,
        author_reach=None,
    )
