"""Stable ids for mentions whose source gives only a URL (or an id as long as one).

Storage refuses an `external_id` over 500 characters; a URL with a percent-encoded slug of a few
dozen Japanese words is already longer. Such an id is kept as its host plus a hash of it, so the
same post still gets the same id on every crawl or poll.
"""
from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

MAX_ID_CHARS = 500  # storage refuses a longer external_id
FEED_GUID_PREFIX = "feed-guid:"
# a URL, tag: or urn: guid names its item everywhere; '1' or a bare number names it on one site only
_URI_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def url_id(url: str) -> str:
    """`url` itself, or (when it is too long to store) its host and a hash of it."""
    if len(url) <= MAX_ID_CHARS:
        return url
    try:
        host = urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:  # not a URL at all ('http://[broken...'): the hash alone identifies it
        host = ""
    return f"{host}:url-sha1:{hashlib.sha1(url.encode('utf-8')).hexdigest()}"


def feed_entry_id(guid: str, link: str | None) -> str:
    """A feed item's id: its guid when that names the item everywhere (a URL, a `tag:` or `urn:`
    URI), else the guid under the host of the item's link, so that item '1' of one site and item
    '1' of another are two posts. Without a link the bare guid is all there is."""
    host = _hostname(link) if link and not _URI_LIKE.match(guid) else None
    return url_id(f"{FEED_GUID_PREFIX}{host}/{guid}" if host else guid)


def bare_feed_guid(external_id: str) -> str | None:
    """The id `feed_entry_id` gave before it put bare guids under their site (None for any other
    id): a post erased then was kept out under that id."""
    if not external_id.startswith(FEED_GUID_PREFIX):
        return None
    return url_id(external_id[len(FEED_GUID_PREFIX):].partition("/")[2])


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # an address Python cannot read: no site to put the guid under
        return None
