"""Stable ids for mentions whose source gives only a URL (or an id as long as one).

Storage refuses an `external_id` over 500 characters; a URL with a percent-encoded slug of a few
dozen Japanese words is already longer. Such an id is kept as its host plus a hash of it, so the
same post still gets the same id on every crawl or poll.
"""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

MAX_ID_CHARS = 500  # storage refuses a longer external_id


def url_id(url: str) -> str:
    """`url` itself, or (when it is too long to store) its host and a hash of it."""
    if len(url) <= MAX_ID_CHARS:
        return url
    try:
        host = urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:  # not a URL at all ('http://[broken...'): the hash alone identifies it
        host = ""
    return f"{host}:url-sha1:{hashlib.sha1(url.encode('utf-8')).hexdigest()}"
