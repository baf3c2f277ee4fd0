"""Three defects of the API pollers found by a security review, each against a server on 127.0.0.1:

- no limit on the size of an answer: a 65 KB gzip answer unpacked to 1 GiB, read whole;
- the default token of a source (MENTIONWATCH_MASTODON_TOKEN ...) sent to any `base_url`;
- terminal escape sequences in an API's error message printed by `crawl` and written to the log.

A default host (mastodon.social, api.github.com) cannot be a local server: those checks answer
through httpx.MockTransport, which never touches the network.
"""
from __future__ import annotations

import gzip
import json
import logging

import httpx
import pytest

from crawler import settings
from crawler.collect import collect_source
from crawler.pollers import base
from crawler.pollers.base import Fetcher, FetchError, make_client
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer
from mentionwatch.logging_setup import TextFormatter

EMPTY_HN = json.dumps({"hits": [], "page": 0, "nbPages": 0, "hitsPerPage": 100}).encode()
EMPTY_ANSWERS = {  # an answer with nothing in it, by the path each poller asks
    "/search_by_date": EMPTY_HN,
    "/api/v2/search": json.dumps({"statuses": []}).encode(),
    "/xrpc/app.bsky.feed.searchPosts": json.dumps({"posts": []}).encode(),
    "/search/issues": json.dumps({"total_count": 0, "items": []}).encode(),
}
TOKENS = {"mastodon": "MENTIONWATCH_MASTODON_TOKEN", "bluesky": "MENTIONWATCH_BLUESKY_TOKEN",
          "github": "MENTIONWATCH_GITHUB_TOKEN"}


class Api(LocalServer):
    """Answers each path from `routes` (path -> (status, body, headers)), else an empty answer;
    keeps each request's path and headers."""

    def __init__(self, routes: dict | None = None):
        super().__init__()
        self.routes = routes or {}
        self.seen: list[tuple[str, dict]] = []

    def handle_get(self, request):
        path = request.path.split("?")[0]
        self.seen.append((path, {k.lower(): v for k, v in request.headers.items()}))
        status, body, headers = self.routes.get(path, (200, EMPTY_ANSWERS.get(path, b"{}"), {}))
        self.reply(request, status, body, "application/json", headers)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]


def config_for(*sources: dict) -> Config:
    return Config.model_validate({"watches": [{"name": "acme", "query": {"any": ["acme"]},
                                               "sources": list(sources)}]})


def crawl(db, source: dict, transport=None):
    config = config_for(source)
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)


# 1. a cap on the size of an answer ------------------------------------------------------------------

BOMB = gzip.compress(b" " * (settings.DOWNLOAD_MAXSIZE + 2**20), 9)  # ~33 KB that unpack to 33 MB
TOO_LARGE = "answer larger than 32 MB (decompressed); not read further"


def test_the_cap_is_the_spiders_one():
    assert base.MAX_ANSWER_BYTES == settings.DOWNLOAD_MAXSIZE == 32 * 1024 * 1024


def test_a_gzip_bomb_stops_at_the_cap_in_one_line_and_the_next_source_goes_on(db):
    with Api({"/bomb/search_by_date": (200, BOMB, {"Content-Encoding": "gzip"})}) as api:
        bombed = crawl(db, {"type": "hackernews", "base_url": f"{api.url}/bomb"})
        fine = crawl(db, {"type": "hackernews", "base_url": api.url})
    assert (bombed.status, bombed.errors) == (
        "failed", [f"GET 127.0.0.1:{api.port}/bomb/search_by_date: {TOO_LARGE}"])
    assert [path for path, _ in api.seen].count("/bomb/search_by_date") == 1  # not retried
    assert (fine.status, fine.errors) == ("ok", [])


def test_the_body_of_a_redirect_is_capped_too(db):
    """httpx reads a redirect's body whole before it follows the redirect."""
    with Api({"/hop/search_by_date": (302, BOMB, {"Content-Encoding": "gzip",
                                                   "Location": "/search_by_date"})}) as api:
        result = crawl(db, {"type": "hackernews", "base_url": f"{api.url}/hop"})
    assert result.errors == [f"GET 127.0.0.1:{api.port}/hop/search_by_date: {TOO_LARGE}"]


def _brotli(data: bytes) -> bytes:
    try:
        import brotli
    except ImportError:  # httpx would not decode it either; the answer is refused all the same
        return data
    return brotli.compress(data)


@pytest.mark.parametrize("encoding, body", [
    ("br", _brotli(EMPTY_HN)),
    ("gzip, gzip", gzip.compress(gzip.compress(EMPTY_HN))),
], ids=["brotli", "stacked-gzip"])
def test_encodings_that_unpack_past_the_cap_at_once_are_refused(db, encoding, body):
    """One network read of brotli or of gzip inside gzip can unpack to gigabytes before any cap
    is checked: they are not asked for, and refused when sent anyway."""
    with Api({"/search_by_date": (200, body, {"Content-Encoding": encoding})}) as api:
        result = crawl(db, {"type": "hackernews", "base_url": api.url})
    assert api.seen[0][1]["accept-encoding"] == "gzip, deflate"
    assert result.errors == [f"GET 127.0.0.1:{api.port}/search_by_date: answer compressed as "
                             f"'{encoding}', which was not asked for (only one layer of deflate "
                             "or gzip is read)"]


def test_answers_within_the_cap_are_read_as_before(db):
    """gzip JSON, its error details and statuses: the streamed read changes none of them."""
    refusal = gzip.compress(json.dumps({"message": "Bad credentials"}).encode())
    with Api({"/search_by_date": (200, gzip.compress(EMPTY_HN), {"Content-Encoding": "gzip"}),
              "/no/search_by_date": (401, refusal, {"Content-Encoding": "gzip"})}) as api:
        with make_client() as client:
            fetcher = Fetcher(client, min_interval=0, sleep=lambda s: None)
            assert fetcher.get_json(f"{api.url}/search_by_date") == json.loads(EMPTY_HN)
            with pytest.raises(FetchError) as caught:
                fetcher.get_json(f"{api.url}/no/search_by_date")
    assert str(caught.value) == f"GET 127.0.0.1:{api.port}/no/search_by_date: HTTP 401 Unauthorized: Bad credentials"


# 2. a default token goes only to the host it is for -------------------------------------------------

@pytest.fixture
def tokens(monkeypatch):
    monkeypatch.setattr(base, "_WARNED", set())  # warned once per process: maybe by another test
    for variable in TOKENS.values():
        monkeypatch.setenv(variable, f"tok-{variable.lower()}")
    monkeypatch.setenv("MY_TOKEN", "tok-my-own")
    return monkeypatch


def sent_authorization(db, source: dict, polls: int = 1) -> str | None:
    """The Authorization header the source's requests sent to a local server (None: none)."""
    with Api() as api:
        for _ in range(polls):
            result = crawl(db, {**source, "base_url": api.url})
            assert result.status == "ok", result.errors
    (sent,) = {headers.get("authorization") for _path, headers in api.seen}
    return sent


def answered_authorization(db, source: dict) -> str | None:
    """The same, for a source at its own address (answered without the network)."""
    seen = []

    def answer(request):
        seen.append(request.headers.get("authorization"))
        body = next(b for path, b in EMPTY_ANSWERS.items() if request.url.path.endswith(path))
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    result = crawl(db, source, httpx.MockTransport(answer))
    assert result.status == "ok", result.errors
    return seen[0]


@pytest.mark.parametrize("source_type", sorted(TOKENS))
def test_the_default_token_is_not_sent_to_another_host(db, tokens, caplog, source_type):
    with caplog.at_level(logging.WARNING):
        assert sent_authorization(db, {"type": source_type}, polls=2) is None
    warnings = [r.getMessage() for r in caplog.records if "is not sent to" in r.getMessage()]
    assert len(warnings) == 1  # once, not at each poll
    assert warnings[0].startswith(f"{source_type}: {TOKENS[source_type]} is not sent to 127.0.0.1:")
    assert warnings[0].endswith(f"to send it there, add 'token_env: {TOKENS[source_type]}' to this "
                                "source's options")


@pytest.mark.parametrize("source_type", sorted(TOKENS))
def test_a_token_named_by_token_env_goes_to_any_base_url(db, tokens, source_type):
    variable = TOKENS[source_type]
    named = {"type": source_type, "options": {"token_env": variable}}
    assert sent_authorization(db, named) == f"Bearer tok-{variable.lower()}"
    other = {"type": source_type, "options": {"token_env": "MY_TOKEN"}}
    assert sent_authorization(db, other) == "Bearer tok-my-own"


@pytest.mark.parametrize("source", [
    {"type": "mastodon"},
    {"type": "github"},
    {"type": "bluesky"},
    {"type": "bluesky", "base_url": "https://bsky.social"},  # the PDS entryway, where a token works
    {"type": "mastodon", "base_url": "https://mastodon.social/"},
], ids=["mastodon", "github", "bluesky", "bluesky-entryway", "mastodon-written-out"])
def test_the_default_token_still_goes_to_its_own_host(db, tokens, source):
    variable = TOKENS[source["type"]]
    assert answered_authorization(db, source) == f"Bearer tok-{variable.lower()}"


@pytest.mark.parametrize("base_url", [
    "https://ghe.example.com/api/v3",  # GitHub Enterprise: its own tokens
    "http://api.github.com",  # not over https
    "https://api.github.com.evil.test",
])
def test_github_enterprise_or_a_lookalike_gets_no_default_token(db, tokens, base_url):
    assert answered_authorization(db, {"type": "github", "base_url": base_url}) is None


def test_a_refusal_says_the_default_token_was_not_sent(db, tokens):
    refusal = json.dumps({"error": "The access token is invalid"}).encode()
    with Api({"/api/v2/search": (401, refusal, {})}) as api:
        result = crawl(db, {"type": "mastodon", "base_url": api.url})
    assert result.errors == [f"GET 127.0.0.1:{api.port}/api/v2/search: HTTP 401 Unauthorized "
                             f"(MENTIONWATCH_MASTODON_TOKEN was not sent to 127.0.0.1:{api.port}: "
                             "name it with options.token_env to send it there)"]


# 3. no terminal escape sequences from a remote answer -----------------------------------------------

HOSTILE = "bad \u001b]0;HACKED-TITLE\u0007\u001b[2J \u202eevil"
SHOWN = "bad \\x1b]0;HACKED-TITLE\\x07\\x1b[2J \\u202eevil"


class Hostile(Api):
    """Answers 404 with an escape sequence in its reason phrase and in its JSON `message`."""

    def handle_get(self, request):
        body = json.dumps({"message": HOSTILE}).encode()
        request.send_response(404, "Not\x1b[2JFound")
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


def _no_controls(text: str) -> bool:
    return not any(char in text for char in "\x1b\x07\u202e")


def test_an_error_message_with_escape_sequences_is_stored_and_logged_safe(db, caplog):
    with Hostile() as api, caplog.at_level(logging.INFO):
        result = crawl(db, {"type": "hackernews", "base_url": api.url})
    line = f"GET 127.0.0.1:{api.port}/search_by_date: HTTP 404 Not\\x1b[2JFound: {SHOWN}"
    assert result.errors == [line]
    (stored,) = db.execute("SELECT errors FROM crawl_runs").fetchone()
    assert json.loads(stored) == [line]
    # httpx's own lines are not shown: the CLI and the service keep them quiet (quiet_libraries)
    logged = [TextFormatter().format(record) for record in caplog.records if record.name != "httpx"]
    assert any(line in entry for entry in logged)
    assert all(_no_controls(entry) for entry in logged)


def test_crawl_and_status_print_no_escape_sequence(cli, tmp_path):
    with Hostile() as api:
        config = tmp_path / "mentionwatch.yaml"
        config.write_text(json.dumps({"database": "mw.db", "watches": [{
            "name": "acme", "query": {"any": ["acme"]},
            "sources": [{"type": "hackernews", "base_url": api.url}]}]}), encoding="utf-8")
        crawled = cli("--config", config, "crawl")
    assert crawled.exit_code == 1  # every source failed
    assert _no_controls(crawled.output)
    assert f"acme/hackernews: GET 127.0.0.1:{api.port}/search_by_date: HTTP 404 Not\\x1b[2JFound: " \
           f"{SHOWN}" in crawled.stderr
    status = cli("--config", config, "status")
    assert _no_controls(status.output)
    assert "HACKED-TITLE" in status.output


def test_an_answer_without_a_body_may_name_any_coding():
    """Review: a 304 (an unchanged feed) that named brotli was refused, though it has nothing to decode."""
    answer = httpx.MockTransport(lambda request: httpx.Response(304, headers={"Content-Encoding": "br"}))
    with make_client(transport=answer) as client:
        fetcher = Fetcher(client, min_interval=0, sleep=lambda s: None)
        assert fetcher.request("GET", "http://127.0.0.1:9/feed.xml", ok_statuses=(304,)).status_code == 304


def test_the_warning_says_why_the_token_was_held_back(db, tokens, caplog):
    """Review: http://mastodon.social was told 'not sent to mastodon.social: it goes only to mastodon.social'."""
    source = {"type": "mastodon", "base_url": "http://mastodon.social"}
    crawl(db, source, httpx.MockTransport(lambda request: httpx.Response(200, json={"statuses": []})))
    warnings = [r.getMessage() for r in caplog.records if "is not sent to" in r.getMessage()]
    assert warnings and "(not https)" in warnings[0] and "over https" in warnings[0]


@pytest.mark.parametrize("base_url, options, sent", [
    (None, {}, True),
    ("http://127.0.0.1:9/se", {}, False),
    ("https://api.stackexchange.com.evil.test", {}, False),
    ("http://127.0.0.1:9/se", {"token_env": "MENTIONWATCH_STACKEXCHANGE_KEY"}, True),
], ids=["own-host", "elsewhere", "lookalike", "named"])
def test_the_stack_exchange_key_goes_only_to_its_own_host_unless_named(db, tokens, caplog, base_url, options,
                                                                      sent):
    """Walkthrough 13: the key went as ?key= to any base_url, over plain http too, without a word."""
    tokens.setenv("MENTIONWATCH_STACKEXCHANGE_KEY", "se-key-789")
    keys = []

    def answer(request):
        keys.append(request.url.params.get("key"))
        return httpx.Response(200, json={"items": [], "has_more": False})

    source = {"type": "stackexchange", "options": options, **({"base_url": base_url} if base_url else {})}
    with caplog.at_level(logging.WARNING):
        result = crawl(db, source, httpx.MockTransport(answer))
    assert result.status == "ok", result.errors
    assert keys and set(keys) == {"se-key-789" if sent else None}
    withheld = [r.getMessage() for r in caplog.records if "is not sent to" in r.getMessage()]
    assert len(withheld) == (0 if sent or base_url is None else 1)
    assert "se-key-789" not in caplog.text


def test_an_echoed_basic_authorization_is_hidden_in_errors(db, monkeypatch):
    """Walkthrough 13: a proxy's 401 quoting our Authorization header put base64 of the Reddit
    client id and secret into the error line and crawl_runs; no stored secret matches it as written."""
    import base64

    from crawler.pollers.reddit import CLIENT_ID_ENV, CLIENT_SECRET_ENV

    monkeypatch.setenv(CLIENT_ID_ENV, "SECRETRID111")
    monkeypatch.setenv(CLIENT_SECRET_ENV, "SECRETRSEC222")
    encoded = base64.b64encode(b"SECRETRID111:SECRETRSEC222").decode()

    def echo(request):
        return httpx.Response(401, json={"message": f"refused auth={request.headers.get('authorization')}"})

    result = crawl(db, {"type": "reddit", "base_url": "http://127.0.0.1:9/r",
                        "options": {"send_oauth": True}}, httpx.MockTransport(echo))
    assert result.status == "failed" and result.errors
    stored = db.execute("SELECT errors FROM crawl_runs").fetchall()
    assert "Basic [redacted]" in " ".join(result.errors)
    assert encoded not in " ".join(result.errors) + repr(stored)
