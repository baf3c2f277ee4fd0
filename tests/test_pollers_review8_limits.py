"""Review 8: rate-limit ends announced the Mastodon, Bluesky and Reddit way; Bluesky authors whose
handle failed verification; Bluesky quote posts; words split by table and other block tags.

Mastodon's headers come from a real recording in ../shared/data/api (only their reset moment is
moved to the future); Reddit's and Bluesky's are in their documented shape (no recording of them
exists). Answers go through httpx.MockTransport.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import time

import httpx
import pytest
import yaml

from crawler.pollers.base import Fetcher, FetchError, _rate_limit_end, html_to_text, make_client
from crawler.pollers.bluesky import BlueskyPoller

UTC = dt.timezone.utc
MASTODON_RECORDED = "api/mastodon/test_entity_status.yaml"
BLUESKY_THREAD = "api/bluesky/thread_view_post_with_embed_media.json"


# rate-limit ends -------------------------------------------------------------------------------

def mastodon_headers(shared_file) -> dict[str, str]:
    """The x-ratelimit-* headers of a real Mastodon answer (reset: '2026-04-11T23:15:00.996774Z')."""
    recording = yaml.safe_load(shared_file(MASTODON_RECORDED).read_text(encoding="utf-8"))
    headers = recording["interactions"][0]["response"]["headers"]
    return {name: values[0] for name, values in headers.items() if name.startswith("x-ratelimit-")}


def fetch_limited(headers: dict[str, str]):
    """GET answered 429 with `headers`, then 200; (the error or None, requests made, sleeps)."""
    requests, sleeps = [], []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 1:
            return httpx.Response(429, headers=headers, json={"error": "Too many requests"})
        return httpx.Response(200, json={"ok": True})

    fetcher = Fetcher(make_client(httpx.MockTransport(answer)), min_interval=0, sleep=sleeps.append)
    try:
        fetcher.get_json("https://api.test/search")
    except FetchError as exc:
        return exc, len(requests), sleeps
    return None, len(requests), sleeps


def iso_in(seconds: int) -> str:
    """A moment `seconds` from now the way Mastodon writes X-RateLimit-Reset."""
    return (dt.datetime.now(UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_mastodons_iso_reset_is_read(shared_file):
    headers = dict(mastodon_headers(shared_file), **{"x-ratelimit-remaining": "0"})
    response = httpx.Response(429, headers=headers)
    assert _rate_limit_end(response) == dt.datetime(2026, 4, 11, 23, 15, 0, 996774, tzinfo=UTC)


def test_a_long_mastodon_rate_limit_is_one_line_with_its_end(shared_file):
    headers = dict(mastodon_headers(shared_file), **{"x-ratelimit-remaining": "0",
                                                     "x-ratelimit-reset": iso_in(240)})
    error, requests, sleeps = fetch_limited(headers)
    assert (requests, sleeps) == (1, [])  # not three retries into the same limit
    assert error.whole_source and abs((error.retry_at - dt.datetime.now(UTC)).total_seconds() - 240) < 5
    assert "rate limited until" in str(error)


def test_a_short_mastodon_rate_limit_is_waited_out(shared_file):
    headers = dict(mastodon_headers(shared_file), **{"x-ratelimit-remaining": "0",
                                                     "x-ratelimit-reset": iso_in(30)})
    error, requests, (slept,) = fetch_limited(headers)
    assert error is None and requests == 2 and 25 <= slept <= 31


def test_bluesky_unprefixed_ratelimit_headers():
    reset = int(time.time()) + 240
    error, requests, sleeps = fetch_limited({"ratelimit-limit": "3000", "ratelimit-remaining": "0",
                                             "ratelimit-reset": str(reset), "ratelimit-policy": "3000;w=300"})
    assert (requests, sleeps) == (1, [])
    assert error.retry_at == dt.datetime.fromtimestamp(reset, UTC)


@pytest.mark.parametrize("remaining", ["0.0", "0"])
def test_reddits_reset_is_seconds_from_now(remaining):
    error, requests, sleeps = fetch_limited({"x-ratelimit-remaining": remaining,
                                             "x-ratelimit-used": "100", "x-ratelimit-reset": "240"})
    assert (requests, sleeps) == (1, [])
    assert abs((error.retry_at - dt.datetime.now(UTC)).total_seconds() - 240) < 5


def test_a_short_reddit_reset_is_waited_out():
    error, requests, sleeps = fetch_limited({"x-ratelimit-remaining": "0.0", "x-ratelimit-used": "100",
                                             "x-ratelimit-reset": "45"})
    assert error is None and requests == 2 and 44 <= sleeps[0] <= 45


def test_requests_left_is_no_rate_limit_end():
    headers = {"x-ratelimit-remaining": "12.0", "x-ratelimit-reset": "240"}
    assert _rate_limit_end(httpx.Response(429, headers=headers)) is None


def test_githubs_epoch_reset_and_retry_after_keep_their_meaning():
    reset = int(time.time()) + 600
    github = httpx.Response(403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    assert _rate_limit_end(github) == dt.datetime.fromtimestamp(reset, UTC)
    error, requests, sleeps = fetch_limited({"Retry-After": "7", "x-ratelimit-remaining": "0",
                                             "x-ratelimit-reset": "240"})
    assert error is None and sleeps == [7.0]  # Retry-After comes first


@pytest.mark.parametrize("reset", ["soon", "99999999999999", "-5", "nan", "2026-13-45T00:00:00Z"])
def test_an_unreadable_reset_falls_back_to_the_usual_back_off(reset):
    error, requests, sleeps = fetch_limited({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    assert error is None and requests == 2 and sleeps == [2.0]


# Bluesky: handles that failed verification -----------------------------------------------------

def recorded_post(shared_file) -> dict:
    return copy.deepcopy(json.loads(shared_file(BLUESKY_THREAD).read_text())["thread"]["post"])


def test_bluesky_invalid_handle_gives_way_to_the_did(shared_file):
    first = recorded_post(shared_file)
    first["record"]["text"] = "acme is down"
    first["author"]["handle"] = "handle.invalid"
    second = copy.deepcopy(first)
    second["author"]["did"] = "did:plc:someoneelse0000000000000"
    second["uri"] = "at://did:plc:someoneelse0000000000000/app.bsky.feed.post/3kaheyt6vpc99"
    a, b = BlueskyPoller.parse({"posts": [first, second]})
    assert (a.author, a.url) == ("did:plc:kvwvcn5iqfooopmyzvb4qzba",
                                 "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kaheyt6vpc22")
    assert (b.author, b.url) == ("did:plc:someoneelse0000000000000",
                                 "https://bsky.app/profile/did:plc:someoneelse0000000000000/post/3kaheyt6vpc99")


def test_bluesky_author_without_handle_or_did_takes_the_did_of_the_uri(shared_file):
    post = recorded_post(shared_file)
    post["record"]["text"] = "acme is down"
    post["author"] = {}
    (mention,) = BlueskyPoller.parse({"posts": [post]})
    assert mention.url == "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kaheyt6vpc22"
    assert mention.author == "did:plc:kvwvcn5iqfooopmyzvb4qzba"


# Bluesky: quote posts ----------------------------------------------------------------------------

def plain_quote(shared_file, text: str) -> dict:
    """The recorded post turned into a plain quote (app.bsky.embed.record#view, no media)."""
    post = recorded_post(shared_file)
    post["record"]["text"] = text
    post["record"]["embed"] = post["record"]["embed"]["record"]
    post["embed"] = {"$type": "app.bsky.embed.record#view", "record": post["embed"]["record"]["record"]}
    return post


@pytest.mark.parametrize("shape", ["record", "recordWithMedia"])
def test_a_bluesky_quote_without_text_of_its_own_is_skipped_quietly(shared_file, shape):
    post = plain_quote(shared_file, "") if shape == "record" else recorded_post(shared_file)
    problems: list[str] = []
    assert BlueskyPoller.parse({"posts": [post]}, problems) == [] and problems == []


@pytest.mark.parametrize("shape", ["record", "recordWithMedia"])
def test_a_bluesky_quote_with_text_of_its_own_stores_that_text_only(shared_file, shape):
    post = plain_quote(shared_file, "") if shape == "record" else recorded_post(shared_file)
    post["record"]["text"] = "look at this"
    (mention,) = BlueskyPoller.parse({"posts": [post]})
    assert mention.text == "look at this"


def test_a_bluesky_quote_with_alt_text_of_its_own_stores_the_alt_text_only(shared_file):
    post = recorded_post(shared_file)  # recordWithMedia: an image and the quoted post 'test'
    post["embed"]["media"]["images"][0]["alt"] = "acme error dialog"
    (mention,) = BlueskyPoller.parse({"posts": [post]})
    assert mention.text == "acme error dialog"


def test_a_bluesky_image_post_still_stores_its_alt_text(shared_file):
    post = recorded_post(shared_file)
    media = post["embed"]["media"]
    media["images"][0]["alt"] = "acme outage map"
    post["embed"] = media
    post["record"]["embed"] = post["record"]["embed"]["media"]
    (mention,) = BlueskyPoller.parse({"posts": [post]})
    assert mention.text == "acme outage map"


# block tags ------------------------------------------------------------------------------------

@pytest.mark.parametrize("html, words", [
    ("<table><tr><td>Acme</td><td>Corp</td></tr></table>", ["Acme", "Corp"]),
    ("<tr><th>Name</th><th>Score</th></tr>", ["Name", "Score"]),
    ("said<blockquote>acme</blockquote>today", ["said", "acme", "today"]),
    ("<pre>x=1</pre>acme", ["x=1", "acme"]),
    ("one<hr>two", ["one", "two"]),
    ("<dl><dt>Acme</dt><dd>down</dd></dl>", ["Acme", "down"]),
    ("<section>a</section><article>b</article>", ["a", "b"]),
    ("<figure><img src=x><figcaption>acme</figcaption></figure>logo", ["acme", "logo"]),
    ("<b>Ac</b><i>me</i>", ["Acme"]),  # inline tags still join
    ("<p>if x < 3 the acme client retries; if y > 5 it stops</p>",  # a '<' before a space is no tag
     "if x < 3 the acme client retries; if y > 5 it stops".split()),
    ("a <!-- hidden --> b <br/> c", ["a", "b", "c"]),
])
def test_block_tags_separate_words(html, words):
    assert html_to_text(html).split() == words
