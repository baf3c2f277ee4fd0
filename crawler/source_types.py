"""The source types a watchlist may name, without importing their pollers or spiders.

The watchlist is checked on every command; importing all the pollers and Scrapy's selectors for
that would cost about half a second. `crawler.pollers.SOURCES` describes each of these types (a test
keeps the two lists in step).
"""
from __future__ import annotations

SCRAPY_TYPES = ("reviews", "sitemap")
POLLER_TYPES = ("reddit", "hackernews", "mastodon", "bluesky", "rss", "appstore", "googleplay",
                "stackexchange", "github")
SOURCE_TYPES = POLLER_TYPES + SCRAPY_TYPES
