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


def test_unauthorised_search_is_recorded(db, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_MASTODON_TOKEN", raising=False)
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": "login"}))
    result = run(db, make_config({"any": ["x"]}, {}), transport)
    assert result.status == "failed"
    assert result.errors == ["GET replay.test/api/v2/search: HTTP 401 Unauthorized (no token sent: "
                             "MENTIONWATCH_MASTODON_TOKEN goes only to mastodon.social; for replay.test, put its "
                             "token in an environment variable and name it with options.token_env)"]


# a poll interrupted part-way (503 on a later page) ------------------------------------------------

class SearchServer:
    """A stand-in for /api/v2/search over statuses, newest (highest id) first: `max_id` pages down,
    `min_id` gives the `limit` statuses just after it. While `failing` is set, the page numbered
    `fail_page` (0 = the top) answers 503."""

    def __init__(self, statuses: list[dict], fail_page: int = 2):
        self.statuses = list(statuses)
        self.fail_page = fail_page
        self.failing = False
        self.requests: list = []

    def transport(self):
        def handle(request):
            self.requests.append(request)
            ordered = sorted(self.statuses, key=lambda s: int(s["id"]), reverse=True)
            params = request.url.params
            limit = int(params.get("limit", "20"))
            if params.get("min_id"):
                chunk = [s for s in ordered if int(s["id"]) > int(params["min_id"])][-limit:]
            else:
                older = [s for s in ordered if not params.get("max_id") or int(s["id"]) < int(params["max_id"])]
                if self.failing and (len(ordered) - len(older)) // limit == self.fail_page:
                    return httpx.Response(503, json={"error": "overloaded"})
                chunk = older[:limit]
            return httpx.Response(200, json={"accounts": [], "statuses": chunk, "hashtags": []})

        return httpx.MockTransport(handle)


def _statuses(template: dict, count: int, first_id: int, text: str) -> list[dict]:
    """Statuses shaped like the recorded one, ids (and times) going up from first_id."""
    out = []
    for i in range(count):
        status_id = str(first_id + i)
        out.append({**template, "id": status_id, "uri": f"https://example.test/users/u/statuses/{status_id}",
                    "url": f"https://example.test/@u/{status_id}", "reblog": None, "spoiler_text": "",
                    "created_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z",
                    "content": f"<p>{text.format(n=status_id)}</p>"})
    return out


def test_an_interrupted_first_poll_resumes_and_reads_the_pages_it_never_reached(shared_file, db, tmp_path):
    from crawler.cursors import save_cursors
    from storage import open_db

    recordings = vcr(shared_file("api/mastodon/test_entity_searchv2.yaml"))
    recorded = json.loads(next(r for r in recordings if r.path == "/api/v2/search").body)["statuses"]
    template = json.loads(vcr(shared_file("api/mastodon/test_entity_status.yaml"))[0].body)
    old = [dict(s, id=str(100_000 + n)) for n, s in enumerate(recorded)]  # the real ones are the oldest
    statuses = old + _statuses(template, 108, 200_000, "the sample status {n}")  # 110: pages of 40, 40, 30
    fresh = _statuses(template, 5, 300_000, "a newer sample status {n}")
    config = make_config({"any": ["sample", "halcy", "the"]}, {"max_pages": 5, "query": "sample"})
    key = cursor_key(config.watches[0].sources[0])

    def stored_uris(database) -> set[str]:
        return {row[0] for row in database.execute("SELECT external_id FROM mentions WHERE source = 'mastodon'")}

    control = open_db(tmp_path / "control.db")  # the same poll, never interrupted: what must be stored
    assert run(control, config, SearchServer(statuses + fresh).transport()).status == "ok"
    expected = stored_uris(control)
    control.close()
    assert len(expected) > 110

    server = SearchServer(statuses)
    transport = server.transport()
    server.failing = True
    first = run(db, config, transport)
    assert (first.status, first.pages, first.new) == ("partial", 2, 80)
    assert "HTTP 503" in first.errors[0]
    assert load_cursors(db, "fedi", key) == {"unfinished": "1"}  # no newest_id: the pass did not finish

    server.failing = False
    server.statuses += fresh
    asked = len(server.requests)
    second = run(db, config, transport)
    assert second.status == "ok", second.errors
    assert stored_uris(db) == expected  # the third page was read this time
    assert (second.new, second.duplicates) == (35, 80)  # pages one and two skipped, not a stop
    assert len(server.requests) == asked + 4  # the fourth, empty, ends it: a short page may not
    assert load_cursors(db, "fedi", key) == {"newest_id": "300004"}

    asked = len(server.requests)
    third = run(db, config, transport)  # the finished pass: only newer statuses asked for
    assert (third.status, third.new, len(server.requests)) == ("ok", 0, asked + 1)
    assert server.requests[-1].url.params["min_id"] == "300004"

    # without a newest_id (a lost cursor) nothing tells this source's stored statuses from those
    # another source of the watch stored: it reads from the top to an empty page or max_pages,
    # storing nothing twice (stored statuses stop no Mastodon poll, see crawler.pollers.mastodon)
    save_cursors(db, "fedi", key, {"newest_id": None})
    asked = len(server.requests)
    top = run(db, config, transport)
    assert (top.status, top.new, top.duplicates, len(server.requests)) == ("ok", 0, 115, asked + 4)


def test_a_server_with_ulid_status_ids_gets_a_cursor_and_loses_no_burst(shared_file, db):
    """Review: GoToSocial's ULIDs (and Pleroma's flake ids) were not taken for status ids, so no
    cursor was ever saved and every poll read only its first page: 80 of a burst of 120 were lost."""
    template = json.loads(vcr(shared_file("api/mastodon/test_entity_status.yaml"))[0].body)
    statuses = [dict(s, id="01HZ" + s["id"].rjust(22, "0"))
                for s in _statuses(template, 130, 1, "a sample status {n}")]
    published = 10

    def search(request):  # newest first; min_id and max_id filter, as a search's do
        params = request.url.params
        shown = [s for s in reversed(statuses[:published])
                 if params.get("min_id", "") < s["id"] and s["id"] < params.get("max_id", "~")]
        return httpx.Response(200, json={"accounts": [], "statuses": shown[:40], "hashtags": []})

    config = make_config({"any": ["sample"]}, {"max_pages": 5, "query": "sample"})
    assert run(db, config, httpx.MockTransport(search)).new == 10
    key = cursor_key(config.watches[0].sources[0])
    assert load_cursors(db, "fedi", key) == {"newest_id": statuses[9]["id"]}
    published = 130
    second = run(db, config, httpx.MockTransport(search))
    assert (second.status, second.new) == ("ok", 120), second.errors
    assert db.execute("SELECT count(*) FROM mentions WHERE source = 'mastodon'").fetchone()[0] == 130


def test_an_account_of_the_instance_asked_is_stored_with_its_host(shared_file):
    """The API writes 'halcy' for halcy@mastodon.social when asked at mastodon.social, and
    'halcy@icosahedron.website' for another person: the stored author always names the host."""
    recordings = vcr(shared_file("api/mastodon/test_entity_status.yaml"))
    statuses = [json.loads(r.body) for r in recordings]
    local = next(s for s in statuses if isinstance(s, dict) and s.get("account", {}).get("acct") == "halcy")
    (mention,) = MastodonPoller.parse([local])
    assert mention.author == "halcy@mastodon.social"


def test_stored_local_accounts_get_their_host_when_the_database_is_upgraded(db):
    from storage.migrations import m013_mastodon_full_accounts

    db.execute("INSERT INTO mentions (source, external_id, url, author, text, created_at, fetched_at) VALUES "
               "('mastodon', 'u1', 'https://a.example/@alice/1', 'alice', 't', '2025-01-01T00:00:00Z', "
               "'2025-01-01T00:00:00Z'), ('mastodon', 'u2', 'https://a.example/@bob@b.example/2', "
               "'bob@b.example', 't', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), "
               "('reddit', 'u3', 'https://reddit.com/r/x/3', 'carol', 't', '2025-01-01T00:00:00Z', "
               "'2025-01-01T00:00:00Z')")
    m013_mastodon_full_accounts(db)
    authors = [a for (a,) in db.execute("SELECT author FROM mentions ORDER BY external_id")]
    assert authors == ["alice@a.example", "bob@b.example", "carol"]


def test_the_upgrade_reads_odd_addresses_as_the_poller_does(db):
    from storage.migrations import m013_mastodon_full_accounts

    rows = [("o1", "https://m.example:8443/@a/1"), ("o2", "https://user:pw@m.example/@a/2"),
            ("o3", "https://m.example?x=1"), ("o4", None)]
    db.conn.executemany("INSERT INTO mentions (source, external_id, url, author, text, created_at, fetched_at) "
                        "VALUES ('mastodon', ?, ?, 'a', 't', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')", rows)
    m013_mastodon_full_accounts(db)
    authors = [a for (a,) in db.execute("SELECT author FROM mentions ORDER BY external_id")]
    assert authors == ["a@m.example", "a@m.example", "a@m.example", "a"]
