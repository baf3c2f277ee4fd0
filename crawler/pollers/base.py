"""The shared part of every API poller: a polite HTTP fetcher and the poller base class.

`Fetcher` wraps one `httpx.Client` per source: explicit timeouts, a wall-clock limit on each
request (REQUEST_DEADLINE: httpx's timeouts are per socket operation, so a server trickling its
answer would hold a poll for as long as it likes), a User-Agent naming the project, a minimum
interval between requests, and retries with exponential backoff that honour `Retry-After` on 429
and 5xx answers (and on 403 when it carries one: GitHub's secondary rate limit), and the end of a
rate limit an API announces in its own way (no requests remaining and a reset time in
`X-RateLimit-*` or `RateLimit-*` headers: GitHub, Mastodon, Reddit, Bluesky; Stack Exchange's
`throttle_violation`). No answer is read past MAX_ANSWER_BYTES once decompressed (a small gzip
answer can unpack to gigabytes). Every problem comes out as a `FetchError` whose message is one line
(no URLs with query strings, no tokens, no terminal controls), with the API's own short error
message when its body has one.

A token read from a poller's default variable goes only to the hosts it is meant for
(`Poller.token_hosts`); another `base_url` gets it only when `options.token_env` names the variable.

A `Poller` turns payloads into `Mention`s with a pure `parse(payload, problems)` (malformed items are
logged and skipped, never raised) and pages through a source with `pages()`, a generator of `Page`s
that stops at the first item already stored. Cursors ride on the pages and are saved by the caller
only after that page's mentions are committed.

A pass that stops part-way (an error on page 3, the process killed) must not leave a gap: the next
pass would stop at the items of pages 1-2 and never reach the older pages. So the caller
(`crawler.collect`) keeps an `unfinished` cursor for every `resumable` poller, set before a pass's
first page is stored and cleared when the pass ends normally; while it is set, `make_page` skips
stored items instead of stopping at them (see `Poller.resuming`), and the poller pages on to its last
page or `max_pages`. Pollers take their newest-item cursor from page 0 of a pass and save it with the
pass's last page, so a resumed pass re-reads the top and moves that cursor only once it finishes.
"""
from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import email.utils
import json
import logging
import math
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpcore
import httpx

from crawler.settings import DOWNLOAD_MAXSIZE
from mentionwatch import __version__
from mentionwatch.config import SourceConfig, Watch
from mentionwatch.logging_setup import redact, remember_secrets
from mentionwatch.terminal import terminal_safe
from storage import Mention

log = logging.getLogger(__name__)

USER_AGENT = f"mentionwatch/{__version__} (+https://github.com/mentionwatch/mentionwatch)"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)  # per socket operation (connect, each read)
# the longest one request may take in all (connecting, sending, the whole answer, its redirects)
REQUEST_DEADLINE = 60.0
MAX_REDIRECTS = 20  # httpx's default
# the most read of one answer, decompressed: the spiders' cap. A 65 KB gzip answer can unpack to
# 1 GiB, which read whole would take minutes and gigabytes of memory
MAX_ANSWER_BYTES = DOWNLOAD_MAXSIZE
# One layer of gzip or deflate unpacks one network read (64 KB) to at most ~66 MB, so memory stays
# near the cap. Brotli, zstd or stacked layers can unpack one read to gigabytes before the cap is
# checked: they are not asked for, and an answer that uses them anyway is refused.
ACCEPT_ENCODING = "gzip, deflate"
_READ_ENCODINGS = frozenset({"gzip", "deflate"})
_REFUSED_ENCODINGS = frozenset({"br", "zstd"})  # the other codings httpx would decode
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# answers that no other search of the same source would escape (see FetchError.whole_source):
# refused credentials, no such endpoint (a wrong base_url), rate limits
SOURCE_WIDE_STATUSES = frozenset({401, 403, 404, 407, 410, 429})
UNFINISHED = "unfinished"  # cursor kept by crawler.collect: a pass began and has not finished
# a tag starts with a letter, '/', '!' or '?' right after '<', as a browser reads it: 'x < 3 and y > 5' is text
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>")
# tags that end a line in a browser, so the words on either side stay apart (`<td>Acme</td><td>Corp`)
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|h\d|hr|pre|blockquote|table|caption|thead|tbody|tfoot|tr|td|th|dl|dt|dd"
    r"|section|article|header|footer|aside|nav|main|figure|figcaption|address|details|summary)\b[^>]*>",
    re.IGNORECASE)
# what a browser does not show: its text must not make a post count as a mention
_HIDDEN_ELEMENT = re.compile(r"<(script|style|noscript)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)


class FetchError(Exception):
    """A request that failed for good; the message is one line for the crawl run's error list.

    `whole_source`: the source itself is unusable right now (unreachable, refusing our credentials,
    rate-limiting us, a bad option), so the other searches of the same poll need not be tried.

    `retry_at`: when the source said its rate limit ends (UTC), if it did and that was too far off
    to wait for.
    """

    def __init__(self, message: str, *, whole_source: bool = False, retry_at: dt.datetime | None = None):
        super().__init__(message)
        self.whole_source = whole_source
        self.retry_at = retry_at


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    """What ran out, in the words the README uses: a server that stops sending half-way through an
    answer is 'sent nothing for 20 s', not a bare 'timed out'."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out: no connection within {DEFAULT_TIMEOUT.connect:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"timed out: the server sent nothing for {DEFAULT_TIMEOUT.read:g} s"
    return "timed out"


def make_client(transport: httpx.BaseTransport | None = None, headers: dict | None = None) -> httpx.Client:
    """The one httpx client of a source (use it as a context manager).

    Its own network transports (not a `transport` given by a test) keep to the deadline a
    `Fetcher` sets for each request, and no answer is read past MAX_ANSWER_BYTES (`caps_answers`).
    """
    client = httpx.Client(
        timeout=DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING, **(headers or {})},
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        transport=transport,
    )
    if transport is None:
        for own in (client._transport, *client._mounts.values()):  # proxies from the environment too
            keeps_deadlines(own)
    return caps_answers(client)


class AnswerRefused(Exception):
    """An answer not read: larger than MAX_ANSWER_BYTES decompressed, or in a content encoding
    that could unpack past it at once. `Fetcher.request` makes it a FetchError line."""


def caps_answers(client: httpx.Client) -> httpx.Client:
    """The client, reading every answer through `read_within_cap` (added once)."""
    hooks = client.event_hooks
    if read_within_cap not in hooks["response"]:
        client.event_hooks = {**hooks, "response": [*hooks["response"], read_within_cap]}
    return client


def read_within_cap(response: httpx.Response) -> None:
    """A response hook: read the body streamed, decompressed chunk by chunk, and stop with
    AnswerRefused once it passes MAX_ANSWER_BYTES.

    httpx calls it before it reads a body itself, for the final answer and for each redirect
    (whose body it would otherwise read whole); the body read here is kept as httpx's own `read()`
    keeps it, so `.content`, `.text` and `.json()` work as usual and httpx reads nothing more.
    """
    if _has_body(response):  # a 304 or a HEAD answer may name any coding: there is nothing to decode
        _refuse_unbounded_encoding(response)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.close()
            raise AnswerRefused(f"answer larger than {MAX_ANSWER_BYTES // 2**20} MB (decompressed); "
                                "not read further")
        chunks.append(chunk)
    response._content = b"".join(chunks)


def _has_body(response: httpx.Response) -> bool:
    status = response.status_code
    return not (response.request.method == "HEAD" or status < 200 or status in (204, 304))


def _refuse_unbounded_encoding(response: httpx.Response) -> None:
    """AnswerRefused for a Content-Encoding of brotli or zstd, or of stacked layers (see
    ACCEPT_ENCODING). A coding httpx does not know is passed through undecoded, as before."""
    codings = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
    decoded = [c for c in codings if c in _READ_ENCODINGS | _REFUSED_ENCODINGS]
    if len(decoded) > 1 or _REFUSED_ENCODINGS.intersection(decoded):
        raise AnswerRefused(f"answer compressed as '{', '.join(decoded)}', which was not asked for "
                            f"(only one layer of {' or '.join(sorted(_READ_ENCODINGS))} is read)")


def keeps_deadlines(transport: httpx.BaseTransport | None) -> bool:
    """Make an httpx.HTTPTransport's connections honour the deadline of the request in progress
    (see `Fetcher.request`): every connect, read and write gets at most the time left, so the
    request stops at the deadline however slowly the server trickles its answer. Says whether it
    could (httpx keeps its connection pool in a private attribute: a test checks it still does)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, _DeadlineBackend):
        return True
    if not isinstance(backend, httpcore.NetworkBackend):
        log.debug("cannot set request deadlines on %r", transport)
        return False
    pool._network_backend = _DeadlineBackend(backend)
    return True


@dataclass
class _Deadline:
    at: float  # time.monotonic()
    reached: bool = False


_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("request_deadline", default=None)


def _within_deadline(operation: Callable[[float | None], Any], timeout: float | None, too_slow: type) -> Any:
    """operation(timeout), with the timeout cut to the time left before the current deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return operation(timeout)
    left = deadline.at - time.monotonic()
    if left <= 0:
        deadline.reached = True
        raise too_slow("request deadline reached")
    if timeout is not None and timeout < left:
        return operation(timeout)
    try:
        return operation(left)
    except httpcore.TimeoutException:
        deadline.reached = True
        raise


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _within_deadline(lambda t: self._stream.read(max_bytes, t), timeout, httpcore.ReadTimeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return _within_deadline(lambda t: self._stream.write(buffer, t), timeout, httpcore.WriteTimeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(_within_deadline(
            lambda t: self._stream.start_tls(ssl_context, server_hostname, t), timeout, httpcore.ConnectTimeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options=None) -> httpcore.NetworkStream:
        return _DeadlineStream(_within_deadline(
            lambda t: self._backend.connect_tcp(host, port, t, local_address, socket_options),
            timeout, httpcore.ConnectTimeout))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options=None) -> httpcore.NetworkStream:
        return _DeadlineStream(_within_deadline(
            lambda t: self._backend.connect_unix_socket(path, t, socket_options), timeout,
            httpcore.ConnectTimeout))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class Fetcher:
    """GET with rate limiting, retries and one-line errors. `sleep` and `clock` are injectable."""

    def __init__(self, client: httpx.Client, *, min_interval: float = 1.0, max_retries: int = 3,
                 backoff: float = 2.0, max_wait: float = 120.0, deadline: float | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.client = caps_answers(client)
        # seconds one request may take in all, on the real clock (default REQUEST_DEADLINE)
        self.deadline = REQUEST_DEADLINE if deadline is None else deadline
        self.min_interval = min_interval
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self._last_request: float | None = None
        self.last_asked: str | None = None  # 'GET host/path' of the latest request, for error lines
        # a pause the site asked for that is longer than max_wait: no request before it ends
        self.hold_until: dt.datetime | None = None
        self._last_host: str | None = None
        # the end of a short pause a site asked of this fetcher, which it sleeps out itself while
        # the site's other sources (other threads) hold off: not a hold for itself
        self._own_site_pause: dt.datetime | None = None
        self.asked = False  # a request went out
        self.held = False  # a request was not made: the site is in a pause it asked for

    def wait(self, seconds: float) -> None:
        """Pause before the next request (a source asked for it, e.g. Stack Exchange `backoff`).
        A pause longer than `max_wait` is not slept: until it ends, every request to that site
        from this process (other watches' polls too) fails at once, and the caller keeps
        `hold_until` so that the service's next poll waits for it too."""
        if math.isnan(seconds):
            return
        if seconds > MAX_SITE_PAUSE:  # +inf too
            log.warning("%s asked for a pause of %s: taken as a day", self._last_host or "a site",
                        duration_wording(seconds) if math.isfinite(seconds) else "forever")
            seconds = MAX_SITE_PAUSE
        if seconds > self.max_wait:
            self.hold_until = _utc_now() + dt.timedelta(seconds=seconds)
            if self._last_host:
                _hold_site(self._last_host, self.hold_until)
        elif seconds > 0:
            self.sleep(seconds)

    def _respect_hold(self, method: str, where: str, host: str | None) -> None:
        """FetchError (with its end) while a long pause the site asked for lasts."""
        site_hold = _site_hold(host)
        if site_hold is not None and self._own_site_pause is not None and site_hold <= self._own_site_pause:
            site_hold = None
        ends = [end for end in (self.hold_until, site_hold) if end is not None]
        if not ends or max(ends) <= _utc_now():
            return
        self.hold_until = max(ends)
        self.held = True
        left = (self.hold_until - _utc_now()).total_seconds()
        raise FetchError(f"{method} {where}: the site asked for a pause until {_when(self.hold_until)} "
                         f"(in {duration_wording(left)}; not waiting that long)",
                         whole_source=True, retry_at=self.hold_until)

    def request(self, method: str, url: str, *, params: dict | None = None,
                headers: dict | None = None, data: dict | None = None, auth=None,
                ok_statuses: Iterable[int] = ()) -> httpx.Response:
        """One request, retried on timeouts, connection errors, 429, 5xx and rate limits with a
        known end; FetchError otherwise."""
        where = describe_url(url)
        self.last_asked = f"{method} {where}"
        self._last_host = _host_of(url)
        self._respect_hold(method, where, self._last_host)
        for attempt in range(self.max_retries + 1):
            asked_pause = False  # the site said how long to wait (Retry-After, a rate limit's end)
            self._respect_rate_limit()
            deadline = _Deadline(time.monotonic() + self.deadline)
            token = _DEADLINE.set(deadline)
            self.asked = True
            try:
                response = self.client.request(method, url, params=params, headers=headers,
                                               data=data, auth=auth)
            except httpx.TimeoutException as exc:
                if deadline.reached:  # retrying would only stall the poll as long again
                    raise FetchError(f"{method} {where}: answer too slow (over {self.deadline:g} s)",
                                     whole_source=True) from None
                problem, delay = f"{method} {where}: {_timeout_kind(exc)}", self._backoff_delay(attempt)
                whole_source = True
            except httpx.TransportError as exc:
                reason = network_problem(exc)
                problem, delay = f"{method} {where}{_redirected_to(exc, url)}: {reason}", self._backoff_delay(attempt)
                whole_source = True
                if isinstance(exc, httpx.UnsupportedProtocol):  # a redirect to ftp:// fails the same way again
                    raise FetchError(problem, whole_source=True) from None
                if attempt >= 1 and reason.startswith(_HARDLY_PASSING):
                    break  # no DNS or no network: tried twice, the rest is waiting for nothing
            except httpx.TooManyRedirects:  # the server sends us round in a circle: not worth a retry
                raise FetchError(f"{method} {where}: redirect loop (more than {self.client.max_redirects} "
                                 f"redirects)", whole_source=True) from None
            except httpx.DecodingError as exc:  # e.g. a body that is not the gzip its header says
                raise FetchError(f"{method} {where}: the answer could not be decoded "
                                 f"({_one_line(str(exc))[:100] or 'DecodingError'})") from None
            except AnswerRefused as exc:  # too large: asking again would only read as much again
                raise FetchError(f"{method} {where}: {exc}") from None
            else:
                status = response.status_code
                if status < 300 or status in set(ok_statuses):
                    return response
                detail = api_error_detail(response)
                problem = f"{method} {where}: HTTP {status} {remote_text(response.reason_phrase)}".rstrip()
                if detail:
                    problem += f": {detail}"
                whole_source = status in SOURCE_WIDE_STATUSES
                delay = _retry_after(response)
                limited_until = None if delay is not None else _rate_limit_end(response)
                asked_pause = delay is not None or limited_until is not None
                if limited_until is not None:  # an API's own rate limit, with its end: like Retry-After
                    whole_source = True
                    delay = max(1.0, (limited_until - _utc_now()).total_seconds())
                longer_asked = ""
                if delay is not None and delay > MAX_SITE_PAUSE:
                    delay, longer_asked = MAX_SITE_PAUSE, _LONGER_ASKED
                    limited_until = limited_until and _utc_now() + dt.timedelta(seconds=delay)
                # a 403 with Retry-After is a rate limit (GitHub's secondary one), not a refusal
                if (status not in RETRY_STATUSES and not (status == 403 and delay is not None)
                        and limited_until is None):
                    raise FetchError(problem, whole_source=whole_source or _is_rate_limit(response))
                if delay is None:
                    delay = self._backoff_delay(attempt)
                elif delay > self.max_wait and limited_until is not None:
                    raise FetchError(f"{problem} (rate limited until {_when(limited_until)}, "
                                     f"in {duration_wording(delay)}; not waiting that long{longer_asked})",
                                     whole_source=True, retry_at=limited_until)
                elif delay > self.max_wait:
                    raise FetchError(f"{problem} (Retry-After {delay:.0f}s is longer than "
                                     f"{self.max_wait:.0f}s; try again later{longer_asked})", whole_source=True,
                                     retry_at=_utc_now() + dt.timedelta(seconds=delay))
            finally:
                _DEADLINE.reset(token)
            if attempt == self.max_retries:
                break
            if asked_pause:  # the site's other sources wait for it too, not sleeping
                self._hold_whole_site(_utc_now() + dt.timedelta(seconds=delay))
            log.info("%s; retrying in %.1fs", problem, delay)
            self.sleep(delay)
        raise FetchError(f"{problem} (after {attempt + 1} attempts)", whole_source=whole_source)

    def _hold_whole_site(self, until: dt.datetime) -> None:
        """A pause the site asked of this source: its other sources (other threads) hold off until
        then too, instead of asking it meanwhile; this fetcher is not held by it."""
        if self._last_host:
            self._own_site_pause = until
            _hold_site(self._last_host, until)

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def get_json(self, url: str, **kwargs) -> Any:
        """GET and decode JSON; HTML or truncated bodies become a FetchError, not a crash."""
        return decode_json(self.get(url, **kwargs))

    def _respect_rate_limit(self) -> None:
        now = self.clock()
        if self._last_request is not None:
            remaining = self.min_interval - (now - self._last_request)
            if remaining > 0:
                self.sleep(remaining)
                now = self.clock()
        self._last_request = now

    def _backoff_delay(self, attempt: int) -> float:
        return min(self.backoff * (2 ** attempt), self.max_wait)


def _redirected_to(exc: httpx.TransportError, url: str) -> str:
    """' (redirected to host/path)' when the request that failed is a redirect's, not the one asked:
    the site asked answered, and the address it sent us to is the one to check."""
    try:
        failed = exc.request.url
        if failed.copy_with(query=None) == httpx.URL(url).copy_with(query=None):
            return ""
    except (RuntimeError, httpx.InvalidURL):  # no request attached; an address httpx cannot read
        return ""
    where = describe_url(str(failed)) or "an address with no host"
    if where == describe_url(url):  # http to https, say: the scheme is what differs
        where = f"{failed.scheme}://{where}"
    return f" (redirected to {remote_text(where)})"  # the other server chose it: no controls


def is_refusal(error: FetchError) -> bool:
    """Whether the source refused us: HTTP 401 or 403."""
    return re.search(r"HTTP 40[13]\b", str(error)) is not None


def with_token_hint(error: FetchError, variables: dict[str, str]) -> FetchError:
    """A refusal (HTTP 401/403) while credential variables are unset: the line names them.

    `variables` maps each environment variable to what goes in it ('an access token').
    """
    unset = {name: what for name, what in variables.items() if not os.environ.get(name)}
    if not unset or not is_refusal(error):
        return error
    names, things = " and ".join(unset), " and ".join(unset.values())
    verb, pronoun = ("is", "it") if len(unset) == 1 else ("are", "them")
    return FetchError(f"{error} ({names} {verb} not set: put {things} in {pronoun})",
                      whole_source=error.whole_source, retry_at=error.retry_at)


def _host_matches(host: str, pattern: str) -> bool:
    """'api.github.com' matches itself; '.host.bsky.network' any host under host.bsky.network."""
    host = host.lower().rstrip(".")
    return host.endswith(pattern) if pattern.startswith(".") else host == pattern


def warn_once(message: str, *args) -> None:
    """A configuration warning, logged once per process (a source is polled again and again)."""
    text = message % args if args else message
    if text not in _WARNED:
        _WARNED.add(text)
        log.warning("%s", text)


_WARNED: set[str] = set()


def decode_json(response: httpx.Response) -> Any:
    """The JSON body of a response, or a FetchError saying what came instead.

    Bytes that are not UTF-8 (one Latin-1 character in one item) do not cost the whole answer:
    they become U+FFFD in that item's text, with one warning for the answer.
    """
    where = describe_url(str(response.request.url)) if response.request else "response"
    content_type = remote_text(response.headers.get("content-type", "").split(";")[0].strip().lower())
    body = response.content
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:100].lower()
    if not start:
        raise FetchError(f"GET {where}: empty answer (HTTP {response.status_code}, {len(body)} bytes)")
    if start.startswith(b"<"):  # markup where JSON was expected: a login, error or moved page
        if "xml" in content_type or start.startswith((b"<?xml", b"<rss", b"<feed")):
            raise FetchError(f"GET {where}: expected JSON, got XML ({content_type or 'no content type'})")
        raise FetchError(f"GET {where}: expected JSON, got an HTML page")
    # some older feed services label JSON as text/javascript; HTML, XML or plain text are refused
    if "json" not in content_type and content_type != "text/javascript":
        raise FetchError(f"GET {where}: expected JSON, got {content_type or 'no content type'}")
    try:
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        text = body.decode(exc.encoding, "replace")
        log.warning("GET %s: the answer is not valid %s (first bad byte at %d); the bad bytes are "
                    "kept as U+FFFD", where, exc.encoding.upper(), exc.start)
    except LookupError:  # not an encoding JSON may have
        raise FetchError(f"GET {where}: invalid JSON (not UTF-8, -16 or -32 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text[exc.pos:].strip():  # the text ended where more was expected
            raise FetchError(f"GET {where}: invalid JSON (truncated?): the answer ends after "
                             f"{len(body)} bytes: {exc.msg}") from None
        raise FetchError(f"GET {where}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg}") from None
    except ValueError as exc:  # e.g. a number too long to convert
        raise FetchError(f"GET {where}: invalid JSON: {str(exc)[:80]}") from None


# fields of an API's JSON error answer, in the order they are quoted (name, then message)
_ERROR_NAME_FIELDS = ("error_name",)  # Stack Exchange: throttle_violation, access_token_invalid, ...
_ERROR_MESSAGE_FIELDS = ("error_message", "message", "error_description", "detail")
_MAX_DETAIL = 160


def api_error_detail(response: httpx.Response) -> str | None:
    """The API's short error name and message from a JSON error body (Stack Exchange
    `error_name`/`error_message`, GitHub `message`, Bluesky `error` + `message`), one line,
    redacted and safe to print (`remote_text`); None when the body has none. A lone `error` field
    is not quoted (often a bare code)."""
    body = _json_error_body(response)
    if body is None:
        return None
    message = next((body[k] for k in _ERROR_MESSAGE_FIELDS if isinstance(body.get(k), str)), None)
    name = next((body[k] for k in _ERROR_NAME_FIELDS if isinstance(body.get(k), str)), None)
    if name is None and message is not None and isinstance(body.get("error"), str):
        name = body["error"]
    parts = [remote_text(p) for p in (name, message) if p and _one_line(p)]
    parts = [p for p in dict.fromkeys(parts) if p.lower() != remote_text(response.reason_phrase).lower()]
    if not parts:
        return None
    detail = redact(": ".join(parts))
    return detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL - 1].rstrip() + "…"


def _json_error_body(response: httpx.Response) -> dict | None:
    content = response.content
    if not content or len(content) > 64_000 or not content.lstrip()[:1] == b"{":
        return None
    try:
        body = json.loads(content.decode("utf-8", "replace"))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


_AVAILABLE_IN = re.compile(r"available in (\d{1,9}) seconds?", re.IGNORECASE)


# (remaining, reset) header pairs: GitHub, Mastodon and Reddit use the X- names, Bluesky the others
_RATE_LIMIT_HEADERS = (("x-ratelimit-remaining", "x-ratelimit-reset"),
                       ("ratelimit-remaining", "ratelimit-reset"))
# a reset below this (2001-09-09 as Unix time) counts seconds from now (Reddit), not a Unix time
_SECONDS_FROM_NOW_BELOW = 10**9
# the longest pause a site's answer can impose: one asking for more (a proxy's wrong header, a site
# with a wrong clock, 'Retry-After: <a date in 2099>') would silence the source for good
MAX_SITE_PAUSE = 86400.0
_LONGER_ASKED = "; a longer pause asked for is taken as a day"


def _is_rate_limit(response: httpx.Response) -> bool:
    """An API-specific rate-limit answer, whether or not it says when the limit ends."""
    body = _json_error_body(response) or {}
    return (body.get("error_name") == "throttle_violation"  # Stack Exchange (HTTP 400)
            or (response.status_code in (403, 429) and _spent_limit_reset(response) is not None))


def _spent_limit_reset(response: httpx.Response) -> str | None:
    """The reset header's value ('' when absent) of a rate limit with no requests left; None when
    no remaining-requests header says 0 (Reddit writes it as a float: '0.0')."""
    for remaining, reset in _RATE_LIMIT_HEADERS:
        left = _header_number(response.headers.get(remaining))
        if left is not None and left <= 0:
            return response.headers.get(reset, "").strip()
    return None


def _header_number(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _rate_limit_end(response: httpx.Response) -> dt.datetime | None:
    """When an API's own rate limit ends (UTC), as its headers (no requests remaining, and the
    reset moment) or Stack Exchange (`throttle_violation`, "more requests available in N seconds")
    tell it; None when this is no such answer or it does not say."""
    if not _is_rate_limit(response):
        return None
    end = _reset_moment(_spent_limit_reset(response) or "")
    if end is not None:
        return end
    body = _json_error_body(response) or {}
    match = _AVAILABLE_IN.search(str(body.get("error_message", "")))
    if match:
        return _utc_now() + dt.timedelta(seconds=int(match.group(1)))
    return None


def _reset_moment(value: str) -> dt.datetime | None:
    """The moment (UTC) a rate-limit reset header names: Unix seconds (GitHub, Bluesky), seconds
    from now (Reddit: '240') or an ISO 8601 time (Mastodon); None when unreadable."""
    number = _header_number(value)
    if number is None:
        return _iso_moment(value)
    if number < 0:
        return None
    if number < _SECONDS_FROM_NOW_BELOW:
        return _utc_now() + dt.timedelta(seconds=number)
    try:
        return dt.datetime.fromtimestamp(number, dt.timezone.utc)
    except (OverflowError, ValueError, OSError):  # past the year 9999
        return None


def _iso_moment(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# site -> end of a long pause it asked for (Stack Exchange's `backoff` binds every request from
# this address, whichever watch makes it)
_SITE_HOLDS: dict[str, dt.datetime] = {}
_SITE_HOLDS_LOCK = threading.Lock()


def _hold_site(host: str, until: dt.datetime) -> None:
    with _SITE_HOLDS_LOCK:
        if host not in _SITE_HOLDS or _SITE_HOLDS[host] < until:
            _SITE_HOLDS[host] = until


def _site_hold(host: str | None) -> dt.datetime | None:
    with _SITE_HOLDS_LOCK:
        return _SITE_HOLDS.get(host) if host else None


def _host_of(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration_wording(seconds: float) -> str:
    """'3d04h', '22h55m', '3m20s', '45s'."""
    seconds = int(round(seconds))
    if seconds >= 2 * 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def remote_text(text: str) -> str:
    """Text a remote server chose (an API's error message, a reason phrase, a content type) as one
    line safe to print and log: escape sequences and other controls a terminal would obey (ESC, BEL,
    bidi overrides) are written out as visible escapes ('\\x1b'), as `mentionwatch status` shows
    stored text. Made safe where it is taken from the answer, it is safe in every error line, stored
    error and log line that quotes it."""
    return terminal_safe(_one_line(text))


def describe_url(url: str) -> str:
    """Host, port (when not the default) and path only: query strings may carry search terms or keys,
    user:password@ credentials, and lines stay short."""
    try:
        parsed = httpx.URL(url)
        if not parsed.host:
            return parsed.path
        host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host  # an IPv6 address
        port = f":{parsed.port}" if parsed.port is not None else ""
        return f"{host}{port}{parsed.path}"
    except Exception:  # an unparsable URL is still worth a line
        return url.split("?")[0].rsplit("@", 1)[-1][:200]


# Reasons a few seconds will not mend (an offline machine, a misspelt host): retried once, not
# max_retries times, so an offline crawl of several sources fails in seconds, not a minute.
_HARDLY_PASSING = ("host name not found", "DNS lookup failed", "network unreachable")

_PLAIN_REASONS = (  # (words in the OS's message, what to say)
    ("connection refused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("temporary failure in name resolution", "DNS lookup failed, no internet?"),
    ("getaddrinfo failed", "host name not found"),
    ("network is unreachable", "network unreachable, no internet?"),
    ("no route to host", "no route to host"),
    ("connection reset", "connection reset by the server"),
    ("certificate verify failed", "TLS certificate not trusted"),
)
_FALLBACK_REASONS = {
    "ConnectError": "could not connect",
    "ReadError": "connection broken while reading the answer",
    "WriteError": "connection broken while sending the request",
    "RemoteProtocolError": "the server closed the connection or answered with broken HTTP",
    "ProxyError": "the proxy refused the request",
    "UnsupportedProtocol": "not an http(s) address",
}


def network_problem(exc: BaseException) -> str:
    """'connection refused (ConnectError)': the reason of a network error (httpx's, or urllib's
    URLError) in plain words, then the error's type."""
    name = type(exc).__name__
    message = " ".join(str(exc).lower().split())  # one line
    message = re.sub(r"^<urlopen error (.*)>$", r"\1", message)
    reason = next((plain for words, plain in _PLAIN_REASONS if words in message), None)
    if reason is None:
        reason = re.sub(r"^\[errno -?\d+\]\s*", "", message)[:120] or _FALLBACK_REASONS.get(name)
    return f"{reason} ({name})" if reason else name


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for by a Retry-After header (a number or an HTTP date); None if absent."""
    return retry_after_seconds(response.headers.get("retry-after"))


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a Retry-After value asks for (a number or an HTTP date); None if absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():  # not '²' (a Latin-1 byte read as text)
        return min(float(value), 1e9)  # 400 nines would be infinite: about 31 years is plenty
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (moment - dt.datetime.now(dt.timezone.utc)).total_seconds())


@dataclass
class Page:
    """One page of a source: its new mentions, and the cursors to save once they are committed."""

    mentions: list[Mention]
    fetched: int = 0  # items in the payload, malformed ones included
    rejected: int = 0  # items `parse` skipped as malformed
    cursors: dict[str, str | None] = field(default_factory=dict)  # None clears a cursor
    errors: list[str] = field(default_factory=list)  # non-fatal problems (e.g. one feed of many)
    already_stored: int = 0  # items from the first stored one on (the poll stopped there), or skipped as stored
    left_out: int = 0  # items a poller leaves out on purpose (counted as filtered)
    parsed: list[Mention] = field(default_factory=list, repr=False)  # all of the payload's mentions, stored ones too


_NOT_GIVEN = object()


class Poller:
    """Base of the API pollers. A subclass sets the class attributes and writes parse() and pages()."""

    source: ClassVar[str] = ""  # stored as Mention.source
    description: ClassVar[str] = ""
    options_doc: ClassVar[dict[str, str]] = {}
    default_base_url: ClassVar[str] = ""
    min_interval: ClassVar[float] = 1.0  # seconds between two requests to this source
    default_max_pages: ClassVar[int] = 5
    extra_headers: ClassVar[dict[str, str]] = {}
    # pages newest first and stops at the first stored item: the collector keeps the UNFINISHED mark
    resumable: ClassVar[bool] = True
    # environment variables it reads credentials from (all optional) -> what goes in each; a
    # refusal while one is unset names it (see explain_refusal)
    credentials: ClassVar[dict[str, str]] = {}
    # hosts a token from the default variable (of `credentials`) is meant for, over https on the
    # default port; a leading dot: any host under that domain; empty: default_base_url's host.
    # Any other base_url gets that token only when options.token_env names the variable: a token
    # for mastodon.social must not go to the operator of a second instance a watch reads.
    token_hosts: ClassVar[tuple[str, ...]] = ()
    # the variable whose token bearer_headers left out (base_url not among token_hosts), if any
    token_withheld: str | None = None
    # the default variable, unset, whose token would not go to this base_url even if it were set
    token_elsewhere: str | None = None

    def __init__(self, watch: Watch, source_cfg: SourceConfig, fetcher: Fetcher,
                 cursors: dict[str, str], known: Callable[[list[str]], set[str]]):
        self.watch = watch
        self.source_cfg = source_cfg
        self.options = source_cfg.options
        self.fetcher = fetcher
        self.cursors = dict(cursors)
        self.known = known
        self.base_url = (source_cfg.base_url or self.default_base_url).rstrip("/")

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        raise NotImplementedError

    def pages(self) -> Iterator[Page]:
        raise NotImplementedError

    # helpers for subclasses -------------------------------------------------------------------

    def option(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name)
        return default if value is None else value

    def int_option(self, name: str, default: int) -> int:
        """A whole-number option (at least 1); a bad value is one clear error line."""
        value = self.option(name, default)
        if isinstance(value, bool) or not str(value).strip().isdigit() or int(value) < 1:
            raise FetchError(f"{self.source}: options.{name}: expected a whole number of 1 or more, "
                             f"got {value!r}", whole_source=True)
        return int(value)

    def choice_option(self, name: str, choices: tuple[str, ...]) -> str:
        """An option that must be one of `choices` (the first is the default)."""
        value = self.option(name, choices[0])
        if value not in choices:
            raise FetchError(f"{self.source}: options.{name}: expected one of {', '.join(choices)}, "
                             f"got {value!r}", whole_source=True)
        return value

    def credential_variables(self) -> dict[str, str]:
        """`credentials`, with a single token's variable renamed by `options.token_env` if given."""
        renamed = self.option("token_env") if "token_env" in self.options_doc else None
        if renamed and len(self.credentials) == 1:
            return {str(renamed): next(iter(self.credentials.values()))}
        return dict(self.credentials)

    def bearer_headers(self) -> dict[str, str]:
        """An Authorization header with the token from its variable (see `token_for_base_url`)."""
        token = self.token_for_base_url()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def token_for_base_url(self) -> str | None:
        """The token from its variable; None while that is unset, and None for a default variable's
        token when base_url is not a host it is meant for (see `token_hosts`; a warning says how to
        send it)."""
        (variable,) = self.credential_variables()
        token = os.environ.get(variable)
        remember_secrets([token])  # token_env may name any variable, not only MENTIONWATCH_*
        token = token.strip() if token else token  # a line ending from an env file is no part of it
        named = bool(self.option("token_env"))
        if not token and named:
            warn_once("%s: options.token_env names %s, which is not set: polling without a token",
                      self.source, variable)
        if not token and not named and not self.token_meant_for_base_url():
            self.token_elsewhere = variable  # set, it would not be sent here either
        if token and not named and not self.token_meant_for_base_url():
            self.token_withheld = variable
            warn_once("%s: %s is not sent to %s (%s): its token goes only to %s over https; to send it "
                      "there, add 'token_env: %s' to this source's options", self.source, variable,
                      self._base_host(), self._why_not_sent(), self._token_hosts_text(), variable)
            return None
        if token and httpx.URL(self.base_url).scheme != "https":
            warn_once("%s: the token of %s goes to %s over plain http, readable on the way: use https",
                      self.source, variable, self._base_host())
        return token or None

    def _why_not_sent(self) -> str:
        url = httpx.URL(self.base_url)
        if url.scheme != "https":
            return "not https"
        if url.port not in (None, 443):
            return f"port {url.port}"
        return "another host"

    def token_meant_for_base_url(self) -> bool:
        """Whether base_url is https, on the default port, on one of `token_hosts`."""
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL:
            return False
        return (url.scheme == "https" and url.port in (None, 443)
                and any(_host_matches(url.host, host) for host in self._token_hosts()))

    def base_url_on_token_host(self) -> bool:
        """Whether base_url's host is one of `token_hosts`, whatever its scheme and port."""
        try:
            host = httpx.URL(self.base_url).host
        except httpx.InvalidURL:
            return False
        return any(_host_matches(host, token_host) for token_host in self._token_hosts())

    def _token_hosts_text(self) -> str:
        """'mastodon.social', 'api.bsky.app, *.host.bsky.network': the hosts as a line names them."""
        return ", ".join(f"*{host}" if host.startswith(".") else host for host in self._token_hosts())

    def _token_hosts(self) -> tuple[str, ...]:
        return self.token_hosts or (httpx.URL(self.default_base_url).host,)

    def _base_host(self) -> str:
        return describe_url(self.base_url).split("/", 1)[0]  # host and port, never credentials

    def explain_refusal(self, error: FetchError) -> FetchError:
        """The error, naming the unset credential variables when the source refused us (401/403),
        or the default token that was not sent to this base_url."""
        if self.token_withheld and is_refusal(error):
            return FetchError(f"{error} ({self.token_withheld} was not sent to {self._base_host()}: "
                              f"name it with options.token_env to send it there)",
                              whole_source=error.whole_source, retry_at=error.retry_at)
        if self.token_elsewhere and is_refusal(error):
            return FetchError(f"{error} (no token sent: {self.token_elsewhere} goes only to "
                              f"{self._token_hosts_text()}; for {self._base_host()}, put its token in an "
                              f"environment variable and name it with options.token_env)",
                              whole_source=error.whole_source, retry_at=error.retry_at)
        return with_token_hint(error, self.credential_variables())

    @property
    def max_pages(self) -> int:
        return self.int_option("max_pages", self.default_max_pages)

    @property
    def resuming(self) -> bool:
        """The previous pass stopped part-way: page past stored items instead of stopping at them."""
        return self.resumable and bool(self.cursors.get(UNFINISHED))

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        """Whether these options make the source send the watch's query as a remote search; then
        crawler.collect polls it once per search of `Query.searches()` (listing modes: once)."""
        return False

    def search_terms(self) -> str:
        """`options.query` (crawler.collect sets it to one search of the watch's query per poll)."""
        return str(self.option("query") or self.watch.query.search_terms())

    def until_known(self, mentions: list[Mention]) -> tuple[list[Mention], bool]:
        """The mentions before the first one already stored, and whether one was found."""
        stored = self.known([m.external_id for m in mentions])
        for position, mention in enumerate(mentions):
            if mention.external_id in stored:
                return mentions[:position], True
        return mentions, False

    def make_page(self, payload: Any, items: Any = _NOT_GIVEN, *,
                  stop_at_known: bool | None = None) -> tuple[Page, bool]:
        """parse() a payload into a Page cut at the first stored item; also says if it stopped there.

        `items` is the payload's list of items when the source has one: anything else there means
        the whole answer is not what this API sends (an error page, a changed API), not a bad item.
        `stop_at_known` defaults to `not self.resuming`. When false the stored items are left out but
        the page is not cut there, and the flag returned is False: a poller resuming a pass that
        stopped part-way pages on past what it stored (its `hit_known or ...` test needs no change).
        """
        if items is not _NOT_GIVEN and not isinstance(items, list):
            asked = getattr(self.fetcher, "last_asked", None)
            # no source name: the caller's line starts with the watch and source already
            raise FetchError(f"{asked + ': ' if asked else ''}unexpected response: no list of items "
                             f"(got {_described_answer(payload)})")
        if stop_at_known is None:
            stop_at_known = not self.resuming
        problems: list[str] = []
        mentions = self.parse(payload, problems)
        fetched = len(items) if isinstance(items, list) else len(mentions) + len(problems)
        if stop_at_known:
            fresh, stopped = self.until_known(mentions)
        else:
            stored = self.known([m.external_id for m in mentions])
            fresh = [m for m in mentions if m.external_id not in stored]
            stopped = False
        # items parse() passed over as no post (a quote with no words of its own, a removed
        # comment): counted as filtered, so a crawl line's columns add up to what it fetched
        passed_over = max(0, fetched - len(mentions) - len(problems)) if isinstance(items, list) else 0
        page = Page(fresh, fetched=fetched, rejected=len(problems),
                    already_stored=len(mentions) - len(fresh), parsed=mentions, left_out=passed_over)
        return page, stopped


def parse_items(items: Any, build: Callable[[dict], Mention | None], source: str,
                problems: list[str] | None) -> list[Mention]:
    """Apply `build` to each item; any item that breaks it is logged and skipped.

    `build` may return None for an item that is not a mention at all (e.g. a deleted post). Only an
    unusable id, text or date costs the item: a bad optional field (author, title, url, lang,
    rating, author_reach) is left empty with a warning naming it (see `optional_text`).
    """
    if problems is None:
        problems = []
    if not isinstance(items, list):
        problems.append(f"{source}: expected a list of items, got {type(items).__name__}")
        log.warning("%s", problems[-1])
        return []
    mentions = []
    for position, item in enumerate(items):
        where = f"{source}: item {position + 1}"
        token = _ITEM.set(where)
        try:
            if not isinstance(item, dict):
                raise ValueError(f"expected an object, got {type(item).__name__}")
            mention = build(item)
            if mention is not None:
                mentions.append(_normalized_without_bad_optional_fields(mention, where))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            problems.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]}")
            log.warning("skipped malformed item: %s", problems[-1])
        finally:
            _ITEM.reset(token)
    return mentions


# what a mention can do without: a bad value there is dropped, not the whole mention
OPTIONAL_FIELDS = ("url", "author", "author_reach", "title", "lang", "rating")
_ITEM: contextvars.ContextVar[str | None] = contextvars.ContextVar("parsed_item", default=None)


def _normalized_without_bad_optional_fields(mention: Mention, where: str) -> Mention:
    """mention.normalized(), with each optional field it refuses left empty (and a warning)."""
    for _ in range(len(OPTIONAL_FIELDS) + 1):
        try:
            return mention.normalized()
        except ValueError as exc:  # storage names the field first: 'rating: not a number: ...'
            name = str(exc).split(":", 1)[0]
            if name not in OPTIONAL_FIELDS or getattr(mention, name) is None:
                raise
            log.warning("%s: %s; kept the item without its %s", where, str(exc)[:120], name)
            mention = dataclasses.replace(mention, **{name: None})
    return mention.normalized()


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {dict: "an object", list: "a list", str: "text"}.get(type(value), "a number")


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


def _described_answer(payload: Any, most_keys: int = 5) -> str:
    """What an answer with no list of items holds, for the error line: 'text', or 'an object:
    hits: null' (its first keys, each with its kind), so a changed or failing API shows where. A key
    that is not a short plain name is not written out (it could be anything, a token even)."""
    if isinstance(payload, list):
        return "a list, where this API answers with an object"
    if not isinstance(payload, dict):
        return _json_kind(payload)
    if not payload:
        return "an empty object"
    keys = [f"{key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else 'a key of another form'}: "
            f"{_json_kind(value)}" for key, value in list(payload.items())[:most_keys]]
    more = f" and {len(payload) - most_keys} more" if len(payload) > most_keys else ""
    return f"an object: {', '.join(keys)}{more}"


def dig(node: Any, *path: Any, default: Any = None) -> Any:
    """node[path[0]][path[1]]... or default when any step is missing or of the wrong type."""
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return default
    return node


def text_of(value: Any) -> str:
    """A string field, '' when missing; a number is kept as its text (an author named 42);
    anything else (an object, a list) is a malformed payload."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected text, got {type(value).__name__}")


def optional_text(value: Any, name: str) -> str | None:
    """An optional text field (author, title, url): None when missing or empty, a number as its
    text, and None with a warning naming the field when it is anything else; never raises."""
    try:
        return text_of(value) or None
    except (TypeError, ValueError) as exc:  # ValueError: an int too long to write out
        log.warning("%s: %s: %s; kept the item without it", _ITEM.get() or "item", name, exc)
        return None


def optional_object(value: Any, name: str) -> dict:
    """An optional object field (a post's author): {} when missing, and {} with a warning naming the
    field when it is not an object; never raises."""
    if value is None or isinstance(value, dict):
        return value or {}
    warn_bad_optional_field(name, f"expected an object, got {type(value).__name__}")
    return {}


def warn_bad_optional_field(name: str, problem: str) -> None:
    """Log that the item being parsed (see parse_items) is kept without its optional field `name`."""
    log.warning("%s: %s: %s; kept the item without it", _ITEM.get() or "item", name, problem)


def html_to_text(html: str) -> str:
    """Plain text from the small HTML snippets APIs return (Mastodon statuses, feed summaries)."""
    import html as html_lib

    text = _BLOCK_TAG.sub("\n", _HIDDEN_ELEMENT.sub(" ", html))
    text = html_lib.unescape(_TAG.sub("", text))
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()
