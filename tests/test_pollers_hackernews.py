"""Hacker News (Algolia) poller replayed from a recorded search_by_date response."""
from __future__ import annotations

import json

import httpx

from crawler.collect import collect_source
from crawler.cursors import cursor_key, load_cursors
from crawler.pollers.hackernews import HackerNewsPoller
from mentionwatch.config import Config
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
    config = make_config({"any": ["node", "nodejs", "node.js", "javascript", "npm"]}, {"max_pages": 1})

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
    assert replay.requests[-1].url.params["numericFilters"] == f"created_at_i>{newest}"
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

    config = make_config({"any": ["node", "nodejs", "javascript", "npm", "the"]})
    watch = config.watches[0]
    result = collect_source(db, config, watch, watch.sources[0], transport=httpx.MockTransport(handler),
                            sleep=lambda s: None)
    assert result.fetched == 20
    assert result.status == "ok"
