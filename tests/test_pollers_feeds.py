"""RSS feeds (served by a local HTTP server with ETag support) and App Store reviews (JSON and XML)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import urllib.request

import pytest
from pydantic import ValidationError

from crawler.collect import collect_source
from crawler.cursors import cursor_key, load_cursors
from crawler.pollers.appstore import AppStorePoller
from crawler.pollers.rss import RssPoller
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer
from pollers_replay import BASE_URL, Replay, file_response

BBC = "api/rss/bbc_news_frontpage_2024-08-08.xml"
NYT = "api/rss/nytimes_world_2024-08-08.xml"
APPSTORE_US = "api/appstore/customerreviews_us_id1321994487.json"
APPSTORE_JP_JSON = "api/appstore/customerreviews_jp_id1404176564_page1.json"
APPSTORE_JP_XML = "api/appstore/customerreviews_jp_id1404176564_page1.xml"


class FeedServer(LocalServer):
    """A local HTTP server for feeds: answers 304 to a matching If-None-Match (or, without ETags, to
    a matching If-Modified-Since), logs every request."""

    LAST_MODIFIED = "Thu, 08 Aug 2024 19:20:58 GMT"

    def __init__(self, feeds: dict[str, bytes], use_etags: bool = True):
        super().__init__()
        self.feeds = feeds
        self.use_etags = use_etags
        self.log: list[tuple[str, str | None, int]] = []

    def handle_get(self, request):
        body = self.feeds.get(request.path)
        etag = f'"v{len(body)}"' if body and self.use_etags else None
        if body is None:
            status = 404
        elif etag and request.headers.get("If-None-Match") == etag:
            status = 304
        elif not etag and request.headers.get("If-Modified-Since") == self.LAST_MODIFIED:
            status = 304
        else:
            status = 200
        self.log.append((request.path, request.headers.get("If-None-Match")
                         or request.headers.get("If-Modified-Since"), status))
        if status == 200:
            validator = {"ETag": etag} if etag else {"Last-Modified": self.LAST_MODIFIED}
            self.reply(request, 200, body, "application/rss+xml", validator)
        else:
            self.reply(request, status, b"", "text/plain")


@pytest.fixture
def feed_server(shared_file):
    with FeedServer({"/bbc.xml": shared_file(BBC).read_bytes(),
                     "/nyt.xml": shared_file(NYT).read_bytes()}) as server:
        yield server


def make_config(source: dict, query: dict) -> Config:
    return Config.model_validate({"watches": [{"name": "news", "query": query, "sources": [source]}]})


def run(db, config, transport=None):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)


def test_rss_parse_fields(shared_file):
    mentions = RssPoller.parse(shared_file(BBC).read_bytes())
    assert len(mentions) == 54
    first = mentions[0]
    assert first.title == "Suspended Labour councillor arrested over counter-protest remarks"
    assert first.url == "https://www.bbc.com/news/articles/cz074vyvjzvo"
    # BBC marks each place a story holds in the feed (#0, #10): one story, one id
    assert first.external_id == "https://www.bbc.com/news/articles/cz074vyvjzvo"
    assert first.created_at == "2024-08-08T15:39:03Z"
    assert first.lang == "en-gb"


def test_rss_two_feeds_etag_and_dedupe(feed_server, db):
    source = {"type": "rss", "base_url": feed_server.url, "options": {"urls": ["/bbc.xml", "/nyt.xml"]}}
    config = make_config(source, {"any": ["gaza", "israel", "labour", "olympics"]})

    first = run(db, config)
    assert first.status == "ok", first.errors
    assert first.fetched == 54 + 60
    # one BBC story held two places in the feed (guids …#0 and …#10): stored once
    assert first.new >= 2 and first.duplicates == 1
    assert first.new + first.filtered + first.duplicates == first.fetched
    assert [status for _, _, status in feed_server.log] == [200, 200]
    cursors = load_cursors(db, "news", cursor_key(config.watches[0].sources[0]))
    assert sorted(v for k, v in cursors.items() if k.endswith(".etag")) == sorted(
        [f'"v{len(feed_server.feeds["/bbc.xml"])}"', f'"v{len(feed_server.feeds["/nyt.xml"])}"'])

    second = run(db, config)  # both feeds unchanged: 304, nothing fetched
    assert [status for _, _, status in feed_server.log[2:]] == [304, 304]
    assert (second.status, second.fetched, second.new) == ("ok", 0, 0)

    feed_server.feeds["/bbc.xml"] += b"\n"  # the feed changed (new ETag), same items: all duplicates
    third = run(db, config)
    assert third.fetched == 54 and third.new == 0
    stored_bbc = db.execute("SELECT count(*) FROM mentions WHERE url LIKE '%bbc%'").fetchone()[0]
    assert third.duplicates == stored_bbc + 1


def test_rss_if_modified_since(shared_file, db):
    with FeedServer({"/bbc.xml": shared_file(BBC).read_bytes()}, use_etags=False) as server:
        source = {"type": "rss", "options": {"urls": [server.url + "/bbc.xml"]}}
        config = make_config(source, {"any": ["labour"]})
        first = run(db, config)
        second = run(db, config)
    assert first.fetched == 54 and second.fetched == 0
    assert server.log == [("/bbc.xml", None, 200), ("/bbc.xml", FeedServer.LAST_MODIFIED, 304)]


def test_google_news_feed_url_is_built_from_the_query(db):
    replay = Replay([file_response("/rss/search", b"<rss version='2.0'><channel><title>G</title></channel></rss>",
                                   "application/rss+xml")])
    source = {"type": "rss", "base_url": BASE_URL, "options": {"google_news": True}}
    result = run(db, make_config(source, {"phrases": ["ACME Corp"], "all": ["outage"]}), replay.transport())
    assert result.status == "ok", result.errors
    params = replay.requests[0].url.params
    assert (params["q"], params["hl"], params["gl"], params["ceid"]) == ('"ACME Corp" outage', "en-US", "US", "US:en")


def test_rss_one_broken_feed_does_not_stop_the_other(feed_server, db):
    source = {"type": "rss", "base_url": feed_server.url, "options": {"urls": ["/missing.xml", "/bbc.xml"]}}
    result = run(db, make_config(source, {"any": ["labour", "the"]}))
    assert result.status == "partial"
    assert result.fetched == 54
    assert len(result.errors) == 1 and "HTTP 404" in result.errors[0]


def test_rss_html_instead_of_feed_fails_cleanly(db):
    replay = Replay([file_response("/feed", b"<html><body><h1>Welcome</h1></body></html>", "text/html")])
    source = {"type": "rss", "base_url": BASE_URL, "options": {"urls": ["/feed"]}}
    result = run(db, make_config(source, {"any": ["x"]}), replay.transport())
    assert result.status == "failed"
    assert result.errors == ["rss: replay.test/feed: not a feed (got text/html)"]


def test_rss_error_names_the_feed_path_but_not_its_query(feed_server, db):
    feed_server.feeds["/news/world.rss?key=SECRET123"] = b"<html><body>Log in</body></html>"
    source = {"type": "rss", "base_url": feed_server.url,
              "options": {"urls": ["/bbc.xml", "/news/world.rss?key=SECRET123"]}}
    result = run(db, make_config(source, {"any": ["labour"]}))
    assert result.status == "partial"
    assert len(result.errors) == 1
    assert re.fullmatch(r"rss: 127\.0\.0\.1(:\d+)?/news/world\.rss: not a feed \(got application/rss\+xml\)",
                        result.errors[0]), result.errors


def test_rss_cut_off_feed_is_an_error_and_keeps_its_complete_entries(shared_file, db):
    whole = shared_file(BBC).read_bytes()
    cut = whole[:whole.index(b"<description>", 5000) + 40]  # in the middle of an entry's text
    closed = cut.count(b"</item>")
    with FeedServer({"/cut.xml": cut, "/nyt.xml": shared_file(NYT).read_bytes()}) as server:
        source = {"type": "rss", "base_url": server.url, "options": {"urls": ["/cut.xml", "/nyt.xml"]}}
        config = make_config(source, {"any": ["the", "a"]})
        first = run(db, config)
        second = run(db, config)
    assert first.status == "partial"
    assert len(first.errors) == 1
    assert re.fullmatch(r"rss: 127\.0\.0\.1(:\d+)?/cut\.xml: feed cut off \(XML error at line \d+: [^)]+\); "
                        rf"kept the {closed} complete entries before it", first.errors[0]), first.errors
    assert first.rejected == 0  # the entry cut in two is not counted as a malformed one
    complete = {mention.url for mention in RssPoller.parse(whole)[:closed]}
    stored = {row[0] for row in db.execute("SELECT url FROM mentions WHERE url LIKE '%bbc%'")}
    assert stored and stored <= complete
    # its ETag is not kept: the next poll reads the cut feed again, while the whole one answers 304
    cut_requests = [entry for entry in server.log if entry[0] == "/cut.xml"]
    assert [validator for _, validator, _ in cut_requests] == [None, None]
    assert [status for path, _, status in server.log if path == "/nyt.xml"] == [200, 304]
    assert second.errors == first.errors


def test_rss_feed_cut_off_before_any_entry_ended_is_a_failed_source(shared_file, db):
    whole = shared_file(BBC).read_bytes()
    cut = whole[:whole.index(b"<item>") + 30]  # inside the first entry
    with FeedServer({"/cut.xml": cut}) as server:
        config = make_config({"type": "rss", "base_url": server.url, "options": {"urls": ["/cut.xml"]}},
                             {"any": ["the", "a"]})
        result = run(db, config)
    assert result.status == "failed"  # it was 'partial' with nothing read
    assert re.fullmatch(r"rss: 127\.0\.0\.1(:\d+)?/cut\.xml: feed cut off \(.+\) before its first entry ended",
                        result.errors[0]), result.errors


def test_appstore_parse_json_and_xml_agree(shared_file):
    from_json = AppStorePoller.parse(json.loads(shared_file(APPSTORE_JP_JSON).read_text()))
    from_xml = AppStorePoller.parse(shared_file(APPSTORE_JP_XML).read_bytes())
    assert len(from_json) == len(from_xml) == 50
    xml_first = from_xml[0]
    assert xml_first.external_id == "6310006838"
    assert xml_first.rating == 5.0
    assert xml_first.title == "髪型追加してもらいたい"
    assert xml_first.created_at == "2020-08-12T11:06:20Z"
    assert xml_first.author == "単刀直入にさきいか"
    # the JSON capture is five days older: the reviews the two captures share agree
    shared = {m.external_id for m in from_json} & {m.external_id for m in from_xml}
    assert shared
    by_id = {m.external_id: m for m in from_xml}
    for mention in from_json:
        if mention.external_id in shared:
            assert (mention.text, mention.rating) == (by_id[mention.external_id].text,
                                                      by_id[mention.external_id].rating)


def test_appstore_poll_pages_and_stops_at_stored(shared_file, db):
    payload = with_review_dates(json.loads(shared_file(APPSTORE_US).read_bytes()))
    body = json.dumps(payload).encode()
    replay = Replay([file_response(
        "/us/rss/customerreviews/page=1/id=1321994487/sortby=mostrecent/json", body, "application/json")])
    source = {"type": "appstore", "base_url": BASE_URL,
              "options": {"app_id": 1321994487, "max_pages": 2, "format": "json"}}
    config = make_config(source, {"any": ["app"]})

    first = run(db, config, replay.transport())
    # page 2 was not recorded: the 404 ends the poll after page 1 was stored
    assert first.status == "partial"
    assert "HTTP 404" in first.errors[0]
    assert first.fetched == 50
    ratings = {row[0] for row in db.execute("SELECT rating FROM mentions").fetchall()}
    assert ratings <= {1.0, 2.0, 3.0, 4.0, 5.0} and len(ratings) > 1
    stored = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    expected = sum(1 for e in payload["feed"]["entry"]
                   if "app" in (e["title"]["label"] + " " + e["content"]["label"]).lower().split())
    assert stored == first.new > 0
    assert stored >= expected  # word-boundary matching also finds "app." and "app,"

    # the first pass did not finish: the next one pages on past page 1's stored reviews to page 2
    second = run(db, config, replay.transport())
    assert (second.status, second.new, second.duplicates) == ("partial", 0, stored)
    assert len(replay.requests) == 4  # page 1, page 2 (404), then page 1 (skipped) and page 2 again
    replay.recordings.append(file_response(  # page 2 now answers: no more reviews
        "/us/rss/customerreviews/page=2/id=1321994487/sortby=mostrecent/json", b'{"feed": {}}',
        "application/json"))
    third = run(db, config, replay.transport())
    assert (third.status, third.new, len(replay.requests)) == ("ok", 0, 6)

    fourth = run(db, config, replay.transport())  # the pass finished: page 1 only, stopped at a stored review
    assert (fourth.status, fourth.new, len(replay.requests)) == ("ok", 0, 7)


def with_review_dates(payload: dict) -> dict:
    """The recorded JSON feed with a date per review, an hour apart, as Apple's XML feed has (the
    recorded JSON has none: a first poll leaves such reviews out, see crawler.pollers.appstore)."""
    for hours, entry in enumerate(payload["feed"]["entry"]):
        entry["updated"] = {"label": f"2021-04-{12 - hours // 24:02d}T{23 - hours % 24:02d}:00:00-07:00"}
    return payload


def test_appstore_xml_format(shared_file, db):
    body = shared_file(APPSTORE_JP_XML).read_bytes()
    replay = Replay([file_response(
        "/jp/rss/customerreviews/page=1/id=1404176564/sortby=mostrecent/xml", body, "application/xml")])
    source = {"type": "appstore", "base_url": BASE_URL,
              "options": {"app_id": "1404176564", "country": "jp", "format": "xml", "max_pages": 1}}
    result = run(db, make_config(source, {"any": ["アプリ", "髪型", "ゲーム"]}), replay.transport())
    assert result.status == "ok", result.errors
    assert result.fetched == 50 and result.new > 0


def test_appstore_needs_numeric_app_id():
    source = {"type": "appstore", "base_url": BASE_URL, "options": {"app_id": "com.example"}}
    with pytest.raises(ValidationError, match="app_id\n.*expected digits only, got 'com.example'"):
        make_config(source, {"any": ["x"]})  # refused when the watchlist is read, before any crawl


# a dead feed and the Google News searches of the same source (#5) -------------------------------------

GOOGLE_NEWS_ANSWER = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Google News</title><item>'
                      b'<title>acme recalls product</title><link>https://news.example.com/1</link><guid>gn1</guid>'
                      b'<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>acme recall</description>'
                      b'</item></channel></rss>')


class GoogleNews(LocalServer):
    def handle_get(self, request):
        self.requests.append(request.path)
        self.reply(request, 200, GOOGLE_NEWS_ANSWER, "application/rss+xml")


def test_a_dead_feed_on_another_host_does_not_stop_the_google_news_searches(db):
    with FeedServer({}) as blog, GoogleNews() as news:  # two hosts: the blog has removed its feed
        source = {"type": "rss", "base_url": news.url,
                  "options": {"urls": [blog.url + "/blog/feed.xml"], "google_news": True}}
        result = run(db, make_config(source, {"any": ["acme", "acme corp"]}))
    port = blog.url.rsplit(":", 1)[1]
    assert result.status == "partial"
    assert result.errors == [f"feeds: GET 127.0.0.1:{port}/blog/feed.xml: HTTP 404 Not Found"]
    assert len(news.requests) == 2 and all(path.startswith("/rss/search?") for path in news.requests)
    assert result.new == 1


def test_a_dead_feed_on_the_google_news_host_still_stops_its_searches(db):
    with GoogleNews() as news:  # the feed is on the host the searches go to, and that host says 404
        news.handle_get = lambda request: (news.requests.append(request.path),
                                           news.reply(request, 404, b"", "text/plain"))
        source = {"type": "rss", "base_url": news.url, "options": {"urls": ["/blog/feed.xml"], "google_news": True}}
        result = run(db, make_config(source, {"any": ["acme", "acme corp"]}))
    assert result.status == "failed"
    assert result.errors[0].endswith("/blog/feed.xml: HTTP 404 Not Found; 2 more search(es) not tried")
    assert news.requests == ["/blog/feed.xml"]


# RSS items without a date (#13) ---------------------------------------------------------------------

def forum_feed(channel_date: str = "") -> bytes:
    return (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Acme forum</title>'
            b'<link>https://forum.example.com/</link><description>Latest topics</description>'
            + channel_date.encode() +
            b'<item><title>acme app keeps crashing</title><link>https://forum.example.com/t/1</link>'
            b'<guid>https://forum.example.com/t/1</guid><description>acme crashes on start.</description></item>'
            b'<item><title>acme refund never arrived</title><description>no link, no guid</description></item>'
            b'<item><title>acme refund</title><link>https://forum.example.com/t/2</link>'
            b'<guid>https://forum.example.com/t/2</guid><description>Still waiting for acme.</description>'
            b'<pubDate>Mon, 03 Jun 2024 08:00:00 GMT</pubDate></item>'
            b'</channel></rss>')


def stored_dates(db) -> dict[str, str]:
    return dict(db.execute("SELECT url, created_at FROM mentions").fetchall())


def test_undated_rss_items_take_the_channels_last_build_date(db, caplog):
    feed = forum_feed("<lastBuildDate>Tue, 04 Jun 2024 10:00:00 GMT</lastBuildDate>"
                      "<pubDate>Sat, 01 Jun 2024 00:00:00 GMT</pubDate>")
    with FeedServer({"/forum/latest.rss": feed}) as server, caplog.at_level(logging.INFO):
        source = {"type": "rss", "options": {"urls": [server.url + "/forum/latest.rss"]}}
        result = run(db, make_config(source, {"any": ["acme"]}))
    assert (result.status, result.fetched, result.new, result.rejected) == ("ok", 3, 2, 1)
    assert stored_dates(db) == {"https://forum.example.com/t/1": "2024-06-04T10:00:00Z",
                                "https://forum.example.com/t/2": "2024-06-03T08:00:00Z"}
    # log lines about an item name the feed it came from
    port = server.url.rsplit(":", 1)[1]
    assert f"skipped malformed item: rss 127.0.0.1:{port}/forum/latest.rss: item 2: ValueError: " \
           "entry has neither id nor link" in caplog.text


def test_undated_rss_items_without_a_channel_date_take_the_fetch_time(db):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    with FeedServer({"/latest.rss": forum_feed()}) as server:
        result = run(db, make_config({"type": "rss", "options": {"urls": [server.url + "/latest.rss"]}},
                                     {"any": ["acme"]}))
    after = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (result.status, result.new) == ("ok", 2), result.errors
    assert before <= stored_dates(db)["https://forum.example.com/t/1"] <= after


# a bad optional field costs only that field (#10) -----------------------------------------------------

def test_appstore_review_with_a_numeric_author_or_an_odd_rating_is_kept(shared_file, db, caplog):
    payload = with_review_dates(json.loads(shared_file(APPSTORE_US).read_text(encoding="utf-8")))
    entries = payload["feed"]["entry"]
    entries[0]["author"]["name"]["label"] = 42  # a user named by a number
    entries[1]["im:rating"]["label"] = "★★☆☆☆"  # a rating no number can be read from
    entries[2]["title"]["label"] = {"unexpected": "object"}
    replay = Replay([file_response("/us/rss/customerreviews/page=1/id=1321994487/sortby=mostrecent/json",
                                   json.dumps(payload).encode(), "application/json")])
    source = {"type": "appstore", "base_url": BASE_URL,
              "options": {"app_id": 1321994487, "max_pages": 1, "match_query": False, "format": "json"}}
    with caplog.at_level(logging.WARNING):
        result = run(db, make_config(source, {"any": ["app"]}), replay.transport())
    assert (result.status, result.fetched, result.rejected, result.new) == ("ok", 50, 0, 50), result.errors
    rows = {row[0]: row[1:] for row in db.execute("SELECT external_id, author, rating, title FROM mentions")}
    assert rows[entries[0]["id"]["label"]][0] == "42"
    assert rows[entries[1]["id"]["label"]][1] is None
    assert rows[entries[2]["id"]["label"]][2] is None
    assert "appstore: item 2: rating: not a number: '★★☆☆☆'; kept the item without its rating" in caplog.text
    assert "appstore: item 3: title: expected text, got dict; kept the item without it" in caplog.text


# googleplay with base_url: the library and the safety check read the same host (#20) ---------------

class PlayMirror(LocalServer):
    """Serves the app's Play page but not the review endpoint the library posts to."""

    def handle_get(self, request):
        self.requests.append(f"GET {request.path}")
        self.reply(request, 200, b"<html>app</html>", "text/html")

    def handle_post(self, request):
        self.requests.append(f"POST {request.path}")
        request.rfile.read(int(request.headers.get("Content-Length") or 0))
        self.reply(request, 404, b"<html>no</html>", "text/html")


def test_googleplay_library_goes_to_base_url_and_its_failure_is_reported(db):
    with PlayMirror() as mirror:  # the real library, pointed at the mirror
        source = {"type": "googleplay", "base_url": mirror.url, "options": {"app_id": "com.exists.app"}}
        result = run(db, make_config(source, {"any": ["acme"]}))
    port = mirror.url.rsplit(":", 1)[1]
    assert result.status == "failed"
    assert result.errors == [f"googleplay: com.exists.app: no reviews came back: the library's POST "
                             f"127.0.0.1:{port}/_/PlayStoreUi/data/batchexecute failed: HTTP 404 "
                             "(is options.app_id the package name?)"]
    assert mirror.requests and all(r.startswith("POST /_/PlayStoreUi/data/batchexecute?") for r in mirror.requests)
    from google_play_scraper.constants.request import Formats  # the library is left as it was
    assert Formats.Reviews.build(lang="en", country="us").startswith("https://play.google.com/")
    import ssl  # the library's import switched off certificate checks for all of urllib: switched on again
    assert ssl._create_default_https_context is ssl.create_default_context


class SlowPlayStore(LocalServer):
    """Answers the library's review POST too big, never, or a byte at a time (`how`)."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.release = threading.Event()

    def handle_post(self, request):
        self.requests.append(f"POST {request.path}")
        request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if self.how == "silent":
            self.release.wait(10)
            return
        body = b")]}'\n" + b"x" * 4096
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            if self.how == "large":
                request.wfile.write(body)
                return
            for byte in body:  # trickling: every read gets something, the whole never comes
                if self.release.wait(0.05):
                    return
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def __exit__(self, *exc):
        self.release.set()
        super().__exit__(*exc)


@pytest.mark.parametrize("how, problem", [
    ("large", "answer larger than 0 MB; not read further"),
    ("silent", "timed out: the server sent nothing for 0.3 s"),
    ("trickle", "answer not read whole within 0.5 s")])
def test_googleplay_library_requests_keep_to_the_size_cap_and_deadlines(db, monkeypatch, how, problem):
    from crawler.pollers import googleplay

    monkeypatch.setattr(googleplay, "MAX_ANSWER_BYTES", 1000)
    monkeypatch.setattr(googleplay, "LIBRARY_SOCKET_TIMEOUT", 0.3)
    monkeypatch.setattr(googleplay, "REQUEST_DEADLINE", 0.5)
    with SlowPlayStore(how) as store:  # the real library, pointed at the store
        source = {"type": "googleplay", "base_url": store.url, "options": {"app_id": "com.exists.app"}}
        result = run(db, make_config(source, {"any": ["acme"]}))
    port = store.url.rsplit(":", 1)[1]
    assert result.status == "failed"
    assert result.errors == [f"googleplay: com.exists.app: no reviews came back: the library's POST "
                             f"127.0.0.1:{port}/_/PlayStoreUi/data/batchexecute failed: {problem}"]
    # the library tries a request three times: past a limit, the other tries fail at once
    assert len(store.requests) == (3 if how == "silent" else 1), store.requests
    from google_play_scraper.utils import request as library_requests  # left as it was
    assert library_requests.urlopen is urllib.request.urlopen


def test_googleplay_check_reads_the_host_the_library_used(db, monkeypatch):
    from crawler.pollers.googleplay import GooglePlayPoller
    from pollers_replay import Replay as Answers

    asked = []
    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews",
                        staticmethod(lambda app_id, **kw: (asked.append(kw.get("base_url")), ([], None))[1]))
    answers = Answers([file_response("/store/apps/details", b"<html>app</html>", "text/html")])
    for base_url, host in ((None, "play.google.com"), ("https://play-mirror.test", "play-mirror.test")):
        source = {"type": "googleplay", "options": {"app_id": "com.acme.app"}}
        if base_url:
            source["base_url"] = base_url
        result = run(db, make_config(source, {"any": ["acme"]}), answers.transport())
        assert result.status == "ok", result.errors
        assert answers.requests[-1].url.host == host
    assert asked == [None, "https://play-mirror.test"]


def test_an_rss_item_with_an_id_too_long_to_store_is_kept_under_a_hash(db):
    """A link with a long percent-encoded slug passes storage's 500-character id limit: the item
    was rejected on every poll. It is stored once, under its host and a hash of the link."""
    slug = "%E6%97%A5%E6%9C%AC" * 40  # 720 characters of percent-encoded Japanese
    link = f"https://forum.example.com/t/{slug}".encode()
    feed = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Acme forum</title>'
            b'<item><title>acme outage</title><link>' + link + b'</link><guid>' + link + b'</guid>'
            b'<description>acme is down.</description><pubDate>Mon, 03 Jun 2024 08:00:00 GMT</pubDate></item>'
            b'</channel></rss>')
    with FeedServer({"/long.rss": feed}) as server:
        config = make_config({"type": "rss", "options": {"urls": [server.url + "/long.rss"]}}, {"any": ["acme"]})
        first, second = run(db, config), run(db, config)
    assert (first.status, first.new, first.rejected) == ("ok", 1, 0), first.errors
    assert second.new == 0
    (external_id, url), = db.execute("SELECT external_id, url FROM mentions").fetchall()
    assert external_id.startswith("forum.example.com:url-sha1:") and len(external_id) < 100
    assert url == link.decode()


# feed items whose guid is no address (reviews 7 and 8) ------------------------------------------------

def numbered_feed(title: str, link: str = "https://blog.example/posts/1") -> bytes:
    """A feed whose one item has the guid '1' (a bare number, as many blog engines write)."""
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            f'<title>{title}</title><link>{link}</link><guid isPermaLink="false">1</guid>'
            f'<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>{title}</description>'
            f'</item></channel></rss>').encode()


def poll_feeds(db, *servers_and_paths):
    """One rss source reading these (server, path) feeds."""
    urls = [server.url + path for server, path in servers_and_paths]
    return run(db, make_config({"type": "rss", "options": {"urls": urls}}, {"any": ["acme"]}))


def test_two_sites_item_1_are_two_posts_even_when_both_link_to_one_news_site(db):
    # link blogs: their items link elsewhere, so the feed's own site tells them apart
    with FeedServer({"/a.xml": numbered_feed("acme recall", "https://news.example/a")}) as blog_a, \
            FeedServer({"/b.xml": numbered_feed("acme outage", "https://news.example/b")}) as blog_b:
        result = poll_feeds(db, (blog_a, "/a.xml"), (blog_b, "/b.xml"))
        sites = [server.url.removeprefix("http://") for server in (blog_a, blog_b)]
    assert (result.status, result.new) == ("ok", 2)
    stored = sorted(row[0] for row in db.execute("SELECT external_id FROM mentions"))
    assert stored == sorted(f"feed-guid:{site}/1" for site in sites)


def test_one_sites_two_feeds_carrying_its_item_1_give_one_post(db):
    feed = numbered_feed("acme recall")
    with FeedServer({"/all.xml": feed, "/recalls.xml": feed}) as blog:
        result = poll_feeds(db, (blog, "/all.xml"), (blog, "/recalls.xml"))
    assert (result.new, result.duplicates) == (1, 1)


def test_address_guids_keep_their_guid_and_a_payload_read_alone_its_bare_guid():
    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b'<item><title>a</title><link>https://x.example/a</link><guid>tag:x.example,2024:post-7</guid>'
            b'<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate></item>'
            b'<item><title>b</title><guid isPermaLink="false">8</guid>'
            b'<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate></item></channel></rss>')
    assert [m.external_id for m in RssPoller.parse(feed)] == ["tag:x.example,2024:post-7", "8"]
    from_site = RssPoller.parse(feed, feed_url="https://User@X.Example:8443/feed.xml")
    assert [m.external_id for m in from_site] == ["tag:x.example,2024:post-7", "feed-guid:x.example:8443/8"]


def _stored_before_the_change(db, link: str = "https://blog.example/posts/1") -> None:
    from storage import Mention, save_mentions

    save_mentions(db, [Mention(source="rss", external_id="1", url=link, title="acme recall", text="acme recall",
                               created_at="2024-06-04T10:00:00Z", watches=("news",))])


def test_a_post_stored_under_its_bare_guid_keeps_it_and_is_not_stored_twice(db):
    _stored_before_the_change(db)
    with FeedServer({"/a.xml": numbered_feed("acme recall")}) as blog:
        result = poll_feeds(db, (blog, "/a.xml"))
    assert (result.new, result.duplicates) == (0, 1)
    assert [row[0] for row in db.execute("SELECT external_id FROM mentions")] == ["1"]


def test_another_sites_item_1_is_not_taken_for_a_post_stored_under_its_bare_guid(db):
    _stored_before_the_change(db, link="https://other-blog.example/posts/1")
    with FeedServer({"/a.xml": numbered_feed("acme recall")}) as blog:
        result = poll_feeds(db, (blog, "/a.xml"))
    assert result.new == 1  # its link differs: another post
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 2


def test_a_post_stored_under_its_bare_guid_is_found_over_https_but_not_under_another_title(db):
    from storage import Mention, save_mentions

    save_mentions(db, [Mention(source="rss", external_id="1", url="http://www.blog.example/posts/1/",
                               title="acme recall", text="acme recall", created_at="2024-06-04T10:00:00Z")])
    with FeedServer({"/a.xml": numbered_feed("acme recall")}) as blog:  # https://blog.example/posts/1
        assert poll_feeds(db, (blog, "/a.xml")).new == 0
    # another link blog's item 1, pointing at the same article under its own title: another post
    with FeedServer({"/b.xml": numbered_feed("acme recall, my take", "http://www.blog.example/posts/1/")}) as other:
        assert poll_feeds(db, (other, "/b.xml")).new == 1


def test_one_feed_written_with_and_without_www_is_one_site():
    from crawler.ids import feed_site

    assert feed_site("https://www.Blog.Example/feed") == feed_site("https://blog.example:443/feed") == "blog.example"
    assert feed_site("http://blog.example:8080/feed") == "blog.example:8080"


def test_a_post_erased_under_its_bare_guid_stays_out(db):
    from storage.erasure import Selection, erase

    _stored_before_the_change(db)
    (mention_id,) = db.execute("SELECT id FROM mentions").fetchone()
    erase(db, Selection(mention_ids=(mention_id,)), what="request", actor="dana", remember_posts=True)
    with FeedServer({"/a.xml": numbered_feed("acme recall")}) as blog:
        result = poll_feeds(db, (blog, "/a.xml"))
    assert result.new == 0
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 0


def test_plain_text_fields_keep_their_less_than_signs():
    """A title feedparser finds no markup in and an Atom `type="text"` field are text, not HTML: their
    '<' and '>' once cut out the words between them (and the brand, so the post was filtered)."""
    rss = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
           b'<title>Benchmarks: 1 &lt; 2 for Acme Corp, rivals &gt; 3</title><link>https://x.example/1</link>'
           b'<description>&lt;p&gt;Results &lt;b&gt;inside&lt;/b&gt;&lt;/p&gt;</description>'
           b'<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate></item></channel></rss>')
    atom = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b'<id>urn:f</id><updated>2024-06-04T10:00:00Z</updated><entry><id>urn:e1</id>'
            b'<title type="text">Release notes</title><updated>2024-06-04T10:00:00Z</updated>'
            b'<content type="text">if x &lt; 3 the Acme Corp client retries; if y &gt; 5 it stops</content>'
            b'</entry></feed>')
    (item,) = RssPoller.parse(rss)
    assert (item.title, item.text) == ("Benchmarks: 1 < 2 for Acme Corp, rivals > 3", "Results inside")
    (entry,) = RssPoller.parse(atom)
    assert entry.text == "if x < 3 the Acme Corp client retries; if y > 5 it stops"
