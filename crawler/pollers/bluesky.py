"""Bluesky posts through `app.bsky.feed.searchPosts` (newest first, paged with `cursor`); later
polls ask only for posts after the newest one read (`since`), optionally in one language (`lang`).
The cursor is the posts' sortAt (the server's indexedAt, or createdAt when earlier), never later
than the poll's start; more new posts than `max_pages` pages are read by the next polls (`since` and
`until` windows, see crawler.cursors.newest_first_pages). A post is dated by its createdAt, or by its
indexedAt where the author's clock made createdAt impossible (see _created_at).

A post's text is its own (an image-only post: its images' alt texts), never a quoted post's text:
that post is found by search on its own. A quote with nothing of its own is no mention and is skipped.
An author whose handle failed verification (`handle.invalid`) is known by their DID.

Bluesky's public AppView may require a login for search: put an access token (JWT) in the
environment variable named by `token_env` (default MENTIONWATCH_BLUESKY_TOKEN) if it answers 401/403.
An access token is issued and checked by the account's PDS (bsky.social, the entryway of Bluesky's
PDSes, which passes app.bsky.* requests on to the AppView), so with one set `base_url` to
https://bsky.social. MENTIONWATCH_BLUESKY_TOKEN goes only to Bluesky's own hosts (TOKEN_HOSTS); another
PDS or AppView gets it only when `token_env` names it (see Poller.token_hosts).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.cursors import Batch, Window, iso_cursor, iso_time, newest_first_pages, unix_time
from crawler.pollers.base import (Page, Poller, dig, optional_object, optional_text, parse_items, text_of,
                                  warn_bad_optional_field)
from mentionwatch.config import language_code
from storage import Mention, parse_timestamp
from storage.mentions import EARLIEST_CREATED_AT

TOKEN_ENV = "MENTIONWATCH_BLUESKY_TOKEN"
# Bluesky's own hosts: the public AppView, the AppView, the PDS entryway and its PDSes
TOKEN_HOSTS = ("public.api.bsky.app", "api.bsky.app", "bsky.social", ".host.bsky.network")
PAGE_LIMIT = 100
CLOCK_TOLERANCE = 600  # seconds a createdAt may be after indexedAt (the author's clock a little fast)
INVALID_HANDLE = "handle.invalid"  # what the AppView shows for a handle that failed verification
QUOTE_EMBEDS = ("app.bsky.embed.record", "app.bsky.embed.recordWithMedia")


class BlueskyPoller(Poller):
    source = "bluesky"
    description = "Bluesky posts (app.bsky.feed.searchPosts)"
    options_doc = {
        "query": "remote search text (default: built from the watch's query)",
        "lang": "only posts in this language, e.g. 'en' (default: the watch's language when it has exactly one)",
        "token_env": f"environment variable holding an access token (default {TOKEN_ENV}, which is "
                     "sent to Bluesky's own hosts only: name it here to send it to another server)",
        "max_pages": "pages of 100 per poll (default 5): how far back the first poll reads; later polls "
                     "read up to this many of new posts, then of any backlog",
    }
    default_base_url = "https://public.api.bsky.app"
    credentials = {TOKEN_ENV: "an access token (JWT)"}
    token_hosts = TOKEN_HOSTS
    min_interval = 1.0

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        return True

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """A searchPosts response ({posts: [postView]}) or a getPostThread one -> mentions."""
        if isinstance(payload, dict) and "thread" in payload and "posts" not in payload:
            return parse_items(_thread_posts(payload["thread"]), _mention_from_post, "bluesky", problems)
        return parse_items(dig(payload, "posts"), _mention_from_post, "bluesky", problems)

    def pages(self) -> Iterator[Page]:
        self._headers = self.bearer_headers()
        languages = self.watch.query.languages
        self._lang = self.option("lang", languages[0] if len(languages) == 1 else None)
        return newest_first_pages(self, self._fetch, name="since", decode=iso_cursor, encode=iso_time)

    def _fetch(self, window: Window, token: str | None) -> Batch:
        """One page of the posts in `window`, newest first by Bluesky's sortAt (`since`, `until`)."""
        params = {"q": self.search_terms(), "sort": "latest", "limit": PAGE_LIMIT}
        since = iso_time(window.after) if window.after is not None else None  # counts itself in
        until = iso_time(window.until + 1) if window.until is not None else None  # does not
        for name, value in (("since", since), ("until", until), ("lang", self._lang), ("cursor", token)):
            if value:
                params[name] = value
        payload = self.fetcher.get_json(f"{self.base_url}/xrpc/app.bsky.feed.searchPosts",
                                        params=params, headers=self._headers)
        posts = dig(payload, "posts")
        # stored items are skipped, not stopped at: newest_first_pages decides where to stop
        page, _ = self.make_page(payload, posts, stop_at_known=False)
        _in_the_watchs_language(page.parsed, posts, self.watch.query.languages)
        cursor = dig(payload, "cursor")
        more = bool(page.fetched) and isinstance(cursor, str) and bool(cursor)
        total = dig(payload, "hitsTotal")
        return Batch(page, _sort_times(posts, page.parsed), cursor if more else None,
                     total if isinstance(total, int) and not isinstance(total, bool) else None)


def _in_the_watchs_language(mentions: list[Mention], posts: Any, languages: list[str]) -> None:
    """A post tagged with several languages (`langs: [ja, en]`) is stored under the first of them
    the watch asks for, not always under the first: Bluesky found it for `lang=en`, and the
    watch's language filter would drop it as Japanese."""
    if not languages:
        return
    wanted = {language_code(code) for code in languages}
    langs_of = {post["uri"].strip(): record_languages(dig(post, "record", default={})) for post in posts
                if isinstance(post, dict) and isinstance(post.get("uri"), str)}
    for mention in mentions:
        langs = langs_of.get(mention.external_id) or []
        chosen = next((lang for lang in langs if language_code(lang) in wanted), None)
        if chosen:
            mention.lang = chosen


def _sort_times(posts: Any, accepted: list[Mention]) -> dict[str, int]:
    """Unix seconds of each accepted post's sortAt, the time `since` and `until` filter on: the
    server's indexedAt, or the author's createdAt when that is earlier. Never createdAt alone: a
    client clock 20 hours fast would move the cursor past every post of the next 20 hours. A post
    without a readable indexedAt gives no time."""
    ids = {m.external_id for m in accepted}
    times = {}
    for post in posts if isinstance(posts, list) else []:
        uri = post.get("uri") if isinstance(post, dict) else None
        if not isinstance(uri, str) or uri.strip() not in ids:
            continue
        indexed = unix_time(post.get("indexedAt"))
        if indexed is None:
            continue
        created = unix_time(dig(post, "record", "createdAt"))
        times[uri.strip()] = indexed if created is None else min(indexed, created)
    return times


def _thread_posts(thread: Any) -> list:
    """A thread's post, its parents and replies, flattened (for getPostThread payloads)."""
    posts = []
    if isinstance(thread, dict):
        if isinstance(thread.get("post"), dict):
            posts.append(thread["post"])
        posts.extend(_thread_posts(thread.get("parent")))
        for reply in thread.get("replies") or []:
            posts.extend(_thread_posts(reply))
    return posts


def _mention_from_post(post: dict) -> Mention | None:
    """A post view as a mention; None for a quote with nothing of its own (see _own_text)."""
    uri = text_of(post["uri"])
    record = post.get("record")
    if not isinstance(record, dict):
        raise TypeError("record is not an object")
    text = _own_text(post, record)
    if not text.strip() and _is_quote(post):
        return None
    langs = record_languages(record, warn=True)
    lang = langs[0] if langs else None
    rkey = uri.rsplit("/", 1)[-1]
    author = _author(optional_object(post.get("author"), "author"), uri)
    return Mention(
        source="bluesky",
        external_id=uri,
        text=text,
        created_at=_created_at(record.get("createdAt"), post.get("indexedAt")),
        url=f"https://bsky.app/profile/{author}/post/{rkey}" if rkey and author else None,
        author=author,
        lang=lang,
    )


def record_languages(record: Any, warn: bool = False) -> list[str]:
    """A post record's `langs`, the texts of the list; one text written alone ("en", not ["en"]) is
    that language. Anything else is no language (with a warning naming the field when `warn`)."""
    langs = record.get("langs") if isinstance(record, dict) else None
    if isinstance(langs, str):
        langs = [langs]
    if langs is not None and not isinstance(langs, list):
        if warn:
            warn_bad_optional_field("langs", f"expected a list of language codes, got {type(langs).__name__}")
        return []
    return [lang.strip() for lang in langs or [] if isinstance(lang, str) and lang.strip()]


def _author(author: dict, uri: str) -> str | None:
    """The author's handle, else their DID (from the author, else from the at:// URI).

    A handle that failed verification comes as 'handle.invalid', shared by every such account and
    useless in a link; bsky.app takes a DID in a profile address instead."""
    handle = (optional_text(author.get("handle"), "author.handle") or "").strip()
    if handle and handle.lower() != INVALID_HANDLE:
        return handle
    did = optional_text(author.get("did"), "author.did")
    if not did and uri.startswith("at://did:"):
        did = uri.removeprefix("at://").split("/", 1)[0]
    return did or None


def _created_at(created: Any, indexed: Any) -> str:
    """The author's createdAt, unless it cannot be right: then the server's indexedAt.

    createdAt is whatever the author's client wrote. A clock far ahead, or reset to 1970, would get
    a real post refused as malformed (storage takes no time more than a day ahead, or before 1990),
    and a time after the server indexed the post is wrong anyway. An earlier createdAt is kept:
    indexing can lag, and a post imported from an archive carries its first date on purpose."""
    try:
        indexed_at = parse_timestamp(indexed)
    except (ValueError, TypeError, OverflowError):
        return parse_timestamp(created)  # nothing to compare with or fall back to
    try:
        created_at = parse_timestamp(created)
    except (ValueError, TypeError, OverflowError):
        return indexed_at
    too_late = unix_time(created_at) > unix_time(indexed_at) + CLOCK_TOLERANCE
    return indexed_at if too_late or created_at < EARLIEST_CREATED_AT else created_at


def _own_text(post: dict, record: dict) -> str:
    """The post's text; for an image-only post the images' alt texts. Never a quoted post's text:
    that post is a mention of its own, which search finds by itself."""
    text = text_of(record.get("text"))
    if text.strip():
        return text
    parts = []
    images = dig(post, "embed", "media", "images") or dig(post, "embed", "images") or []
    for image in images if isinstance(images, list) else []:
        if isinstance(image, dict) and isinstance(image.get("alt"), str) and image["alt"].strip():
            parts.append(image["alt"])
    return "\n".join(parts)


def _is_quote(post: dict) -> bool:
    """Whether the post embeds another record (a quote, with or without media of its own)."""
    kinds = (dig(post, "embed", "$type"), dig(post, "record", "embed", "$type"))
    return any(isinstance(kind, str) and kind.split("#")[0] in QUOTE_EMBEDS for kind in kinds)
