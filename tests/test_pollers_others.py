"""Bluesky (a recorded post view), Google Play (a recorded page and the library edge), Stack Exchange
and GitHub (payloads in the documented shape: no recordings of these two exist in the shared data)."""
from __future__ import annotations

import json

from crawler.collect import collect_source, search_polls
from crawler.cursors import OVERLAP_SECONDS, cursor_key, load_cursors
from crawler.pollers.bluesky import BlueskyPoller
from crawler.pollers.googleplay import GooglePlayPoller
from mentionwatch.config import Config
from pollers_replay import BASE_URL, Replay, file_response

BLUESKY_THREAD = "api/bluesky/thread_view_post_with_embed_media.json"
PLAY_PAGE = "api/googleplay/google_play_review_jp.mixi.html"


def make_config(source: dict, query: dict) -> Config:
    return Config.model_validate({"watches": [{"name": "w", "query": query, "sources": [source]}]})


def run(db, config, transport=None):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)


# Bluesky -------------------------------------------------------------------------------------

def bluesky_search_response(shared_file, text: str) -> dict:
    """A searchPosts answer built around the real recorded post view (with its text set)."""
    post = json.loads(shared_file(BLUESKY_THREAD).read_text())["thread"]["post"]
    post["record"]["text"] = text
    return {"posts": [post], "cursor": None}


def test_bluesky_parse_post_view(shared_file):
    payload = json.loads(shared_file(BLUESKY_THREAD).read_text())
    problems: list[str] = []
    # the recording is a quote with an image and no text or alt text: no mention of its own
    assert (BlueskyPoller.parse(payload, problems), problems) == ([], [])
    payload["thread"]["post"]["record"]["text"] = "the python sdk"
    (mention,) = BlueskyPoller.parse(payload)
    assert mention.external_id == "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheyt6vpc22"
    assert mention.url == "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
    assert mention.author == "test.marshal.dev"
    assert mention.created_at == "2023-09-28T12:49:36Z"
    assert mention.lang == "en"
    assert mention.text == "the python sdk"  # its own text only, not the quoted post's ('test')


def test_bluesky_search_since_cursor_and_dedupe(shared_file, db):
    payload = bluesky_search_response(shared_file, "The python sdk release is great")
    replay = Replay([file_response("/xrpc/app.bsky.feed.searchPosts", json.dumps(payload).encode(),
                                   "application/json")])
    source = {"type": "bluesky", "base_url": BASE_URL}
    config = make_config(source, {"any": ["python"], "languages": ["en"]})

    first = run(db, config, replay.transport())
    assert (first.status, first.fetched, first.new) == ("ok", 1, 1)
    sent = replay.requests[0].url.params
    assert sent["sort"] == "latest" and sent["lang"] == "en" and "since" not in sent
    (search,) = search_polls(config.watches[0], config.watches[0].sources[0])  # cursors per search
    cursors = load_cursors(db, "w", cursor_key(search))
    assert cursors == {"since": "2023-09-28T12:49:36Z"}

    second = run(db, config, replay.transport())
    assert replay.requests[-1].url.params["since"] == "2023-09-28T12:44:36Z"  # the cursor less OVERLAP_SECONDS
    assert (second.new, second.duplicates) == (0, 1)


# Google Play ---------------------------------------------------------------------------------

def test_googleplay_parse_recorded_page(shared_file):
    mentions = GooglePlayPoller.parse(shared_file(PLAY_PAGE).read_text(encoding="utf-8"))
    assert len(mentions) == 40 == len({m.external_id for m in mentions})
    first = mentions[0]
    assert first.external_id.startswith("gp:AOqpTOF-YfW3")
    assert first.author == "キサラギテツト"
    assert first.created_at == "2016-05-08T00:00:00Z"
    assert first.rating == 1.0  # a 20% wide star bar
    assert first.title == "通信出来ませんでした"
    assert first.lang == "ja"
    assert {m.rating for m in mentions} <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_googleplay_html_page_poll(shared_file, db):
    page = shared_file(PLAY_PAGE).read_bytes()
    replay = Replay([file_response("/store/apps/details", page, "text/html; charset=utf-8")])
    source = {"type": "googleplay", "base_url": BASE_URL, "options": {"html_url": "/store/apps/details"}}
    result = run(db, make_config(source, {"any": ["ログイン", "mixi", "アプリ"]}), replay.transport())
    assert result.status == "ok", result.errors
    assert result.fetched == 40 and result.new > 0


def test_googleplay_library_reviews_and_failure(db, monkeypatch):
    import datetime as dt

    calls = []

    def fake_reviews(app_id, **kwargs):  # the network edge: google-play-scraper's own request
        calls.append((app_id, kwargs))
        return [{"reviewId": "r1", "userName": "Ann", "content": "Acme app crashes on start",
                 "score": 1, "at": dt.datetime(2024, 5, 1, 12, 0)},
                {"reviewId": "r2", "userName": "Bob", "content": "no date here", "score": 5}], None

    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(fake_reviews))
    source = {"type": "googleplay", "options": {"app_id": "com.acme.app", "lang": "en"}}
    config = make_config(source, {"any": ["acme"]})
    result = run(db, config)
    assert (result.status, result.fetched, result.new, result.rejected) == ("ok", 2, 1, 1)
    assert calls[0][0] == "com.acme.app" and calls[0][1]["lang"] == "en"
    url = db.execute("SELECT url FROM mentions").fetchone()[0]
    assert url == "https://play.google.com/store/apps/details?id=com.acme.app&reviewId=r1"

    def broken(app_id, **kwargs):
        from urllib.error import URLError

        raise URLError("Name or service not known")

    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(broken))
    failed = run(db, config)
    assert failed.status == "failed"
    assert failed.errors == ["googleplay: com.acme.app: URLError: <urlopen error Name or service not known>"]


# Stack Exchange and GitHub -------------------------------------------------------------------

def stackexchange_page(backoff: int | None = None) -> dict:
    page = {"items": [
        {"question_id": 11, "title": "Acme SDK &amp; login fails", "body": "<p>Acme login <b>fails</b></p>",
         "creation_date": 1_700_000_100, "link": "https://stackoverflow.com/questions/11/acme",
         "owner": {"display_name": "dev", "reputation": 120}},
        {"question_id": 10, "title": "Other", "body": "<p>unrelated</p>", "creation_date": 1_700_000_000,
         "link": "https://stackoverflow.com/questions/10/other", "owner": {"display_name": "x"}},
        {"question_id": 9, "title": "broken", "creation_date": "yesterday-ish"},
    ], "has_more": False, "quota_remaining": 290}
    if backoff is not None:
        page["backoff"] = backoff
    return page


def test_stackexchange_honours_backoff_and_fromdate(db):
    slept = []
    replay = Replay([file_response("/2.3/search/advanced", json.dumps(stackexchange_page(backoff=10)).encode(),
                                   "application/json; charset=utf-8")])
    source = {"type": "stackexchange", "base_url": BASE_URL}
    config = make_config(source, {"any": ["acme"]})
    watch = config.watches[0]
    result = collect_source(db, config, watch, watch.sources[0], transport=replay.transport(),
                            sleep=slept.append)
    assert (result.fetched, result.new, result.filtered, result.rejected) == (3, 1, 1, 1)
    assert 10 in slept  # the API's backoff
    title, text, author, reach = db.execute("SELECT title, text, author, author_reach FROM mentions").fetchone()
    assert (title, text, author, reach) == ("Acme SDK & login fails", "Acme login fails", "dev", 120)
    run(db, config, replay.transport())
    assert replay.requests[-1].url.params["fromdate"] == str(1_700_000_100 - OVERLAP_SECONDS + 1)


def test_stackexchange_backoff_longer_than_a_poll_waits_holds_the_next_request_and_poll(db):
    """A backoff of 5 minutes was slept for 2 and the next page asked early, which the API
    punishes with a ban: the poll now ends with one line, and the run carries the pause's end."""
    import datetime as dt

    first, second = stackexchange_page(backoff=300), stackexchange_page()
    first["has_more"] = True
    replay = Replay([file_response("/2.3/search/advanced", json.dumps(page).encode(), "application/json")
                     for page in (first, second)], sequential=True)
    config = make_config({"type": "stackexchange", "base_url": BASE_URL}, {"any": ["acme"]})
    watch = config.watches[0]
    slept = []
    result = collect_source(db, config, watch, watch.sources[0], transport=replay.transport(),
                            sleep=slept.append)
    assert len(replay.requests) == 1 and 300 not in slept and 120 not in slept
    assert (result.status, result.new) == ("partial", 1)
    (line,) = result.errors
    assert "the site asked for a pause until" in line and "not waiting that long" in line
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=290) < result.retry_at - now <= dt.timedelta(seconds=300)


def test_stackexchange_long_backoff_holds_another_watchs_poll_of_the_site(db):
    from crawler.collect import collect_all

    replay = Replay([file_response("/2.3/search/advanced", json.dumps(stackexchange_page(backoff=600)).encode(),
                                   "application/json")])
    config = Config.model_validate({"watches": [
        {"name": name, "query": {"any": ["acme"]}, "sources": [{"type": "stackexchange", "base_url": BASE_URL}]}
        for name in ("first", "second")]})
    first, second = collect_all(db, config, transport=replay.transport(), sleep=lambda s: None)
    assert len(replay.requests) == 1  # the second watch asked nothing during the pause
    assert (first.status, second.status) == ("ok", "failed")
    assert "the site asked for a pause until" in second.errors[0]
    assert second.retry_at == first.retry_at is not None


def test_stackexchange_long_backoff_on_the_last_page_still_holds_the_next_poll(db):
    replay = Replay([file_response("/2.3/search/advanced", json.dumps(stackexchange_page(backoff=600)).encode(),
                                   "application/json")])
    config = make_config({"type": "stackexchange", "base_url": BASE_URL}, {"any": ["acme"]})
    watch = config.watches[0]
    result = collect_source(db, config, watch, watch.sources[0], transport=replay.transport(),
                            sleep=lambda s: None)
    assert (result.status, result.new) == ("ok", 1)
    assert result.retry_at is not None and result.as_dict()["retry_at"]  # the service waits for it


def test_github_issue_search_with_token(db, monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_GITHUB_TOKEN", "ghp_secret_value")
    items = {"total_count": 1, "items": [{
        "id": 501, "number": 7, "title": "Acme client crashes", "body": "Stack trace attached",
        "created_at": "2024-03-01T10:00:00Z", "html_url": "https://github.com/acme/client/issues/7",
        "user": {"login": "octo"}}]}
    replay = Replay([file_response("/search/issues", json.dumps(items).encode(), "application/json")])
    # base_url is not api.github.com: the default variable's token goes there only when named
    source = {"type": "github", "base_url": BASE_URL,
              "options": {"qualifiers": "is:issue", "token_env": "MENTIONWATCH_GITHUB_TOKEN"}}
    config = make_config(source, {"any": ["acme"]})
    result = run(db, config, replay.transport())
    assert (result.status, result.new) == ("ok", 1)
    request = replay.requests[0]
    assert request.headers["authorization"] == "Bearer ghp_secret_value"
    assert request.url.params["q"] == "acme is:issue"
    run(db, config, replay.transport())
    assert replay.requests[-1].url.params["q"] == "acme is:issue created:>2024-03-01T09:55:00Z"  # less the overlap
    runs = db.execute("SELECT errors FROM crawl_runs").fetchall()
    assert all("ghp_secret_value" not in (row[0] or "") for row in runs)


def test_github_and_stackexchange_items_without_an_id_are_rejected(db):
    """An id that is JSON null is a malformed item (rejected, counted), not the id 'None': the
    second such item would otherwise be dropped as a duplicate of the first."""
    issues = {"total_count": 3, "items": [
        {"id": None, "number": 3, "title": "acme crashes on login", "body": "",
         "created_at": "2024-05-03T10:00:00Z", "html_url": "https://github.com/acme/app/issues/3"},
        {"id": None, "number": 2, "title": "acme loses data on sync", "body": "",
         "created_at": "2024-05-02T10:00:00Z", "html_url": "https://github.com/acme/app/issues/2"},
        {"id": 501, "number": 1, "title": "acme docs typo", "body": "",
         "created_at": "2024-05-01T10:00:00Z", "html_url": "https://github.com/acme/app/issues/1"}]}
    replay = Replay([file_response("/search/issues", json.dumps(issues).encode(), "application/json")])
    config = make_config({"type": "github", "base_url": BASE_URL}, {"any": ["acme"]})
    result = run(db, config, replay.transport())
    assert (result.status, result.new, result.duplicates, result.rejected) == ("ok", 1, 0, 2)
    assert [r[0] for r in db.execute("SELECT external_id FROM mentions")] == ["501"]

    page = stackexchange_page()
    page["items"][0]["question_id"] = None
    replay = Replay([file_response("/2.3/search/advanced", json.dumps(page).encode(), "application/json")])
    config = make_config({"type": "stackexchange", "base_url": BASE_URL, "options": {"query": "acme"}},
                         {"any": ["acme", "unrelated"]})
    result = run(db, config, replay.transport())
    assert (result.fetched, result.new, result.rejected) == (3, 1, 2)  # 'yesterday-ish' and the null id
    stored = {r[0] for r in db.execute("SELECT external_id FROM mentions WHERE source = 'stackexchange'")}
    assert stored == {"stackoverflow.com:10"}


def test_crawl_says_when_a_long_pause_asked_on_the_last_page_ends(cli, tmp_path):
    from mentionwatch.local_servers import LocalServer

    class StackExchange(LocalServer):
        def handle_get(self, request):
            self.reply(request, 200, json.dumps(stackexchange_page(backoff=600)).encode(), "application/json")

    with StackExchange() as server:
        (tmp_path / "w.yaml").write_text(
            f"database: {tmp_path / 'm.db'}\nwatches:\n  - name: acme\n    query: {{any: [acme]}}\n"
            f"    sources:\n      - type: stackexchange\n        base_url: {server.url}\n"
            "        options: {min_interval: 0}\n", encoding="utf-8")
        result = cli("--config", tmp_path / "w.yaml", "crawl")
    assert result.exit_code == 0, result.output
    assert "acme/stackexchange: the site asked for a pause until" in result.stderr
    assert "the service polls it again after that" in result.stderr
