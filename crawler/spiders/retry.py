"""Retries that honour Retry-After, as the API pollers do (crawler.pollers.base.Fetcher).

Scrapy's RetryMiddleware retries a 429 or 503 at once, whatever the site asked. This one waits as
long as `Retry-After` says when that is at most RETRY_AFTER_MAX_WAIT (two minutes), then retries;
a longer wait is not made: the request is given up on at once, and the spider's error line says
why ('HTTP 429 (rate limited for 1h00m; not waiting that long)'). Without the header, or on other
statuses, Scrapy's own rules apply.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import email.utils

from scrapy.downloadermiddlewares.retry import RetryMiddleware

RETRY_AFTER_MAX_WAIT = 120.0  # seconds; the API pollers' Fetcher.max_wait
RETRY_AFTER_STATUSES = (429, 503)


def retry_after_seconds(response) -> float | None:
    """Seconds asked for by a Retry-After header (a number or an HTTP date); None if absent or
    unreadable."""
    value = response.headers.get("Retry-After", b"").decode("latin-1").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (moment - dt.datetime.now(dt.timezone.utc)).total_seconds())


def wait_wording(seconds: float) -> str:
    """'rate limited for 1h00m', worded as the pollers' durations ('3m20s', '45s')."""
    seconds = int(round(seconds))
    if seconds >= 2 * 86400:
        length = f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    elif seconds >= 3600:
        length = f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    elif seconds >= 60:
        length = f"{seconds // 60}m{seconds % 60:02d}s"
    else:
        length = f"{seconds}s"
    return f"rate limited for {length}"


class RetryAfterMiddleware(RetryMiddleware):
    """RetryMiddleware that waits for a short Retry-After and gives up at once on a long one."""

    async def process_response(self, request, response):
        wait = retry_after_seconds(response)
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
