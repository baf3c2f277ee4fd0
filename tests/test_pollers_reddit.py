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
    return {m.external_id for m in RedditPoller.parse(listing) if matches_query(q, m.text, m.lang, m.own_title)}


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
    config = make_config({"subreddit": "all", "mode": "new", "max_pages": 1, "send_oauth": True})

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
    assert first.fetched == 6 * 4  # one search per `any` term; the replay answers each the same
    assert set(stored(db)) == expected_matches(listing, query) != set()
    sent = replay.requests[0].url.params
    assert sent["sort"] == "new" and sent["limit"] == "100"
    assert [r.url.params["q"] for r in replay.requests] == query["any"]

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
    config = make_config({"subreddit": "kakapo", "mode": "comments", "max_pages": 1, "send_oauth": True}, query)

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


# a poll interrupted part-way (503 on a later page) ------------------------------------------------

class ListingServer:
    """A stand-in for Reddit's search listing over real recorded posts, newest first: pages of
    `limit` with `after`, newer posts with `before` (the `limit` just before that post); nothing
    before or after a post that is gone. While
    `failing` is set, the page numbered `fail_page` (0 = the top) answers 503."""

    def __init__(self, children: list[dict], fail_page: int = 2):
        self.children = list(children)
        self.fail_page = fail_page
        self.failing = False
        self.requests: list = []

    def add_newer(self, children: list[dict]) -> None:
        self.children = list(children) + self.children

    def transport(self):
        import httpx

        def handle(request):
            self.requests.append(request)
            names = [c["data"]["name"] for c in self.children]
            params = request.url.params
            limit = int(params.get("limit", "25"))
            if params.get("before"):
                end = names.index(params["before"]) if params["before"] in names else 0
                chunk, after = self.children[max(0, end - limit):end], None
            elif params.get("after") and params["after"] not in names:
                chunk, after = [], None  # a removed post lists nothing after it
            else:
                start = names.index(params["after"]) + 1 if params.get("after") else 0
                if self.failing and start // limit == self.fail_page:
                    return httpx.Response(503, json={"message": "overloaded"})
                chunk = self.children[start:start + limit]
                after = chunk[-1]["data"]["name"] if start + limit < len(names) else None
            return httpx.Response(200, json={"kind": "Listing", "data": {
                "children": chunk, "after": after, "before": None}})

        return httpx.MockTransport(handle)


def _recorded_children(shared_file) -> list[dict]:
    children = []
    for name in ("r_all_new_2016-12-22.json", "r_askreddit_new_2016-03-01.json"):  # 2016-12, then 2016-03
        children += json.loads(shared_file(f"api/reddit/response_bodies/{name}").read_text())["data"]["children"]
    return children


def _newer_children(template: dict, count: int, newest: float) -> list[dict]:
    """Posts shaped like a recorded one, newer than every recorded post, newest first."""
    out = []
    for i in range(count):
        data = {**template["data"], "name": f"t3_new{i}", "id": f"new{i}", "created_utc": newest - i,
                "title": f"the new post {i}", "permalink": f"/r/test/comments/new{i}/"}
        out.append({"kind": "t3", "data": data})
    return out


def test_an_interrupted_first_poll_resumes_and_reads_the_pages_it_never_reached(shared_file, db, tmp_path):
    from storage import open_db

    children = _recorded_children(shared_file)  # 200 real posts: 8 pages of 25
    config = make_config({"limit": 25, "max_pages": 10, "query": "the"})  # one search
    key = cursor_key(config.watches[0].sources[0])
    fresh = _newer_children(children[0], 5, 1_500_000_000)

    control_server = ListingServer(fresh + children)  # the same poll, never interrupted: what must be stored
    control = open_db(tmp_path / "control.db")
    assert run(control, config, control_server).status == "ok"
    expected = set(stored(control))
    control.close()
    assert len(control_server.requests) == 9  # 205 posts, 25 a page
    assert len(expected) > 100

    server = ListingServer(children)
    server.failing = True
    first = run(db, config, server)
    assert (first.status, first.pages) == ("partial", 2)
    assert "HTTP 503" in first.errors[0]
    on_two_pages = expected_matches({"data": {"children": children[:50]}}, QUERY)
    assert set(stored(db)) == on_two_pages
    assert load_cursors(db, "brand", key) == {"unfinished": "1"}  # no `newest`: the pass did not finish

    server.failing = False
    server.add_newer(fresh)
    asked = len(server.requests)
    second = run(db, config, server)
    assert second.status == "ok", second.errors
    assert set(stored(db)) == expected  # pages three to eight were read this time
    assert second.duplicates == len(on_two_pages)  # skipped, not a reason to stop
    assert len(server.requests) == asked + 9
    assert load_cursors(db, "brand", key) == {"newest": "t3_new0"}

    # the pass finished: the next poll asks for newer posts, then (none) reads the top page and
    # stops at its first stored post instead of paging on
    asked = len(server.requests)
    third = run(db, config, server)
    assert (third.status, third.new) == ("ok", 0)
    sent = [r.url.params for r in server.requests[asked:]]
    assert [(p.get("before"), p.get("after")) for p in sent] == [("t3_new0", None), (None, None)]
    assert load_cursors(db, "brand", key) == {"newest": "t3_new0"}


def test_children_without_an_id_are_rejected_not_stored_as_none(shared_file, db):
    """`name` and `id` null (or empty): rejected as malformed, never stored as 't3_None'."""
    body = shared_file("api/reddit/response_bodies/r_all_new_2016-12-22.json").read_bytes()
    listing = json.loads(body)
    children = listing["data"]["children"]
    children[0]["data"]["name"], children[0]["data"]["id"] = None, None
    children[1]["data"]["name"], children[1]["data"]["id"] = None, None
    children[2]["data"]["name"], children[2]["data"]["id"] = "", ""
    del children[3]["data"]["name"]  # the id alone still names it
    problems = []
    mentions = RedditPoller.parse(listing, problems)
    assert len(problems) == 3 and "id: missing" in problems[0]
    assert len(mentions) == 97
    assert mentions[0].external_id == "t3_" + children[3]["data"]["id"]

    replay = Replay([file_response("/r/all/new.json", json.dumps(listing).encode(), "application/json")])
    result = run(db, make_config({"subreddit": "all", "mode": "new", "max_pages": 1}), replay)
    assert (result.status, result.fetched, result.rejected) == ("ok", 100, 3)
    assert not {"t3_None", "t3_", "None"} & set(stored(db))


# the cursor's post removed (review 8) -------------------------------------------------------------

def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while number:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
    return text


def _posts_above(template: dict, newest_name: str, count: int, text: str) -> list[dict]:
    """`count` posts with ids above `newest_name`, as Reddit numbers newer posts, newest first."""
    base = int(newest_name.partition("_")[2], 36)
    out = []
    for i in range(count, 0, -1):
        post_id = _base36(base + i)
        data = {**template["data"], "name": f"t3_{post_id}", "id": post_id, "title": f"post {i}",
                "selftext": text, "created_utc": template["data"]["created_utc"] + i,
                "permalink": f"/r/test/comments/{post_id}/"}
        out.append({"kind": "t3", "data": data})
    return out


def test_a_burst_after_the_cursors_post_was_removed_is_read_by_the_next_polls(shared_file, db):
    children = _recorded_children(shared_file)[:100]
    config = make_config({"subreddit": "test", "mode": "new", "limit": 25, "max_pages": 2},
                         {"any": ["acme"]})
    key = cursor_key(config.watches[0].sources[0])
    server = ListingServer(children)
    assert run(db, config, server).status == "ok"
    cursor = load_cursors(db, "brand", key)["newest"]
    assert cursor == children[0]["data"]["name"]

    server.children.remove(children[0])  # removed: every `before` it answers empty
    burst = _posts_above(children[0], cursor, 80, "acme is down again")
    server.add_newer(burst)
    second = run(db, config, server)
    assert second.status == "partial" and "the next polls read on" in second.errors[0]
    assert second.new == 50  # two pages of 25
    third = run(db, config, server)
    assert (third.status, third.new) == ("ok", 30), third.errors
    assert set(stored(db)) == {c["data"]["name"] for c in burst}
    assert load_cursors(db, "brand", key) == {"newest": burst[0]["data"]["name"]}  # the gap is closed


def test_a_quiet_poll_reads_one_top_page_even_when_nothing_was_stored(shared_file, db):
    children = _recorded_children(shared_file)[:100]
    config = make_config({"subreddit": "test", "mode": "new", "limit": 25, "max_pages": 4},
                         {"any": ["no-such-word-anywhere"]})
    server = ListingServer(children)
    run(db, config, server)
    asked = len(server.requests)
    quiet = run(db, config, server)
    assert (quiet.status, quiet.new) == ("ok", 0)
    assert len(server.requests) - asked == 2  # the empty `before` page, then the top page only


def test_a_removed_or_deleted_comment_is_no_mention(shared_file):
    listing = json.loads(shared_file("api/reddit/response_bodies/r_all_new_2016-12-22.json").read_text())
    comment = {"kind": "t1", "data": {**listing["data"]["children"][0]["data"], "name": "t1_abc",
                                      "link_title": "acme thread", "author": "[deleted]"}}
    removed = {"kind": "t1", "data": {**comment["data"], "body": "[removed]"}}
    deleted = {"kind": "t1", "data": {**comment["data"], "name": "t1_abd", "body": "[deleted]"}}
    kept = {"kind": "t1", "data": {**comment["data"], "name": "t1_abe", "body": "acme broke"}}
    parsed = RedditPoller.parse({"data": {"children": [removed, deleted, kept]}})
    assert [m.external_id for m in parsed] == ["t1_abe"]


def _burst_after_a_removed_cursor(shared_file, db, max_pages=2):
    """A first poll of 100 posts, then its newest post removed and 80 new ones matching."""
    children = _recorded_children(shared_file)[:100]
    config = make_config({"subreddit": "test", "mode": "new", "limit": 25, "max_pages": max_pages},
                         {"any": ["acme"]})
    server = ListingServer(children, fail_page=1)
    assert run(db, config, server).status == "ok"
    cursor = load_cursors(db, "brand", cursor_key(config.watches[0].sources[0]))["newest"]
    server.children.remove(children[0])
    burst = _posts_above(children[0], cursor, 80, "acme is down again")
    server.add_newer(burst)
    return config, server, {c["data"]["name"] for c in burst}


def test_a_burst_read_by_a_pass_that_resumes_after_an_error_is_still_read_whole(shared_file, db):
    config, server, burst = _burst_after_a_removed_cursor(shared_file, db)
    server.failing = True  # the second page of the top answers 503
    assert run(db, config, server).status == "partial"
    server.failing = False
    for _ in range(3):
        run(db, config, server)
    assert set(stored(db)) == burst


def test_a_gap_whose_place_was_removed_is_read_down_from_the_top(shared_file, db):
    config, server, burst = _burst_after_a_removed_cursor(shared_file, db)
    assert run(db, config, server).status == "partial"  # 50 read, the gap's place below them
    key = cursor_key(config.watches[0].sources[0])
    place = load_cursors(db, "brand", key)["gap_after"]
    server.children = [c for c in server.children if c["data"]["name"] != place]
    for _ in range(3):
        run(db, config, server)
    assert set(stored(db)) == burst  # the place itself was read with the page it ends
    assert "gap_after" not in load_cursors(db, "brand", key)


def test_a_gap_whose_place_was_removed_is_kept_when_a_poll_has_room_for_one_page_only(shared_file, db):
    config, server, burst = _burst_after_a_removed_cursor(shared_file, db, max_pages=1)
    assert run(db, config, server).status == "partial"
    key = cursor_key(config.watches[0].sources[0])
    place = load_cursors(db, "brand", key)["gap_after"]
    server.children = [c for c in server.children if c["data"]["name"] != place]
    after_empty_page = run(db, config, server)  # its one gap page is the empty answer after the place
    assert after_empty_page.status == "partial"
    assert load_cursors(db, "brand", key)["gap_after"] == "top"
    for _ in range(6):
        run(db, config, server)
    assert set(stored(db)) == burst
    assert "gap_after" not in load_cursors(db, "brand", key)


class CappedListing(ListingServer):
    """Reddit lists its newest `cap` posts only: nothing after a post further down."""

    def __init__(self, children: list[dict], cap: int):
        super().__init__(children)
        self.cap = cap

    def transport(self):
        import httpx

        inner = super().transport()

        def handle(request):
            every, self.children = self.children, self.children[:self.cap]
            try:
                return inner.handle_request(request)
            finally:
                self.children = every

        return httpx.MockTransport(handle)


def test_a_gap_below_what_reddit_lists_is_given_up_with_a_line_not_read_for_ever(shared_file, db):
    """Review: once read back from the top, a gap whose place fell below Reddit's ~1,000 listed posts
    found nothing after it again and again: the gap never closed, every poll 'partial'."""
    children = _recorded_children(shared_file)[:100]
    config = make_config({"subreddit": "test", "mode": "new", "limit": 100, "max_pages": 1}, {"any": ["acme"]})
    server = CappedListing(children, cap=1000)
    run(db, config, server)
    key = cursor_key(config.watches[0].sources[0])
    cursor = load_cursors(db, "brand", key)["newest"]
    server.children.remove(children[0])
    server.add_newer(_posts_above(children[0], cursor, 1500, "acme is down again"))
    lines, polls = run(db, config, server).errors, 1  # 100 of the 1,500 read: a gap below them
    assert "gap_after" in load_cursors(db, "brand", key)
    while "gap_after" in load_cursors(db, "brand", key) and polls < 150:
        newest = server.children[0]["data"]["name"]
        server.add_newer(_posts_above(server.children[0], newest, 12, "acme again"))
        lines += run(db, config, server).errors
        polls += 1
    assert "gap_after" not in load_cursors(db, "brand", key), lines[-3:]
    assert any("the listing ends before" in line for line in lines), lines
