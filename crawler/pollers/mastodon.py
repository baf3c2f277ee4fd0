"""Mastodon statuses from any instance: full-text search (`/api/v2/search?type=statuses`) or a
hashtag timeline (`/api/v1/timelines/tag/:tag`), paged with `max_id`; later polls ask only for
statuses newer than the newest one read (`min_id`).

A timeline answers `min_id` with the statuses just after it, so later polls page forward from the
cursor. Search answers it with the *newest* matches after it, so later polls page down from the
newest with `max_id` to the cursor; a burst larger than `max_pages` pages is recorded as a gap (the
`gaps` cursor: `min_id`/`max_id` stretches, newest first) and read by the next polls after their new
statuses, as crawler.cursors does for the time-filtered newest-first pollers. Status ids order
statuses of one instance only, so this poller keeps id stretches instead of those pollers' times.

A stored status stops no poll: another source of the watch (another instance) may have stored it,
which says nothing about the statuses under it. Polls are bounded by the cursor, `max_pages` and an
empty search page (a short one is no end: see `_is_empty`) or a short timeline page; stored
statuses are only left out.

Many instances only return statuses for a search when the request is authenticated: put an access
token in the environment variable named by `token_env` (default MENTIONWATCH_MASTODON_TOKEN). A token
is good for its own instance only: MENTIONWATCH_MASTODON_TOKEN goes to mastodon.social (the default
instance) and to another instance only when `token_env` names it (see Poller.token_hosts).
Statuses are stored under their global `uri`, so the same post seen from two instances is one mention.
"""
from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

from crawler.cursors import GAPS, MAX_GAPS
from crawler.pollers.base import Page, Poller, html_to_text, optional_object, optional_text, parse_items, text_of
from storage import Mention

TOKEN_ENV = "MENTIONWATCH_MASTODON_TOKEN"
PAGE_LIMIT = 40
log = logging.getLogger(__name__)


class MastodonPoller(Poller):
    source = "mastodon"
    description = "Mastodon statuses of any instance (search or a hashtag timeline)"
    options_doc = {
        "tag": "read this hashtag's timeline instead of searching, e.g. 'acme'",
        "query": "remote search text (default: built from the watch's query)",
        "token_env": f"environment variable holding an access token (default {TOKEN_ENV}, which is "
                     "sent to mastodon.social only: name it here to send it to another instance)",
        "max_pages": "pages of 40 per poll (default 5): how far back the first poll reads; later "
                     "searches read up to this many of new statuses, then of any backlog",
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
        self._gaps = _stored_gaps(self.cursors.get(GAPS))  # search only; newest first
        self._gaps_stored = GAPS in self.cursors
        if not newest_id:
            yield from self._pages_from_top()
        elif self.option("tag"):
            yield from self._timeline_newer_than(newest_id)
        else:
            yield from self._search_newer_than(newest_id)
        if not self.option("tag"):
            yield from self._gap_pages()

    def _pages_from_top(self) -> Iterator[Page]:
        """A first poll: up to `max_pages` pages, newest first. No cursor means this source has read
        nothing yet, so a stored status came from another source and is skipped, not a stop."""
        max_id, newest = None, None
        for number in range(self.max_pages):
            statuses = self._request({"max_id": max_id} if max_id else {})
            page, _ = self.make_page(statuses, statuses, stop_at_known=False)
            ids = _status_ids(statuses)
            if number == 0 and ids:
                newest = max(ids, key=_id_order)
            # a search page may be short of statuses the asker may not see: only an empty one ends
            ended = _is_empty(statuses) if not self.option("tag") else len(ids) < PAGE_LIMIT
            last = ended or not ids or number + 1 == self.max_pages
            if last and newest:
                page.cursors = {"newest_id": newest}
            yield page
            if last:
                break
            max_id = min(ids, key=_id_order)

    def _timeline_newer_than(self, newest_id: str) -> Iterator[Page]:
        """`min_id` pages: the statuses just after the cursor, moving forward until a short page."""
        min_id = newest_id
        for _ in range(self.max_pages):
            statuses = self._request({"min_id": min_id})
            page, _ = self.make_page(statuses, statuses, stop_at_known=False)
            ids = _status_ids(statuses)
            if ids:
                min_id = max(ids, key=_id_order)
                page.cursors = {"newest_id": min_id}
            yield page
            if len(ids) < PAGE_LIMIT:
                break

    def _search_newer_than(self, newest_id: str) -> Iterator[Page]:
        """The matches after the cursor, newest first (`min_id` filters, `max_id` pages down),
        until an empty page; a stretch `max_pages` has no room for becomes a gap. The new cursor
        and the gap are saved together, with the last page."""
        max_id, newest = None, None
        for number in range(self.max_pages):
            statuses = self._request(_window(newest_id, max_id))
            page, _ = self.make_page(statuses, statuses, stop_at_known=False)
            ids = _status_ids(statuses)
            if number == 0 and ids:
                newest = max(ids, key=_id_order)
            reached = _is_empty(statuses)
            if reached or not ids or number + 1 == self.max_pages:
                if not reached:  # not down to the cursor: the rest, under the oldest read, is a gap
                    _add_gap(self._gaps, newest_id, min(ids, key=_id_order) if ids else max_id)
                page.cursors = {**({"newest_id": newest} if newest else {}), **self._gaps_cursor()}
                yield page
                return
            yield page
            max_id = min(ids, key=_id_order)

    def _gap_pages(self) -> Iterator[Page]:
        """Up to `max_pages` pages of the stretches earlier polls had no room for, newest first;
        then a line for the run (it is `partial`) while one is left."""
        gaps = self._gaps
        for _ in range(self.max_pages):
            if not gaps:
                break
            gap = gaps[0]
            statuses = self._request(_window(gap["min_id"], gap["max_id"]))
            page, _ = self.make_page(statuses, statuses, stop_at_known=False)
            ids = _status_ids(statuses)
            if _is_empty(statuses) or not ids:
                gaps.remove(gap)
            else:
                gap["max_id"] = min(ids, key=_id_order)
            page.cursors = self._gaps_cursor()
            yield page
        if gaps:
            yield Page([], errors=[_gap_line(gaps, self.max_pages)])

    def _gaps_cursor(self) -> dict[str, str | None]:
        """The `gaps` cursor to save with a page (None clears it); nothing when none was or is left."""
        if not (self._gaps or self._gaps_stored):
            return {}
        self._gaps_stored = bool(self._gaps)
        return {GAPS: json.dumps(self._gaps) if self._gaps else None}

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


def _window(min_id: str, max_id: str | None) -> dict[str, str]:
    """Search paging: the matches after `min_id` and (when given) before `max_id`."""
    return {"min_id": min_id, **({"max_id": max_id} if max_id else {})}


def _is_empty(statuses: Any) -> bool:
    """Nothing on the page: the search has nothing more in its window. A short page is no end:
    Mastodon takes a page of matches, then leaves out those the asking account may not see
    (blocked or muted authors) and those deleted since they were indexed."""
    return not isinstance(statuses, list) or not statuses


def _add_gap(gaps: list[dict[str, str]], min_id: str, max_id: str | None) -> None:
    """Record the stretch after `min_id` and before `max_id` as not read (newest first); past
    MAX_GAPS the two oldest become one."""
    if max_id is None:
        return  # nothing readable on the first page: the cursor stays, the same statuses come back
    gaps.insert(0, {"min_id": min_id, "max_id": max_id})
    while len(gaps) > MAX_GAPS:
        older, newer = gaps.pop(), gaps.pop()
        gaps.append({"min_id": older["min_id"], "max_id": newer["max_id"]})


def _stored_gaps(value: str | None) -> list[dict[str, str]]:
    if not value:
        return []
    try:
        raw = json.loads(value)
    except ValueError:
        raw = None
    if not isinstance(raw, list):
        log.warning("mastodon: stored cursor %s ignored as corrupt", GAPS)
        return []
    gaps = []
    for item in raw:
        low, high = (item.get("min_id"), item.get("max_id")) if isinstance(item, dict) else (None, None)
        if not (_is_status_id(low) and _is_status_id(high) and _id_order(low) < _id_order(high)):
            log.warning("mastodon: stored gap %r ignored as corrupt", str(item)[:120])
            continue
        gaps.append({"min_id": low, "max_id": high})
    return gaps


def _gap_line(gaps: list[dict[str, str]], budget: int) -> str:
    """One line for the crawl run: which statuses may not be read yet, and why. Only an empty page
    shows a stretch read to its end (a search leaves out statuses the account may not see, so a
    short page proves nothing): the stretch may hold none, which the next poll finds in one request."""
    stretch = "" if len(gaps) == 1 else f" (in {len(gaps)} stretches)"
    low = min((g["min_id"] for g in gaps), key=_id_order)
    high = max((g["max_id"] for g in gaps), key=_id_order)
    return (f"mastodon: statuses after id {low} and before id {high}{stretch} may not all be read yet: "
            f"a poll reads at most {budget} page(s) of new statuses, and its last page still held some; the "
            f"next polls read on there (a larger options.max_pages catches up sooner)")


def _id_order(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numbers written as text: compare them by length, then digits. Servers
    speaking its API with other ids (GoToSocial's ULIDs, Pleroma's and Akkoma's flake ids) write
    them in letters and digits of one length that sort by time, so the same order holds."""
    return (len(status_id), status_id)


def _is_status_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isalnum()


def _status_ids(statuses: Any) -> list[str]:
    if not isinstance(statuses, list):
        return []
    ids = [s.get("id") for s in statuses if isinstance(s, dict)]
    return [i for i in ids if _is_status_id(i)]


def _full_account(account: dict) -> str | None:
    """'user@host' for every author. The API writes an account of the instance asked as plain
    'user', which names a different person on every instance (and would make `mentionwatch forget
    --author alice@a.example` miss her posts): the host is taken from the account's own address."""
    acct = optional_text(account.get("acct"), "account.acct")
    if not acct or "@" in acct:
        return acct
    host = urllib.parse.urlsplit(optional_text(account.get("url"), "account.url") or "").hostname
    return f"{acct}@{host}" if host else acct


def _mention_from_status(status: dict) -> Mention | None:
    if isinstance(status.get("reblog"), dict):
        status = status["reblog"]  # a boost: the mention is the original post
    account = optional_object(status.get("account"), "account")
    spoiler = text_of(status.get("spoiler_text"))
    text = html_to_text(text_of(status.get("content")))
    reach = account.get("followers_count")
    return Mention(
        source="mastodon",
        external_id=text_of(status.get("uri")) or text_of(status["url"]),
        text=f"{spoiler}\n{text}".strip() if spoiler else text,
        created_at=status["created_at"],
        url=optional_text(status.get("url"), "url") or optional_text(status.get("uri"), "uri"),
        author=_full_account(account),
        author_reach=reach if isinstance(reach, int) and not isinstance(reach, bool) else None,
        lang=optional_text(status.get("language"), "language"),
    )
