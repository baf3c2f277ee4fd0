"""Remote searches cover the whole watch query: one search per phrase / `any` term, each with its own
cursors (so an added term gets a first poll), against a local Algolia stand-in that really filters by
the search text. Also: Fetcher error lines and retries, Google Play failures the library swallows,
unset token variables named in the error line."""
from __future__ import annotations

import json
import logging
import socket
import urllib.parse

import httpx
import pytest

from crawler.collect import collect_source, search_polls
from crawler.cursors import OVERLAP_SECONDS, cursor_key, load_cursors
from crawler.pollers import base
from crawler.pollers.base import Fetcher, FetchError, make_client
from crawler.pollers.googleplay import GooglePlayPoller
from mentionwatch.config import Config, Query
from mentionwatch.local_servers import HackerNewsServer, LocalServer, synthetic_hits, within_numeric_filters

NEWEST = 1_750_000_000


class SearchingHackerNews(HackerNewsServer):
    """The Algolia stand-in (one page of at most 100), answering only hits whose text has every
    word of `query` and that are newer than `numericFilters`; a search in `failing` gets a 500."""

    def __init__(self, hits):
        super().__init__(hits)
        self.failing: set[str] = set()

    def queries(self) -> list[dict]:
        return [dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query)) for path in self.requests]

    def handle_get(self, request):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))
        query = params.get("query", "")
        with self.lock:
            self.requests.append(request.path)
            hits = sorted(self.hits, key=lambda h: h["created_at_i"], reverse=True)
        if query in self.failing:
            return self.reply(request, 500, b"{}", "application/json")
        words = query.replace('"', " ").lower().split()
        hits = [h for h in hits if all(w in h["comment_text"].lower() for w in words)]
        hits = [h for h in hits if within_numeric_filters(h["created_at_i"], [params.get("numericFilters", "")])]
        body = {"hits": hits[:100], "page": 0, "nbPages": 1, "nbHits": len(hits), "hitsPerPage": 100}
        self.reply(request, 200, json.dumps(body).encode(), "application/json")


def hn_config(url: str, query: dict) -> Config:
    return Config.model_validate({"watches": [{
        "name": "air", "query": query,
        "sources": [{"type": "hackernews", "base_url": url, "options": {"min_interval": 0}}]}]})


def crawl(db, config):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], sleep=lambda s: None)


def stored_ids(db) -> set[str]:
    return {row[0] for row in db.execute("SELECT external_id FROM mentions")}


def search_keys(config) -> dict[str, str]:
    watch = config.watches[0]
    return {poll.options["query"]: cursor_key(poll) for poll in search_polls(watch, watch.sources[0])}


# the searches a query makes ---------------------------------------------------------------------

def test_searches_cover_every_phrase_and_any_term_with_the_all_terms():
    query = Query(phrases=["ACME Corp"], any=["acme", "acmecorp"], all=["outage"])
    assert query.searches() == ['"ACME Corp" outage', "acme outage", "acmecorp outage"]
    assert Query(any=["united", "delta", "southwest", "jetblue"]).searches() == [
        "united", "delta", "southwest", "jetblue"]
    assert Query(all=["acme", "refund"]).searches() == ["acme refund"]
    # one string for a source searched once (Google News, Reddit and GitHub understand OR)
    assert Query(phrases=["ACME Corp"], any=["acme"]).search_terms() == '"ACME Corp" OR acme'


def test_listing_modes_and_an_explicit_query_stay_one_poll():
    config = Config.model_validate({"watches": [{"name": "w", "query": {"any": ["a", "b"]}, "sources": [
        {"type": "reddit", "options": {"subreddit": "acme", "mode": "new"}},
        {"type": "mastodon", "options": {"tag": "acme"}},
        {"type": "hackernews", "options": {"query": "a OR b"}},
        {"type": "mastodon"},
        {"type": "rss", "options": {"urls": ["https://example.test/feed"], "google_news": True}},
    ]}]})
    watch = config.watches[0]
    listing, tag, explicit, search, rss = (search_polls(watch, s) for s in watch.sources)
    assert listing == [watch.sources[0]] and tag == [watch.sources[1]] and explicit == [watch.sources[2]]
    assert [p.options["query"] for p in search] == ["a", "b"]
    # the feeds once, then one Google News search per term
    assert [(p.options.get("urls"), p.options.get("google_news"), p.options.get("query")) for p in rss] == [
        (["https://example.test/feed"], False, None), ([], True, "a"), ([], True, "b")]


# collecting with several searches -------------------------------------------------------------------

def test_every_any_term_is_searched_and_each_search_keeps_its_own_cursor(db):
    alpha = synthetic_hits(3, 1_000, NEWEST, "alpha airline lost my bag {n}")
    beta = synthetic_hits(2, 2_000, NEWEST - 100, "beta airline was late {n}")
    with SearchingHackerNews(alpha + beta) as server:
        config = hn_config(server.url, {"any": ["alpha", "beta"]})
        first = crawl(db, config)
        assert (first.status, first.new, first.errors) == ("ok", 5, [])
        assert stored_ids(db) == {h["objectID"] for h in alpha + beta}
        assert [q["query"] for q in server.queries()] == ["alpha", "beta"]
        assert db.execute("SELECT count(*), sum(new) FROM crawl_runs").fetchone() == (1, 5)  # one row

        keys = search_keys(config)
        assert load_cursors(db, "air", keys["alpha"]) == {"created_at_i": str(NEWEST)}
        assert load_cursors(db, "air", keys["beta"]) == {"created_at_i": str(NEWEST - 100)}

        asked = len(server.requests)
        server.add_hits(synthetic_hits(1, 3_000, NEWEST + 50, "beta again {n}"))
        second = crawl(db, config)
        assert (second.status, second.new) == ("ok", 1)
        sent = {q["query"]: q["numericFilters"] for q in server.queries()[asked:]}
        assert sent == {"alpha": f"created_at_i>{NEWEST - OVERLAP_SECONDS}",
                        "beta": f"created_at_i>{NEWEST - 100 - OVERLAP_SECONDS}"}  # each its own cursor


def test_a_term_added_to_the_query_gets_a_first_poll_of_its_own(db):
    # the newest post mentions both; the older beta-only posts must not be cut off by it
    both = synthetic_hits(1, 1_000, NEWEST, "alpha and beta both down {n}")
    beta_only = synthetic_hits(3, 2_000, NEWEST - 500, "beta lost my bag {n}")
    with SearchingHackerNews(both + beta_only) as server:
        assert crawl(db, hn_config(server.url, {"any": ["alpha"]})).new == 1

        asked = len(server.requests)
        wider = crawl(db, hn_config(server.url, {"any": ["alpha", "beta"]}))
        assert (wider.status, wider.new) == ("ok", 3), wider.errors
        queries = server.queries()[asked:]
        beta_first = next(q for q in queries if q["query"] == "beta")
        assert "numericFilters" not in beta_first  # no cursor of the old query reused
        assert stored_ids(db) == {h["objectID"] for h in both + beta_only}


def test_one_failing_search_leaves_the_others_stored_and_is_named(db):
    with SearchingHackerNews(synthetic_hits(2, 1_000, NEWEST, "alpha {n}")) as server:
        server.failing = {"beta"}
        result = crawl(db, hn_config(server.url, {"any": ["alpha", "beta"]}))
    assert (result.status, result.new) == ("partial", 2)
    assert len(result.errors) == 1
    assert result.errors[0].startswith("search beta: GET 127.0.0.1:")
    assert "HTTP 500" in result.errors[0]
    row = db.execute("SELECT status, errors FROM crawl_runs").fetchone()
    assert row[0] == "partial" and "search beta" in json.loads(row[1])[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_source_is_one_plain_line_and_the_other_searches_are_not_tried(db):
    port = closed_port()
    result = crawl(db, hn_config(f"http://127.0.0.1:{port}", {"any": ["alpha", "beta", "gamma"]}))
    assert result.status == "failed"
    assert result.errors == [f"GET 127.0.0.1:{port}/search_by_date: connection refused (ConnectError) "
                             "(after 4 attempts); 2 more search(es) not tried"]


# Fetcher -------------------------------------------------------------------------------------------

def test_error_lines_keep_the_port_but_no_query_or_credentials():
    port = closed_port()
    with make_client() as client:
        fetcher = Fetcher(client, max_retries=0, sleep=lambda s: None)
        with pytest.raises(FetchError) as caught:
            fetcher.get(f"http://user:secret@127.0.0.1:{port}/search?q=acme&key=k123")
    line = str(caught.value)
    assert line.startswith(f"GET 127.0.0.1:{port}/search: connection refused")
    assert "secret" not in line and "k123" not in line and "acme" not in line


def test_a_403_with_retry_after_is_waited_out():
    replies = [httpx.Response(403, headers={"Retry-After": "7"}), httpx.Response(200, json={"items": []})]
    slept = []
    transport = httpx.MockTransport(lambda request: replies.pop(0))
    with make_client(transport) as client:
        response = Fetcher(client, min_interval=0, sleep=slept.append).get("https://api.github.test/x")
    assert response.status_code == 200 and slept == [7.0]
    base._SITE_HOLDS.clear()  # the fake sleep took no time: the 7 s pause would still hold the next fetchers

    too_long = httpx.MockTransport(lambda request: httpx.Response(403, headers={"Retry-After": "3600"}))
    with make_client(too_long) as client, pytest.raises(FetchError, match="Retry-After 3600s"):
        Fetcher(client, min_interval=0, sleep=slept.append).get("https://api.github.test/x")
    plain = httpx.MockTransport(lambda request: httpx.Response(403))
    with make_client(plain) as client, pytest.raises(FetchError, match="HTTP 403 Forbidden$"):
        Fetcher(client, min_interval=0, sleep=slept.append).get("https://api.github.test/x")
    assert slept == [7.0]  # a 403 without Retry-After is a refusal: not retried


# Google Play: the library answers [] for every failure ----------------------------------------------

class PlayPages(LocalServer):
    def __init__(self, status: int):
        super().__init__()
        self.status = status

    def handle_get(self, request):
        self.requests.append(request.path)
        self.reply(request, self.status, b"<html></html>", "text/html")


def play_config(base_url: str) -> Config:
    return Config.model_validate({"watches": [{"name": "app", "query": {"any": ["acme"]}, "sources": [
        {"type": "googleplay", "base_url": base_url, "options": {"app_id": "com.acme.app"}}]}]})


@pytest.mark.parametrize("status", [404, 500])
def test_googleplay_with_no_reviews_and_a_failing_play_page_fails(db, monkeypatch, status):
    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(lambda app_id, **kw: ([], None)))
    with PlayPages(status) as server:
        result = crawl(db, play_config(server.url))
    assert result.status == "failed"
    (line,) = result.errors
    assert line.startswith("googleplay: com.acme.app: no reviews came back and the app's Play page could "
                           f"not be read: GET 127.0.0.1:{server.url.rsplit(':', 1)[1]}/store/apps/details")
    assert f"HTTP {status}" in line
    assert ("is options.app_id the package name?" in line) == (status == 404)


def test_googleplay_unreachable_fails_with_the_real_library(db):
    # the real library cannot reach Google Play here and answers [] (it swallows the error)
    result = crawl(db, play_config(f"http://127.0.0.1:{closed_port()}"))
    assert result.status == "failed"
    assert "connection refused" in result.errors[0]


def test_googleplay_with_no_reviews_and_a_readable_page_is_ok(db, monkeypatch):
    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(lambda app_id, **kw: ([], None)))
    with PlayPages(200) as server:
        result = crawl(db, play_config(server.url))
        assert len(server.requests) == 1 and "id=com.acme.app" in server.requests[0]
    assert (result.status, result.errors) == ("ok", [])


# tokens ---------------------------------------------------------------------------------------------

def refusing(status: int) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json={"error": "login"}))


def test_a_refusal_names_the_unset_token_variable(db, monkeypatch):
    monkeypatch.delenv("MY_MASTO_TOKEN", raising=False)
    monkeypatch.delenv("MENTIONWATCH_BLUESKY_TOKEN", raising=False)
    config = Config.model_validate({"watches": [{"name": "w", "query": {"any": ["acme"]}, "sources": [
        {"type": "mastodon", "base_url": "https://masto.test", "options": {"token_env": "MY_MASTO_TOKEN"}},
        {"type": "bluesky", "base_url": "https://bsky.test"}]}]})
    watch = config.watches[0]
    masto = collect_source(db, config, watch, watch.sources[0], transport=refusing(401), sleep=lambda s: None)
    assert masto.errors == ["GET masto.test/api/v2/search: HTTP 401 Unauthorized "
                            "(MY_MASTO_TOKEN is not set: put an access token in it)"]
    bsky = collect_source(db, config, watch, watch.sources[1], transport=refusing(403), sleep=lambda s: None)
    # its default variable, set, would not be sent to a test host either: the line says what would do
    assert bsky.errors == ["GET bsky.test/xrpc/app.bsky.feed.searchPosts: HTTP 403 Forbidden (no token sent: "
                           "MENTIONWATCH_BLUESKY_TOKEN goes only to public.api.bsky.app, api.bsky.app, bsky.social, "
                           "*.host.bsky.network; for bsky.test, put its token in an environment variable and name "
                           "it with options.token_env)"]

    monkeypatch.setenv("MY_MASTO_TOKEN", "tok-abc123")  # set but refused: no hint, and never the value
    again = collect_source(db, config, watch, watch.sources[0], transport=refusing(401), sleep=lambda s: None)
    assert again.errors == ["GET masto.test/api/v2/search: HTTP 401 Unauthorized"]


def test_reddit_with_only_a_client_id_warns_that_the_secret_is_unset(db, monkeypatch, caplog):
    monkeypatch.setattr(base, "_WARNED", set())  # warned once per process: maybe by another test
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_ID", "id-abc123")
    monkeypatch.delenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", raising=False)
    listing = {"kind": "Listing", "data": {"children": [], "after": None}}
    asked = []
    transport = httpx.MockTransport(lambda request: asked.append(request) or httpx.Response(200, json=listing))
    config = Config.model_validate({"watches": [{"name": "w", "query": {"any": ["acme"]}, "sources": [
        {"type": "reddit", "base_url": "https://reddit.test"}]}]})
    watch = config.watches[0]
    with caplog.at_level(logging.WARNING):
        result = collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)
    assert result.status == "ok"
    assert asked[0].url.path == "/search.json"  # anonymous, as the warning says
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("MENTIONWATCH_REDDIT_CLIENT_SECRET is not" in w for w in warnings)
    assert not any("id-abc123" in w for w in warnings)


def _reddit_source(base_url: str, **options) -> Config:
    return Config.model_validate({"watches": [{"name": "w", "query": {"any": ["acme"]}, "sources": [
        {"type": "reddit", "base_url": base_url, "options": options}]}]})


@pytest.mark.parametrize("base_url, why", [("https://reddit-proxy.example", "another host"),
                                           ("http://www.reddit.com", "not https"),
                                           ("https://www.reddit.com:8443", "port 8443")])
def test_reddit_oauth_pair_is_not_sent_to_another_base_url(db, monkeypatch, caplog, base_url, why):
    monkeypatch.setattr(base, "_WARNED", set())
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_ID", "id-abc123")
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", "secret-xyz789")
    asked = []
    transport = httpx.MockTransport(lambda request: asked.append(request) or httpx.Response(403))
    config = _reddit_source(base_url)
    watch = config.watches[0]
    with caplog.at_level(logging.WARNING):
        result = collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)
    assert [request.url.path for request in asked] == ["/search.json"]  # no token request: anonymous
    assert "authorization" not in asked[0].headers
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Reddit's own host over http or on another port is mended by writing it right, not by send_oauth
    how = ("write base_url as https://www.reddit.com, or leave it out" if "reddit.com" in base_url
           else "add send_oauth: true to send them there")
    assert any(f"are not sent to {httpx.URL(base_url).netloc.decode()} ({why})" in w and how in w
               for w in warnings), warnings
    assert result.errors[0].endswith("HTTP 403 Forbidden (MENTIONWATCH_REDDIT_CLIENT_ID and "
                                     "MENTIONWATCH_REDDIT_CLIENT_SECRET were not sent to "
                                     f"{httpx.URL(base_url).netloc.decode()}: {how})")
    assert "secret-xyz789" not in caplog.text and "id-abc123" not in caplog.text


_REDDIT_TOKEN_URL = "https://www.reddit.com/api/v1/access_token"


@pytest.mark.parametrize("base_url, options, token_url, plain_http", [
    ("https://oauth.reddit.com", {}, _REDDIT_TOKEN_URL, False), ("https://reddit.com", {}, _REDDIT_TOKEN_URL, False),
    ("https://www.reddit.com", {}, _REDDIT_TOKEN_URL, False),
    ("http://reddit-proxy.example", {"send_oauth": True}, "http://reddit-proxy.example/api/v1/access_token", True)])
def test_reddit_oauth_pair_goes_to_reddit_or_where_send_oauth_says(db, monkeypatch, caplog, base_url, options,
                                                                   token_url, plain_http):
    """Reddit's own host written out polls oauth.reddit.com with the token, as no base_url does: Reddit
    takes bearer tokens only there (review 2026-12-07: www.reddit.com/search was asked, an HTML page)."""
    monkeypatch.setattr(base, "_WARNED", set())
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_ID", "id-abc123")
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", "secret-xyz789")
    listing = {"kind": "Listing", "data": {"children": [], "after": None}}
    asked = []

    def answer(request):
        asked.append(request)
        if request.url.path == "/api/v1/access_token":
            return httpx.Response(200, json={"access_token": "tok-1", "token_type": "bearer"})
        return httpx.Response(200, json=listing)

    config = _reddit_source(base_url, **options)
    watch = config.watches[0]
    with caplog.at_level(logging.WARNING):
        result = collect_source(db, config, watch, watch.sources[0], transport=httpx.MockTransport(answer),
                                sleep=lambda s: None)
    assert result.status == "ok", result.errors
    assert [(str(r.url.copy_with(query=None)), r.headers.get("authorization")) for r in asked] == [
        (token_url, asked[0].headers["authorization"]),
        (f"{'https://oauth.reddit.com' if 'reddit.com' in base_url else base_url}/search", "bearer tok-1")]
    assert asked[0].headers["authorization"].startswith("Basic ")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("over plain http" in w for w in warnings) == plain_http


def test_an_unreachable_news_site_skips_the_remaining_google_news_searches(db):
    port = closed_port()
    config = Config.model_validate({"watches": [{
        "name": "acme", "query": {"any": ["alpha", "beta", "gamma"]},
        "sources": [{"type": "rss", "base_url": f"http://127.0.0.1:{port}",
                     "options": {"urls": ["/feed.xml"], "google_news": True}}]}]})
    result = crawl(db, config)
    assert result.status == "failed"
    assert len(result.errors) == 1, result.errors  # the feeds failed; the 3 searches were not sent
    assert result.errors[0].startswith(f"GET 127.0.0.1:{port}/feed.xml: connection refused")
    assert result.errors[0].endswith("; 3 more search(es) not tried")
