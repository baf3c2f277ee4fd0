"""Reddit and Mastodon polls that must not lose posts: stand-ins of the APIs on 127.0.0.1 (real HTTP),
the real collector and a real SQLite file.

- A post stored by another source of the same type in the watch (a second Mastodon instance; a
  Reddit search beside a subreddit's listing) stops no poll: the posts under it are still read,
  on a first poll and on the `min_id` / `before` polls after it.
- Mastodon search answers `min_id` with the *newest* matches after it (statuses_search_service.rb),
  so a burst of more than a page between two polls is read from the newest down to the cursor with
  `max_id`; what `max_pages` has no room for is recorded as a gap and read by the next polls.
"""
from __future__ import annotations

import json
import urllib.parse

from crawler.collect import collect_all, collect_source
from crawler.cursors import GAPS, cursor_key, load_cursors, save_cursors
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer


def stored_ids(db, source: str) -> set[str]:
    return {row[0] for row in db.execute("SELECT external_id FROM mentions WHERE source = ?", [source])}


def poll_all(db, config: Config):
    return collect_all(db, config, sleep=lambda s: None)


def poll(db, config: Config, index: int = 0):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[index], sleep=lambda s: None)


def make_config(sources: list[dict]) -> Config:
    return Config.model_validate({"watches": [{"name": "w", "query": {"any": ["acme"]}, "sources": [
        {**source, "options": {"min_interval": 0, **source.get("options", {})}} for source in sources]}]})


class JsonServer(LocalServer):
    """A LocalServer answering GETs with `answer(path, params)` as JSON."""

    def handle_get(self, request):
        parsed = urllib.parse.urlsplit(request.path)
        params = {name: values[0] for name, values in urllib.parse.parse_qs(parsed.query).items()}
        with self.lock:
            self.requests.append(request.path)
            body = self.answer(parsed.path, params)
        status = 404 if body is None else 200
        self.reply(request, status, json.dumps(body or {}).encode(), "application/json")

    def params(self, number: int) -> dict[str, str]:
        query = urllib.parse.urlsplit(self.requests[number]).query
        return {name: values[0] for name, values in urllib.parse.parse_qs(query).items()}


# Mastodon --------------------------------------------------------------------------------------

def status(number: int, uri: str | None = None, text: str = "acme news {n}") -> dict:
    return {"id": str(number), "uri": uri or f"https://m.test/s/{number}", "url": f"https://m.test/@u/{number}",
            "content": f"<p>{text.format(n=number)}</p>", "created_at": "2024-05-01T10:00:00Z",
            "account": {"acct": "u", "url": "https://m.test/@u"}}


class Mastodon(JsonServer):
    """An instance's statuses. Search as statuses_search_service.rb answers it: the newest `limit`
    matches after `min_id` and before `max_id`, newest first. A hashtag timeline as timelines do:
    `min_id` gives the `limit` statuses just after it (newest first), `max_id` the ones below."""

    def __init__(self, statuses: list[dict]):
        super().__init__()
        self.statuses = list(statuses)
        self.hidden: set[str] = set()  # left out of a search page after it is taken, as Mastodon
        # leaves out statuses the asking account may not see and those deleted since indexed

    def answer(self, path, params):
        limit = int(params.get("limit", 20))
        hits = sorted(self.statuses, key=lambda s: int(s["id"]), reverse=True)
        if params.get("max_id"):
            hits = [s for s in hits if int(s["id"]) < int(params["max_id"])]
        if params.get("min_id"):
            hits = [s for s in hits if int(s["id"]) > int(params["min_id"])]
            if path.startswith("/api/v1/timelines/tag/"):
                return hits[-limit:]
        if path == "/api/v2/search":
            return {"accounts": [], "hashtags": [],
                    "statuses": [s for s in hits[:limit] if s["id"] not in self.hidden]}
        if path.startswith("/api/v1/timelines/tag/"):
            return hits[:limit]
        return None


FEDERATED = "https://orig.example/statuses/2"  # seen on both instances


def test_mastodon_a_status_another_instance_stored_does_not_stop_the_min_id_poll(db):
    with Mastodon([status(100)]) as a, Mastodon([status(500)]) as b:
        config = make_config([{"type": "mastodon", "base_url": a.url, "options": {"tag": "acme"}},
                              {"type": "mastodon", "base_url": b.url, "options": {"tag": "acme"}}])
        poll_all(db, config)
        a.statuses.append(status(101, FEDERATED))
        b.statuses += [status(501, "https://b.example/z"), status(502, FEDERATED), status(503, "https://b.example/y")]
        results = poll_all(db, config)
        assert [r.status for r in results] == ["ok", "ok"]
        assert {"https://b.example/z", "https://b.example/y", FEDERATED} <= stored_ids(db, "mastodon")
        assert load_cursors(db, "w", cursor_key(config.watches[0].sources[1])) == {"newest_id": "503"}


def test_mastodon_a_new_instance_reads_past_statuses_another_instance_stored(db):
    with Mastodon([status(100, FEDERATED)]) as a, Mastodon(
            [status(500 + n) for n in range(3)] + [status(600, FEDERATED)]) as b:
        config = make_config([{"type": "mastodon", "base_url": a.url, "options": {"tag": "acme"}}])
        poll_all(db, config)
        config = make_config([{"type": "mastodon", "base_url": a.url, "options": {"tag": "acme"}},
                              {"type": "mastodon", "base_url": b.url, "options": {"tag": "acme"}}])
        result = poll(db, config, 1)  # B's first poll: the newest status is stored already
        assert (result.status, result.new, result.duplicates) == ("ok", 3, 1)
        assert load_cursors(db, "w", cursor_key(config.watches[0].sources[1])) == {"newest_id": "600"}


def test_mastodon_search_reads_a_burst_of_more_than_one_page(db):
    with Mastodon([status(1000 + n) for n in range(5)]) as server:
        config = make_config([{"type": "mastodon", "base_url": server.url, "options": {"query": "acme"}}])
        assert poll(db, config).new == 5
        server.statuses += [status(2000 + n) for n in range(60)]
        asked = len(server.requests)
        second = poll(db, config)
        assert (second.status, second.new, second.errors) == ("ok", 60, [])
        # the third request finds nothing: a short page is no end (Mastodon leaves out statuses the
        # asker may not see after taking the page), an empty one is
        assert [server.params(n).get("max_id") for n in range(asked, len(server.requests))] == [None, "2020", "2000"]
        assert all(server.params(n)["min_id"] == "1004" for n in range(asked, len(server.requests)))
        assert load_cursors(db, "w", cursor_key(config.watches[0].sources[0])) == {"newest_id": "2059"}
        assert len(stored_ids(db, "mastodon")) == 65


def test_mastodon_search_burst_beyond_max_pages_is_a_gap_the_next_polls_read(db):
    with Mastodon([status(1000 + n) for n in range(5)]) as server:
        config = make_config([{"type": "mastodon", "base_url": server.url,
                               "options": {"query": "acme", "max_pages": 1}}])
        key = cursor_key(config.watches[0].sources[0])
        poll(db, config)
        server.statuses += [status(2000 + n) for n in range(100)]  # 2.5 pages of 40

        second = poll(db, config)  # the 40 newest, then one page of the gap under them
        assert (second.status, second.new) == ("partial", 80)
        (line,) = second.errors
        assert "after id 1004 and before id 2020" in line and "may not all be read yet" in line
        assert load_cursors(db, "w", key) == {"newest_id": "2099",
                                             GAPS: json.dumps([{"min_id": "1004", "max_id": "2020"}])}

        asked = len(server.requests)
        third = poll(db, config)  # nothing newer; the rest of the gap, a short page: no end yet
        assert (third.status, third.new) == ("partial", 20)
        assert [server.params(n).get("max_id") for n in range(asked, len(server.requests))] == [None, "2020"]
        assert len(stored_ids(db, "mastodon")) == 105
        fourth = poll(db, config)  # the gap's empty page closes it
        assert (fourth.status, fourth.new, fourth.errors) == ("ok", 0, [])
        assert load_cursors(db, "w", key) == {"newest_id": "2099"}

        asked = len(server.requests)
        assert poll(db, config).new == 0 and len(server.requests) == asked + 1  # back to one request


def test_mastodon_search_page_short_of_a_hidden_status_is_no_end(db):
    """A page of 39 (one status left out after the page was taken) once ended the poll, and the
    60 statuses under it were never read."""
    with Mastodon([status(1000 + n) for n in range(3)]) as server:
        config = make_config([{"type": "mastodon", "base_url": server.url, "options": {"query": "acme"}}])
        poll(db, config)
        server.statuses += [status(2000 + n) for n in range(100)]
        server.hidden = {"2095"}  # on the first page, newest first
        second = poll(db, config)
        assert (second.status, second.new, second.errors) == ("ok", 99, [])
        assert len(stored_ids(db, "mastodon")) == 102


def test_mastodon_first_search_poll_reads_past_a_page_short_of_a_hidden_status(db):
    with Mastodon([status(1000 + n) for n in range(120)]) as server:
        server.hidden = {"1110"}
        config = make_config([{"type": "mastodon", "base_url": server.url,
                               "options": {"query": "acme", "max_pages": 5}}])
        first = poll(db, config)
        assert (first.status, first.new) == ("ok", 119)


def test_mastodon_unreadable_stored_gaps_are_dropped(db):
    with Mastodon([status(1000)]) as server:
        config = make_config([{"type": "mastodon", "base_url": server.url, "options": {"query": "acme"}}])
        key = cursor_key(config.watches[0].sources[0])
        save_cursors(db, "w", key, {"newest_id": "999", GAPS: json.dumps([{"min_id": "9", "max_id": "x y"},
                                                                          {"min_id": "90", "max_id": "9"}])})
        result = poll(db, config)
        assert (result.status, result.new) == ("ok", 1)
        assert load_cursors(db, "w", key) == {"newest_id": "1000"}


# Reddit ----------------------------------------------------------------------------------------

def child(name: str, title: str, created: int) -> dict:
    return {"kind": "t3", "data": {"name": name, "id": name[3:], "title": title, "selftext": "",
                                   "created_utc": created, "permalink": f"/r/acme/comments/{name[3:]}/",
                                   "author": "u"}}


class Reddit(JsonServer):
    """Listings newest first: `/search.json` over `found`, `/r/acme/new.json` over `listed`;
    `before` gives the `limit` posts just newer than it (nothing when it is gone), `after` pages down."""

    def __init__(self, found: list[dict], listed: list[dict]):
        super().__init__()
        self.found, self.listed = list(found), list(listed)

    def answer(self, path, params):
        children = {"/search.json": self.found, "/r/acme/new.json": self.listed}.get(path)
        if children is None:
            return None
        names = [c["data"]["name"] for c in children]
        limit = int(params.get("limit", 25))
        after = None
        if params.get("before"):
            end = names.index(params["before"]) if params["before"] in names else 0
            chunk = children[max(0, end - limit):end]
        else:
            start = names.index(params["after"]) + 1 if params.get("after") in names else 0
            chunk = children[start:start + limit]
            after = chunk[-1]["data"]["name"] if chunk and start + limit < len(names) else None
        return {"kind": "Listing", "data": {"children": chunk, "after": after, "before": None}}


def reddit_config(url: str, limit: int = 100) -> Config:
    return make_config([{"type": "reddit", "base_url": url, "options": {"query": "acme", "limit": limit}},
                        {"type": "reddit", "base_url": url,
                         "options": {"subreddit": "acme", "mode": "new", "match_query": False, "limit": limit}}])


A1, B2 = child("t3_a1", "acme news", 1714557600), child("t3_b2", "acme is great", 1714557720)
C3, Z9 = child("t3_c3", "acme release notes", 1714557780), child("t3_b1", "my app crashes", 1714557660)


def test_reddit_a_post_the_search_stored_does_not_stop_the_listing_before_poll(db):
    with Reddit([A1], [A1]) as server:
        config = reddit_config(server.url)
        poll_all(db, config)
        server.found, server.listed = [B2, A1], [C3, B2, Z9, A1]
        results = poll_all(db, config)
        assert [r.status for r in results] == ["ok", "ok"]
        assert stored_ids(db, "reddit") == {"t3_a1", "t3_b2", "t3_c3", "t3_b1"}
        assert load_cursors(db, "w", cursor_key(config.watches[0].sources[1])) == {"newest": "t3_c3"}


def test_reddit_a_first_poll_reads_past_posts_another_source_stored(db):
    with Reddit([C3], [C3, B2, Z9, A1]) as server:
        config = reddit_config(server.url, limit=2)
        poll(db, config, 0)  # the search stores the listing's newest post
        listing = poll(db, config, 1)
        assert (listing.status, listing.new, listing.duplicates) == ("ok", 3, 1)
        assert stored_ids(db, "reddit") == {"t3_a1", "t3_b2", "t3_c3", "t3_b1"}


def test_reddit_when_the_cursor_post_is_gone_the_top_page_is_read_down_to_the_cursor(db):
    with Reddit([], [B2, A1]) as server:
        config = reddit_config(server.url)
        poll(db, config, 1)
        # the cursor's post t3_b2 is deleted (every `before` answer is then empty); the search
        # stored t3_c3 meanwhile; t3_d4 (above it) and t3_b9 (under it) are new
        d4, b9 = child("t3_d4", "newest", 1714557900), child("t3_b9", "new too", 1714557770)
        server.found, server.listed = [C3], [d4, C3, b9, A1]
        poll(db, config, 0)
        asked = len(server.requests)
        result = poll(db, config, 1)
        assert (result.status, result.new) == ("ok", 2)
        assert {"t3_d4", "t3_b9"} <= stored_ids(db, "reddit")
        sent = [server.params(n).get("before") for n in range(asked, len(server.requests))]
        assert sent == ["t3_b2", None]  # one `before` request, one top page: stopped at t3_a1
        assert load_cursors(db, "w", cursor_key(config.watches[0].sources[1])) == {"newest": "t3_d4"}
