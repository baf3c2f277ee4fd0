"""Reddit poller replayed from PRAW's recorded cassettes (real Reddit responses)."""
from __future__ import annotations

import json

import pytest

from crawler.collect import collect_source
from crawler.cursors import cursor_key, load_cursors
from crawler.matching import matches_query
from crawler.pollers.reddit import RedditPoller
from mentionwatch.config import Config
from pollers_replay import BASE_URL, Replay, betamax, file_response

QUERY = {"any": ["the", "a", "to"]}


def make_config(options: dict, query: dict = QUERY) -> Config:
    return Config.model_validate({"watches": [{
        "name": "brand", "query": query,
        "sources": [{"type": "reddit", "base_url": BASE_URL, "options": options}]}]})


def run(db, config, replay):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=replay.transport(),
                          sleep=lambda s: None)


def stored(db, source="reddit"):
    return {row[0]: row for row in db.execute(
        "SELECT external_id, title, text, author, url, created_at FROM mentions WHERE source = ?",
        [source]).fetchall()}


def expected_matches(listing: dict, query: dict) -> set[str]:
    from mentionwatch.config import Query

    q = Query.model_validate(query)
    return {m.external_id for m in RedditPoller.parse(listing) if matches_query(q, m.text, m.lang, m.title)}


def test_parse_listing_fields(shared_file):
    listing = json.loads(shared_file("api/reddit/response_bodies/r_all_new_2016-12-22.json").read_text())
    problems = []
    mentions = RedditPoller.parse(listing, problems)
    assert problems == []
    assert len(mentions) == len(listing["data"]["children"]) == 100
    first = listing["data"]["children"][0]["data"]
    assert mentions[0].external_id == first["name"] == "t3_5jo13y"
    assert mentions[0].title == first["title"]
    assert mentions[0].author == first["author"]
    assert mentions[0].url == "https://www.reddit.com" + first["permalink"]
    assert mentions[0].created_at == "2016-12-22T02:17:30Z"  # created_utc 1482373050


def test_oauth_new_listing_then_before_poll(shared_file, db, monkeypatch):
    """The recorded stream: 100 newest posts, then a `before=` poll that returns 4 newer ones."""
    cassette = shared_file("api/reddit/TestSubredditStreams.test_submissions.json")
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_ID", "client-id")
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", "client-secret")
    recordings = betamax(cassette)
    replay = Replay(recordings, match_params=("before", "after"))
    config = make_config({"subreddit": "all", "mode": "new", "max_pages": 1})

    first = run(db, config, replay)
    assert first.status == "ok", first.errors
    assert first.fetched == 100
    first_listing = json.loads(recordings[1].body)
    assert set(stored(db)) == expected_matches(first_listing, QUERY)
    assert first.new == len(stored(db)) and first.filtered == 100 - first.new
    assert replay.requests[0].url.path == "/api/v1/access_token"
    assert replay.requests[1].headers["authorization"] == "bearer <ACCESS_TOKEN>"
    key = cursor_key(config.watches[0].sources[0])
    assert load_cursors(db, "brand", key) == {"newest": "t3_5jo13y"}

    second = run(db, config, replay)
    assert second.status == "ok", second.errors
    assert replay.requests[-1].url.params["before"] == "t3_5jo13y"
    assert second.fetched == 4
    newer_listing = json.loads(recordings[2].body)
    assert second.new == len(expected_matches(newer_listing, QUERY))
    assert load_cursors(db, "brand", key)["newest"] == newer_listing["data"]["children"][0]["data"]["name"]
    row = db.execute("SELECT status, fetched, new FROM crawl_runs WHERE id = ?", [second.run_id]).fetchone()
    assert row == ("ok", 4, second.new)


def test_anonymous_search_pages_and_stops_at_stored(shared_file, db):
    body = shared_file("api/reddit/response_bodies/r_all_search_q-praw-oauth-search_2016-07-12.json").read_bytes()
    listing = json.loads(body)
    replay = Replay([file_response("/search.json", body, "application/json; charset=UTF-8")])
    query = {"any": ["praw", "oauth", "search", "reddit"]}
    config = make_config({}, query)

    first = run(db, config, replay)
    assert first.status == "ok", first.errors
    assert first.fetched == 6
    assert set(stored(db)) == expected_matches(listing, query) != set()
    sent = replay.requests[0].url.params
    assert sent["sort"] == "new" and sent["limit"] == "100" and sent["q"]

    second = run(db, config, replay)  # the cursor asks for newer posts; the replay returns the same page
    assert second.new == 0
    assert second.duplicates >= 1
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == len(expected_matches(listing, query))


def test_empty_listing_is_not_an_error(db):
    empty = json.dumps({"kind": "Listing", "data": {"children": [], "after": None, "before": None}})
    replay = Replay([file_response("/search.json", empty.encode(), "application/json")])
    result = run(db, make_config({}), replay)
    assert (result.status, result.fetched, result.new) == ("ok", 0, 0)


@pytest.mark.parametrize("kind", ["t3", "t1"])
def test_malformed_children_are_skipped(kind):
    listing = {"data": {"children": [
        {"kind": kind, "data": {"name": f"{kind}_ok", "title": "fine", "body": "fine text",
                                "selftext": "fine", "created_utc": 1_500_000_000, "permalink": "/r/x/1"}},
        {"kind": kind, "data": {"name": f"{kind}_bad", "title": "no time"}},
        {"kind": kind, "data": "not an object"},
        "garbage",
    ]}}
    problems = []
    mentions = RedditPoller.parse(listing, problems)
    assert [m.external_id for m in mentions] == [f"{kind}_ok"]
    assert len(problems) == 3


def test_comment_stream_with_an_empty_before_page(shared_file, db, monkeypatch):
    """The recorded comment stream: 16 comments; a `before` poll answered empty; then 17 comments,
    one of them new. An empty `before` answer makes the poller re-read the top page."""
    cassette = shared_file("api/reddit/TestSubredditStreams.test_comments__with_pause.json")
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_ID", "client-id")
    monkeypatch.setenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", "client-secret")
    recordings = betamax(cassette)
    replay = Replay(recordings, sequential=True, reusable_paths=("/api/v1/access_token",))
    query = {"any": ["kakapo", "the", "a", "i", "nice"]}
    config = make_config({"subreddit": "kakapo", "mode": "comments", "max_pages": 1}, query)

    first = run(db, config, replay)
    assert (first.status, first.fetched) == ("ok", 16), first.errors
    assert replay.requests[1].url.path == "/r/kakapo/comments"
    first_listing = json.loads(recordings[1].body)
    stored_first = set(stored(db))
    assert stored_first == expected_matches(first_listing, query) != set()
    comment = next(c["data"] for c in first_listing["data"]["children"] if c["data"]["name"] in stored_first)
    _, link_title, text, author, url, _ = stored(db)[comment["name"]]
    assert (link_title, text, author) == (comment["link_title"], comment["body"], comment["author"])
    assert url == f"{comment['link_permalink'].rstrip('/')}/{comment['id']}/"

    second = run(db, config, replay)
    asked = [r.url.params.get("before") for r in replay.requests if r.url.path.startswith("/r/")]
    assert asked == [None, "t1_dgauydy", None]  # first poll, the empty `before` poll, the top page
    third_listing = json.loads(recordings[3].body)
    assert second.status == "ok"
    assert second.new == len(expected_matches(third_listing, query) - stored_first) == 1
    key = cursor_key(config.watches[0].sources[0])
    assert load_cursors(db, "brand", key)["newest"] == third_listing["data"]["children"][0]["data"]["name"]
