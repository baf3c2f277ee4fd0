"""The collectors: the httpx pollers of the API sources (`crawler.pollers`), the Scrapy
spiders of the site sources (`crawler.spiders`, run by `crawler.runner`), and one collection pass
(`crawler.collect`).
"""
