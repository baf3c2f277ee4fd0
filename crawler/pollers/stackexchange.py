"""Stack Exchange questions (Stack Overflow by default) through `/2.3/search/advanced`.

No key needed (300 requests a day per IP); with a key in MENTIONWATCH_STACKEXCHANGE_KEY the quota
is 10,000. The API's `backoff` field (seconds to wait before the next request) is always honoured.
Later polls ask only for questions created after the newest stored one (`fromdate`).
"""
from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

from crawler.pollers.base import Page, Poller, dig, html_to_text, parse_items, text_of
from storage import Mention

KEY_ENV = "MENTIONWATCH_STACKEXCHANGE_KEY"
PAGE_SIZE = 100


class StackExchangePoller(Poller):
    source = "stackexchange"
    description = "Stack Exchange questions (/2.3/search/advanced; honours backoff)"
    options_doc = {
        "site": "which site, e.g. 'stackoverflow' (default), 'superuser', 'serverfault'",
        "query": "remote search text (default: built from the watch's query)",
        "max_pages": "pages of 100 read on the first poll (default 3)",
    }
    default_base_url = "https://api.stackexchange.com"
    default_max_pages = 3
    min_interval = 1.0
    credentials = {KEY_ENV: "a Stack Apps key"}

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        return True

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """A search/advanced response ({items: [question]}) -> mentions."""
        return parse_items(dig(payload, "items"), _mention_from_question, "stackexchange", problems)

    def pages(self) -> Iterator[Page]:
        site = str(self.option("site", "stackoverflow"))
        since = self.cursors.get("fromdate")
        newest = None
        for number in range(1, self.max_pages + 1):
            params = {"q": self.search_terms(), "site": site, "sort": "creation", "order": "desc",
                      "page": number, "pagesize": PAGE_SIZE, "filter": "withbody"}
            if since:
                params["fromdate"] = int(since) + 1
            if os.environ.get(KEY_ENV):
                params["key"] = os.environ[KEY_ENV]
            payload = self.fetcher.get_json(f"{self.base_url}/2.3/search/advanced", params=params)
            page, hit_known = self.make_page(payload, dig(payload, "items"))
            if number == 1:
                newest = _newest_creation(dig(payload, "items"))
            last = hit_known or not page.fetched or not dig(payload, "has_more") or number == self.max_pages
            if last and newest:
                page.cursors = {"fromdate": str(newest)}
            yield page
            backoff = dig(payload, "backoff")
            if isinstance(backoff, (int, float)) and not isinstance(backoff, bool):
                self.fetcher.wait(float(backoff))  # the API bans clients that ignore it
            if last:
                break


def _newest_creation(items: Any) -> int | None:
    dates = [dig(q, "creation_date") for q in items] if isinstance(items, list) else []
    dates = [d for d in dates if isinstance(d, int) and not isinstance(d, bool)]
    return max(dates) if dates else None


def _mention_from_question(question: dict) -> Mention:
    owner = question.get("owner") or {}
    link = text_of(question.get("link"))
    site = urllib.parse.urlsplit(link).netloc or "stackexchange"  # ids are unique per site
    reputation = owner.get("reputation") if isinstance(owner, dict) else None
    return Mention(
        source="stackexchange",
        external_id=f"{site}:{question['question_id']}",
        text=html_to_text(text_of(question.get("body"))),
        title=html_to_text(text_of(question.get("title"))) or None,
        created_at=question["creation_date"],
        url=link or None,
        author=html_to_text(text_of(owner.get("display_name"))) or None if isinstance(owner, dict) else None,
        author_reach=reputation if isinstance(reputation, int) and not isinstance(reputation, bool) else None,
    )
