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


def feed_entry_id(guid: str, feed_site: str | None) -> str:
    """A feed item's id: its guid when that names the item everywhere (a URL, a `tag:` or `urn:`
    URI), else the guid under the site (host, and port if any) of the feed it came from, so that
    item '1' of one blog and item '1' of another are two posts, while a site's two feeds carrying
    its item '1' give one. Without a feed site (a payload parsed on its own) the bare guid."""
    if feed_site and not _URI_LIKE.match(guid):
        return url_id(f"{FEED_GUID_PREFIX}{feed_site}/{guid}")
    return url_id(guid)


def feed_site(feed_url: str) -> str | None:
    """'blog.example:8080' of 'https://user@www.Blog.Example:8080/feed.xml': host (lower case,
    without 'www.') and a port other than the scheme's own, so one site written two ways is one."""
    try:
        parts = urlsplit(feed_url)
        host, port = parts.hostname, parts.port
    except ValueError:  # an address Python cannot read: no site to put the guid under
        return None
    if not host:
        return None
    host = host.removeprefix("www.")
    default_port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{host}:{port}" if port and port != default_port else host
