"""The sources mentionwatch can poll, and what each needs (`mentionwatch sources` prints this).

`SOURCES` maps a source `type` (as written in the watchlist) to its `SourceInfo`: the poller class
for httpx-based APIs, or None for the Scrapy-based types, which `crawler.collect` hands to
`crawler.runner.run_spider_from_config` (their options are described by their option models,
`crawler.spiders.options.option_descriptions`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crawler.pollers.appstore import AppStorePoller
from crawler.pollers.base import Poller
from crawler.pollers.bluesky import BlueskyPoller
from crawler.pollers.github import GitHubPoller
from crawler.pollers.googleplay import GooglePlayPoller
from crawler.pollers.hackernews import HackerNewsPoller
from crawler.pollers.mastodon import MastodonPoller
from crawler.pollers.reddit import RedditPoller
from crawler.pollers.rss import RssPoller
from crawler.pollers.stackexchange import StackExchangePoller
from crawler.source_types import SCRAPY_TYPES
from crawler.spiders.options import option_descriptions


@dataclass(frozen=True)
class SourceInfo:
    type: str
    description: str
    options: dict[str, str] = field(default_factory=dict)
    poller: type[Poller] | None = None  # None: a Scrapy spider
    secrets: tuple[str, ...] = ()  # environment variables it reads, all optional


def _from_poller(type_name: str, poller: type[Poller]) -> SourceInfo:
    return SourceInfo(type_name, poller.description, dict(poller.options_doc), poller,
                      tuple(poller.credentials))


SOURCES: dict[str, SourceInfo] = {
    "reddit": _from_poller("reddit", RedditPoller),
    "hackernews": _from_poller("hackernews", HackerNewsPoller),
    "mastodon": _from_poller("mastodon", MastodonPoller),
    "bluesky": _from_poller("bluesky", BlueskyPoller),
    "rss": _from_poller("rss", RssPoller),
    "appstore": _from_poller("appstore", AppStorePoller),
    "googleplay": _from_poller("googleplay", GooglePlayPoller),
    "stackexchange": _from_poller("stackexchange", StackExchangePoller),
    "github": _from_poller("github", GitHubPoller),
    "reviews": SourceInfo(
        "reviews",
        "Any review site or forum, crawled by a Scrapy spider whose selectors come from the watchlist",
        option_descriptions("reviews"),
    ),
    "sitemap": SourceInfo(
        "sitemap",
        "Pages listed in a site's sitemaps or feeds, crawled by a Scrapy spider",
        option_descriptions("sitemap"),
    ),
}

COMMON_OPTIONS = {
    "interval": "how often the service polls it, e.g. 15m (default 15m)",
    "base_url": "another server for the same API (your Mastodon instance, a mirror, a test server); "
                "not for reviews and sitemap, whose addresses are written whole in their options",
    "enabled": "false to keep it in the file without polling it",
    "options.min_interval": "seconds between two requests to it (each source has a polite default)",
    "options.match_query": "false: keep every item, not only those matching the watch's query "
                           "(e.g. all reviews of your own app; languages still apply)",
}

__all__ = ["COMMON_OPTIONS", "SCRAPY_TYPES", "SOURCES", "SourceInfo"]
