"""Scrapy settings of mentionwatch's spiders: polite by default.

robots.txt is obeyed, AutoThrottle adapts the pace to the site, at most 2 requests run at once per
site, and every request names the project in its User-Agent. The HTTP cache is for development
only: set MENTIONWATCH_HTTPCACHE=1 to replay pages from `.scrapy/httpcache` instead of refetching.
"""
import os

BOT_NAME = "mentionwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "mentionwatch/0.1 (+https://github.com/mentionwatch/mentionwatch)"
ROBOTSTXT_OBEY = True

# politeness: a small per-site concurrency, a base delay, and AutoThrottle on top of it
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# failures: give up on a page after 30 s and 2 retries (5xx, 408, 429 and network errors)
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# Scrapy's retries, honouring Retry-After on 429/503: a wait of up to 2 minutes is made, a longer
# one is not (the page is given up on at once, with a line saying why)
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.spiders.retry.RetryAfterMiddleware": 550,
    # an HTML page that declares no encoding is read in its language's code page
    "crawler.spiders.encoding.UndeclaredEncodingMiddleware": 560,
}
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024

# development only: replay fetched pages from disk (never on in production, it would hide new reviews)
HTTPCACHE_ENABLED = os.environ.get("MENTIONWATCH_HTTPCACHE", "").strip().lower() in {"1", "true", "yes"}
HTTPCACHE_EXPIRATION_SECS = 24 * 3600
HTTPCACHE_DIR = "httpcache"

ITEM_PIPELINES = {"crawler.pipelines.StoreMentionsPipeline": 300}
MENTIONWATCH_BATCH_SIZE = 100  # mentions stored per transaction

# no consoles into a running crawl: Scrapy 2.19's remote control is an HTTP server that runs any
# Python code sent with its token (kept in a file in the user's profile); the telnet console likewise
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
