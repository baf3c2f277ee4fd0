"""The Fetcher at the network edge: a wall-clock limit per request (a server trickling its answer),
redirect loops and undecodable bodies as plain error lines, bytes that are not UTF-8 in a JSON
answer, and the APIs' own error details and rate limits (Stack Exchange, GitHub).

Slow and looping servers are real local servers on 127.0.0.1; API error answers go through
httpx.MockTransport; the recorded Hacker News answer comes from ../shared/data/api.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time

import httpx
import pytest

from crawler.collect import collect_source
from crawler.pollers import base
from crawler.pollers.base import Fetcher, FetchError, keeps_deadlines, make_client
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer
from mentionwatch.logging_setup import remember_secrets

HN_RECORDED = "api/hackernews/search_by_date_query-nodejs.json"
UTC = dt.timezone.utc


def config_for(source: dict, terms: list[str] | None = None) -> Config:
    return Config.model_validate({"watches": [{"name": "acme", "query": {"any": terms or ["acme"]},
                                               "sources": [source]}]})


def crawl(db, config: Config, transport=None, slept: list | None = None):
    watch = config.watches[0]
    sleeps = [] if slept is None else slept
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=sleeps.append)


# a deadline for the whole request (#4) --------------------------------------------------------------

class Trickle(LocalServer):
    """Answers valid JSON one byte every `pause` seconds: in its body, or already in its headers."""

    BODY = json.dumps({"hits": [], "nbPages": 0, "pad": "x" * 200}).encode()

    def __init__(self, pause: float, in_headers: bool = False):
        super().__init__()
        self.pause, self.in_headers = pause, in_headers

    def handle_get(self, request):
        self.requests.append(request.path)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(self.BODY)
        if self.in_headers:
            fast, slow = head, b"X-Padding: " + b"y" * 100 + b"\r\n\r\n" + self.BODY
        else:
            fast, slow = head + b"\r\n", self.BODY
        try:
            request.wfile.write(fast)
            for byte in slow:
                request.wfile.flush()
                time.sleep(self.pause)
                request.wfile.write(bytes([byte]))
            request.wfile.flush()
        except OSError:  # the client gave up: that is the point
            pass


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_trickled_answer_stops_at_the_request_deadline(in_headers):
    with Trickle(pause=0.05, in_headers=in_headers) as server, make_client() as client:
        fetcher = Fetcher(client, min_interval=0, deadline=1.0, sleep=lambda s: None)
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetcher.get_json(f"{server.url}/search_by_date?query=acme")
        took = time.monotonic() - started
    port = server.url.rsplit(":", 1)[1]
    assert str(caught.value) == f"GET 127.0.0.1:{port}/search_by_date: answer too slow (over 1 s)"
    assert caught.value.whole_source
    assert 0.9 < took < 3.0  # the whole answer would take over 10 s
    assert len(server.requests) == 1  # not retried: a retry would stall the poll as long again


def test_an_answer_within_the_deadline_is_read_whole():
    with Trickle(pause=0.001) as server, make_client() as client:
        payload = Fetcher(client, min_interval=0, deadline=5.0).get_json(f"{server.url}/x")
    assert payload["nbPages"] == 0


def test_the_crawl_reports_a_too_slow_source_in_one_line(db, monkeypatch):
    monkeypatch.setattr(base, "REQUEST_DEADLINE", 1.0)
    with Trickle(pause=0.05) as server:
        result = crawl(db, config_for({"type": "hackernews", "base_url": server.url}))
    port = server.url.rsplit(":", 1)[1]
    assert (result.status, result.errors) == (
        "failed", [f"GET 127.0.0.1:{port}/search_by_date: answer too slow (over 1 s)"])
    assert result.seconds < 5


def test_the_default_deadline_is_installed_on_the_clients_own_transport():
    """httpx keeps its connection pool in a private attribute: this fails if an upgrade moves it."""
    with make_client() as client:
        assert keeps_deadlines(client._transport)
        assert Fetcher(client).deadline == base.REQUEST_DEADLINE == 60.0


# redirect loops and undecodable bodies (#14) --------------------------------------------------------

class Loop(LocalServer):
    def handle_get(self, request):
        self.requests.append(request.path)
        self.reply(request, 302, b"", "text/plain", {"Location": "/api/search_by_date"})


def test_a_redirect_loop_is_one_plain_line_naming_host_and_path(db, caplog):
    with Loop() as server, caplog.at_level(logging.DEBUG):
        result = crawl(db, config_for({"type": "hackernews", "base_url": server.url + "/api"},
                                      ["acme", "globex", "initech"]))
    port = server.url.rsplit(":", 1)[1]
    assert result.status == "failed"
    assert result.errors == [f"GET 127.0.0.1:{port}/api/search_by_date: redirect loop (more than 20 "
                             "redirects); 2 more search(es) not tried"]
    assert len(server.requests) == 21
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text


def test_an_undecodable_body_is_one_plain_line():
    broken = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, content=b"not gzip"))
    with make_client(broken) as client, pytest.raises(FetchError) as caught:
        Fetcher(client, min_interval=0).get_json("https://api.test/search?key=SECRET")
    assert str(caught.value).startswith("GET api.test/search: the answer could not be decoded (")
    assert "SECRET" not in str(caught.value)


# bytes that are not UTF-8 (#3) ---------------------------------------------------------------------

def test_one_bad_byte_costs_neither_the_answer_nor_its_item(db, shared_file, caplog):
    payload = json.loads(shared_file(HN_RECORDED).read_text(encoding="utf-8"))
    marked = payload["hits"][3]["objectID"]
    payload["hits"][3]["comment_text"] = "Nice caf@@ in Berlin. " + (payload["hits"][3]["comment_text"] or "")
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8").replace(b"caf@@", b"caf\xe9")
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"Content-Type": "application/json; charset=utf-8"}, content=body))
    source = {"type": "hackernews", "base_url": "https://hn.test", "options": {"match_query": False,
                                                                               "max_pages": 1}}
    with caplog.at_level(logging.WARNING):
        result = crawl(db, config_for(source), transport)
    assert result.status == "ok", result.errors
    assert (result.fetched, result.rejected) == (len(payload["hits"]), 0)
    assert result.new == db.execute("SELECT count(*) FROM mentions").fetchone()[0] > 1
    text = db.execute("SELECT text FROM mentions WHERE external_id = ?", [marked]).fetchone()[0]
    assert text.startswith("Nice caf\ufffd in Berlin.")
    warnings = [r.getMessage() for r in caplog.records if "not valid UTF-8" in r.getMessage()]
    assert warnings == ["GET hn.test/search_by_date: the answer is not valid UTF-8 (first bad byte at "
                        f"{body.index(b'caf') + 3}); the bad bytes are kept as U+FFFD"]


# the API's own error details and rate limits (#15) --------------------------------------------------

SE_THROTTLE = {"error_id": 502, "error_name": "throttle_violation",
               "error_message": "too many requests from this IP, more requests available in {} seconds"}
GITHUB_LIMIT = {"message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits"}


def se_throttle(seconds: int) -> httpx.Response:
    body = dict(SE_THROTTLE, error_message=SE_THROTTLE["error_message"].format(seconds))
    return httpx.Response(400, json=body)


def github_limit(reset: int) -> httpx.Response:
    return httpx.Response(403, json=GITHUB_LIMIT, headers={
        "X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})


def fetch(*replies: httpx.Response, slept: list | None = None):
    """GET through a Fetcher whose transport answers `replies` in turn; (result or error, requests)."""
    answers, requests = list(replies), []

    def answer(request):
        requests.append(request)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    with make_client(httpx.MockTransport(answer)) as client:
        fetcher = Fetcher(client, min_interval=0, sleep=(slept if slept is not None else []).append)
        try:
            return fetcher.get_json("https://api.test/2.3/search/advanced?key=k-123456789"), requests
        except FetchError as exc:
            return exc, requests


def test_a_long_stack_exchange_throttle_is_a_rate_limit_with_its_end():
    before = dt.datetime.now(UTC)
    error, requests = fetch(se_throttle(82512))
    assert isinstance(error, FetchError) and len(requests) == 1
    line = str(error)
    assert line.startswith("GET api.test/2.3/search/advanced: HTTP 400 Bad Request: throttle_violation: "
                           "too many requests from this IP, more requests available in 82512 seconds "
                           "(rate limited until ")
    assert line.endswith(", in 22h55m; not waiting that long)")
    assert error.whole_source
    assert abs((error.retry_at - before).total_seconds() - 82512) < 5
    assert error.retry_at.strftime("%Y-%m-%d %H:%M UTC") in line


def test_a_short_stack_exchange_throttle_is_waited_out():
    slept = []
    payload, requests = fetch(se_throttle(5), httpx.Response(200, json={"items": []}), slept=slept)
    assert payload == {"items": []} and len(requests) == 2
    assert 4 <= max(slept) <= 6


def test_githubs_exhausted_rate_limit_gives_up_saying_when_it_ends():
    reset = int(time.time()) + 5 * 3600
    error, requests = fetch(github_limit(reset))
    assert len(requests) == 1 and error.whole_source
    ends = dt.datetime.fromtimestamp(reset, UTC)
    assert str(error).startswith("GET api.test/2.3/search/advanced: HTTP 403 Forbidden: API rate limit "
                                 f"exceeded for user ID 1. (rate limited until {ends:%Y-%m-%d %H:%M} UTC, in ")
    assert str(error).endswith("; not waiting that long)")
    assert error.retry_at == ends


def test_githubs_rate_limit_ending_soon_is_waited_out():
    slept = []
    reset = int(time.time()) + 30
    payload, requests = fetch(github_limit(reset), httpx.Response(200, json={"items": []}), slept=slept)
    assert payload == {"items": []} and len(requests) == 2
    assert 25 <= max(slept) <= 31


def test_a_plain_refusal_keeps_the_apis_message_redacted():
    remember_secrets(["ghp_abcdefghijkl"])
    error, _ = fetch(httpx.Response(401, json={"message": "Bad credentials: ghp_abcdefghijkl",
                                               "documentation_url": "https://docs.github.com"}))
    assert str(error) == "GET api.test/2.3/search/advanced: HTTP 401 Unauthorized: Bad credentials: [redacted]"
    error, _ = fetch(httpx.Response(400, json={"error_id": 400, "error_name": "bad_parameter",
                                               "error_message": "site is required"}))
    assert str(error) == "GET api.test/2.3/search/advanced: HTTP 400 Bad Request: bad_parameter: site is required"
    assert not error.whole_source  # a bad parameter is this search's problem
    error, _ = fetch(httpx.Response(403, json={"error": "no"}))  # a bare error code says nothing more
    assert str(error) == "GET api.test/2.3/search/advanced: HTTP 403 Forbidden"


def test_the_crawl_lines_name_the_rate_limits(db, monkeypatch):
    """The tester's reproduction: both tokens set, both APIs rate-limiting us."""
    monkeypatch.setenv("MENTIONWATCH_STACKEXCHANGE_KEY", "k-123456789")
    monkeypatch.setenv("MENTIONWATCH_GITHUB_TOKEN", "ghp_abcdefghijkl")

    def answer(request):
        if request.url.path == "/2.3/search/advanced":
            return se_throttle(82512)
        return github_limit(reset)

    reset = int(time.time()) + 5 * 3600
    transport = httpx.MockTransport(answer)
    se = crawl(db, config_for({"type": "stackexchange", "base_url": "https://se.test"}), transport)
    gh = crawl(db, config_for({"type": "github", "base_url": "https://gh.test"}), transport)
    assert se.status == gh.status == "failed"
    assert se.errors[0].startswith("GET se.test/2.3/search/advanced: HTTP 400 Bad Request: throttle_violation: "
                                   "too many requests from this IP, more requests available in 82512 seconds "
                                   "(rate limited until ")
    assert gh.errors == ["GET gh.test/search/issues: HTTP 403 Forbidden: API rate limit exceeded for user "
                         f"ID 1. (rate limited until {dt.datetime.fromtimestamp(reset, UTC):%Y-%m-%d %H:%M} UTC, in "
                         f"{gh.errors[0].split(', in ')[1]}"]
    assert "k-123456789" not in " ".join(se.errors) and "ghp_abcdefghijkl" not in " ".join(gh.errors)


# a pause asked for that never ends (review of 2026-12-06) -------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, {"Retry-After": "99999999999999"},
    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999999"},  # GitHub's, past the year 5000
])
def test_a_site_asking_for_a_pause_of_decades_is_asked_again_after_a_day(headers):
    """One answer with a far-future Retry-After (a proxy's wrong header, a wrong clock) stopped the
    source until 2099, and a huge number of seconds was an internal OverflowError."""
    limited = httpx.MockTransport(lambda request: httpx.Response(
        429 if "Retry-After" in headers else 403, headers=headers, json={"message": "slow down"}))
    with make_client(limited) as client, pytest.raises(FetchError) as caught:
        Fetcher(client, min_interval=0, sleep=lambda s: None).get_json("https://api.test/search")
    in_a_day = dt.datetime.now(UTC) + dt.timedelta(days=1)
    assert abs((caught.value.retry_at - in_a_day).total_seconds()) < 60
    assert str(caught.value).endswith("; a longer pause asked for is taken as a day)")


def test_a_pause_of_a_day_or_less_is_taken_as_asked_with_no_note():
    for asked in ("86400", "86399"):
        limited = httpx.MockTransport(lambda request: httpx.Response(429, headers={"Retry-After": asked}))
        with make_client(limited) as client, pytest.raises(FetchError) as caught:
            Fetcher(client, min_interval=0, sleep=lambda s: None).get_json("https://api.test/search")
        assert str(caught.value).endswith("; try again later)") and "taken as a day" not in str(caught.value)
        in_asked = dt.datetime.now(UTC) + dt.timedelta(seconds=float(asked))
        assert abs((caught.value.retry_at - in_asked).total_seconds()) < 60


@pytest.mark.parametrize("backoff", ["-Infinity", "NaN"])
def test_a_stack_exchange_backoff_that_is_no_number_of_seconds_is_no_pause(backoff):
    answer = httpx.MockTransport(lambda request: httpx.Response(
        200, content=f'{{"items": [], "has_more": false, "backoff": {backoff}}}'.encode(),
        headers={"Content-Type": "application/json"}))
    with make_client(answer) as client:
        fetcher = Fetcher(client, min_interval=0, sleep=lambda s: None)
        fetcher.wait(float(backoff.replace("Infinity", "inf")))
        assert fetcher.hold_until is None


def test_a_retry_after_of_hundreds_of_digits_is_a_number_of_seconds():
    """Review: float('9' * 400) is infinite, and the spiders' error line failed on it (OverflowError)."""
    from crawler.pollers.base import duration_wording, retry_after_seconds

    assert duration_wording(retry_after_seconds("9" * 400)) == "11574d01h"
    assert retry_after_seconds("\u00b2") is None  # a Latin-1 byte read as '²' is no number (third review)


def test_a_stack_exchange_backoff_of_decades_keeps_the_page_it_came_with(db):
    """`backoff: 1e15` was an internal OverflowError, and the page fetched with it was thrown away."""
    question = {"question_id": 1, "title": "acme", "body": "<p>acme broke</p>", "creation_date": 1700000000,
                "link": "https://stackoverflow.com/q/1", "owner": {"display_name": "someone"}}
    answer = httpx.MockTransport(lambda request: httpx.Response(
        200, json={"items": [question], "has_more": False, "backoff": 10**15}))
    result = crawl(db, config_for({"type": "stackexchange", "options": {"min_interval": 0}}), transport=answer)
    assert (result.status, result.new, result.errors) == ("ok", 1, [])


class RedirectsTo(LocalServer):
    def __init__(self, location: str):
        super().__init__()
        self.location = location

    def handle_get(self, request):
        self.requests.append(request.path)
        self.reply(request, 302, b"", "text/plain", {"Location": self.location})


@pytest.mark.parametrize("location, reason", [("http://127.0.0.1:1/moved", "connection refused"),
                                              ("ftp://files.example/moved", ""),
                                              ("http://127.0.0.1:1/x%0aforged%1b[2J", "connection refused")])
def test_a_redirect_that_fails_names_where_it_led_and_a_scheme_httpx_cannot_follow_is_not_retried(location, reason):
    """Review: the site asked was blamed for the address it redirected to ('127.0.0.1:42645: connection
    refused'), and a redirect to ftp:// was tried four times, waiting 2, 4 and 8 seconds."""
    slept = []
    with RedirectsTo(location) as server, make_client() as client, pytest.raises(FetchError) as caught:
        Fetcher(client, min_interval=0, sleep=slept.append).get(f"{server.url}/api/search")
    where = location.split("://", 1)[1].replace("%0a", " ").replace("%1b", "\\x1b")  # one line, ESC shown
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    assert str(caught.value).startswith(f"GET 127.0.0.1:{server.url.rsplit(':', 1)[1]}/api/search "
                                        f"(redirected to {where}): {reason}")
    if location.startswith("ftp"):
        assert slept == [] and len(server.requests) == 1
