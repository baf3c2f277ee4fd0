"""Bluesky posts through `app.bsky.feed.searchPosts` (newest first, paged with `cursor`); later
polls ask only for posts after the newest stored one (`since`), optionally in one language (`lang`).

Bluesky's public AppView may require a login for search: put an access token (JWT) in the
environment variable named by `token_env` (default MENTIONWATCH_BLUESKY_TOKEN) if it answers 401/403.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.pollers.base import Page, Poller, dig, parse_items, text_of
from storage import Mention, parse_timestamp

TOKEN_ENV = "MENTIONWATCH_BLUESKY_TOKEN"
PAGE_LIMIT = 100


class BlueskyPoller(Poller):
    source = "bluesky"
    description = "Bluesky posts (app.bsky.feed.searchPosts)"
    options_doc = {
        "query": "remote search text (default: built from the watch's query)",
        "lang": "only posts in this language, e.g. 'en' (default: the watch's first language, if any)",
        "token_env": f"environment variable holding an access token (default {TOKEN_ENV})",
        "max_pages": "pages of 100 read on the first poll (default 5)",
    }
    default_base_url = "https://public.api.bsky.app"
    credentials = {TOKEN_ENV: "an access token (JWT)"}
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
        since = self.cursors.get("since")
        cursor, newest = None, None
        headers = self.bearer_headers()
        languages = self.watch.query.languages
        lang = self.option("lang", languages[0] if len(languages) == 1 else None)
        for number in range(self.max_pages):
            params = {"q": self.search_terms(), "sort": "latest", "limit": PAGE_LIMIT}
            for name, value in (("since", since), ("lang", lang), ("cursor", cursor)):
                if value:
                    params[name] = value
            payload = self.fetcher.get_json(f"{self.base_url}/xrpc/app.bsky.feed.searchPosts",
                                            params=params, headers=headers)
            page, hit_known = self.make_page(payload, dig(payload, "posts"))
            if number == 0:
                newest = _newest_time(page.parsed)  # stored ones too: a resumed pass skips them
            cursor = dig(payload, "cursor")
            last = (hit_known or not page.fetched or not isinstance(cursor, str) or not cursor
                    or number + 1 == self.max_pages)
            if last and newest:
                page.cursors = {"since": newest}
            yield page
            if last:
                break


def _newest_time(mentions: list[Mention]) -> str | None:
    return max((m.created_at for m in mentions), default=None)


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


def _mention_from_post(post: dict) -> Mention:
    uri = text_of(post["uri"])
    record = post.get("record")
    if not isinstance(record, dict):
        raise TypeError("record is not an object")
    author = post.get("author") or {}
    handle = text_of(author.get("handle"))
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    rkey = uri.rsplit("/", 1)[-1]
    text = text_of(record.get("text"))
    if not text.strip():
        text = _embed_text(post)
    return Mention(
        source="bluesky",
        external_id=uri,
        text=text,
        created_at=parse_timestamp(record.get("createdAt") or post["indexedAt"]),
        url=f"https://bsky.app/profile/{handle or author.get('did')}/post/{rkey}" if rkey else None,
        author=handle or None,
        lang=lang,
    )


def _embed_text(post: dict) -> str:
    """Alt texts and quoted text stand in for an empty post body (image-only posts)."""
    parts = []
    images = dig(post, "embed", "media", "images") or dig(post, "embed", "images") or []
    for image in images if isinstance(images, list) else []:
        if isinstance(image, dict) and isinstance(image.get("alt"), str) and image["alt"].strip():
            parts.append(image["alt"])
    quoted = dig(post, "embed", "record", "record", "value", "text")
    if isinstance(quoted, str) and quoted.strip():
        parts.append(quoted)
    return "\n".join(parts)
