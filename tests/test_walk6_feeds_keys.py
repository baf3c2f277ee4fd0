"""Walkthrough 6: a feed's article stored once whatever guid it comes under; a source's key made
from its base_url as written (`${TOKEN}`), not from the secret filled in."""
from __future__ import annotations

import dataclasses
import re

import feedparser
import pytest

from crawler.cursors import cursor_key, load_source_cursors, older_cursor_keys, save_cursors
from crawler.ids import without_fragment
from crawler.pollers import rss
from crawler.pollers.rss import RssPoller
from crawler.source_types import source_label
from mentionwatch.config import parse_config
from storage import save_mentions
from test_pollers_feeds import FeedServer, make_config, run

BBC = "api/rss/bbc_news_frontpage_2024-08-08.xml"
BBC_ARTICLES = 50  # 54 entries: 3 articles twice under other guids, 1 twice under the same guid


def renumbered(feed: bytes) -> bytes:
    """The feed with every guid's `#N` changed, as the BBC does from one day to the next."""
    return re.sub(rb"(<guid[^>]*>[^<#]*#)(\d+)", lambda m: m.group(1) + str(int(m.group(2)) + 100).encode(), feed)


@pytest.fixture
def bbc(shared_file):
    with FeedServer({"/bbc.xml": shared_file(BBC).read_bytes()}) as server:
        yield server


def bbc_config(server):
    source = {"type": "rss", "base_url": server.url, "options": {"urls": ["/bbc.xml"], "match_query": False}}
    return make_config(source, {"any": ["news"]})


def stored_rss(db) -> list[tuple[str, str]]:
    return db.execute("SELECT external_id, url FROM mentions WHERE source = 'rss'").fetchall()


def test_bbc_feed_stores_each_article_once(bbc, db):
    result = run(db, bbc_config(bbc))
    assert result.status == "ok", result.errors
    assert (result.fetched, result.new, result.duplicates) == (54, BBC_ARTICLES, 54 - BBC_ARTICLES)
    rows = stored_rss(db)
    assert len({url for _, url in rows}) == len(rows) == BBC_ARTICLES
    assert all("#" not in external_id for external_id, _ in rows)


def test_renumbered_guids_store_nothing_new(bbc, db):
    first = run(db, bbc_config(bbc))
    bbc.feeds["/bbc.xml"] = renumbered(bbc.feeds["/bbc.xml"])
    assert b"cg586r7np4go#109</guid>" in bbc.feeds["/bbc.xml"] and b"#9</guid>" not in bbc.feeds["/bbc.xml"]
    second = run(db, bbc_config(bbc))
    assert [status for _, _, status in bbc.log] == [200, 200]  # the feed was read again
    assert (first.new, second.fetched, second.new, second.duplicates) == (BBC_ARTICLES, 54, 0, 54)
    assert len(stored_rss(db)) == BBC_ARTICLES


def test_articles_stored_under_guids_by_older_versions_are_not_stored_again(bbc, db):
    """After an upgrade, what an older version stored under the guid is not stored again."""
    payload = bbc.feeds["/bbc.xml"]
    entries = feedparser.parse(payload)["entries"]
    mentions = RssPoller.parse(payload)
    old = [dataclasses.replace(m, external_id=rss._old_id(e), watches=("news",))
           for m, e in zip(mentions, entries, strict=True)]
    before = save_mentions(db, old).inserted
    assert before == 53  # the old ids: one guid given twice

    result = run(db, bbc_config(bbc))
    assert result.status == "ok", result.errors
    assert (result.fetched, result.new) == (54, 0)
    assert len(stored_rss(db)) == before


def test_an_article_forgotten_under_its_guid_is_not_stored_again_under_its_link(bbc, db):
    """`forget` before an upgrade kept the post out by its old id (the guid): the new id must not
    let it back in."""
    from storage.erasure import Selection, erase

    payload = bbc.feeds["/bbc.xml"]
    entries = feedparser.parse(payload)["entries"]
    mentions = RssPoller.parse(payload)
    old = [dataclasses.replace(m, external_id=rss._old_id(e), watches=("news",))
           for m, e in zip(mentions, entries, strict=True)]
    save_mentions(db, old)
    once = next(m for m in old if [o.url for o in old].count(m.url) == 1)  # not also under another guid
    forgotten_url = once.url
    (mention_id,) = db.execute("SELECT id FROM mentions WHERE external_id = ?", [once.external_id]).fetchone()
    erase(db, Selection(mention_ids=(mention_id,)), what="test", actor=None, remember_posts=True)

    result = run(db, bbc_config(bbc))
    assert result.status == "ok", result.errors
    assert result.new == 0
    assert forgotten_url not in {url for _, url in stored_rss(db)}


FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>https://ex.example/</link>
<item><title>a</title><link>https://ex.example/a#top</link><guid>g-a1</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>a again</title><link>https://ex.example/a#more</link><guid>g-a2</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>p1</title><link>https://ex.example/p?id=1</link><guid>g-p1</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>p2</title><link>https://ex.example/p?id=2</link><guid>g-p2</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>home 1</title><link>https://ex.example/</link><guid>g-h1</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>home 2</title><link>https://ex.example/#x</link><guid>g-h2</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>day 1</title><link>https://ex.example/log</link><guid>g-l1</guid><pubDate>Wed, 07 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>day 2</title><link>https://ex.example/log</link><guid>g-l2</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
<item><title>no link</title><guid>g-n</guid><pubDate>Thu, 08 Aug 2024 10:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_link_is_the_id_only_where_it_names_one_post():
    ids = [m.external_id for m in RssPoller.parse(FEED)]
    assert ids == ["https://ex.example/a", "https://ex.example/a",  # fragment dropped
                   "https://ex.example/p?id=1", "https://ex.example/p?id=2",  # query kept
                   "g-h1", "g-h2",  # the channel's own address: the guid
                   "g-l1", "g-l2",  # one page for posts of two dates: the guid
                   "g-n"]


def test_without_fragment():
    assert without_fragment(" https://x.example/a?b=1#c ") == "https://x.example/a?b=1"
    assert without_fragment("https://x.example/a") == "https://x.example/a"


# --- item 2: the key of a source with a secret in base_url ----------------------------------------

WATCHLIST = """
watches:
  - name: w
    query: {any: [acme]}
    sources:
      - type: reddit
        base_url: http://127.0.0.1:8765/fail/${MYTOK}
        options: {max_pages: 2}
      - type: reddit
        options: {subreddit: acme}
"""
def reddit_source(monkeypatch, token: str | None):
    if token is None:
        monkeypatch.delenv("MYTOK", raising=False)
        config = parse_config(WATCHLIST, keep_unset_env=True)
    else:
        monkeypatch.setenv("MYTOK", token)
        config = parse_config(WATCHLIST)
    watch = config.watches[0]
    return watch, watch.sources[0]


def test_a_new_token_in_base_url_keeps_label_and_cursor_key(monkeypatch):
    seen = set()
    for token in ("supersecrettoken42", "x", None):
        watch, source = reddit_source(monkeypatch, token)
        seen.add((source_label(watch, source), cursor_key(source)))
    assert len(seen) == 1
    label, _ = seen.pop()
    assert "supersecrettoken42" not in label


def test_cursors_kept_under_the_filled_in_key_are_moved(monkeypatch, db):
    _, source = reddit_source(monkeypatch, "supersecrettoken42")
    old_keys = older_cursor_keys(source)
    assert cursor_key(source) not in old_keys and len(old_keys) == len(set(old_keys)) == 3
    save_cursors(db, "w", old_keys[1], {"newest": "t3_abc"})  # the key before this change
    assert load_source_cursors(db, "w", source) == {"newest": "t3_abc"}
    assert db.execute("SELECT count(*) FROM cursors WHERE source = ?", [cursor_key(source)]).fetchone()[0] == 1


def test_older_cursor_keys_without_a_variable(monkeypatch):
    """No `${VAR}` in base_url: only the key of the versions that hashed every option."""
    _, source = reddit_source(monkeypatch, "x")
    plain = parse_config(WATCHLIST).watches[0].sources[1]
    assert older_cursor_keys(plain) == []  # no pacing option either: the same key
    assert cursor_key(source) not in older_cursor_keys(source)
    assert len(older_cursor_keys(source)) == 3
