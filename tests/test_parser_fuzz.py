"""Property tests: no payload, however malformed, makes a parser raise.

Each parser gets arbitrary JSON-like values (or bytes, for the XML/HTML parsers) and mutations of a
well-formed item of its source (keys dropped, values swapped for random ones). Every call must return
a list of valid, already normalized mentions; bad items are skipped and logged.
"""
from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.pollers.appstore import AppStorePoller
from crawler.pollers.bluesky import BlueskyPoller
from crawler.pollers.github import GitHubPoller
from crawler.pollers.googleplay import GooglePlayPoller
from crawler.pollers.hackernews import HackerNewsPoller
from crawler.pollers.mastodon import MastodonPoller
from crawler.pollers.reddit import RedditPoller
from crawler.pollers.rss import RssPoller
from crawler.pollers.stackexchange import StackExchangePoller
from storage import Mention

EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=8)


def mutated(template):
    """Variants of a well-formed value: each key kept, dropped, or replaced, recursively."""
    if isinstance(template, dict):
        return st.fixed_dictionaries({}, optional={k: mutated(v) | json_values for k, v in template.items()})
    if isinstance(template, list):
        return st.lists(mutated(template[0]) | json_values, max_size=3) if template else st.just([])
    return st.just(template) | scalars


REDDIT_POST = {"kind": "t3", "data": {"name": "t3_abc", "id": "abc", "title": "Acme outage",
                                      "selftext": "down", "author": "u1", "created_utc": 1482373050.0,
                                      "permalink": "/r/x/comments/abc/", "lang": "en"}}
REDDIT_COMMENT = {"kind": "t1", "data": {"name": "t1_def", "body": "acme!", "link_title": "t",
                                         "author": "[deleted]", "created_utc": "1482373050"}}
HN_HIT = {"objectID": "15353312", "created_at_i": 1506555204, "created_at": "2017-09-27T23:33:24.000Z",
          "title": None, "comment_text": "<p>text &amp; more", "story_title": "Story", "author": "a",
          "_tags": ["comment", "author_a"]}
MASTODON_STATUS = {"id": "1163", "uri": "https://m.x/users/a/statuses/1", "url": "https://m.x/@a/1",
                   "created_at": "2026-04-11T21:16:53.000Z", "content": "<p>hi <b>acme</b></p>",
                   "spoiler_text": "", "language": "en",
                   "account": {"acct": "a@m.x", "followers_count": 455}, "reblog": None}
BLUESKY_POST = {"uri": "at://did:plc:x/app.bsky.feed.post/3kah", "indexedAt": "2023-09-28T12:49:37Z",
                "author": {"did": "did:plc:x", "handle": "a.bsky.social"},
                "record": {"text": "acme", "createdAt": "2023-09-28T12:49:36.735Z", "langs": ["en"]},
                "embed": {"media": {"images": [{"alt": "pic"}]}}}
APPSTORE_ENTRY = {"id": {"label": "7175647643"}, "title": {"label": "Bad"},
                  "content": {"label": "App crashes", "attributes": {"type": "text"}},
                  "im:rating": {"label": "2"}, "author": {"name": {"label": "WB"}},
                  "updated": {"label": "2021-04-12T12:43:52-07:00"},
                  "link": {"attributes": {"href": "https://itunes.apple.com/us/review?id=1"}}}
PLAY_REVIEW = {"reviewId": "gp:1", "userName": "Ann", "content": "Crashes", "score": 1,
               "at": "2024-05-01T12:00:00Z", "appId": "com.acme", "lang": "en"}
SE_QUESTION = {"question_id": 11, "title": "Acme &amp; x", "body": "<p>b</p>", "creation_date": 1700000100,
               "link": "https://stackoverflow.com/questions/11/x",
               "owner": {"display_name": "dev", "reputation": 120}}
GITHUB_ISSUE = {"id": 501, "title": "Acme crash", "body": "trace", "created_at": "2024-03-01T10:00:00Z",
                "html_url": "https://github.com/a/b/issues/7", "user": {"login": "octo"}}

JSON_CASES = {
    "reddit": (RedditPoller.parse, lambda items: {"kind": "Listing", "data": {"children": items}},
               [REDDIT_POST, REDDIT_COMMENT]),
    "hackernews": (HackerNewsPoller.parse, lambda items: {"hits": items}, [HN_HIT]),
    "mastodon": (MastodonPoller.parse, lambda items: items, [MASTODON_STATUS]),
    "mastodon-search": (MastodonPoller.parse, lambda items: {"statuses": items}, [MASTODON_STATUS]),
    "bluesky": (BlueskyPoller.parse, lambda items: {"posts": items, "cursor": "x"}, [BLUESKY_POST]),
    "appstore": (AppStorePoller.parse, lambda items: {"feed": {"entry": items, "updated": {"label": "2021-04-12"}}},
                 [APPSTORE_ENTRY]),
    "googleplay": (GooglePlayPoller.parse, lambda items: items, [PLAY_REVIEW]),
    "stackexchange": (StackExchangePoller.parse, lambda items: {"items": items}, [SE_QUESTION]),
    "github": (GitHubPoller.parse, lambda items: {"items": items}, [GITHUB_ISSUE]),
}


def check(parse, payload) -> list[Mention]:
    problems: list[str] = []
    mentions = parse(payload, problems)
    assert isinstance(mentions, list)
    for mention in mentions:
        assert isinstance(mention, Mention) and mention.checked
        mention.stored_row()  # every returned mention is storable as it is
    assert all(isinstance(problem, str) for problem in problems)
    return mentions


@pytest.fixture(autouse=True)
def quiet_logs(caplog):
    caplog.set_level(logging.CRITICAL)  # thousands of "skipped malformed item" warnings otherwise


@pytest.mark.parametrize("name", sorted(JSON_CASES))
def test_well_formed_templates_parse(name):
    parse, wrap, templates = JSON_CASES[name]
    assert len(check(parse, wrap(templates))) == len(templates)


@pytest.mark.parametrize("name", sorted(JSON_CASES))
@FUZZ
@given(data=st.data())
def test_mutated_items_never_raise(name, data):
    parse, wrap, templates = JSON_CASES[name]
    items = data.draw(st.lists(st.one_of(*(mutated(t) for t in templates)) | json_values, max_size=3))
    check(parse, wrap(items))


@pytest.mark.parametrize("name", sorted(JSON_CASES))
@settings(FUZZ, max_examples=EXAMPLES // 3)  # shapeless values fail fast; mutations go deeper
@given(payload=json_values)
def test_arbitrary_payloads_never_raise(name, payload):
    check(JSON_CASES[name][0], payload)


RSS_SAMPLE = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><language>en</language>'
              b'<item><title>Acme down</title><link>https://x/1</link><guid>https://x/1</guid>'
              b'<pubDate>Thu, 08 Aug 2024 15:39:03 GMT</pubDate><description>&lt;p&gt;body&lt;/p&gt;'
              b'</description></item></channel></rss>')
APPSTORE_XML = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns:im="http://itunes.apple.com/rss" '
                b'xmlns="http://www.w3.org/2005/Atom"><entry><updated>2020-08-12T04:06:20-07:00</updated>'
                b'<id>6310006838</id><title>t</title><content type="text">c</content>'
                b'<im:rating>5</im:rating><author><name>n</name></author></entry></feed>')
PLAY_HTML = ('<html lang="ja"><div class="single-review"><div class="review-header" data-reviewid="gp:1">'
             '<span class="author-name"><a>A</a></span><span class="review-date">2016年5月8日</span>'
             '<div class="current-rating" style="width: 20%;"></div></div><div class="review-body">'
             '<span class="review-title">T</span> text</div></div></html>').encode()

MARKUP_CASES = {"rss": (RssPoller.parse, RSS_SAMPLE), "appstore-xml": (AppStorePoller.parse, APPSTORE_XML),
                "googleplay-html": (GooglePlayPoller.parse, PLAY_HTML)}


def corrupted(sample: bytes):
    """The sample cut short, with bytes spliced in, or replaced by random bytes."""
    cut = st.integers(0, len(sample)).map(lambda n: sample[:n])
    spliced = st.tuples(st.integers(0, len(sample)), st.binary(max_size=40)).map(
        lambda t: sample[:t[0]] + t[1] + sample[t[0]:])
    return cut | spliced | st.binary(max_size=300) | st.text(max_size=100)


@pytest.mark.parametrize("name", sorted(MARKUP_CASES))
def test_markup_samples_parse(name):
    parse, sample = MARKUP_CASES[name]
    assert len(check(parse, sample)) == 1


@pytest.mark.parametrize("name", sorted(MARKUP_CASES))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupted_markup_never_raises(name, data):
    parse, sample = MARKUP_CASES[name]
    check(parse, data.draw(corrupted(sample)))


# a bad optional field costs that field, not the item (#10) ------------------------------------------

AUTHOR_PATHS = {"hackernews": ("author",), "github": ("user", "login"),
                "stackexchange": ("owner", "display_name"), "appstore": ("author", "name", "label"),
                "googleplay": ("userName",)}


def with_value(template: dict, path: tuple, value) -> dict:
    import copy

    item = copy.deepcopy(template)
    node = item
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return item


@pytest.mark.parametrize("name", sorted(AUTHOR_PATHS))
def test_a_numeric_author_is_kept_as_its_text(name):
    parse, wrap, templates = JSON_CASES[name]
    problems: list[str] = []
    (mention,) = parse(wrap([with_value(templates[0], AUTHOR_PATHS[name], 42)]), problems)
    assert (mention.author, problems) == ("42", [])


@pytest.mark.parametrize("name, path, field", [
    ("mastodon", ("account", "acct"), "account.acct"), ("mastodon", ("account",), "account"),
    ("mastodon", ("account", "url"), "account.url"), ("mastodon", ("language",), "language"),
    ("mastodon", ("url",), "url"), ("bluesky", ("author", "handle"), "author.handle"),
    ("bluesky", ("author",), "author"), ("stackexchange", ("link",), "link")])
def test_a_wrong_typed_optional_field_costs_the_field_not_the_post(name, path, field, caplog):
    """Review: an author, address or language of the wrong type dropped the whole post, past its
    cursor, with a line that named neither the field nor the post."""
    parse, wrap, templates = JSON_CASES[name]
    caplog.set_level(logging.WARNING)
    problems: list[str] = []
    item = with_value(templates[0], path, {"id": 1} if path[-1] not in ("account", "author") else "alice")
    if path == ("account", "url"):
        item["account"]["acct"] = "alice"  # the address is read for the host of a local account
    kept = parse(wrap([item]), problems)
    assert len(kept) == 1 and problems == []
    wrong = "expected an object, got str" if path[-1] in ("account", "author") else "expected text, got dict"
    assert f"{field}: {wrong}; kept the item without it" in caplog.text


def test_parse_items_drops_a_bad_optional_field_and_keeps_the_item(caplog):
    from crawler.pollers.base import parse_items

    def build(item):
        return Mention("test", item["id"], "acme text", "2024-05-01T00:00:00Z", rating=item.get("rating"),
                       author=item.get("author"), url=item.get("url"))

    caplog.set_level(logging.WARNING)
    problems: list[str] = []
    items = [{"id": "1", "rating": "★★☆☆☆"}, {"id": "2", "author": 7, "url": ["x"]}, {"id": ""}]
    kept = parse_items(items, build, "test", problems)
    assert [(m.external_id, m.rating, m.author, m.url) for m in kept] == [("1", None, None, None),
                                                                          ("2", None, "7", None)]
    assert problems == ["test: item 3: ValueError: external_id: missing"]  # an id is not optional
    assert "test: item 1: rating: not a number: '★★☆☆☆'; kept the item without its rating" in caplog.text
    assert "test: item 2: url: expected text, got list; kept the item without its url" in caplog.text


def test_storage_keeps_a_numeric_author_or_title_as_text():
    stored = Mention("test", "1", "text", "2024-05-01T00:00:00Z", author=42, title=3.5).normalized()
    assert (stored.author, stored.title) == ("42", "3.5")


def test_an_xml_declaration_naming_an_unknown_encoding_is_a_problem_not_a_crash():
    """Found by the fuzz test above (a spliced byte made 'utf-8' 'u-tf-8'): expat raised LookupError."""
    problems: list[str] = []
    assert AppStorePoller.parse(b'<?xml version="1.0" encoding="u-tf-8"?><feed/>', problems) == []
    assert problems and "not XML" in problems[0]
