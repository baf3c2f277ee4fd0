"""Google Play reviews, through the maintained google-play-scraper library (newest first).

No key needed. The library talks to Google Play with urllib, outside httpx: any failure of it is
caught and recorded on the crawl run as one line. While it runs, its urlopen is given a socket
timeout and its answers are read within the Fetcher's size cap and deadline (urllib waits forever). Its `reviews()` swallows its own errors (an
unreachable Play store, a wrong app_id) and answers "no reviews", so the poller watches the
library's requests: when a pass gets no review at all and one of them failed, that failure is the
run's error line. Otherwise, with no review at all, the app's Play page is read with the Fetcher:
an error there fails the run with one line. Google changes that private interface often;
when the library breaks, `pip install -U google-play-scraper` is the fix. A library that can no
longer read Google's answer while the page reads fine still looks like "no reviews": it gives the
same empty answer for an app with no reviews in that language (it catches its own parse errors for
that case too), and today's Play page cannot tell the two apart, so such a poll stays `ok`.

`base_url` (a mirror or proxy of Google Play) applies to the library too: its review requests go
to `{base_url}/_/PlayStoreUi/data/batchexecute`, and the Play page check reads
`{base_url}/store/apps/details`, so the check always reads the host the library used. Without
`base_url` both go to https://play.google.com.

Google Play's "newest" order is by a review's last update, and an edited review keeps its id: an
edited review that is stored already comes back at the top. So a poll does not stop at stored
reviews (it skips them); it stops at the first page that reaches the newest review time of the
last finished poll (cursor `newest`), or at `max_pages`. A first poll (no cursor) reads `max_pages`.
A later poll that runs out of pages first (a burst of new reviews) keeps the cursor, says so in a
line, and the next polls read on past the pages it read (crawler.cursors.ListingBudget), up to
`max_pages` × 10 pages from the top: a backlog deeper than that is given up with a line and the
cursor moves on. The library's continuation token is not kept for them, as nothing says how long
Google honours it, and the library answers a refused token as it answers the end of the reviews.
The stored text of an edited review stays its first version (storage keeps what it has).

`parse` also reads a saved Google Play web page (the old 2016 review layout, as in the recorded
`jp.mixi` page); `options.html_url` polls such a page instead of the library. Current Play pages
render reviews with JavaScript, so this is only useful for saved or mirrored pages.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from crawler.cursors import (ListingBudget, iso_cursor, iso_time, stored_time, unix_time,
                             unreachable_reviews_line, unread_reviews_line)
from crawler.pollers.base import (MAX_ANSWER_BYTES, REQUEST_DEADLINE, AnswerRefused, FetchError, Page, Poller,
                                  describe_url, network_problem, optional_text, parse_items, text_of)
from storage import Mention

PAGE_SIZE = 100
NEWEST = "newest"  # cursor: the newest review time a finished poll read (ISO), never after its start
PLAY_BASE_URL = "https://play.google.com"
_JA_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_WIDTH = re.compile(r"width:\s*(\d+(?:\.\d+)?)%")
# the library keeps its request URL and request function as module state: one call at a time
_LIBRARY_LOCK = threading.Lock()
# seconds each socket operation of the library's requests may take (urllib's own default: forever,
# so a Play store that never answers would hold the source's job for good)
LIBRARY_SOCKET_TIMEOUT = 20.0
_READ_SIZE = 64 * 1024


class LibraryRequestFailed(Exception):
    """The library's own request failed and it answered "no reviews" anyway; one line."""


def _library_reviews(app_id: str, *, base_url: str | None = None, **kwargs) -> tuple[list[dict], Any]:
    """google_play_scraper.reviews() against `base_url` (default Google Play); raises
    LibraryRequestFailed when it answers no review because its request failed."""
    from google_play_scraper import Sort, reviews
    from google_play_scraper.constants.request import Formats
    from google_play_scraper.features import reviews as reviews_module
    from google_play_scraper.utils import request as request_module

    _check_certificates_again()

    endpoint = Formats.Reviews
    failures: list[BaseException] = []
    real_post = getattr(reviews_module, "post", None)
    real_urlopen = getattr(request_module, "urlopen", None)  # what its requests go through

    def watched_post(*args, **kw):
        try:
            return real_post(*args, **kw)
        except Exception as exc:
            failures.append(exc)
            raise

    redirected = False
    with _LIBRARY_LOCK:
        try:
            if base_url:
                base_url = base_url.rstrip("/")
                url_format = getattr(type(endpoint), "URL_FORMAT", None)
                if isinstance(url_format, str) and "URL_FORMAT" not in vars(endpoint):
                    endpoint.URL_FORMAT = url_format.replace(PLAY_BASE_URL, base_url, 1)
                    redirected = True
                if not (redirected and endpoint.build(lang="en", country="us").startswith(base_url + "/")):
                    raise LibraryRequestFailed(
                        "this google-play-scraper version cannot be pointed at base_url; remove "
                        "base_url (or give options.html_url)")
            request_url = endpoint.build(lang=kwargs.get("lang", "en"), country=kwargs.get("country", "us"))
            if real_post is not None:
                reviews_module.post = watched_post
            if real_urlopen is not None:
                request_module.urlopen = _LimitedRequests().urlopen
            found, token = reviews(app_id, sort=Sort.NEWEST, **kwargs)
        finally:
            if real_post is not None:
                reviews_module.post = real_post
            if real_urlopen is not None:
                request_module.urlopen = real_urlopen
            if redirected:
                del endpoint.URL_FORMAT
    if not found and failures:
        raise LibraryRequestFailed(f"no reviews came back: the library's POST {describe_url(request_url)} "
                                   f"failed: {_library_problem(failures[-1])}")
    return found, token


class _LimitedRequests:
    """urllib's urlopen as the library calls it during one `_library_reviews` call: with a socket
    timeout, and each answer read only up to MAX_ANSWER_BYTES and until REQUEST_DEADLINE after its
    request began (the limits the Fetcher keeps). The library tries a failed request three times:
    once a limit has been passed, its other tries fail at once with the same error, instead of
    reading 32 MB or waiting out the deadline again (a socket timeout is tried again, as before)."""

    def __init__(self):
        self.passed: Exception | None = None

    def urlopen(self, request, *args, **kwargs):
        if self.passed is not None:
            raise self.passed
        started = time.monotonic()
        kwargs.setdefault("timeout", LIBRARY_SOCKET_TIMEOUT)
        return _LimitedAnswer(urllib.request.urlopen(request, *args, **kwargs), self, started)


class _DeadlinePassed(TimeoutError):
    """An answer still coming in after REQUEST_DEADLINE."""


class _LimitedAnswer:
    """A urllib answer whose `read()` stops at the size cap or the deadline (the library reads whole
    answers only)."""

    def __init__(self, response, limits: _LimitedRequests, started: float):
        self._response = response
        self._limits = limits
        self._started = started

    def read(self, *_args) -> bytes:
        chunks, size = [], 0
        with self._response:
            # read1: what has come in (read() would wait for all of _READ_SIZE, past the deadline)
            while chunk := self._response.read1(_READ_SIZE):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    self._limits.passed = AnswerRefused(
                        f"answer larger than {MAX_ANSWER_BYTES // 2**20} MB; not read further")
                elif time.monotonic() - self._started > REQUEST_DEADLINE:
                    self._limits.passed = _DeadlinePassed(f"answer not read whole within {REQUEST_DEADLINE:g} s")
                if self._limits.passed is not None:
                    raise self._limits.passed
                chunks.append(chunk)
        return b"".join(chunks)

    def __getattr__(self, name):
        return getattr(self._response, name)


def _check_certificates_again() -> None:
    """google-play-scraper switches off certificate checks for every https request urllib makes in
    the process when it is imported (ssl._create_default_https_context = _create_unverified_context):
    anyone on the way could then answer for Google Play. Python's default is put back."""
    if ssl._create_default_https_context is not ssl.create_default_context:
        ssl._create_default_https_context = ssl.create_default_context


def _library_problem(exc: BaseException) -> str:
    """The library's request failure in plain words: 'connection refused (URLError)', 'HTTP 404'."""
    message = " ".join(str(exc).split())
    if isinstance(exc, (AnswerRefused, _DeadlinePassed)):
        return message
    if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
        return f"timed out: the server sent nothing for {LIBRARY_SOCKET_TIMEOUT:g} s"
    status = re.search(r"\((\d{3})\)|Status code (\d{3})", message)
    if status:
        code = status.group(1) or status.group(2)
        hint = " (is options.app_id the package name?)" if code == "404" else ""
        return f"HTTP {code}{hint}"
    if "PlayGatewayError" in message:
        return "Google Play refused it (rate limit: PlayGatewayError)"
    return network_problem(exc)


class GooglePlayPoller(Poller):
    source = "googleplay"
    description = "Google Play reviews (google-play-scraper library, newest first)"
    options_doc = {
        "app_id": "the app's package name, e.g. 'com.example.app' [required]",
        "lang": "review language (default: the watch's language when it has exactly one, else 'en')",
        "country": "store country (default 'us')",
        "max_pages": "pages of 100 reviews read per poll at most (default 5): how far back the first poll "
                     "reads; after a burst, pages the last poll read already do not count",
        "html_url": "instead: a saved Play page with the old review layout (relative to base_url)",
    }
    min_interval = 2.0
    fetch_reviews: Callable[..., tuple[list[dict], Any]] = staticmethod(_library_reviews)

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """google-play-scraper review dicts, or a saved Play web page (HTML text) -> mentions."""
        if isinstance(payload, (str, bytes)):
            return _parse_html(payload, problems)
        return parse_items(payload, _mention_from_review, "googleplay", problems)

    def pages(self) -> Iterator[Page]:
        if self.option("html_url"):
            yield self._html_page()
            return
        app_id = str(self.option("app_id", "")).strip()
        if not app_id:
            raise FetchError("googleplay: options.app_id is required (the app's package name)")
        start = int(time.time())
        top = stored_time(self.cursors, NEWEST, iso_cursor, start, self.source)
        budget = ListingBudget(self.cursors, self.max_pages)
        newest, oldest, token = top, None, None
        for number in itertools.count():
            if number:
                self.fetcher.wait(self.fetcher.min_interval)
            reviews, token = self._fetch(app_id, token)
            if number == 0 and not reviews:
                self._check_app_page(app_id)
            # stored reviews are skipped, not stopped at: an edited one comes back at the top
            page, _ = self.make_page(reviews, reviews, stop_at_known=False)
            times = [t for t in (unix_time(m.created_at) for m in page.parsed) if t is not None]
            if times:
                latest = min(max(times), start)  # a review dated in the future must not hide later ones
                newest = latest if newest is None else max(newest, latest)
                oldest = min(times) if oldest is None else min(oldest, min(times))
            reached = top is not None and any(t <= top for t in times)
            last = not page.fetched or token is None or len(reviews) < PAGE_SIZE
            out_of_pages = budget.spend(times)
            if reached or last or out_of_pages:
                # saved with the pass's last page: a broken pass reads again
                # read down to the last poll's place (or a first poll), or as deep as any poll can
                if reached or last or top is None or budget.capped:
                    page.cursors = {**budget.cursors(reached=True),
                                    **({NEWEST: iso_time(newest)} if newest is not None else {})}
                    if not (reached or last or top is None):  # the reviews below are given up
                        page.errors.append(unreachable_reviews_line(self.source, budget.requests,
                                                                    oldest, top))
                else:  # a burst: the cursor stays until a poll gets down to it
                    page.cursors = budget.cursors(reached=False)
                    page.errors.append(unread_reviews_line(self.source, number + 1, oldest, top,
                                                           self.max_pages))
                yield page
                return
            yield page

    def _lang(self) -> str:
        """The language to ask reviews in: options.lang, else the watch's when it has exactly one (a
        watch of Japanese posts asking for English reviews would filter out all it got), else 'en'."""
        languages = self.watch.query.languages
        return self.option("lang", languages[0] if len(languages) == 1 else "en")

    def _fetch(self, app_id: str, token: Any) -> tuple[list, Any]:
        """One page of reviews from the library (newest first), and the token of the next."""
        extra = {"base_url": self.base_url} if self.source_cfg.base_url else {}
        try:
            reviews, token = self.fetch_reviews(
                app_id, lang=self._lang(), country=self.option("country", "us"),
                count=PAGE_SIZE, continuation_token=token, **extra)
        except LibraryRequestFailed as exc:
            raise FetchError(f"googleplay: {app_id}: {exc}", whole_source=True) from None
        except Exception as exc:  # the library raises anything from urllib or its own parsing
            raise FetchError(f"googleplay: {app_id}: {type(exc).__name__}: {str(exc)[:150]}") from None
        for review in reviews if isinstance(reviews, list) else []:
            if isinstance(review, dict):
                review.setdefault("appId", app_id)
                review.setdefault("lang", self._lang())
        return reviews, token

    def _check_app_page(self, app_id: str) -> None:
        """No review at all: tell 'the app has none' from 'the library could not reach Google Play'.
        The page is read from the host the library used (base_url, else Google Play)."""
        url = f"{self.base_url if self.source_cfg.base_url else PLAY_BASE_URL}/store/apps/details"
        params = {"id": app_id, "hl": self._lang(), "gl": self.option("country", "us")}
        try:
            self.fetcher.get(url, params=params)
        except FetchError as exc:
            hint = " (is options.app_id the package name?)" if "HTTP 404" in str(exc) else ""
            raise FetchError(f"googleplay: {app_id}: no reviews came back and the app's Play page "
                             f"could not be read: {exc}{hint}", whole_source=True) from None

    def _html_page(self) -> Page:
        url = str(self.option("html_url"))
        if "://" not in url:
            url = f"{self.base_url}/{url.lstrip('/')}"
        response = self.fetcher.get(url)
        if "html" not in response.headers.get("content-type", ""):
            raise FetchError("googleplay: html_url did not return an HTML page")
        page, _ = self.make_page(response.text)
        return page


def _mention_from_review(review: dict) -> Mention:
    review_id = text_of(review["reviewId"])
    at = review["at"]
    app_id = review.get("appId")
    return Mention(
        source="googleplay",
        external_id=review_id,
        text=text_of(review.get("content")),
        created_at=_library_time(at) if isinstance(at, dt.datetime) else str(at),
        url=(f"https://play.google.com/store/apps/details?id={app_id}&reviewId={review_id}"
             if app_id else None),
        author=optional_text(review.get("userName"), "author"),
        rating=review.get("score"),
        lang=review.get("lang") if isinstance(review.get("lang"), str) else None,
    )


def _library_time(moment: dt.datetime) -> dt.datetime:
    """A time from google-play-scraper as an aware UTC datetime. The library makes its times
    (`at`, `repliedAt`) with datetime.fromtimestamp(): naive, in the host's local zone, where storage
    would read a naive time as UTC. astimezone() on a naive datetime takes it as local time (and
    fromtimestamp's `fold` keeps the repeated hour of a DST change right)."""
    return moment.astimezone(dt.timezone.utc) if moment.tzinfo is None else moment


def _parse_html(payload: str | bytes, problems: list[str] | None) -> list[Mention]:
    from parsel import Selector

    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    try:
        selector = Selector(text=text)
        app_id = selector.css("[data-docid]::attr(data-docid)").get()
        lang = selector.xpath("/html/@lang").get()
        reviews = [_html_review(node, app_id, lang) for node in selector.css("div.single-review")]
    except (ValueError, TypeError) as exc:  # lxml refuses some inputs (e.g. NUL bytes)
        if problems is not None:
            problems.append(f"googleplay: unreadable HTML: {exc}")
        return []
    return parse_items(reviews, _mention_from_html_review, "googleplay", problems)


def _html_review(node, app_id: str | None, lang: str | None) -> dict:
    header = node.css("div.review-header")
    body = node.css("div.review-body")
    body_text = " ".join(t.strip() for t in body.xpath("./text()").getall() if t.strip())
    return {
        "id": header.attrib.get("data-reviewid") if header else None,
        "author": (node.css("span.author-name ::text").getall() or [None]),
        "date": node.css("span.review-date::text").get(),
        "title": body.css("span.review-title::text").get(),
        "text": body_text,
        "width": node.css("div.current-rating::attr(style)").get(),
        "permalink": node.css("a.reviews-permalink::attr(href)").get(),
        "app_id": app_id, "lang": lang,
    }


def _mention_from_html_review(review: dict) -> Mention:
    if not review["id"]:
        raise ValueError("review has no id")
    author = " ".join(a.strip() for a in review["author"] if a and a.strip()) or None
    rating = None
    if review["width"] and _WIDTH.search(review["width"]):
        rating = round(float(_WIDTH.search(review["width"]).group(1)) / 20, 1)
    permalink = review["permalink"]
    return Mention(
        source="googleplay",
        external_id=review["id"],
        text=review["text"],
        title=review["title"] or None,
        created_at=_html_date(review["date"]),
        url=f"https://play.google.com{permalink}" if permalink and permalink.startswith("/") else None,
        author=author,
        rating=rating,
        lang=(review["lang"] or None) and review["lang"].split("_")[0].split("-")[0],
    )


def _html_date(text: str | None) -> str:
    """'2016年5月8日' (Japanese pages) or anything parse_timestamp understands."""
    if not text:
        raise ValueError("review has no date")
    match = _JA_DATE.search(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return dt.datetime(year, month, day, tzinfo=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text.strip()
