"""Stack Exchange questions (Stack Overflow by default) through `/2.3/search/advanced`.

No key needed (300 requests a day per IP); with a key in MENTIONWATCH_STACKEXCHANGE_KEY the quota
is 10,000. The key goes only to api.stackexchange.com over https, or from the variable
`options.token_env` names to any base_url (Poller.token_for_base_url). The API's `backoff` field
(seconds to wait before the next request) is always honoured: slept when short, else the poll ends
and the next one waits (Fetcher.wait).
Later polls ask only for questions created after the newest one read (`fromdate`); more new ones
than `max_pages` pages are read by the next polls (`fromdate` and `todate` windows, see
crawler.cursors.newest_first_pages).
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

from crawler.cursors import Batch, Window, created_times, newest_first_pages, required_id
from crawler.pollers.base import Page, Poller, dig, html_to_text, optional_text, parse_items, text_of
from storage import Mention

KEY_ENV = "MENTIONWATCH_STACKEXCHANGE_KEY"
PAGE_SIZE = 100


class StackExchangePoller(Poller):
    source = "stackexchange"
    description = "Stack Exchange questions (/2.3/search/advanced; honours backoff)"
    options_doc = {
        "site": "which site, e.g. 'stackoverflow' (default), 'superuser', 'serverfault'",
        "query": "remote search text (default: built from the watch's query)",
        "max_pages": "pages of 100 per poll (default 3): how far back the first poll reads; later polls "
                     "read up to this many of new posts, then of any backlog",
        "token_env": f"environment variable holding a Stack Apps key (default {KEY_ENV}, which is sent "
                     "to api.stackexchange.com only: name it here to send it to another base_url)",
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
        return newest_first_pages(self, self._fetch, name="fromdate")

    def _fetch(self, window: Window, token: str | None) -> Batch:
        """One page of the questions created in `window`, newest first (`fromdate`, `todate`)."""
        number = int(token or 1)
        params = {"q": self.search_terms(), "site": str(self.option("site", "stackoverflow")),
                  "sort": "creation", "order": "desc", "page": number, "pagesize": PAGE_SIZE,
                  "filter": "withbody"}
        if window.after is not None:
            params["fromdate"] = window.after + 1
        if window.until is not None:
            params["todate"] = window.until + 1  # whether the API counts todate in or not
        key = self.token_for_base_url()  # a base_url elsewhere gets no key (a warning says so)
        if key:
            params["key"] = key
        payload = self.fetcher.get_json(f"{self.base_url}/2.3/search/advanced", params=params)
        # stored items are skipped, not stopped at: newest_first_pages decides where to stop
        page, _ = self.make_page(payload, dig(payload, "items"), stop_at_known=False)
        backoff = dig(payload, "backoff")
        if isinstance(backoff, (int, float)) and not isinstance(backoff, bool):
            self.fetcher.wait(float(backoff))  # the API bans clients that ignore it
        more = bool(page.fetched) and dig(payload, "has_more") is True
        total = dig(payload, "total")  # only with a filter that asks for it
        return Batch(page, created_times(page.parsed), str(number + 1) if more else None,
                     total if isinstance(total, int) and not isinstance(total, bool) else None)


def _optional_html(value, name: str) -> str | None:
    """An optional field holding HTML entities, as text; None (with a warning) when malformed."""
    return html_to_text(optional_text(value, name) or "") or None


def _mention_from_question(question: dict) -> Mention:
    link = optional_text(question.get("link"), "link") or ""
    site = urllib.parse.urlsplit(link).netloc or "stackexchange"  # ids are unique per site
    reputation = dig(question, "owner", "reputation")
    return Mention(
        source="stackexchange",
        external_id=f"{site}:{required_id(question.get('question_id'), 'question_id')}",
        text=html_to_text(text_of(question.get("body"))),
        title=_optional_html(question.get("title"), "title"),
        created_at=question["creation_date"],
        url=link or None,
        author=_optional_html(dig(question, "owner", "display_name"), "author"),
        author_reach=reputation if isinstance(reputation, int) and not isinstance(reputation, bool) else None,
    )
