"""Hacker News (Algolia) poller replayed from a recorded search_by_date response, and against the local
Algolia stand-in (mentionwatch.local_servers) for paging that an error interrupts."""
from __future__ import annotations

import json
import urllib.parse

import httpx

from crawler.collect import collect_source
from crawler.cursors import OVERLAP_SECONDS, cursor_key, load_cursors
from crawler.pollers.hackernews import HackerNewsPoller
from mentionwatch.config import Config
from mentionwatch.local_servers import HackerNewsServer, synthetic_hits
from pollers_replay import BASE_URL, Replay, file_response

RECORDED = "api/hackernews/search_by_date_query-nodejs.json"


def make_config(query: dict, options: dict | None = None) -> Config:
    return Config.model_validate({"watches": [{
        "name": "node", "query": query,
        "sources": [{"type": "hackernews", "base_url": BASE_URL, "options": options or {}}]}]})


def run(db, config, replay):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=replay.transport(),
                          sleep=lambda s: None)


def test_parse_hits(shared_file):
    payload = json.loads(shared_file(RECORDED).read_text())
    mentions = HackerNewsPoller.parse(payload)
    assert len(mentions) == 20
    comment = mentions[0]
    assert comment.external_id == "15353312"
    assert comment.author == "RealJon"
    assert comment.created_at == "2017-09-27T23:33:24Z"
    assert comment.text.startswith("You don't need to plug in any Java code")  # entities and <p> decoded
    assert "<p>" not in comment.text
    assert comment.title == "Open-Sourcing Vespa, Yahoo’s Data Processing and Serving Engine"
    story = mentions[1]
    assert story.title == "Node8’s util.promisify is so freakin’ awesome"
    assert story.url == "https://news.ycombinator.com/item?id=15353234"


def test_first_poll_then_incremental_poll(shared_file, db):
    body = shared_file(RECORDED).read_bytes()
    payload = json.loads(body)
    replay = Replay([file_response("/search_by_date", body, "application/json; charset=utf-8")])
    # one search (options.query), as recorded; tests/test_collect_search_terms.py has one per term
    config = make_config({"any": ["node", "nodejs", "node.js", "javascript", "npm"]},
                         {"max_pages": 1, "query": "nodejs"})

    first = run(db, config, replay)
    assert first.status == "ok", first.errors
    assert first.fetched == 20
    assert first.new >= 1 and first.new + first.filtered == 20
    newest = max(hit["created_at_i"] for hit in payload["hits"])
    key = cursor_key(config.watches[0].sources[0])
    assert load_cursors(db, "node", key) == {"created_at_i": str(newest)}
    assert "numericFilters" not in replay.requests[0].url.params
    assert replay.requests[0].headers["user-agent"].startswith("mentionwatch/")

    second = run(db, config, replay)  # the recording ignores the filter: the poll stops at stored items
    assert replay.requests[-1].url.params["numericFilters"] == f"created_at_i>{newest - OVERLAP_SECONDS}"
    assert second.new == 0
    assert second.duplicates >= 1
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == first.new


def test_pages_until_last_page(shared_file, db):
    payload = json.loads(shared_file(RECORDED).read_text())
    hits = payload["hits"]
    pages = []
    for number, chunk in enumerate((hits[:10], hits[10:])):
        pages.append({**payload, "hits": chunk, "page": number, "nbPages": 2})

    def handler(request):
        return httpx.Response(200, json=pages[int(request.url.params["page"])])

    config = make_config({"any": ["node", "nodejs", "javascript", "npm", "the"]}, {"query": "nodejs"})
    watch = config.watches[0]
    result = collect_source(db, config, watch, watch.sources[0], transport=httpx.MockTransport(handler),
                            sleep=lambda s: None)
    assert result.fetched == 20
    assert result.status == "ok"


class FlakyHackerNews(HackerNewsServer):
    """The local Algolia stand-in; while `failing` is set, requests for page `fail_page` get a 503.

    With `honour_filter` off it answers as if `numericFilters` were not there (like the recording).
    """

    def __init__(self, hits, fail_page: int = 2):
        super().__init__(hits)
        self.fail_page = fail_page
        self.failing = False
        self.honour_filter = True

    def handle_get(self, request):
        parsed = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(parsed.query)
        if self.failing and int(query.get("page", ["0"])[0]) == self.fail_page:
            with self.lock:
                self.requests.append(request.path)
            return self.reply(request, 503, b'{"message": "overloaded"}', "application/json")
        if not self.honour_filter:
            query.pop("numericFilters", None)
            request.path = parsed._replace(query=urllib.parse.urlencode(query, doseq=True)).geturl()
        return super().handle_get(request)


def _poll_server(db, config):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], sleep=lambda s: None)


def _stored_ids(db) -> set[str]:
    return {row[0] for row in db.execute("SELECT external_id FROM mentions WHERE source = 'hackernews'")}


def _server_config(url: str) -> Config:
    return Config.model_validate({"watches": [{
        "name": "node", "query": {"any": ["node", "nodejs", "node.js", "javascript", "npm"]},
        "sources": [{"type": "hackernews", "base_url": url, "options": {"query": "node"}}]}]})


def test_an_interrupted_first_poll_resumes_and_reads_the_pages_it_never_reached(shared_file, db, tmp_path):
    from storage import open_db

    recorded = json.loads(shared_file(RECORDED).read_text())["hits"]  # real hits, from 2017: the oldest
    newest = 1_750_000_000
    hits = synthetic_hits(330, 40_000_000, newest, "Is Node.js still the right choice for {n}?") + recorded
    with FlakyHackerNews(hits) as control_server:  # the same poll, never interrupted: what must be stored
        control = open_db(tmp_path / "control.db")
        assert _poll_server(control, _server_config(control_server.url)).status == "ok"
        expected = _stored_ids(control)
        control.close()
    assert len(expected) > 330  # four pages of 100, down to the recorded hits

    with FlakyHackerNews(hits) as server:
        config = _server_config(server.url)
        key = cursor_key(config.watches[0].sources[0])
        server.failing = True
        first = _poll_server(db, config)
        assert (first.status, first.pages, first.new) == ("partial", 2, 200)
        assert "HTTP 503" in first.errors[0]
        assert "created_at_i" not in load_cursors(db, "node", key)  # the pass did not finish

        server.failing = False
        server.add_hits(synthetic_hits(5, 41_000_000, newest + 60, "npm audit broke the build {n}"))
        second = _poll_server(db, config)
        assert second.status == "ok", second.errors
        assert _stored_ids(db) == expected | {str(41_000_000 + i) for i in range(5)}
        assert second.duplicates == 200  # pages one and two again, skipped, not a reason to stop
        assert load_cursors(db, "node", key) == {"created_at_i": str(newest + 60)}

        # the normal incremental poll: only newer items asked for, one request
        asked = len(server.requests)
        server.add_hits(synthetic_hits(2, 42_000_000, newest + 120, "node 22 is out {n}"))
        third = _poll_server(db, config)
        assert (third.status, third.new) == ("ok", 2)
        assert len(server.requests) == asked + 1
        assert f"numericFilters=created_at_i%3E{newest + 60 - OVERLAP_SECONDS}" in server.requests[-1]


def test_an_interrupted_incremental_poll_resumes_too(db):
    newest = 1_750_000_000
    with FlakyHackerNews(synthetic_hits(50, 50_000_000, newest, "node {n}")) as server:
        config = _server_config(server.url)
        key = cursor_key(config.watches[0].sources[0])
        assert _poll_server(db, config).new == 50
        burst = synthetic_hits(250, 51_000_000, newest + 1000, "javascript fatigue {n}")  # three pages of news
        server.add_hits(burst)
        server.failing = True
        interrupted = _poll_server(db, config)
        assert (interrupted.status, interrupted.new) == ("partial", 200)
        assert load_cursors(db, "node", key)["created_at_i"] == str(newest)  # not moved past the gap

        server.failing = False
        resumed = _poll_server(db, config)
        assert len(_stored_ids(db)) == 300
        # pages one and two again, and the first poll's 50 posts, in the overlap below the cursor
        assert (resumed.status, resumed.new, resumed.duplicates) == ("ok", 50, 250)
        assert load_cursors(db, "node", key) == {"created_at_i": str(newest + 1000)}
        asked = len(server.requests)
        nothing_new = _poll_server(db, config)
        assert (nothing_new.status, nothing_new.new, len(server.requests)) == ("ok", 0, asked + 1)
        # with the pass finished, the first stored item stops paging again (here the server ignores
        # the time filter and answers with all 300 posts, three pages of 100)
        server.honour_filter = False
        asked = len(server.requests)
        stopped = _poll_server(db, config)
        assert (stopped.status, stopped.new, stopped.duplicates, len(server.requests)) == ("ok", 0, 100, asked + 1)


def test_hits_without_an_object_id_are_rejected_not_stored_as_none(shared_file, db):
    """objectID null, missing or empty: each hit is rejected as malformed (logged, counted), the rest
    of the page is stored, and nothing is stored under the id 'None'."""
    payload = json.loads(shared_file(RECORDED).read_text())
    hits = payload["hits"]
    hits[0]["objectID"] = None
    hits[1]["objectID"] = None
    del hits[2]["objectID"]
    hits[3]["objectID"] = ""
    problems = []
    mentions = HackerNewsPoller.parse(payload, problems)
    assert len(mentions) == 16 and len(problems) == 4
    assert "objectID: missing" in problems[0]

    replay = Replay([file_response("/search_by_date", json.dumps(payload).encode(), "application/json")])
    config = make_config({"any": ["node", "nodejs", "node.js", "javascript", "npm", "the", "a"]},
                         {"max_pages": 1, "query": "nodejs"})
    result = run(db, config, replay)
    assert (result.status, result.fetched, result.rejected) == ("ok", 20, 4)
    assert result.new + result.filtered == 16
    ids = _stored_ids(db)
    assert "None" not in ids and "" not in ids
    urls = [row[0] for row in db.execute("SELECT url FROM mentions")]
    assert not any(url.endswith("id=None") for url in urls)


def test_script_and_style_text_is_not_part_of_a_comment_nor_a_reason_to_keep_it(shared_file, db):
    """A comment whose only mention of the watch is inside <script>/<style> is not a mention."""
    payload = json.loads(shared_file(RECORDED).read_text())
    hits = payload["hits"][:2]
    hits[0]["comment_text"] = "<p>Great product.</p><script>var brand='zorblax';</script><style>.zorblax{}</style>"
    hits[1]["comment_text"] = "<p>zorblax is great</p><noscript>enable js</noscript> &lt;script&gt; shown as text"
    assert [m.text for m in HackerNewsPoller.parse({**payload, "hits": hits})] == [
        "Great product.", "zorblax is great\n <script> shown as text"]
    body = json.dumps({**payload, "hits": hits, "nbPages": 1}).encode()
    replay = Replay([file_response("/search_by_date", body, "application/json; charset=utf-8")])
    result = run(db, make_config({"any": ["zorblax"]}, {"max_pages": 1}), replay)
    assert (result.new, result.filtered) == (1, 1), result.errors
    assert [row["text"] for row in db.query("SELECT text FROM mentions")] == ["zorblax is great\n <script> shown as text"]
