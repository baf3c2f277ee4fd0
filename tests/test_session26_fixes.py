"""Fixes of the session of 2026-12-07 (twenty-sixth): each test fails without its fix."""
from __future__ import annotations

import contextlib

import pytest

from storage.timeutil import parse_file_timestamp, parse_given_time, parse_timestamp


@pytest.mark.parametrize("written", ["2026-03-05T10:00-1900", "2026-03-05 10:00 +1500", "2026-03-05+15",
                                     "2026-03-05T10:00+23:59", "Thu, 05 Mar 2026 10:00:00 -1900",
                                     "2026-03-05 10:00 GMT+15"])
@pytest.mark.parametrize("parse", [parse_given_time, parse_file_timestamp, parse_timestamp])
def test_an_offset_beyond_fourteen_hours_is_refused_not_read_as_a_moment_a_day_away(parse, written):
    with pytest.raises(ValueError, match=r"at most 14 hours either way, in '"):
        parse(written)


@pytest.mark.parametrize(("written", "stored"), [("2026-03-05T10:00+14:00", "2026-03-04T20:00:00Z"),
                                                 ("2026-03-05T10:00-12:00", "2026-03-05T22:00:00Z"),
                                                 ("Sun, 01 Mar 2015 12:00:00 +1400", "2015-02-28T22:00:00Z")])
def test_the_widest_offsets_in_use_are_still_read(written, stored):
    assert parse_given_time(written) == stored


# feeds (review of what crawl stores) --------------------------------------------------------------

def _rss(items: str) -> bytes:
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f'<channel><title>t</title><language>en</language>{items}</channel></rss>').encode()


def test_a_feed_items_full_content_is_read_not_only_its_short_summary():
    from crawler.pollers.rss import RssPoller

    feed = _rss('<item><title>Vendor round-up</title><link>https://blog.example/p/1</link>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate>'
                '<description>This week we looked at several vendors</description>'
                '<content:encoded><![CDATA[<p>Intro.</p><p>Acme was by far the worst.</p>]]></content:encoded>'
                '</item><item><title>Short</title><link>https://blog.example/p/2</link>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>Acme is fine</description></item>')
    full, summary_only = RssPoller.parse(feed)
    assert "Acme was by far the worst" in full.text
    assert summary_only.text == "Acme is fine"


def test_an_atom_entrys_own_language_counts_over_its_feeds():
    from crawler.pollers.rss import RssPoller

    feed = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">'
            b'<title>t</title><id>urn:f</id><updated>2024-06-04T10:00:00Z</updated>'
            b'<entry xml:lang="fr"><id>urn:e1</id><title>Acme</title><updated>2024-06-04T10:00:00Z</updated>'
            b"<content type=\"text\">Acme c'est nul</content></entry>"
            b'<entry><id>urn:e2</id><title>Acme</title><updated>2024-06-04T10:00:00Z</updated>'
            b'<content type="text">Acme ist schlecht</content></entry></feed>')
    assert [m.lang for m in RssPoller.parse(feed)] == ["fr", "de"]


def test_relative_links_are_on_the_feeds_site_and_two_sites_posts_1_are_two_posts(db):
    from tests.test_pollers_feeds import FeedServer, poll_feeds

    item = _rss('<item><title>Acme pricing</title><link>/posts/1</link>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>acme</description></item>')
    with FeedServer({"/d.xml": item}) as site_a, FeedServer({"/e.xml": item}) as site_b:
        result = poll_feeds(db, (site_a, "/d.xml"), (site_b, "/e.xml"))
        wanted = sorted(f"{server.url}/posts/1" for server in (site_a, site_b))
    assert (result.new, result.duplicates) == (2, 0)
    assert sorted(row[0] for row in db.execute("SELECT url FROM mentions")) == wanted
    assert sorted(row[0] for row in db.execute("SELECT external_id FROM mentions")) == wanted


def test_a_story_in_two_places_of_a_feed_is_one_post_but_a_live_blogs_entries_are_several():
    from crawler.pollers.rss import RssPoller

    def item(guid, link):
        return (f'<item><title>Acme {guid}</title><link>{link}</link><guid>{guid}</guid>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>acme</description></item>')

    story = "https://news.example/articles/a1"
    live = "https://news.example/live/l1"
    parsed = RssPoller.parse(_rss(item(f"{story}#0", story) + item(f"{story}#10", story)
                                  + item(f"{live}#post-1", f"{live}#post-1") + item(f"{live}#post-2", f"{live}#post-2")))
    assert [m.external_id for m in parsed] == [story, story, f"{live}#post-1", f"{live}#post-2"]
    assert [m.earlier_id for m in parsed] == [f"{story}#0", f"{story}#10", None, None]


def test_a_story_stored_under_its_slot_marked_guid_before_keeps_it(db):
    from tests.test_pollers_feeds import FeedServer, poll_feeds
    from storage import Mention, save_mentions

    story = "https://news.example/articles/a1"
    save_mentions(db, [Mention(source="rss", external_id=f"{story}#0", url=story, title="Acme recall",
                               text="acme recall", created_at="2024-06-04T10:00:00Z", watches=("news",))])
    feed = _rss(f'<item><title>Acme recall</title><link>{story}</link><guid>{story}#0</guid>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>acme recall</description></item>')
    with FeedServer({"/f.xml": feed}) as news:
        result = poll_feeds(db, (news, "/f.xml"))
    assert (result.new, result.duplicates) == (0, 1)
    assert [row[0] for row in db.execute("SELECT external_id FROM mentions")] == [f"{story}#0"]



def test_a_bluesky_post_in_two_languages_is_kept_under_the_one_the_watch_asks_for(shared_file, db):
    import json

    from tests.test_pollers_others import (BASE_URL, Replay, bluesky_search_response, file_response,
                                           make_config, run)

    payload = bluesky_search_response(shared_file, "The python sdk release is great")
    payload["posts"][0]["record"]["langs"] = ["ja", "en"]
    replay = Replay([file_response("/xrpc/app.bsky.feed.searchPosts", json.dumps(payload).encode(),
                                   "application/json")])
    config = make_config({"type": "bluesky", "base_url": BASE_URL}, {"any": ["python"], "languages": ["en"]})
    result = run(db, config, replay.transport())
    assert (result.new, result.filtered) == (1, 0)
    assert db.execute("SELECT lang FROM mentions").fetchone()[0] == "en"


# secrets (review of every path a secret could take) ------------------------------------------------

def test_a_percent_encoded_secret_in_a_feed_path_stays_hidden_in_errors_and_the_database(cli, tmp_path, monkeypatch):
    import json

    from mentionwatch.local_servers import LocalServer

    class HtmlEverywhere(LocalServer):
        def handle_get(self, request):
            self.reply(request, 200, b"<html><body>not a feed</body></html>", "text/html")

    secret_written, secret_decoded = "Tok%2B9abc%3Dxyz77", "Tok+9abc=xyz77"
    monkeypatch.setenv("FEEDPATH", secret_written)
    with HtmlEverywhere() as site:
        config = {"database": "mw.db", "watches": [{"name": "acme", "query": {"any": ["acme"]}, "sources": [
            {"type": "rss", "options": {"urls": [site.url + "/priv/${FEEDPATH}/rss"]}}]}]}
        (tmp_path / "w.yaml").write_text(json.dumps(config), encoding="utf-8")
        result = cli("--config", tmp_path / "w.yaml", "crawl")
    assert "not a feed" in result.stderr and "[redacted]" in result.stderr
    stored = (tmp_path / "mw.db").read_bytes()
    for secret in (secret_written, secret_decoded):
        assert secret not in result.stderr and secret not in result.stdout
        assert secret.encode() not in stored


def test_a_secret_url_ending_in_a_windows_line_ending_is_read_without_it_and_never_printed(cli, tmp_path, monkeypatch):
    from mentionwatch.config import load_config

    monkeypatch.setenv("MASTODON_URL", "https://mastodon.example/Tok9Secret123\r\n")
    (tmp_path / "w.yaml").write_text(
        "database: mw.db\nwatches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
        "      - type: mastodon\n        base_url: ${MASTODON_URL}\n        options: {bad_option: 1}\n",
        encoding="utf-8")
    result = cli("--config", tmp_path / "w.yaml", "crawl")
    assert result.exit_code == 2 and "bad_option" in result.stderr
    assert "Tok9Secret123" not in result.stderr
    (tmp_path / "w.yaml").write_text(
        "database: mw.db\nwatches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
        "      - type: mastodon\n        base_url: ${MASTODON_URL}\n", encoding="utf-8")
    assert load_config(tmp_path / "w.yaml").watches[0].sources[0].base_url == "https://mastodon.example/Tok9Secret123"


def test_an_invalid_value_from_a_variable_is_named_by_the_variable_even_when_it_ends_in_a_line_break(monkeypatch):
    from mentionwatch.config import ConfigError, parse_config

    monkeypatch.setenv("FEED", "ftp://feeds.example/rss?key=FeedKey77abc\r")
    with pytest.raises(ConfigError) as refused:
        parse_config('watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n'
                     '      - type: rss\n        options: {urls: ["${FEED}"]}\n', "w.yaml")
    assert "${FEED}" in str(refused.value) and "FeedKey77abc" not in str(refused.value)


@pytest.mark.parametrize("pasted", ["ghp_R3alTokenValue1234567890abcd", "Zk3-9aQ_realMastodonTokenValue"])
def test_a_token_pasted_into_token_env_is_refused_without_printing_it(pasted):
    from mentionwatch.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as refused:
        parse_config('watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n'
                     f'      - type: github\n        options: {{token_env: "{pasted}"}}\n', "w.yaml")
    assert "not the token itself" in str(refused.value) and pasted not in str(refused.value)
    parse_config('watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n'
                 '      - type: github\n        options: {token_env: MY_GHE_TOKEN}\n', "w.yaml")


def test_a_review_pages_inline_markup_adds_no_space_before_an_apostrophes_ending_or_a_comma():
    from parsel import Selector

    from crawler.matching import matches_query
    from crawler.spiders.extract import joined_text
    from mentionwatch.config import Query

    page = Selector(text="<div><p class=body>I love <b>Acme</b>'s service</p>"
                         "<p class=body>Visit <a>acme.com</a>, now!<br>Next line</p>"
                         "<p class=body>'Great' said Bo</p><p class=body>.NET too</p></div>")
    text = joined_text(page, "p.body ::text")
    assert text == "I love Acme's service Visit acme.com, now! Next line 'Great' said Bo .NET too"
    assert matches_query(Query(phrases=["Acme's service"]), text)


# commands run at once (review of concurrent use) ------------------------------------------------

def test_an_import_counts_only_the_links_it_made_not_the_services_meanwhile(cli, tmp_path, monkeypatch):
    import mentionwatch.commands.core as core
    from storage import Mention, save_mentions
    from storage.db import open_db

    path = tmp_path / "posts.csv"
    path.write_text("id,text,created_at\n1,hello,2024-01-01\n2,again,2024-01-02\n", encoding="utf-8")
    assert cli("import", path).exit_code == 0
    real_read = core.read_mentions

    def read_while_the_service_collects(*args, **kwargs):
        service = open_db(tmp_path / "mentionwatch.db")  # the service stores and links 6 posts meanwhile
        save_mentions(service, [Mention(source="hackernews", external_id=str(n), text="acme news",
                                        created_at="2024-01-05T00:00:00Z", watches=("acme",)) for n in range(6)])
        service.close()
        yield from real_read(*args, **kwargs)

    monkeypatch.setattr(core, "read_mentions", read_while_the_service_collects)
    path.write_text("id,text,created_at\n1,hello,2024-01-01\n2,again,2024-01-02\n3,new,2024-01-03\n", encoding="utf-8")
    linked = cli("import", path, "--watch", "acme")
    assert linked.stdout.strip() == (f"{path}: 1 inserted, 2 already present, 0 rejected; "
                                     "2 already-stored mentions added to watch acme")


def test_rematch_says_to_run_again_after_a_crawl_that_started_before_the_query_was_edited(cli, tmp_path):
    import datetime as dt
    import os

    from storage.db import open_db
    from storage.timeutil import to_iso
    from tests.test_rematch import _three_acme_posts, _watchlist

    _three_acme_posts(tmp_path)
    db = open_db(tmp_path / "mentionwatch.db")
    a_minute_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with db.atomic():
        db.execute("INSERT INTO crawl_runs (watch, source, started_at, status) VALUES ('acme', 'reddit', ?, 'running')",
                   [to_iso(a_minute_ago)])
    db.close()
    _watchlist(tmp_path, acme_extra=", exclude: [anvil]")  # edited now, while that crawl runs
    preview = cli("rematch", "--watch", "acme")
    assert preview.exit_code == 0 and "run rematch again once it is over" in preview.stdout
    two_minutes_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2)).timestamp()
    os.utime(tmp_path / "mentionwatch.yaml", (two_minutes_ago, two_minutes_ago))  # edited before it started
    applied = cli("rematch", "--watch", "acme", "--yes")
    assert applied.exit_code == 0 and "unlinked 1" in applied.stdout and "Note:" not in applied.stdout


def _database_with(path, *external_ids):
    from storage import Mention, save_mentions
    from storage.db import open_db

    db = open_db(path)
    save_mentions(db, [Mention(source="csv", external_id=i, text="acme", created_at="2026-01-01T00:00:00Z")
                       for i in external_ids])
    db.close()


def _stored_ids(path):
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in connection.execute("SELECT external_id FROM mentions"))
    finally:
        connection.close()


def test_a_restore_refuses_to_replace_a_database_written_while_it_copied(tmp_path, monkeypatch):
    import storage.backup as backup_module
    from storage.backup import BackupError, backup_database, restore_database

    live = tmp_path / "live.db"
    _database_with(live, "a")
    backup_database(live, tmp_path / "b.db")
    real_copy = backup_module._copy_through_sqlite

    def copy_while_an_import_writes(backup, partial):
        real_copy(backup, partial)
        _database_with(live, "imported-meanwhile")  # another analyst's import, done meanwhile

    monkeypatch.setattr(backup_module, "_copy_through_sqlite", copy_while_an_import_writes)
    with pytest.raises(BackupError, match="another command wrote to it while the copy was made"):
        restore_database(tmp_path / "b.db", live, now="2026-12-07T130000Z")
    assert _stored_ids(live) == ["a", "imported-meanwhile"]
    assert not list(tmp_path.glob("*before-restore*")) and not list(tmp_path.glob(".live.db.restoring*"))
    monkeypatch.setattr(backup_module, "_copy_through_sqlite", real_copy)
    restore_database(tmp_path / "b.db", live, now="2026-12-07T130000Z")  # nothing writes: restored
    assert _stored_ids(live) == ["a"]


def test_two_backups_to_one_new_name_at_once_do_not_replace_each_other(tmp_path, monkeypatch):
    import storage.backup as backup_module
    from storage.backup import BackupError, backup_database

    live = tmp_path / "live.db"
    _database_with(live, "a")
    target = tmp_path / "same.db"
    real_vacuum = backup_module._vacuum_into

    def vacuum_while_another_backup_finishes(source, partial):
        real_vacuum(source, partial)
        target.write_bytes(b"the other backup")

    monkeypatch.setattr(backup_module, "_vacuum_into", vacuum_while_another_backup_finishes)
    with pytest.raises(BackupError, match="another backup wrote it meanwhile"):
        backup_database(live, target)
    assert target.read_bytes() == b"the other backup"
    assert not list(tmp_path.glob(".same.db.partial*"))
    backup_database(live, target, replace=True)  # --force still replaces it
    assert _stored_ids(target) == ["a"]


def test_a_post_passed_over_as_no_mention_is_counted_so_the_crawl_columns_add_up(shared_file, db):
    import copy
    import json

    from tests.test_pollers_others import (BASE_URL, Replay, bluesky_search_response, file_response,
                                           make_config, run)

    payload = bluesky_search_response(shared_file, "The python sdk release is great")
    quote_only = copy.deepcopy(payload["posts"][0])  # the recording: a quote with no words of its own
    quote_only["record"]["text"] = ""
    quote_only["uri"] = quote_only["uri"].replace("3kaheyt6vpc22", "3kaheyt6vpc23")
    payload["posts"].append(quote_only)
    replay = Replay([file_response("/xrpc/app.bsky.feed.searchPosts", json.dumps(payload).encode(),
                                   "application/json")])
    result = run(db, make_config({"type": "bluesky", "base_url": BASE_URL}, {"any": ["python"]}),
                 replay.transport())
    assert (result.fetched, result.new, result.filtered) == (2, 1, 1)
    assert result.fetched == result.new + result.duplicates + result.filtered + result.rejected


@pytest.mark.parametrize(("feed_url", "language", "stored"), [
    ("https://timesofindia.example.in/rss.xml", "en", "2024-08-08T10:09:03Z"),  # India: +05:30
    ("https://news.example.com/rss.xml", "en", "2024-08-08T10:09:03Z"),
    ("https://www.rte.ie/news/rss.xml", "en", "2024-08-08T14:39:03Z"),  # Irish summer time: +01:00
    ("https://www.ynet.co.il/rss.xml", "he", "2024-08-08T13:39:03Z")])  # Israel: +02:00
def test_a_feed_date_in_ist_is_read_in_its_place_not_as_utc(feed_url, language, stored):
    from crawler.pollers.rss import RssPoller
    from storage.timeutil import parse_timestamp

    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><language>{language}</language>'
            '<item><title>Acme</title><link>https://x.example/a</link>'
            '<pubDate>Thu, 08 Aug 2024 15:39:03 IST</pubDate><description>acme</description></item>'
            '</channel></rss>').encode()
    (mention,) = RssPoller.parse(feed, feed_url=feed_url)
    assert parse_timestamp(mention.created_at) == stored


def test_a_crawl_stopped_with_ctrl_c_closes_its_run_instead_of_leaving_it_running(db, monkeypatch):
    import crawler.collect as collect
    from tests.test_pollers_others import make_config, run

    def pressed_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(collect, "_poll_searches", pressed_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run(db, make_config({"type": "hackernews"}, {"any": ["acme"]}))
    (status, errors, finished_at), = db.execute("SELECT status, errors, finished_at FROM crawl_runs").fetchall()
    assert status == "failed" and "interrupted (Ctrl-C)" in errors and finished_at


@pytest.mark.parametrize("secret", ["Zk39aQrealMastodonTokenValue\r", "Tok9Secret123\r\n", "Pässw=rt1234",
                                    "ab{cd}/ef1234"])
def test_a_secret_is_hidden_as_used_and_as_an_address_path_encodes_it(secret):
    import urllib.parse

    from mentionwatch.logging_setup import redact, remember_secrets

    remember_secrets([secret])
    used = secret.strip()
    line = (f"HTTP 401: the access token {used} is invalid; GET host/priv/{used}/rss; "
            f"GET host/priv/{urllib.parse.quote(used, safe='/:@!$&()*+,;=%~')}/rss")
    assert used not in redact(line) and "%" not in redact(line).replace("[redacted]", "")


def test_a_feed_items_content_that_is_only_an_image_leaves_its_description_as_the_text():
    from crawler.pollers.rss import RssPoller

    feed = _rss('<item><title>News</title><link>https://blog.example/p/3</link>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>Acme store opening in Leeds</description>'
                '<content:encoded><![CDATA[<figure><img src="/a.png"></figure>]]></content:encoded></item>')
    (item,) = RssPoller.parse(feed)
    assert item.text == "Acme store opening in Leeds"


@contextlib.contextmanager
def _feed_that_moved(feed: bytes):
    """(old site, new site): the old one answers /feed.xml with a 301 to the new one, which serves `feed`."""
    from mentionwatch.local_servers import LocalServer
    from tests.test_pollers_feeds import FeedServer

    with FeedServer({"/feed.xml": feed}) as new_site:
        class Moved(LocalServer):
            def handle_get(self, request):
                self.reply(request, 301, b"", "text/plain", {"Location": f"{new_site.url}/feed.xml"})

        with Moved() as old_site:
            yield old_site, new_site


def test_relative_links_of_a_feed_that_moved_are_on_the_site_it_moved_to(db):
    from tests.test_pollers_feeds import poll_feeds

    item = _rss('<item><title>Acme pricing</title><link>/posts/1</link>'
                '<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate><description>acme</description></item>')
    with _feed_that_moved(item) as (old_site, new_site):
        assert poll_feeds(db, (old_site, "/feed.xml")).new == 1
        assert db.execute("SELECT url FROM mentions").fetchone()[0] == f"{new_site.url}/posts/1"


def test_a_long_mix_of_capitals_small_letters_and_digits_is_taken_for_a_pasted_token():
    from mentionwatch.config import ConfigError, parse_config

    pasted = "Zk39aQrealMastodonTokenValue4Gh7XyZ1abcdefgHIJ"
    with pytest.raises(ConfigError) as refused:
        parse_config('watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n'
                     f'      - type: mastodon\n        options: {{token_env: {pasted}}}\n', "w.yaml")
    assert pasted not in str(refused.value)


def test_a_backup_to_a_link_to_nowhere_says_so(tmp_path):
    from storage.backup import BackupError, backup_database

    live = tmp_path / "live.db"
    _database_with(live, "a")
    (tmp_path / "dangling.db").symlink_to(tmp_path / "missing" / "x.db")
    with pytest.raises(BackupError, match="is a link to a file that does not exist"):
        backup_database(live, tmp_path / "dangling.db")


# Chinese and Japanese (review of a Shanghai or Tokyo team's use) -----------------------------------

@pytest.mark.parametrize(("text", "chinese"), [
    ("Tesla Model Y 太垃圾了", True), ("Nike Air Max 质量差", True), ("Huawei Mate 60 Pro 太卡", True),
    ("MacBook Pro M3 屏幕太烂", True), ("iPhone 15 真的很差", True),
    ("Visit 上海 today", False), ("I went to 北京 and the duck at 全聚德 was amazing", False), ("hello 你", False),
    ("Apple Opens Its First Store In 上海", False), ("BREAKING: TESLA RECALLS 1 MILLION CARS IN 中国", True),  # one glue word: left alone
    ("I am in 北京", False), ("Is It Worth It? 上海 Disney Review", False), ("I love 北京", False),
    ("我们 IT 部门说 Microsoft Teams 和 Outlook 又崩了", True), ("Huawei MateBook X Pro 太卡了 so 失望", True),
    ("WE 战队 vs Invictus Gaming 太菜了", True), ("Starbucks Reserve Roastery 的咖啡 so so", True)])
def test_a_latin_brand_name_does_not_make_a_chinese_post_english(text, chinese):
    from sentiment.textprep import clean, is_chinese

    assert is_chinese(clean(text)) is chinese


def test_a_short_chinese_complaint_naming_a_latin_brand_is_scored_negative(onnx_cache):
    from mentionwatch.config import SentimentConfig
    from sentiment.scorer import load_scorer

    scorer = load_scorer(SentimentConfig())
    scores = scorer.score_texts(["Tesla Model Y 太垃圾了", "MacBook Pro M3 屏幕太烂"])
    assert [score.label for score in scores] == ["negative", "negative"]


def test_a_notification_cuts_a_chinese_post_in_its_text_not_after_the_brand():
    from alerts.notify import _shortened

    review = ("入住丽晶，感觉很好。因为是新酒店，的确有淡淡的油漆味，房间内较新。房间大小合适，卫生间设备齐全，"
              "服务态度也很好。网速可能是提升了吧，感觉还好。") * 4
    cut = _shortened("Home Inn " + review, 200)
    assert len(cut) > 150 and cut.startswith("Home Inn 入住丽晶") and cut.endswith("…")
    english = "The service at the hotel was " + "really " * 40 + "bad"
    assert _shortened(english, 200).endswith("really…")  # English is still cut at a space


def test_a_google_play_source_of_a_japanese_watch_asks_for_japanese_reviews(db, monkeypatch):
    import datetime as dt

    from crawler.pollers.googleplay import GooglePlayPoller
    from tests.test_pollers_others import make_config, run

    calls = []

    def fake_reviews(app_id, **kwargs):  # the network edge: google-play-scraper's own request
        calls.append(kwargs)
        return [{"reviewId": "r1", "userName": "Ann", "content": "メルカリ 最悪。商品が届かない",
                 "score": 1, "at": dt.datetime(2024, 5, 1, 12, 0)}], None

    monkeypatch.setattr(GooglePlayPoller, "fetch_reviews", staticmethod(fake_reviews))
    source = {"type": "googleplay", "options": {"app_id": "com.kouzoh.mercari", "country": "jp"}}
    result = run(db, make_config(source, {"any": ["メルカリ"], "languages": ["ja"]}))
    assert (result.new, result.filtered) == (1, 0) and calls[0]["lang"] == "ja"
    assert db.execute("SELECT lang FROM mentions").fetchone()[0] == "ja"


@pytest.mark.parametrize(("written", "stored"), [
    ("2015/2/17(火) 14:05", "2015-02-17T14:05:00Z"), ("2015/02/17 (火) 14:05", "2015-02-17T14:05:00Z"),
    ("2015年2月17日 午後2時05分", "2015-02-17T14:05:00Z"), ("2015/2/17 2:05 午後", "2015-02-17T14:05:00Z"),
    ("2015年2月17日 下午2:05", "2015-02-17T14:05:00Z"), ("2015年2月17日 上午12:30", "2015-02-17T00:30:00Z"),
    ("2026年11月21日 10点05分", "2026-11-21T10:05:00Z"), ("2026-11-21 10：00", "2026-11-21T10:00:00Z"),
    ("2015/2/17 午前0:30:00", "2015-02-17T00:30:00Z"), ("2015/2/17 午後0:30:00", "2015-02-17T12:30:00Z"),
    ("2015/2/17 上午0:30", "2015-02-17T00:30:00Z"), ("2015/2/17 下午3点", "2015-02-17T15:00:00Z"),
    ("2015年2月17日 午後2時", "2015-02-17T14:00:00Z"), ("2015/2/17 午前12:30", "2015-02-17T00:30:00Z")])
def test_chinese_and_japanese_ways_of_writing_a_time_are_read(written, stored):
    assert parse_file_timestamp(written) == stored


def test_a_chinese_afternoon_with_a_24_hour_clock_is_refused():
    with pytest.raises(ValueError, match="hour 13 with 午後"):
        parse_file_timestamp("2015/2/17 13:05 午後")


def test_a_row_shift_jis_cannot_read_suggests_cp932_which_japanese_excel_writes(cli, tmp_path):
    path = tmp_path / "sj.csv"
    path.write_bytes('id,text,created_at\n1,"株式会社 ① good",2024-01-01\n'.encode("cp932"))
    refused = cli("import", path, "--encoding", "shift_jis")
    assert "not shift_jis text (try --encoding cp932" in refused.stderr
    assert "1 inserted" in cli("import", path, "--encoding", "cp932").stdout


def test_japanese_terms_standing_out_are_katakana_words_and_kanji_pairs_not_fragments():
    from alerts.explain import words

    terms = words("パスワードが多いのにコメントできない。システム障害で見られない")
    assert {"パスワード", "コメント", "システム", "障害", "多い"} <= terms
    assert not terms & {"が多", "のに", "コメ", "メン", "けな", "ワー", "害で"}
    for particle_after_kanji in ("最悪だよ", "遅ーい", "障害の", "運営は"):
        assert not {term for term in words(particle_after_kanji) if len(term) == 2 and term[-1] in "だーのは"}
    # since session 27 a dictionary splits Japanese: a verb with its negation, words in dictionary form
    assert words("繋がらない 分からない 確かに") == {"繋がらない", "分からない", "確か"}
    assert words("つながらない すごーい が") == {"つながらない", "すごい"}
    assert words("这个酒店很差 好！") == {"这个", "个酒", "酒店", "店很", "很差", "好"}  # Chinese as before


def test_a_japanese_outage_alert_has_terms_standing_out():
    from alerts.explain import over_represented_terms

    alert = ["インスタ落ちてる？", "インスタ全然繋がらない", "また落ちてる", "繋がらないんだけど", "インスタ重い"]
    baseline = ["今日のランチ美味しかった", "新しいカメラを買った", "週末は海に行く"] * 3
    terms = {term["term"] for term in over_represented_terms(alert, baseline)}
    assert {"インスタ", "落ちる", "繋がらない"} <= terms


@pytest.mark.parametrize(("written", "reach"), [("1.2万", 12_000), ("1.2w", 12_000), ("3亿", 300_000_000),
                                               ("5億", 500_000_000), ("12，300", 12_300), ("1.2K", 1_200),
                                               ("1,200万", 12_000_000), ("1,5M", 1_500_000), ("1,5万", 15_000),
                                               ("2,5亿", 250_000_000)])
def test_follower_counts_as_chinese_and_japanese_posts_write_them(written, reach):
    from mentionwatch.importer import _count_text

    assert _count_text(written) == reach


def test_a_feed_that_moved_keeps_its_posts_ids_and_reads_relative_links_where_it_moved(db):
    from tests.test_pollers_feeds import numbered_feed, poll_feeds

    feed = numbered_feed("acme recall", "/posts/1")  # guid '1', no address: kept under the feed's site
    with _feed_that_moved(feed) as (old_site, new_site):
        assert poll_feeds(db, (old_site, "/feed.xml")).new == 1
        old_host = old_site.url.removeprefix("http://")
        (external_id, url), = db.execute("SELECT external_id, url FROM mentions").fetchall()
    assert external_id == f"feed-guid:{old_host}/1" and url == f"{new_site.url}/posts/1"


def test_a_korean_or_spaced_japanese_post_is_still_cut_at_a_space():
    from mentionwatch.terminal import cut_at_word

    korean = "배터리가 하루도 못 가요 " * 10 + "정말 최악이에요"
    assert cut_at_word(korean, 63).endswith("가요 배터리가")  # not '… 배터리가 하루', mid-word
    long_chinese = "我的手机" * 18 + " iPhone 15 Pro " + "屏幕坏了，" * 40
    assert cut_at_word(long_chinese, 200).endswith("，")  # its punctuation, not the early space
    spaced_japanese = "このアプリ 本当に ひどい です " * 8
    assert cut_at_word(spaced_japanese, 60)[-1] != " " and len(cut_at_word(spaced_japanese, 60)) <= 60
    assert cut_at_word(spaced_japanese, 60).rsplit(" ", 1)[-1] in {"このアプリ", "本当に", "ひどい", "です"}


@pytest.mark.parametrize(("name", "allowed"), [
    ("MENTIONWATCH_MASTODON_TOKEN_fosstodon2", True), ("Mastodon_Token_Instance2_Acme", True), ("MyToken2", True),
    ("Zk39aQrealMastodonTokenValue4Gh7XyZ1abcdefgHIJ", False), ("ghp_R3alTokenValue1234567890abcd", False),
    ("Zk39aQrealMastodon_TokenValue4Gh7XyZ1abcdefgHIJ", False), ("mentionWatchMastodonToken", True),
    ("GitHubEnterpriseTokenForAcme", True), ("AWS_SECRET_ACCESS_KEY", True)])
def test_token_env_takes_variable_names_of_any_case_and_refuses_what_looks_like_a_token(name, allowed):
    import re

    from crawler.source_types import API_OPTIONS

    assert bool(re.fullmatch(API_OPTIONS["mastodon"]["token_env"].pattern, name)) is allowed


def test_an_euc_jp_file_gets_no_cp932_advice():
    from mentionwatch.importer import _WIDER_ENCODING

    assert "euc_jp" not in _WIDER_ENCODING and _WIDER_ENCODING["shift_jis"] == "cp932"
