"""Retries that honour Retry-After, as the API pollers do (crawler.pollers.base.Fetcher).

Scrapy's RetryMiddleware retries a 429 or 503 at once, whatever the site asked. This one waits as
long as `Retry-After` says when that is at most RETRY_AFTER_MAX_WAIT (two minutes), then retries;
a longer wait is not made: the request is given up on at once, and the spider's error line says
why ('HTTP 429 (rate limited for 1h00m; not waiting that long)'). Without the header, or on other
statuses, Scrapy's own rules apply.
"""
from __future__ import annotations

import asyncio

from scrapy.downloadermiddlewares.retry import RetryMiddleware

from crawler.pollers.base import duration_wording, retry_after_seconds

RETRY_AFTER_MAX_WAIT = 120.0  # seconds; the API pollers' Fetcher.max_wait
RETRY_AFTER_STATUSES = (429, 503)


def response_retry_after(response) -> float | None:
    """Seconds a Scrapy response's Retry-After header asks for; None if absent or unreadable."""
    return retry_after_seconds(response.headers.get("Retry-After", b"").decode("latin-1"))


def wait_wording(seconds: float) -> str:
    """'rate limited for 1h00m', worded as the pollers' durations ('3m20s', '45s')."""
    return f"rate limited for {duration_wording(seconds)}"


class RetryAfterMiddleware(RetryMiddleware):
    """RetryMiddleware that waits for a short Retry-After and gives up at once on a long one."""

    async def process_response(self, request, response):
        wait = response_retry_after(response)
        if (wait is None or response.status not in RETRY_AFTER_STATUSES
                or response.status not in self.retry_http_codes
                or request.meta.get("dont_retry", False)):
            return super().process_response(request, response)
        if wait > RETRY_AFTER_MAX_WAIT:
            return response  # an HTTP error for the errback, which words the line
        retry = self._retry(request, f"{response.status} with Retry-After {wait:g}s")
        if retry is None:  # out of retries
            return response
        if wait > 0:
            await asyncio.sleep(wait)
        return retry
