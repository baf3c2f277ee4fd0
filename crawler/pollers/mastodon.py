"""Mastodon statuses from any instance: full-text search (`/api/v2/search?type=statuses`) or a
hashtag timeline (`/api/v1/timelines/tag/:tag`), paged with `max_id`; later polls ask only for
statuses newer than the newest stored one (`min_id`).

Many instances only return statuses for a search when the request is authenticated: put an access
token in the environment variable named by `token_env` (default MENTIONWATCH_MASTODON_TOKEN).
Statuses are stored under their global `uri`, so the same post seen from two instances is one mention.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

from crawler.pollers.base import Page, Poller, html_to_text, parse_items, text_of
from storage import Mention

TOKEN_ENV = "MENTIONWATCH_MASTODON_TOKEN"
PAGE_LIMIT = 40


class MastodonPoller(Poller):
    source = "mastodon"
    description = "Mastodon statuses of any instance (search or a hashtag timeline)"
    options_doc = {
        "tag": "read this hashtag's timeline instead of searching, e.g. 'acme'",
        "query": "remote search text (default: built from the watch's query)",
        "token_env": f"environment variable holding an access token (default {TOKEN_ENV})",
        "max_pages": "pages of 40 read on the first poll (default 5)",
    }
    default_base_url = "https://mastodon.social"
    credentials = {TOKEN_ENV: "an access token"}
    min_interval = 1.0  # instances allow 300 requests per 5 minutes

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        return not options.get("tag")  # a hashtag timeline is a listing

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """A list of statuses (timeline) or a v2 search result -> mentions."""
        statuses = payload.get("statuses") if isinstance(payload, dict) else payload
        return parse_items(statuses, _mention_from_status, "mastodon", problems)

    def pages(self) -> Iterator[Page]:
        newest_id = self.cursors.get("newest_id")
        if newest_id:
            yield from self._pages_newer_than(newest_id)
        else:
            yield from self._pages_from_top()

    def _pages_from_top(self) -> Iterator[Page]:
        max_id, newest = None, None
        for number in range(self.max_pages):
            statuses = self._request({"max_id": max_id} if max_id else {})
            page, hit_known = self.make_page(statuses, statuses)
            ids = _status_ids(statuses)
            if number == 0 and ids:
                newest = max(ids, key=_id_order)
            last = hit_known or len(ids) < PAGE_LIMIT or number + 1 == self.max_pages
            if last and newest:
                page.cursors = {"newest_id": newest}
            yield page
            if last:
                break
            max_id = min(ids, key=_id_order)

    def _pages_newer_than(self, newest_id: str) -> Iterator[Page]:
        """`min_id` pages: the statuses just after the cursor, moving forward until a short page."""
        min_id = newest_id
        for _ in range(self.max_pages):
            statuses = self._request({"min_id": min_id})
            page, _ = self.make_page(statuses, statuses)
            ids = _status_ids(statuses)
            if ids:
                min_id = max(ids, key=_id_order)
                page.cursors = {"newest_id": min_id}
            yield page
            if len(ids) < PAGE_LIMIT:
                break

    def _request(self, paging: dict) -> list:
        tag = self.option("tag")
        params = {"limit": PAGE_LIMIT, **paging}
        if tag:
            url = f"{self.base_url}/api/v1/timelines/tag/{str(tag).lstrip('#')}"
        else:
            url = f"{self.base_url}/api/v2/search"
            params.update({"q": self.search_terms(), "type": "statuses", "resolve": "false"})
        payload = self.fetcher.get_json(url, params=params, headers=self.bearer_headers())
        statuses = payload.get("statuses") if isinstance(payload, dict) else payload
        return statuses if isinstance(statuses, list) else payload


def _id_order(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numbers written as text: compare them by length, then digits."""
    return (len(status_id), status_id)


def _status_ids(statuses: Any) -> list[str]:
    if not isinstance(statuses, list):
        return []
    ids = [s.get("id") for s in statuses if isinstance(s, dict)]
    return [i for i in ids if isinstance(i, str) and i.isdigit()]


def _full_account(account: dict) -> str | None:
    """'user@host' for every author. The API writes an account of the instance asked as plain
    'user', which names a different person on every instance (and would make `mentionwatch forget
    --author alice@a.example` miss her posts): the host is taken from the account's own address."""
    acct = text_of(account.get("acct"))
    if not acct or "@" in acct:
        return acct or None
    host = urllib.parse.urlsplit(text_of(account.get("url"))).hostname
    return f"{acct}@{host}" if host else acct


def _mention_from_status(status: dict) -> Mention | None:
    if isinstance(status.get("reblog"), dict):
        status = status["reblog"]  # a boost: the mention is the original post
    account = status.get("account") or {}
    if not isinstance(account, dict):
        raise TypeError("account is not an object")
    spoiler = text_of(status.get("spoiler_text"))
    text = html_to_text(text_of(status.get("content")))
    reach = account.get("followers_count")
    return Mention(
        source="mastodon",
        external_id=text_of(status.get("uri")) or text_of(status["url"]),
        text=f"{spoiler}\n{text}".strip() if spoiler else text,
        created_at=status["created_at"],
        url=text_of(status.get("url")) or text_of(status.get("uri")) or None,
        author=_full_account(account),
        author_reach=reach if isinstance(reach, int) and not isinstance(reach, bool) else None,
        lang=text_of(status.get("language")) or None,
    )
