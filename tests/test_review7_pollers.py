"""Review 7: new posts that a poll had no room for, or that an answer left out, are not lost.

- Google Play and the App Store list reviews newest first and cannot be asked for a time window: a
  burst of more new reviews than `max_pages` pages keeps the cursor where it was (the run is
  `partial`, with a line saying so) and the next poll reads on past the pages read already, even
  when their reviews were not stored (not matching the query).
  A backlog deeper than a poll may read (max_pages × 10 requests, free pages included) is given
  up with a line, and the cursor moves on: no poll gets stuck re-reading the same pages.
- GitHub search answering `incomplete_results: true` left matches out: what it shows is read on
  (the cursor and the gaps move on), the window it covered is kept to be asked for again, and the
  run says so.

The real collector and a real SQLite file; stand-ins only at the network edge (the Play library's
call, an httpx.MockTransport).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import re
import time

import httpx
import pytest

from crawler.collect import collect_source
from crawler.cursors import MAX_REQUESTS_PER_PAGE, OVERLAP_SECONDS, cursor_key, iso_time, load_cursors
from crawler.pollers import googleplay
from crawler.pollers.googleplay import GooglePlayPoller
from mentionwatch.config import Config
from test_poller_cursors import GitHubSearch, issues
from test_poller_cursors import cursors as github_cursors, make_config as github_config, poll as github_poll
from test_pollers_store_fixes import atom_feed


def make_config(source: dict) -> Config:
    return Config.model_validate({"watches": [{"name": "w", "query": {"any": ["acme"]}, "sources": [
        {**source, "options": {"min_interval": 0, **source["options"]}}]}]})


def poll(db, config: Config, transport=None):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)


def stored_ids(db, source: str) -> set[str]:
    return {row[0] for row in db.execute("SELECT external_id FROM mentions WHERE source = ?", [source])}


def source_cursors(db, config: Config) -> dict[str, str]:
    return load_cursors(db, "w", cursor_key(config.watches[0].sources[0]))


# Google Play -------------------------------------------------------------------------------------

class PlayLibrary:
    """google_play_scraper.reviews() over `reviews` (newest first), paged by an offset token."""

    def __init__(self):
        self.reviews: list[dict] = []

    def fetch(self, app_id, *, count, continuation_token=None, **kwargs):
        start = continuation_token or 0
        page = copy.deepcopy(self.reviews[start:start + count])
        return page, (start + count if start + count < len(self.reviews) else None)


def play_review(number: int, at: dt.datetime, text: str = "acme review {n}") -> dict:
    return {"reviewId": f"gp{number}", "content": text.format(n=number), "score": 4, "userName": "u",
            "at": at}


def test_googleplay_burst_beyond_max_pages_is_read_by_the_next_poll(db, monkeypatch):
    monkeypatch.setattr(googleplay, "PAGE_SIZE", 4)
    library = PlayLibrary()
    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(library.fetch))
    config = make_config({"type": "googleplay", "options": {"app_id": "com.acme", "max_pages": 2}})
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    old = [play_review(n, now - dt.timedelta(days=1, minutes=n)) for n in range(3)]
    library.reviews = old
    assert poll(db, config).new == 3
    first_cursor = source_cursors(db, config)["newest"]

    # 14 new reviews (3.5 pages), every other one not about acme: filtered, never stored
    burst = [play_review(100 + n, now - dt.timedelta(minutes=n),
                         "acme review {n}" if n % 2 else "unrelated review {n}") for n in range(14)]
    library.reviews = burst + old
    second = poll(db, config)
    assert (second.status, second.new) == ("partial", 4), second.errors
    (line,) = second.errors
    assert line.startswith("googleplay: new reviews not all read yet: the poll stopped at page 2")
    assert "options.max_pages" in line
    assert source_cursors(db, config)["newest"] == first_cursor  # kept until the burst is read

    third = poll(db, config)  # pages 1-2 were read: they cost no page, so pages 3-4 are reached
    assert (third.status, third.new) == ("ok", 3), third.errors
    about_acme = {f"gp{100 + n}" for n in range(1, 14, 2)}
    assert stored_ids(db, "googleplay") == {f"gp{n}" for n in range(3)} | about_acme
    assert source_cursors(db, config) == {"newest": iso_time(int(now.timestamp()))}


def _play_with_three_old_reviews(monkeypatch, max_pages: int):
    """A Google Play app with 3 reviews three days old, 4 a page, whose requests are counted:
    (library, calls, config, now, the old reviews)."""
    monkeypatch.setattr(googleplay, "PAGE_SIZE", 4)
    library, calls = PlayLibrary(), []

    def fetch(*args, **kwargs):
        calls.append(kwargs.get("continuation_token"))
        return library.fetch(*args, **kwargs)

    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(fetch))
    config = make_config({"type": "googleplay", "options": {"app_id": "com.acme", "max_pages": max_pages}})
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    library.reviews = [play_review(n, now - dt.timedelta(days=3, minutes=n)) for n in range(3)]
    return library, calls, config, now, list(library.reviews)


def test_googleplay_backlog_deeper_than_a_poll_may_read_is_given_up_with_a_line(db, monkeypatch):
    library, calls, config, now, old = _play_with_three_old_reviews(monkeypatch, max_pages=1)
    assert poll(db, config).new == 3
    first_cursor = source_cursors(db, config)["newest"]

    # 15 pages of new reviews: a poll may make 1 × 10 requests, so the last 5 pages are out of reach
    library.reviews = [play_review(100 + n, now - dt.timedelta(minutes=n)) for n in range(60)] + old
    results = []
    for _ in range(12):
        calls.clear()
        results.append((poll(db, config), len(calls)))
        if results[-1][0].status == "ok":
            break
    *reading, (gave_up, requests), (after, after_requests) = results
    assert [(r.status, r.new, n) for r, n in reading] == [("partial", 4, n) for n in range(1, 10)]
    assert source_cursors(db, config)["newest"] != first_cursor  # moved on when the poll gave up
    assert (gave_up.status, gave_up.new, requests) == ("partial", 4, MAX_REQUESTS_PER_PAGE)
    (line,) = gave_up.errors
    assert line.startswith(f"googleplay: new reviews since the last poll's newest review ({first_cursor}) "
                           f"and older than ")
    assert "could not be read" in line and "the cursor moves on past them" in line
    assert (after.status, after.new, after_requests) == ("ok", 0, 1)  # back to a page a poll
    assert len(stored_ids(db, "googleplay")) == 3 + 40
    assert source_cursors(db, config) == {"newest": iso_time(int(now.timestamp()))}


def test_googleplay_stretch_read_before_is_kept_when_new_reviews_push_it_down(db, monkeypatch):
    library, calls, config, now, old = _play_with_three_old_reviews(monkeypatch, max_pages=2)
    poll(db, config)
    burst = [play_review(100 + n, now - dt.timedelta(hours=1, minutes=n)) for n in range(24)]
    library.reviews = burst + old
    assert poll(db, config).new == 8  # pages 1-2 of the burst: its 8 newest reviews
    # 6 more on top: the next poll reads them and 2 of the stretch read before (pages 1-2)
    on_top = [play_review(200 + n, now - dt.timedelta(minutes=n)) for n in range(6)]
    library.reviews = on_top + library.reviews
    assert poll(db, config).new == 6
    calls.clear()
    fourth = poll(db, config)
    # pages 1-3 hold only reviews read before (the second poll's stretch is remembered with the
    # third's, which reached into it), so max_pages goes to pages 4-5: 6 reviews not read yet.
    # (Remembering the third poll's stretch alone, page 3 would cost a page: 2 new reviews.)
    assert (fourth.status, fourth.new, len(calls)) == ("partial", 6, 5), fourth.errors
    fifth = poll(db, config)
    assert (fifth.status, fifth.new) == ("partial", 8), fifth.errors
    sixth = poll(db, config)
    assert (sixth.status, sixth.new) == ("ok", 2), sixth.errors
    assert len(stored_ids(db, "googleplay")) == 3 + 24 + 6


# App Store ---------------------------------------------------------------------------------------

class AppStoreFeed:
    """The iTunes customer-reviews feed over `reviews` ((id, Unix time), most recent first):
    pages of 50, numbered 1-10, as Apple serves them."""

    def __init__(self):
        self.reviews: list[tuple[int, int]] = []
        self.pages_asked: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        number = int(re.search(r"/page=(\d+)/", request.url.path).group(1))
        self.pages_asked.append(number)
        chunk = self.reviews[(number - 1) * 50:number * 50] if number <= 10 else []
        body = atom_feed([(str(review_id), iso_time(at), f"acme review {review_id}")
                          for review_id, at in chunk])
        return httpx.Response(200, content=body, headers={"content-type": "application/atom+xml"})


def appstore_config(max_pages: int) -> Config:
    return make_config({"type": "appstore", "base_url": "http://itunes.test",
                        "options": {"app_id": "123", "max_pages": max_pages, "match_query": False}})


def test_appstore_burst_beyond_max_pages_is_read_by_the_next_poll(db):
    feed, now = AppStoreFeed(), int(time.time()) - 60
    config = appstore_config(max_pages=2)
    feed.reviews = [(1000 - n, now - 86_400 - n) for n in range(20)]
    assert poll(db, config, httpx.MockTransport(feed)).new == 20
    first_cursors = source_cursors(db, config)

    feed.reviews = [(5000 - n, now - 10 * n) for n in range(180)] + feed.reviews
    second = poll(db, config, httpx.MockTransport(feed))
    assert (second.status, second.new) == ("partial", 100), second.errors
    (line,) = second.errors
    assert line.startswith("appstore: new reviews not all read yet: the poll stopped at page 2")
    assert {name: source_cursors(db, config)[name] for name in first_cursors} == first_cursors

    feed.pages_asked.clear()
    third = poll(db, config, httpx.MockTransport(feed))
    assert (third.status, third.new) == ("ok", 80), third.errors
    assert feed.pages_asked == [1, 2, 3, 4]  # pages 1-2 read again at no cost of max_pages
    assert len(stored_ids(db, "appstore")) == 200
    assert source_cursors(db, config) == {"newest": iso_time(now), "newest_id": "5000"}


def test_appstore_reviews_past_apples_ten_pages_are_named_not_lost_silently(db):
    feed, now = AppStoreFeed(), int(time.time()) - 60
    config = appstore_config(max_pages=10)
    feed.reviews = [(1000 - n, now - 86_400 - n) for n in range(5)]
    poll(db, config, httpx.MockTransport(feed))
    feed.reviews = [(9000 - n, now - n) for n in range(520)] + feed.reviews  # 20 beyond page 10
    result = poll(db, config, httpx.MockTransport(feed))
    assert (result.status, result.new) == ("partial", 500)
    (line,) = result.errors
    assert "could not be read: Apple serves only the 500 most recent reviews" in line
    assert source_cursors(db, config)["newest_id"] == "9000"  # nothing more can be read: moved on


# GitHub ------------------------------------------------------------------------------------------

class TimingOutGitHubSearch(GitHubSearch):
    """GitHub issue search whose searches time out while `incomplete` is set: the answer then
    leaves out every issue with an odd id and says `incomplete_results: true`."""

    incomplete = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.incomplete:
            return super().__call__(request)
        everything = self.items
        self.items = [item for item in everything if item["id"] % 2 == 0]
        try:
            response = super().__call__(request)
        finally:
            self.items = everything
        return httpx.Response(200, json={**response.json(), "incomplete_results": True})


def test_github_incomplete_answer_keeps_the_window_it_covered_to_be_asked_again(db):
    now = int(time.time())
    server = TimingOutGitHubSearch(issues(10, 100, now - 86_400, "Acme old issue {n}"))
    config = github_config("github")
    assert github_poll(db, config, server).new == 10

    server.items += issues(10, 1000, now - 3600, "Acme new issue {n}")
    server.incomplete = True
    second = github_poll(db, config, server)
    assert (second.status, second.new) == ("partial", 5), second.errors
    (line,) = second.errors
    assert line.startswith("github: the API left matches out of its answer (incomplete results")
    # what it covered, from the overlap below the cursor it asked from (a post indexed late may
    # be what it left out), is asked again
    floor = now - 86_400 - OVERLAP_SECONDS
    assert line.endswith(f"the next polls ask for the posts from {iso_time(floor)} to "
                         f"{iso_time(now - 3600)} again")
    assert github_cursors(db, config) == {  # the cursor moves on
        "created": iso_time(now - 3600),
        "gaps": json.dumps([{"after": iso_time(floor), "until": iso_time(now - 3600),
                             "incomplete": True}])}

    server.incomplete = False
    third = github_poll(db, config, server)
    assert (third.status, third.new) == ("ok", 5), third.errors
    assert len(stored_ids(db, "github")) == 20
    assert github_cursors(db, config) == {"created": iso_time(now - 3600)}


def test_github_incomplete_answer_to_a_gap_keeps_its_window_to_be_asked_again(db):
    now = int(time.time())
    server = TimingOutGitHubSearch(issues(5, 100, now - 86_400, "Acme old issue {n}"))
    config = github_config("github", {"max_pages": 1})
    github_poll(db, config, server)
    server.items += issues(250, 1000, now - 600, "Acme outage issue {n}")
    second = github_poll(db, config, server)  # 100 new, then a page of the gap: about 50 left
    assert second.status == "partial" and second.new > 150, second.errors
    gaps = github_cursors(db, config)["gaps"]

    server.incomplete = True
    third = github_poll(db, config, server)
    assert third.status == "partial"
    assert any("incomplete results" in line for line in third.errors), third.errors
    # the gap's answer was incomplete: its window is kept whole, to be asked for again (joined
    # with the overlap below the cursor, which the new posts' incomplete answer covered)
    kept = json.loads(github_cursors(db, config)["gaps"])
    assert all(window["incomplete"] for window in kept)
    assert all(any(window["after"] <= gap["after"] and gap["until"] <= window["until"] for window in kept)
               for gap in json.loads(gaps))

    server.incomplete = False
    later = [github_poll(db, config, server) for _ in range(3)]  # a page of the backlog each
    assert later[-1].status == "ok", later[-1].errors
    assert len(stored_ids(db, "github")) == 255
    assert "gaps" not in github_cursors(db, config)


@pytest.mark.parametrize("incomplete", [False, True])
def test_github_first_poll_with_an_incomplete_answer_keeps_its_place_at_the_oldest_issue_read(db, incomplete):
    now = int(time.time())
    server = TimingOutGitHubSearch(issues(10, 100, now - 3600, "Acme issue {n}"))
    server.incomplete = incomplete
    config = github_config("github")
    github_poll(db, config, server)
    expected = now - 3600 - 8 if incomplete else now - 3600  # ids 100-109: 109 (odd) is left out
    assert github_cursors(db, config) == {"created": iso_time(expected)}
    server.incomplete = False
    github_poll(db, config, server)
    assert len(stored_ids(db, "github")) == 10


def test_github_answers_that_keep_coming_back_incomplete_do_not_stop_the_reading(db):
    now = int(time.time())
    server = TimingOutGitHubSearch(issues(5, 100, now - 86_400, "Acme old issue {n}"))
    config = github_config("github", {"max_pages": 1})
    github_poll(db, config, server)
    server.items += issues(400, 1000, now - 4000, "Acme outage issue {n}")
    server.incomplete = True  # every answer from now on leaves out the odd ids: 200 of the burst
    results = [github_poll(db, config, server) for _ in range(3)]
    assert all(r.status == "partial" for r in results)
    assert all(any("incomplete results" in line for line in r.errors) for r in results)
    assert len(stored_ids(db, "github")) == 5 + 200  # every issue the answers show is read
    cursors = github_cursors(db, config)
    assert cursors["created"] == iso_time(now - 4000)  # moved on
    (window,) = json.loads(cursors["gaps"])  # all that the incomplete answers covered, to ask again
    assert window == {"after": iso_time(now - 86_400), "until": iso_time(now - 4000), "incomplete": True}

    server.incomplete = False  # the search works again: the window is asked for, as the line said
    server.requests.clear()
    for _ in range(8):
        last = github_poll(db, config, server)
        if last.status == "ok":
            break
    assert last.status == "ok", last.errors
    assert server.requests[1].url.params["q"] == (f"acme created:{iso_time(now - 86_400 + 1)}.."
                                                  f"{iso_time(now - 4000)}")
    assert len(stored_ids(db, "github")) == 405
    assert github_cursors(db, config) == {"created": iso_time(now - 4000)}


# --- newest-first polls driven directly, against a fake search API ------------------------------

class _FakeSearch:
    """A search API over {id: unix time}, newest first, `page_size` a page; `incomplete(window)`
    says when an answer leaves the odd ids out (a search that timed out)."""

    def __init__(self, items: dict[int, int], page_size: int = 10):
        self.items, self.page_size = dict(items), page_size
        self.incomplete = lambda window: False

    def fetch(self, window, token):
        from crawler.cursors import Batch, iso_time
        from crawler.pollers.base import Page
        from storage import Mention

        incomplete = self.incomplete(window)
        found = sorted(((i, t) for i, t in self.items.items()
                        if (window.after is None or t > window.after)
                        and (window.until is None or t <= window.until)
                        and not (incomplete and i % 2)), key=lambda item: (-item[1], item[0]))
        number = int(token or 1)
        chunk = found[(number - 1) * self.page_size:number * self.page_size]
        mentions = [Mention("github", str(i), "acme", iso_time(t)) for i, t in chunk]
        more = len(found) > number * self.page_size
        return Batch(Page(mentions, fetched=len(mentions)), {str(i): t for i, t in chunk},
                     str(number + 1) if more else None, len(found), False, incomplete)


def _poll(search: _FakeSearch, cursors: dict, stored: set, max_pages: int = 3) -> None:
    from types import SimpleNamespace

    from crawler.cursors import iso_cursor, newest_first_pages

    poller = SimpleNamespace(source="github", cursors=dict(cursors), max_pages=max_pages, resuming=False)
    for page in newest_first_pages(poller, search.fetch, name="created", decode=iso_cursor, encode=iso_time):
        stored.update(m.external_id for m in page.mentions)
        for name, value in page.cursors.items():
            if value is None:
                cursors.pop(name, None)
            else:
                cursors[name] = value


def test_a_post_indexed_late_in_the_overlap_is_asked_again_after_an_incomplete_answer():
    from crawler.cursors import iso_cursor

    now = int(time.time())
    search = _FakeSearch({2 * n: now - 86400 - 60 * n for n in range(5)})
    cursors, stored = {}, set()
    _poll(search, cursors, stored)
    top = iso_cursor(cursors["created"])
    search.items.update({1000 + 2 * n: now - 3600 - 60 * n for n in range(5)})
    search.items[101] = top - 100  # dated before the cursor, inside the overlap: the index was late
    search.incomplete = lambda window: True  # and this answer leaves it out
    _poll(search, cursors, stored)
    search.incomplete = lambda window: False
    for _ in range(2):
        _poll(search, cursors, stored)
    assert "101" in stored


def test_reading_the_backlog_never_saves_more_than_max_gaps():
    from crawler.cursors import MAX_GAPS

    now = int(time.time())
    base, items, gaps = now - 100 * 86400, {}, []
    for day in range(MAX_GAPS):  # as many unread stretches as may be kept, 30 posts each
        until = base + (MAX_GAPS - day) * 86400
        gaps.append({"after": iso_time(until - 36000), "until": iso_time(until)})
        items.update({1 + day * 30 + n: until - 60 * n for n in range(30)})
    cursors = {"created": iso_time(base + (MAX_GAPS + 1) * 86400), "gaps": json.dumps(gaps)}
    search = _FakeSearch(items)
    search.incomplete = lambda window: window.until is not None  # the backlog's answers time out
    for _ in range(3):
        _poll(search, cursors, set())
        assert len(json.loads(cursors.get("gaps") or "[]")) <= MAX_GAPS
