"""Reddit: site or subreddit search (`/search.json`) or a subreddit's newest posts, paged with
`after`; later polls ask only for what is newer than the newest post read (`before`).

A stored post is a stop only at or below that cursor: a watch's other Reddit sources (a search and a
subreddit's listing) store posts of this one too, which says nothing about the posts under them. So
the `before` pages and a first poll leave stored posts out without stopping there, bounded by the
cursor and `max_pages`.

When the cursor's post is removed, Reddit answers every `before` request with an empty page, so the
poll reads from the top down to the first post at or below the cursor (stored or not: every one of
them was read by an earlier poll). A burst deeper than `max_pages` pages is then a gap: the place
reached (`gap_after`) and the cursor under it (`gap_floor`) are kept, and the next polls read on
from there, after what is new, until they reach it; the run says so and is `partial` meanwhile.

Anonymous by default. With MENTIONWATCH_REDDIT_CLIENT_ID and MENTIONWATCH_REDDIT_CLIENT_SECRET set,
it gets an application-only OAuth token (higher limits) and uses oauth.reddit.com. The token is kept
in memory only and never logged. The pair goes only to reddit.com over https: a `base_url` elsewhere
(a proxy, a test server) is polled anonymously unless `options.send_oauth` is true.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx

from crawler.cursors import required_id
from crawler.pollers.base import (FetchError, Page, Poller, dig, is_refusal, optional_text, parse_items,
                                  text_of, warn_once)
from crawler.pollers.markdown import markdown_to_text
from crawler.source_types import subreddit_name
from mentionwatch.logging_setup import remember_secrets
from storage import Mention

CLIENT_ID_ENV = "MENTIONWATCH_REDDIT_CLIENT_ID"
CLIENT_SECRET_ENV = "MENTIONWATCH_REDDIT_CLIENT_SECRET"
OAUTH_BASE_URL = "https://oauth.reddit.com"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
MAX_LIMIT = 100
GAP_FROM_TOP = "top"  # a gap's place when its post was removed: read it down from the top of the listing


class RedditPoller(Poller):
    source = "reddit"
    description = "Reddit posts (and comments with mode: comments) from search or a subreddit"
    options_doc = {
        "subreddit": "limit to one subreddit, e.g. 'sysadmin' (or 'r/sysadmin'; 'a+b' for two) "
                     "(default: all of Reddit)",
        "mode": "'search' (default), 'new' (every new post of the subreddit) or 'comments'",
        "query": "remote search text (default: built from the watch's query)",
        "limit": "items per request, at most 100 (default 100)",
        "max_pages": "pages read on the first poll (default 5)",
        "send_oauth": "true: send the OAuth pair to a base_url that is not reddit.com over https (a "
                      "proxy you run); without it such a base_url is polled anonymously",
    }
    default_base_url = "https://www.reddit.com"
    credentials = {CLIENT_ID_ENV: "a Reddit app's client id", CLIENT_SECRET_ENV: "that app's secret"}
    token_hosts = ("reddit.com", ".reddit.com")
    min_interval = 2.0  # anonymous clients get about 10 requests a minute

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        return options.get("mode") in (None, "search")  # 'new' and 'comments' list a subreddit

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        have_id, have_secret = bool(_credential(CLIENT_ID_ENV)), bool(_credential(CLIENT_SECRET_ENV))
        self.oauth = have_id and have_secret
        if have_id != have_secret:
            missing = CLIENT_SECRET_ENV if have_id else CLIENT_ID_ENV
            warn_once("reddit: %s is set but %s is not: polling anonymously (OAuth needs both)",
                      CLIENT_ID_ENV if have_id else CLIENT_SECRET_ENV, missing)
        self.oauth_withheld = False
        if self.oauth and self.source_cfg.base_url:
            self.oauth = self._oauth_for_base_url()
            self.oauth_withheld = not self.oauth
        if self.oauth and (not self.source_cfg.base_url or self.token_meant_for_base_url()):
            self.base_url = OAUTH_BASE_URL  # Reddit takes its tokens only there (www.reddit.com written out too)
        self._auth_header: dict[str, str] = {}

    def _oauth_for_base_url(self) -> bool:
        """Whether the OAuth pair may go to the configured base_url: reddit.com over https, or any
        host with options.send_oauth (a warning says why it is not sent, or that it goes unencrypted)."""
        if self.option("send_oauth") is not True and not self.token_meant_for_base_url():
            warn_once("reddit: %s and %s are not sent to %s (%s): they go only to reddit.com over https; "
                      "%s; polling anonymously", CLIENT_ID_ENV, CLIENT_SECRET_ENV, self._base_host(),
                      self._why_not_sent(), self._how_to_send())
            return False
        if httpx.URL(self.base_url).scheme != "https":
            warn_once("reddit: %s and %s go to %s over plain http, readable on the way: use https",
                      CLIENT_ID_ENV, CLIENT_SECRET_ENV, self._base_host())
        return True

    def explain_refusal(self, error: FetchError) -> FetchError:
        if self.oauth_withheld and is_refusal(error):
            return FetchError(f"{error} ({CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} were not sent to "
                              f"{self._base_host()}: {self._how_to_send()})",
                              whole_source=error.whole_source, retry_at=error.retry_at)
        if (is_refusal(error) and not self.oauth and self.source_cfg.base_url
                and self.option("send_oauth") is not True and not self.token_meant_for_base_url()):
            # setting the pair alone would not help: it goes only to reddit.com over https
            unset = [name for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV) if not _credential(name)]
            to_set = "set them" if len(unset) == 2 else f"set {unset[0]} too"
            if self.base_url_on_token_host():
                advice = f"{to_set} and write base_url as https://www.reddit.com, or leave it out"
            else:
                advice = f"for {self._base_host()}, {to_set} and add send_oauth: true to this source's options"
            return FetchError(f"{error} (no OAuth sent: {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} go only to "
                              f"reddit.com over https; {advice})",
                              whole_source=error.whole_source, retry_at=error.retry_at)
        return super().explain_refusal(error)

    def _how_to_send(self) -> str:
        """How the OAuth pair would reach this base_url: Reddit's own host written with http or a port
        over https (send_oauth would send the secret unencrypted or to the wrong port), another host
        (a proxy) with send_oauth."""
        if self.base_url_on_token_host():
            return "write base_url as https://www.reddit.com, or leave it out"
        return "add send_oauth: true to send them there"

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """A Reddit Listing (posts t3 and comments t1) -> mentions."""
        children = dig(payload, "data", "children")
        if children is None and isinstance(payload, dict):
            children = []
        return parse_items(children, _mention_from_child, "reddit", problems)

    def pages(self) -> Iterator[Page]:
        if self.oauth:
            self._authenticate()
        newest = self.cursors.get("newest")
        newer = (yield from self._pages_newer_than(newest)) if newest else 0
        new_gap = False
        if not newer:
            # nothing newer, or the cursor's post was removed (Reddit then answers every `before`
            # request with an empty page): read from the top down to the cursor
            new_gap = yield from self._pages_from_top(newest)
        gap_after, gap_floor = self.cursors.get("gap_after"), self.cursors.get("gap_floor")
        if gap_after and gap_floor and not new_gap:  # a new gap takes in the old one's floor
            yield from self._gap_pages(gap_after, gap_floor)

    def _pages_newer_than(self, newest: str) -> Iterator[Page]:
        """Pages newer than the stored cursor, oldest chunk first; returns how many were found."""
        found, before = 0, newest
        for _ in range(self.max_pages):
            payload = self._listing({"before": before})
            page, _ = self.make_page(payload, dig(payload, "data", "children"), stop_at_known=False)
            found += page.fetched
            names = _child_names(payload)
            if names:
                before = names[0]
                page.cursors = {"newest": before}
            yield page
            if page.fetched < self.limit or not names:
                break
        return found

    def _pages_from_top(self, cursor: str | None) -> Iterator[Page]:
        """Newest first, down to the first post at or below `cursor` (None: a first poll, which
        reads `max_pages`); not reaching it within `max_pages` leaves a gap for the next polls
        (returns whether it did)."""
        after, newest = None, None
        for number in range(self.max_pages):
            payload = self._listing({"after": after} if after else {})
            page, _ = self.make_page(payload, dig(payload, "data", "children"), stop_at_known=False)
            # `newest` moves only when a pass ends, so every post at or below it was read, even
            # when this pass resumes one that stopped part-way
            hit_known = cursor is not None and _cut_at_read(page, cursor)
            names = _child_names(payload)
            if number == 0 and names:
                newest = names[0]
            after = dig(payload, "data", "after")
            more = isinstance(after, str) and bool(after)
            last = hit_known or not more or number + 1 == self.max_pages
            if last and newest:
                page.cursors = {"newest": newest}
            gap = last and more and not hit_known and cursor is not None
            if gap:
                page.cursors.update(gap_after=after, gap_floor=self.cursors.get("gap_floor") or cursor,
                                    gap_reread=None)
                page.errors.append(f"reddit: more new posts than {self.max_pages} pages since the last "
                                   "poll (its newest post was removed): the next polls read on")
            yield page
            if last:
                return gap
        return False

    def _gap_pages(self, place: str, floor: str) -> Iterator[Page]:
        """Read on down from `place` (a gap's `after`) to the first post at or below `floor`. When the
        place's own post was removed (Reddit then lists nothing after it), read down from the top
        instead (the place GAP_FROM_TOP), leaving stored posts out: slower, but nothing is lost."""
        after = None if place == GAP_FROM_TOP else place
        read_from_top = bool(self.cursors.get("gap_reread"))  # this gap went back to the top once
        for number in range(self.max_pages):
            payload = self._listing({"after": after} if after else {})
            page, _ = self.make_page(payload, dig(payload, "data", "children"), stop_at_known=False)
            reached = _cut_at_read(page, floor)
            asked, after = after, dig(payload, "data", "after")
            more = isinstance(after, str) and bool(after)
            gone = not reached and not page.fetched and asked is not None
            if gone and not read_from_top:
                after, read_from_top = None, True  # the place was removed: the next page is the top
                page.cursors = {"gap_reread": "1"}
            elif gone or reached or not more:
                # gone again after a read from the top: past the ~1,000 posts Reddit lists
                page.cursors = {"gap_after": None, "gap_floor": None, "gap_reread": None}
                if not reached:  # Reddit lists about 1,000 posts, no more
                    page.errors.append(f"reddit: the listing ends before {floor}, the newest post read "
                                       "before the last burst: the posts between are not read")
                yield page
                return
            page.cursors = {**page.cursors, "gap_after": after or GAP_FROM_TOP}
            if number + 1 == self.max_pages:
                page.errors.append("reddit: still more posts since the newest one read before the "
                                   "last burst: the next polls read on")
            yield page

    @property
    def limit(self) -> int:
        return min(self.int_option("limit", MAX_LIMIT), MAX_LIMIT)

    def _listing(self, paging: dict) -> Any:
        subreddit = subreddit_name(self.option("subreddit") or "")
        mode = self.choice_option("mode", ("search", "new", "comments"))
        prefix = f"/r/{subreddit}" if subreddit else ("/r/all" if mode != "search" else "")
        params: dict[str, Any] = {"limit": self.limit, "raw_json": 1, **paging}
        if mode == "new":
            path = f"{prefix}/new"
        elif mode == "comments":
            path = f"{prefix}/comments"
        else:
            path = f"{prefix}/search"
            params.update({"q": self.search_terms(), "sort": "new", "t": "all"})
            if subreddit:
                params["restrict_sr"] = 1
        suffix = "" if self.oauth else ".json"
        return self.fetcher.get_json(f"{self.base_url}{path}{suffix}", params=params,
                                     headers=self._auth_header)

    def _authenticate(self) -> None:
        # Reddit's own hosts take tokens from www.reddit.com; a proxy (send_oauth) serves its own
        token_url = TOKEN_URL if self.token_meant_for_base_url() else f"{self.base_url}/api/v1/access_token"
        response = self.fetcher.request(
            "POST", token_url, data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(_credential(CLIENT_ID_ENV), _credential(CLIENT_SECRET_ENV)))
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise FetchError("reddit: OAuth token request gave no access_token "
                             f"(check {CLIENT_ID_ENV}/{CLIENT_SECRET_ENV})") from None
        remember_secrets([str(token)])  # hidden wherever a server's error quotes it back
        self._auth_header = {"Authorization": f"bearer {token}"}


def _credential(variable: str) -> str:
    """One half of the OAuth pair, without the line ending an env file written on Windows leaves."""
    return os.environ.get(variable, "").strip()


def _cut_at_read(page: Page, cursor: str) -> bool:
    """Cut the page (from make_page(stop_at_known=False), stored posts already left out) at its
    first post at or below `cursor`, which this source's earlier polls read down from (stored or
    not: one the query left out was read too); say if it was cut. What follows the cut counts as
    already stored, as make_page's own cut does."""
    fresh = {id(m) for m in page.mentions}
    for position, mention in enumerate(page.parsed):
        if _at_or_below(mention.external_id, cursor):
            page.mentions = [m for m in page.parsed[:position] if id(m) in fresh]
            page.already_stored = len(page.parsed) - len(page.mentions)
            return True
    return False


def _at_or_below(name: str, cursor: str) -> bool:
    """Whether the fullname `name` ('t3_5jo13y') is the cursor's or older: Reddit ids of one kind
    are base-36 numbers that grow with time. Ids that do not compare are not (nothing is lost)."""
    if name == cursor:
        return True
    kind, _, number = name.partition("_")
    cursor_kind, _, cursor_number = cursor.partition("_")
    if kind != cursor_kind:
        return False
    try:
        return int(number, 36) <= int(cursor_number, 36)
    except ValueError:
        return False


def _child_names(payload: Any) -> list[str]:
    children = dig(payload, "data", "children", default=[])
    if not isinstance(children, list):
        return []
    names = [dig(child, "data", "name") for child in children]
    return [name for name in names if isinstance(name, str) and name]


def _post_url(kind: str, data: dict) -> str | None:
    """The post's address; None (with a warning) when its permalink is malformed."""
    permalink = optional_text(data.get("permalink"), "url") or ""
    if not permalink and kind == "t1" and data.get("link_permalink"):
        # older comment payloads have no permalink: the post's address plus the comment id
        post = optional_text(data["link_permalink"], "url")
        comment = optional_text(data.get("id"), "url")
        permalink = f"{post.rstrip('/')}/{comment}/" if post and comment else ""
    return f"https://www.reddit.com{permalink}" if permalink.startswith("/") else (permalink or None)


def _mention_from_child(child: dict) -> Mention | None:
    kind, data = child.get("kind"), child.get("data")
    if not isinstance(data, dict):
        raise ValueError("no data")
    if kind not in ("t3", "t1"):
        return None  # 'more' placeholders and other listing kinds are not posts
    name = data.get("name")  # 't3_5jo13y'; older payloads have only the id
    if name is None or name == "":
        name = f"{kind}_{required_id(data.get('id'), 'id')}"
    name = required_id(name, "name")
    if kind == "t3":
        title, text = optional_text(data.get("title"), "title"), text_of(data.get("selftext"))
    else:
        title, text = optional_text(data.get("link_title"), "title"), text_of(data.get("body"))
        if text in ("[deleted]", "[removed]"):
            return None  # a removed comment says nothing: only its thread's title would be left
    written, text = text, "" if text in ("[deleted]", "[removed]") else markdown_to_text(text)
    if kind == "t1" and written.strip() and not text:
        return None  # a reaction face alone ('[](#middleparrot)'): no words of its own
    author = optional_text(data.get("author"), "author")
    return Mention(
        source="reddit",
        external_id=name,
        text=text,
        title=title,
        title_is_thread=kind == "t1",
        created_at=data["created_utc"],
        url=_post_url(kind, data),
        author=None if author == "[deleted]" else author,
        lang=data.get("lang") if isinstance(data.get("lang"), str) else None,
    )
