"""Time cursors of the newest-first pollers (Hacker News, Stack Exchange, GitHub, Bluesky).

Each test runs the real collector against a stand-in of the API at the network edge (an
httpx.MockTransport that filters and pages the way the documented API does: Algolia `numericFilters`,
Stack Exchange `fromdate`/`todate`, GitHub `created:` qualifiers, Bluesky `since`/`until` on sortAt),
with items cloned from the recorded answers in ../shared/data/api where there are some, and a real
SQLite database. What they check:

- a burst of more new posts than `max_pages` pages between two polls is not lost: the poll reads
  the newest, then the stretch it had no room for (a gap), and a gap still left makes the run
  `partial` with a line saying which posts are not read yet;
- the cursor comes only from accepted items, from their normalised time (not a raw field in
  milliseconds), for Bluesky from the server's indexedAt (sortAt), and never passes the poll's
  start; a stored cursor in the future is ignored with a warning.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import operator
import re
import time
import urllib.parse

import httpx
import pytest

from crawler.collect import collect_source, search_polls
from crawler.cursors import GAPS, OVERLAP_SECONDS, cursor_key, iso_time, load_cursors, save_cursors
from mentionwatch.config import Config

HN_RECORDED = "api/hackernews/search_by_date_query-nodejs.json"
BLUESKY_RECORDED = "api/bluesky/thread_view_post_with_embed_media.json"
BASE_URL = "http://api.test"
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def make_config(source_type: str, options: dict | None = None) -> Config:
    return Config.model_validate({"watches": [{
        "name": "acme", "query": {"any": ["acme"]},
        "sources": [{"type": source_type, "base_url": BASE_URL,
                     "options": {"min_interval": 0, **(options or {})}}]}]})


def poll(db, config: Config, fake):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=httpx.MockTransport(fake),
                          sleep=lambda s: None)


def cursors(db, config: Config) -> dict[str, str]:
    (search,) = search_polls(config.watches[0], config.watches[0].sources[0])
    return load_cursors(db, "acme", cursor_key(search))


def stored_texts(db, source: str, like: str) -> int:
    return db.execute("SELECT count(*) FROM mentions WHERE source = ? AND text LIKE ?",
                      [source, like]).fetchone()[0]


def page_of(items: list, page: int, per_page: int) -> list:
    return items[page * per_page:(page + 1) * per_page]


# Hacker News (Algolia search_by_date) ------------------------------------------------------------

class Algolia:
    """search_by_date over `hits`: newest first, `numericFilters` on created_at_i (comma-separated
    conditions, all of them applied, as Algolia does), `page`/`hitsPerPage`, nbPages and nbHits.
    With `honour_until` off it ignores upper bounds, as simpler stand-ins do. Like Algolia, it
    serves the first 1,000 hits of a query and no more (nbPages at most 10; nbHits counts all)."""

    MAX_HITS = 1_000

    def __init__(self, hits: list[dict], honour_until: bool = True):
        self.hits = list(hits)
        self.honour_until = honour_until
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        hits = sorted(self.hits, key=lambda h: h["created_at_i"], reverse=True)
        for condition in filter(None, params.get("numericFilters", "").split(",")):
            field, op, value = re.fullmatch(r"(\w+)(<=|>=|<|>)(\d+)", condition).groups()
            if op.startswith("<") and not self.honour_until:
                continue
            hits = [h for h in hits if OPERATORS[op](h[field], int(value))]
        per_page, page = int(params["hitsPerPage"]), int(params["page"])
        served = hits[:self.MAX_HITS]
        return httpx.Response(200, json={
            "hits": page_of(served, page, per_page), "nbHits": len(hits), "page": page,
            "nbPages": max(1, math.ceil(len(served) / per_page)), "hitsPerPage": per_page})

    def filters(self) -> list[str]:
        return [r.url.params.get("numericFilters", "") for r in self.requests]


def hn_hits(shared_file, count: int, first_id: int, newest: int, text: str) -> list[dict]:
    """`count` comments one second apart, newest first, cloned from a recorded hit."""
    template = json.loads(shared_file(HN_RECORDED).read_text())["hits"][0]
    template.pop("_highlightResult", None)
    return [{**template, "objectID": str(first_id + i), "created_at_i": newest - i,
             "created_at": iso_time(newest - i), "comment_text": text.format(n=first_id + i)}
            for i in range(count)]


def test_hackernews_burst_larger_than_max_pages_is_read_by_the_next_poll(shared_file, db):
    now = int(time.time())
    server = Algolia(hn_hits(shared_file, 50, 10_000, now - 86_400, "acme old comment {n}"))
    config = make_config("hackernews", {"max_pages": 2})
    first = poll(db, config, server)
    assert (first.status, first.new) == ("ok", 50)
    old_cursor = now - 86_400

    # 500 comments in the last 20 minutes: 5 pages of 100, more than 2 pages of new posts + 2 of backlog
    server.hits += hn_hits(shared_file, 500, 20_000, now - 600, "acme outage comment {n}")
    asked = len(server.requests)
    second = poll(db, config, server)
    assert second.status == "partial", second.errors
    assert 390 <= second.new < 500
    left = 500 - second.new
    (line,) = second.errors
    assert f"about {left} posts from {iso_time(old_cursor)} to " in line and "not read yet" in line
    saved = cursors(db, config)
    assert saved["created_at_i"] == str(now - 600)  # the newest comment read: new posts come next
    assert len(json.loads(saved[GAPS])) == 1
    sent = server.filters()[asked:]
    assert sent[:2] == [f"created_at_i>{old_cursor - OVERLAP_SECONDS}"] * 2  # the new posts, pages 0 and 1
    assert all(f.startswith(f"created_at_i>{old_cursor},created_at_i<") for f in sent[2:])  # the gap
    row = db.execute("SELECT status, errors FROM crawl_runs WHERE id = ?", [second.run_id]).fetchone()
    assert row[0] == "partial" and "not read yet" in row[1]

    third = poll(db, config, server)
    assert (third.status, third.new, third.errors) == ("ok", left, [])
    assert stored_texts(db, "hackernews", "acme outage comment%") == 500
    assert cursors(db, config) == {"created_at_i": str(now - 600)}  # the gap is closed

    asked = len(server.requests)
    nothing_new = poll(db, config, server)  # back to one request a poll
    assert (nothing_new.status, nothing_new.new, len(server.requests)) == ("ok", 0, asked + 1)


def test_hackernews_burst_within_twice_max_pages_is_read_in_one_poll(shared_file, db):
    now = int(time.time())
    server = Algolia(hn_hits(shared_file, 10, 10_000, now - 86_400, "acme old comment {n}"))
    config = make_config("hackernews", {"max_pages": 2})
    poll(db, config, server)
    server.hits += hn_hits(shared_file, 350, 20_000, now - 600, "acme outage comment {n}")
    second = poll(db, config, server)
    assert (second.status, second.new, second.errors) == ("ok", 350, [])
    assert cursors(db, config) == {"created_at_i": str(now - 600)}


def test_hackernews_gap_is_read_even_when_the_server_ignores_the_upper_bound(shared_file, db):
    """A stand-in that only honours created_at_i>X: the gap is paged through by position instead
    (the newest pages come back first, as duplicates), slower but nothing is lost."""
    now = int(time.time())
    server = Algolia(hn_hits(shared_file, 20, 10_000, now - 86_400, "acme old comment {n}"),
                     honour_until=False)
    config = make_config("hackernews", {"max_pages": 2})
    poll(db, config, server)
    server.hits += hn_hits(shared_file, 500, 20_000, now - 600, "acme outage comment {n}")
    statuses = []
    for _ in range(4):
        result = poll(db, config, server)
        statuses.append(result.status)
        if result.status == "ok":
            break
    assert statuses == ["partial", "partial", "ok"]
    assert stored_texts(db, "hackernews", "acme outage comment%") == 500
    assert GAPS not in cursors(db, config)


def test_hackernews_an_interrupted_backlog_poll_keeps_its_progress(shared_file, db):
    now = int(time.time())
    server = Algolia(hn_hits(shared_file, 10, 10_000, now - 86_400, "acme old comment {n}"))
    config = make_config("hackernews", {"max_pages": 1})
    poll(db, config, server)
    server.hits += hn_hits(shared_file, 400, 20_000, now - 600, "acme outage comment {n}")

    def failing_in_the_gap(request):
        if "created_at_i<" in request.url.params.get("numericFilters", ""):
            return httpx.Response(503, json={"message": "overloaded"})
        return server(request)

    broken = poll(db, config, failing_in_the_gap)
    assert (broken.status, broken.new) == ("partial", 100)
    assert "HTTP 503" in broken.errors[0]
    assert json.loads(cursors(db, config)[GAPS])[0]["after"] == iso_time(now - 86_400)
    statuses = [poll(db, config, server).status for _ in range(4)]  # 1 page of backlog a poll
    assert statuses == ["partial", "partial", "partial", "ok"]
    assert stored_texts(db, "hackernews", "acme outage comment%") == 400
    assert GAPS not in cursors(db, config)


@pytest.mark.parametrize("source_type", ["hackernews", "github"])
def test_a_burst_beyond_the_apis_1000_results_per_query_is_not_lost(shared_file, db, source_type):
    """Algolia and GitHub serve 1,000 results per query, whatever max_pages says: the rest of the
    burst must be read by narrowing the time window, not taken as the end of the answer."""
    now = int(time.time())
    if source_type == "hackernews":
        server = Algolia(hn_hits(shared_file, 5, 10_000, now - 86_400, "acme old comment {n}"))
        burst = hn_hits(shared_file, 1_500, 20_000, now - 600, "acme outage comment {n}")
    else:
        server = GitHubSearch(issues(5, 100, now - 86_400, "Acme old issue {n}"))
        burst = issues(1_500, 20_000, now - 600, "Acme outage issue {n}")
    config = make_config(source_type, {"max_pages": 14})
    poll(db, config, server)
    (server.hits if source_type == "hackernews" else server.items).extend(burst)
    results = [poll(db, config, server) for _ in range(2)]
    assert [r.status for r in results] == ["ok", "ok"], [r.errors for r in results]
    assert sum(r.new for r in results) == 1_500
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 1_505


def test_hackernews_a_post_the_search_index_shows_late_is_still_read(shared_file, db):
    """Algolia indexes with a lag: a post from the cursor's own second, or from half a minute
    before it, can first appear after the poll that set the cursor. The next poll asks for the
    cursor less OVERLAP_SECONDS, so it is read; what is stored already is skipped."""
    now = int(time.time())
    server = Algolia(hn_hits(shared_file, 1, 100, now - 600, "acme first comment {n}"))
    config = make_config("hackernews")
    poll(db, config, server)
    server.hits += hn_hits(shared_file, 1, 200, now - 60, "acme new comment {n}")
    server.hits += hn_hits(shared_file, 1, 300, now - 600, "acme same second comment {n}")
    server.hits += hn_hits(shared_file, 1, 400, now - 630, "acme late indexed comment {n}")
    second = poll(db, config, server)
    assert (second.status, second.new, second.duplicates) == ("ok", 3, 1)
    assert server.filters()[-1] == f"created_at_i>{now - 600 - OVERLAP_SECONDS}"
    assert cursors(db, config) == {"created_at_i": str(now - 60)}


def test_hackernews_cursor_ignores_rejected_hits_and_stays_before_the_poll(shared_file, db):
    now = int(time.time())
    good = hn_hits(shared_file, 1, 1001, now - 3600, "acme is down again {n}")
    bogus = hn_hits(shared_file, 1, 1002, 4_102_444_800, "acme item dated 2100 {n}")  # rejected
    server = Algolia(good + bogus)
    config = make_config("hackernews")
    first = poll(db, config, server)
    assert (first.status, first.new, first.rejected) == ("ok", 1, 1)
    assert cursors(db, config) == {"created_at_i": str(now - 3600)}

    server.hits += hn_hits(shared_file, 1, 1003, now - 60, "acme outage, new comment {n}")
    second = poll(db, config, server)
    assert (second.status, second.new) == ("ok", 1)
    assert server.filters()[-1] == f"created_at_i>{now - 3600 - OVERLAP_SECONDS}"
    assert cursors(db, config) == {"created_at_i": str(now - 60)}


def test_hackernews_cursor_from_a_time_in_milliseconds_is_in_seconds(shared_file, db):
    now = int(time.time())
    (hit,) = hn_hits(shared_file, 1, 1001, now - 3600, "acme in milliseconds {n}")
    hit["created_at_i"] = (now - 3600) * 1000
    server = Algolia([hit])
    config = make_config("hackernews")
    assert poll(db, config, server).new == 1
    assert cursors(db, config) == {"created_at_i": str(now - 3600)}


def test_hackernews_cursor_is_capped_at_the_poll_start_and_a_future_post_does_not_stop_the_next(
        shared_file, db):
    now = int(time.time())
    # dated 3 hours ahead: storage takes it (a day of allowance), the cursor must not follow it
    server = Algolia(hn_hits(shared_file, 1, 1001, now + 3 * 3600, "acme from a fast clock {n}"))
    config = make_config("hackernews")
    assert poll(db, config, server).new == 1
    cursor = int(cursors(db, config)["created_at_i"])
    assert now <= cursor <= time.time()

    server.hits += hn_hits(shared_file, 1, 1002, cursor + 1, "acme made after the first poll {n}")
    second = poll(db, config, server)  # answered newest first: the stored future post comes first
    assert (second.status, second.new) == ("ok", 1)
    assert stored_texts(db, "hackernews", "acme made after the first poll%") == 1


def test_hackernews_stored_cursor_in_the_future_is_ignored_with_a_warning(shared_file, db, caplog):
    now = int(time.time())
    server = Algolia(hn_hits(shared_file, 3, 1001, now - 60, "acme new comment {n}"))
    config = make_config("hackernews")
    (search,) = search_polls(config.watches[0], config.watches[0].sources[0])
    save_cursors(db, "acme", cursor_key(search), {"created_at_i": "4102444800"})  # an older version's
    with caplog.at_level(logging.WARNING, logger="crawler.cursors"):
        result = poll(db, config, server)
    assert (result.status, result.new) == ("ok", 3)
    assert server.filters() == [""]  # read as a first poll, down to the first stored post
    assert any("created_at_i" in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
    assert cursors(db, config) == {"created_at_i": str(now - 60)}


# Stack Exchange (/2.3/search/advanced) -------------------------------------------------------------

class StackExchange:
    """search/advanced over `items`: newest first, `fromdate` and `todate` (both count in), `page`
    from 1, `pagesize`, `has_more`."""

    def __init__(self, items: list[dict]):
        self.items = list(items)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        items = sorted(self.items, key=lambda q: q["creation_date"], reverse=True)
        if "fromdate" in params:
            items = [q for q in items if _seconds(q["creation_date"]) >= int(params["fromdate"])]
        if "todate" in params:
            items = [q for q in items if _seconds(q["creation_date"]) <= int(params["todate"])]
        size, page = int(params["pagesize"]), int(params["page"])
        return httpx.Response(200, json={"items": page_of(items, page - 1, size),
                                         "has_more": page * size < len(items), "quota_remaining": 290})


def _seconds(value: int) -> int:
    return value // 1000 if value > 10**11 else value


def questions(count: int, first_id: int, newest: int, title: str) -> list[dict]:
    """Questions in the documented shape (no recording of this API in the shared data)."""
    return [{"question_id": first_id + i, "title": title.format(n=first_id + i),
             "body": "<p>Acme SDK login <b>fails</b></p>", "creation_date": newest - i,
             "link": f"https://stackoverflow.com/questions/{first_id + i}/acme",
             "owner": {"display_name": "dev", "reputation": 10}} for i in range(count)]


def test_stackexchange_burst_larger_than_max_pages_is_not_lost(db):
    now = int(time.time())
    server = StackExchange(questions(5, 100, now - 86_400, "Acme old question {n}"))
    config = make_config("stackexchange", {"max_pages": 1})
    poll(db, config, server)
    server.items += questions(150, 1000, now - 600, "Acme outage question {n}")
    second = poll(db, config, server)
    assert (second.status, second.new) == ("ok", 150)
    assert cursors(db, config) == {"fromdate": str(now - 600)}
    gap_request = server.requests[-1].url.params
    assert gap_request["fromdate"] == str(now - 86_400 + 1) and "todate" in gap_request


def test_stackexchange_cursor_from_a_time_in_milliseconds_is_in_seconds(db):
    now = int(time.time())
    (question,) = questions(1, 11, now - 3600, "Acme question in milliseconds {n}")
    question["creation_date"] = (now - 3600) * 1000
    server = StackExchange([question])
    config = make_config("stackexchange")
    assert poll(db, config, server).new == 1
    assert cursors(db, config) == {"fromdate": str(now - 3600)}
    poll(db, config, server)
    assert server.requests[-1].url.params["fromdate"] == str(now - 3600 - OVERLAP_SECONDS + 1)


# GitHub (/search/issues) -----------------------------------------------------------------------

class GitHubSearch:
    """Issue search over `items`: newest first, `created:>T` and `created:A..B` (both ends in) in
    `q`, `page` from 1, `per_page`, total_count. Like GitHub, it serves the first 1,000 results of
    a query: a page beyond them is HTTP 422."""

    def __init__(self, items: list[dict]):
        self.items = list(items)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        items = sorted(self.items, key=lambda i: i["created_at"], reverse=True)
        for qualifier in re.findall(r"created:(\S+)", params["q"]):
            if qualifier.startswith(">"):
                items = [i for i in items if i["created_at"] > qualifier[1:]]
            else:
                low, high = qualifier.split("..")
                items = [i for i in items if low <= i["created_at"] <= high]
        size, page = int(params["per_page"]), int(params["page"])
        if (page - 1) * size >= 1_000:
            return httpx.Response(422, json={"message": "Only the first 1000 search results are available"})
        return httpx.Response(200, json={"total_count": len(items), "incomplete_results": False,
                                         "items": page_of(items, page - 1, size)})


def issues(count: int, first_id: int, newest: int, title: str) -> list[dict]:
    """Issues in the documented shape (no recording of this API in the shared data)."""
    return [{"id": first_id + i, "number": i + 1, "title": title.format(n=first_id + i),
             "body": "Stack trace attached", "created_at": iso_time(newest - i),
             "html_url": f"https://github.com/acme/app/issues/{i + 1}", "user": {"login": "octo"}}
            for i in range(count)]


def test_github_burst_larger_than_max_pages_is_not_lost(db):
    now = int(time.time())
    server = GitHubSearch(issues(5, 100, now - 86_400, "Acme old issue {n}"))
    config = make_config("github", {"max_pages": 1})
    poll(db, config, server)
    assert server.requests[-1].url.params["q"] == "acme"
    server.items += issues(150, 1000, now - 600, "Acme outage issue {n}")
    second = poll(db, config, server)
    assert (second.status, second.new) == ("ok", 150)
    assert cursors(db, config) == {"created": iso_time(now - 600)}
    assert server.requests[-2].url.params["q"] == f"acme created:>{iso_time(now - 86_400 - OVERLAP_SECONDS)}"
    assert server.requests[-1].url.params["q"].startswith(f"acme created:{iso_time(now - 86_400 + 1)}..")


# Bluesky (app.bsky.feed.searchPosts) -----------------------------------------------------------

def sort_at(post: dict) -> str:
    return min(post["record"]["createdAt"], post["indexedAt"])


class BlueskySearch:
    """searchPosts over `posts` as Bluesky answers: newest first by sortAt (the earlier of
    createdAt and indexedAt); `since` keeps sortAt >= since, `until` sortAt < until; `cursor` pages."""

    def __init__(self, posts: list[dict]):
        self.posts = list(posts)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        posts = sorted(self.posts, key=sort_at, reverse=True)
        if "since" in params:
            posts = [p for p in posts if sort_at(p)[:19] >= params["since"][:19]]
        if "until" in params:
            posts = [p for p in posts if sort_at(p)[:19] < params["until"][:19]]
        limit, offset = int(params["limit"]), int(params.get("cursor", "0"))
        more = offset + limit < len(posts)
        return httpx.Response(200, json={"posts": posts[offset:offset + limit], "hitsTotal": len(posts),
                                         **({"cursor": str(offset + limit)} if more else {})})


def bluesky_post(shared_file, rkey: str, created: float, indexed: float, text: str) -> dict:
    """The recorded post view, with its own uri, times (ISO with milliseconds) and text."""
    post = copy.deepcopy(json.loads(shared_file(BLUESKY_RECORDED).read_text())["thread"]["post"])
    post["uri"] = f"at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/{rkey}"
    post["record"]["createdAt"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created))
    post["indexedAt"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(indexed))
    post["record"]["text"] = text
    return post


def test_bluesky_since_cursor_comes_from_the_server_time_not_the_author_clock(shared_file, db):
    now = int(time.time())
    server = BlueskySearch([
        bluesky_post(shared_file, "a1", now - 3600, now - 3600, "acme support was helpful"),
        # a phone whose clock is 20 hours fast: createdAt is tomorrow, indexed 30 minutes ago
        bluesky_post(shared_file, "b2", now + 20 * 3600, now - 1800, "acme post from a wrong clock"),
    ])
    config = make_config("bluesky")
    assert poll(db, config, server).new == 2
    assert cursors(db, config) == {"since": iso_time(now - 1800)}

    server.posts.append(bluesky_post(shared_file, "c3", now - 5, now - 5, "acme outage right now"))
    second = poll(db, config, server)
    assert server.requests[-1].url.params["since"] == iso_time(now - 1800 - OVERLAP_SECONDS)
    assert (second.status, second.new) == ("ok", 1)
    assert stored_texts(db, "bluesky", "acme outage right now") == 1


def test_bluesky_cursor_never_passes_the_poll_start(shared_file, db):
    now = int(time.time())
    # a server whose own clock is ahead: indexedAt and createdAt both 3 hours from now
    server = BlueskySearch([bluesky_post(shared_file, "f1", now + 3 * 3600, now + 3 * 3600, "acme ahead")])
    config = make_config("bluesky")
    assert poll(db, config, server).new == 1
    since = cursors(db, config)["since"]
    assert iso_time(now) <= since <= iso_time(int(time.time()))


def test_bluesky_burst_larger_than_max_pages_is_not_lost(shared_file, db):
    now = int(time.time())
    server = BlueskySearch([bluesky_post(shared_file, f"old{i}", now - 86_400 - i, now - 86_400 - i,
                                         f"acme old post {i}") for i in range(5)])
    config = make_config("bluesky", {"max_pages": 1})
    poll(db, config, server)
    server.posts += [bluesky_post(shared_file, f"new{i}", now - 600 - i, now - 600 - i,
                                  f"acme outage post {i}") for i in range(150)]
    second = poll(db, config, server)
    assert (second.status, second.new) == ("ok", 150)
    assert cursors(db, config) == {"since": iso_time(now - 600)}
    gap_request = server.requests[-1].url.params
    assert gap_request["since"] == iso_time(now - 86_400) and "until" in gap_request
    assert urllib.parse.unquote(str(server.requests[-1].url)).count("until=") == 1
