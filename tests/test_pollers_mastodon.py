"""Mastodon poller replayed from Mastodon.py's recorded cassettes (mastodon.social and a local instance)."""
from __future__ import annotations

import json

import httpx

from crawler.collect import collect_source
from crawler.cursors import cursor_key, load_cursors
from crawler.pollers.mastodon import MastodonPoller
from mentionwatch.config import Config
from pollers_replay import BASE_URL, Replay, vcr


def make_config(query: dict, options: dict) -> Config:
    return Config.model_validate({"watches": [{
        "name": "fedi", "query": query,
        "sources": [{"type": "mastodon", "base_url": BASE_URL, "options": options}]}]})


def run(db, config, transport):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)


def test_parse_search_statuses(shared_file):
    recordings = vcr(shared_file("api/mastodon/test_entity_searchv2.yaml"))
    search = next(r for r in recordings if r.path == "/api/v2/search")
    payload = json.loads(search.body)
    mentions = MastodonPoller.parse(payload)
    assert len(mentions) == len(payload["statuses"]) == 2
    status = payload["statuses"][0]
    first = mentions[0]
    assert first.external_id == status["uri"]
    assert first.url == status["url"]
    assert first.author == "greg@icosahedron.website"
    assert first.author_reach == 455
    assert first.lang == "en"
    assert first.created_at == "2026-04-11T21:16:53Z"
    assert "<span" not in first.text and "Squarepusher" in first.text


def test_search_poll_stores_and_dedupes(shared_file, db):
    replay = Replay(vcr(shared_file("api/mastodon/test_entity_searchv2.yaml")), match_params=("q",))
    config = make_config({"any": ["halcy", "sample", "the"]}, {"query": "halcy", "max_pages": 1})

    first = run(db, config, replay.transport())
    assert first.status == "ok", first.errors
    assert first.fetched == 2
    asked = replay.requests[0].url
    assert asked.path == "/api/v2/search"
    assert asked.params["type"] == "statuses" and asked.params["q"] == "halcy"
    stored = db.execute("SELECT count(*) FROM mentions WHERE source = 'mastodon'").fetchone()[0]
    assert stored == first.new >= 1
    key = cursor_key(config.watches[0].sources[0])
    newest = load_cursors(db, "fedi", key)["newest_id"]
    assert newest == max((s["id"] for s in json.loads(replay.recordings[2].body)["statuses"]), key=int)

    second = run(db, config, replay.transport())
    assert replay.requests[-1].url.params["min_id"] == newest
    assert second.new == 0
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == stored


def test_hashtag_timeline(shared_file, db):
    replay = Replay(vcr(shared_file("api/mastodon/test_hashtag_tl.localhost.yaml")))
    config = make_config({"any": ["hoot", "toot", "the", "a"]}, {"tag": "#hoot"})
    recorded = json.loads(next(r for r in replay.recordings if "timelines" in r.path).body)
    result = run(db, config, replay.transport())
    assert result.status == "ok", result.errors
    assert replay.requests[0].url.path == "/api/v1/timelines/tag/hoot"
    assert result.fetched == len(recorded) == 1
    assert result.new + result.filtered == 1


def test_boosts_are_stored_as_the_original(shared_file):
    recordings = vcr(shared_file("api/mastodon/test_entity_status.yaml"))
    original = json.loads(recordings[0].body)
    boost = {"id": "1", "uri": "https://x/boost/1", "created_at": "2026-01-01T00:00:00Z",
             "content": "", "account": {"acct": "booster"}, "reblog": original}
    (mention,) = MastodonPoller.parse([boost])
    assert mention.external_id == original["uri"]
    assert mention.author == original["account"]["acct"]


def test_unauthorised_search_is_recorded(db):
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": "login"}))
    result = run(db, make_config({"any": ["x"]}, {}), transport)
    assert result.status == "failed"
    assert result.errors == ["GET replay.test/api/v2/search: HTTP 401 Unauthorized"]
