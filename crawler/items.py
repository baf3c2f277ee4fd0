"""What the spiders yield: one scraped mention, still raw (text as found on the page).

The pipeline (`crawler.pipelines`) checks each item, turns it into a `storage.Mention` and stores it;
a spider never writes to the database itself.
"""
from __future__ import annotations

import scrapy


class MentionItem(scrapy.Item):
    """A review or post as scraped. Only `source`, `external_id`, `text` and `created_at` are
    required by storage; the pipeline rejects (and counts) items without them."""

    source = scrapy.Field()  # the source type: 'reviews' or 'sitemap'
    external_id = scrapy.Field()  # unique within the source (host-prefixed)
    # the id earlier versions gave it (a review's fingerprint without its date), or None
    earlier_id = scrapy.Field()
    text = scrapy.Field()
    created_at = scrapy.Field()  # raw date text; parsed by the pipeline
    date_format = scrapy.Field()  # optional strptime format for created_at
    url = scrapy.Field()
    author = scrapy.Field()
    title = scrapy.Field()
    lang = scrapy.Field()
    rating = scrapy.Field()  # raw text; the first number is kept
    rating_out_of = scrapy.Field()  # the site's top rating, when it is not 5
    page_url = scrapy.Field()  # the page it was found on (for log lines)
