"""Fixes of the session of 2026-12-07 (twenty-sixth): each test fails without its fix."""
from __future__ import annotations

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
