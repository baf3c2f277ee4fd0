"""mentionwatch's Scrapy spiders, by source type: `reviews` (configurable selectors) and `sitemap`."""
from crawler.spiders.reviews import ReviewSpider
from crawler.spiders.sitemap import SitemapMentionSpider

SPIDERS = {"reviews": ReviewSpider, "sitemap": SitemapMentionSpider}

__all__ = ["SPIDERS", "ReviewSpider", "SitemapMentionSpider"]
