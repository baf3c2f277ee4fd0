"""Walk 6 of the sources: a bad author (or title, url) costs that field, not the post, in the Hacker
News, Reddit, GitHub and Stack Exchange pollers; a subreddit written `r/sysadmin` reads r/sysadmin;
values that only failed at crawl time (a subreddit, country, package or site name) are refused when
the watchlist is read; a spider's list option takes one text as a list of one, as rss `urls` does."""
from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from crawler.collect import collect_source
from crawler.pollers.github import GitHubPoller
from crawler.pollers.hackernews import HackerNewsPoller
from crawler.pollers.reddit import RedditPoller
from crawler.pollers.stackexchange import StackExchangePoller
from crawler.spiders.options import parse_options
from mentionwatch.config import Config, ConfigError
from pollers_replay import BASE_URL, Replay, file_response
from test_config_sources import read  # the watchlist with these sources, read

HN_RECORDED = "api/hackernews/search_by_date_query-nodejs.json"
REDDIT_RECORDED = "api/reddit/response_bodies/r_all_new_2016-12-22.json"
AN_OBJECT = {"name": "x"}


def collect(db, source: dict, transport: httpx.BaseTransport):
    config = Config.model_validate({"watches": [{
        "name": "w", "query": {"any": ["node"]}, "sources": [{**source, "base_url": BASE_URL}]}]})
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)


# 1. a bad optional field costs that field, not the post ----------------------------------------------

def test_hackernews_hit_with_an_object_author_is_kept_without_it(shared_file, db, caplog):
    payload = json.loads(shared_file(HN_RECORDED).read_text())
    payload["hits"][3]["author"] = AN_OBJECT
    replay = Replay([file_response("/search_by_date", json.dumps(payload).encode(), "application/json")])
    caplog.set_level(logging.WARNING)
    result = collect(db, {"type": "hackernews", "options": {"max_pages": 1, "query": "nodejs",
                                                              "match_query": False}}, replay.transport())
    assert (result.status, result.fetched, result.rejected, result.new) == ("ok", 20, 0, 20), result.errors
    kept = db.execute("SELECT author, text FROM mentions WHERE external_id = ?",
                      [payload["hits"][3]["objectID"]]).fetchone()
    assert kept[0] is None and kept[1]
    assert "hackernews: item 4: author: expected text, got dict; kept the item without it" in caplog.text
    assert "skipped malformed item" not in caplog.text


def test_hackernews_bad_title_is_left_empty(shared_file):
    payload = json.loads(shared_file(HN_RECORDED).read_text())
    payload["hits"][0]["story_title"] = ["a list"]  # hit 1 is a comment: its title is its story's
    problems: list[str] = []
    mentions = HackerNewsPoller.parse(payload, problems)
    assert problems == [] and len(mentions) == 20
    assert (mentions[0].title, mentions[0].author) == (None, "RealJon")


def test_reddit_post_with_an_object_author_title_or_permalink_is_kept(shared_file, caplog):
    listing = json.loads(shared_file(REDDIT_RECORDED).read_text())
    children = listing["data"]["children"]
    children[0]["data"]["author"] = AN_OBJECT
    children[1]["data"]["title"] = AN_OBJECT
    children[2]["data"]["permalink"] = ["x"]
    caplog.set_level(logging.WARNING)
    problems: list[str] = []
    mentions = RedditPoller.parse(listing, problems)
    assert problems == [] and len(mentions) == 100
    assert mentions[0].author is None and mentions[0].external_id == children[0]["data"]["name"]
    assert mentions[1].title is None and mentions[1].author == children[1]["data"]["author"]
    assert mentions[2].url is None
    assert "reddit: item 1: author: expected text, got dict; kept the item without it" in caplog.text
    assert "reddit: item 3: url: expected text, got list" in caplog.text


def test_reddit_deleted_author_is_still_none():
    listing = {"data": {"children": [{"kind": "t1", "data": {
        "name": "t1_a", "body": "acme", "author": "[deleted]", "created_utc": 1482373050,
        "link_permalink": "https://www.reddit.com/r/x/comments/abc/t/", "id": "a"}}]}}
    (mention,) = RedditPoller.parse(listing)
    assert (mention.author, mention.url) == (None, "https://www.reddit.com/r/x/comments/abc/t/a/")


GITHUB_ISSUE = {"id": 501, "title": "Acme crash", "body": "trace", "created_at": "2024-03-01T10:00:00Z",
                "html_url": "https://github.com/a/b/issues/7", "user": {"login": "octo"}}
SE_QUESTION = {"question_id": 11, "title": "Acme &amp; x", "body": "<p>b</p>", "creation_date": 1700000100,
               "link": "https://stackoverflow.com/questions/11/x",
               "owner": {"display_name": "dev", "reputation": 120}}


@pytest.mark.parametrize("parse, item, field, path", [
    (GitHubPoller.parse, GITHUB_ISSUE, "author", ("user", "login")),
    (GitHubPoller.parse, GITHUB_ISSUE, "title", ("title",)),
    (GitHubPoller.parse, GITHUB_ISSUE, "url", ("html_url",)),
    (StackExchangePoller.parse, SE_QUESTION, "author", ("owner", "display_name")),
    (StackExchangePoller.parse, SE_QUESTION, "title", ("title",)),
], ids=["github author", "github title", "github url", "stackexchange author", "stackexchange title"])
def test_github_and_stackexchange_keep_the_post_without_a_bad_field(parse, item, field, path, caplog):
    bad = json.loads(json.dumps(item))
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = AN_OBJECT
    caplog.set_level(logging.WARNING)
    problems: list[str] = []
    (mention,) = parse({"items": [item, bad]}, problems)[1:]
    assert problems == [] and getattr(mention, field) is None and mention.text
    assert f"item 2: {field}: expected text, got dict; kept the item without it" in caplog.text


def test_stackexchange_author_entities_are_still_decoded():
    question = {**SE_QUESTION, "owner": {"display_name": "J&#246;rg", "reputation": 5}}
    (mention,) = StackExchangePoller.parse({"items": [question]})
    assert (mention.author, mention.title, mention.author_reach) == ("Jörg", "Acme & x", 5)


def test_required_fields_still_cost_the_post():
    problems: list[str] = []
    assert GitHubPoller.parse({"items": [{**GITHUB_ISSUE, "body": AN_OBJECT}]}, problems) == []
    assert problems and "TypeError: expected text, got dict" in problems[0]


# 2. a subreddit written as in the address bar --------------------------------------------------------

EMPTY_LISTING = {"kind": "Listing", "data": {"children": [], "after": None}}


@pytest.mark.parametrize("written", ["r/sysadmin", "/r/sysadmin", "/r/sysadmin/", "sysadmin"])
def test_subreddit_with_r_prefix_reads_that_subreddit(db, written):
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json=EMPTY_LISTING)

    result = collect(db, {"type": "reddit", "options": {"subreddit": written, "max_pages": 1}},
                     httpx.MockTransport(handler))
    assert result.status == "ok", result.errors
    assert paths == ["/r/sysadmin/search.json"]


# 2, 3. values refused when the watchlist is read -----------------------------------------------------



@pytest.mark.parametrize("sources, expected", [
    ("      - type: reddit\n        options: {subreddit: 'sys admin'}\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.options\.subreddit: expected a subreddit name: letters, "
     r"digits and _, 2 to 21 \(the name after r/ in its address, e\.g\. sysadmin\), got 'sys admin'$"),
    ("      - type: reddit\n        options:\n          mode: new\n"
     "          subreddit: https://www.reddit.com/r/sysadmin\n",
     r"w\.yaml:8: .*options\.subreddit: expected a subreddit name: .*got 'https://www\.reddit\.com/r/sysadmin'"),
    ("      - type: reddit\n        options: {subreddit: abcdefghijklmnopqrstuv}\n",
     r"w\.yaml:6: .*options\.subreddit: expected a subreddit name"),
    ("      - type: reddit\n        options: {subreddit: 'r/'}\n",  # would read /r/r
     r"w\.yaml:6: .*options\.subreddit: expected a subreddit name"),
    ("      - type: appstore\n        options:\n          app_id: 1321994487\n          country: usa\n",
     r"w\.yaml:8: .*options\.country: expected a two-letter country code \(e\.g\. us, gb, jp\), got 'usa'$"),
    ("      - type: googleplay\n        options: {app_id: 'com acme'}\n",
     r"w\.yaml:6: .*options\.app_id: expected a package name: letters, digits, _ and dots, no spaces "
     r"\(e\.g\. com\.example\.app\), got 'com acme'$"),
    ("      - type: googleplay\n        options: {app_id: com.acme.app, country: united states}\n",
     r"w\.yaml:6: .*options\.country: expected a two-letter country code .*, got 'united states'$"),
    ("      - type: stackexchange\n        options: {site: stack overflow}\n",
     r"w\.yaml:6: .*options\.site: expected a site's API name: lower case, no spaces \(e\.g\. "
     r"stackoverflow, superuser, ru\.stackoverflow\), got 'stack overflow'$"),
], ids=["subreddit with a space", "subreddit as an address", "subreddit too long", "r/ alone", "appstore country",
        "googleplay package", "googleplay country", "stackexchange site"])
def test_bad_names_are_refused_when_the_watchlist_is_read(tmp_path, sources, expected):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, sources)
    assert len(str(caught.value).splitlines()) == 1
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_real_names_are_accepted(tmp_path):
    config = read(tmp_path, "      - type: reddit\n        options: {subreddit: r/sysadmin}\n"
                            "      - type: reddit\n        options: {subreddit: AskReddit+de, mode: new}\n"
                            "      - type: reddit\n        options: {subreddit: ' all-pics-funny'}\n"
                            "      - type: appstore\n        options: {app_id: 1404176564, country: JP}\n"
                            "      - type: googleplay\n        options: {app_id: jp.mixi, country: jp}\n"
                            "      - type: googleplay\n        options: {app_id: com.acme_2.app}\n"
                            "      - type: stackexchange\n        options: {site: ru.stackoverflow}\n"
                            "      - type: stackexchange\n        options: {site: meta.stackexchange}\n")
    assert len(config.watches[0].sources) == 8


# 4. a spider's list option given one text --------------------------------------------------------------

REVIEWS = "      - type: reviews\n        options:\n          item: div.review\n          text: p::text\n"


def test_start_urls_as_one_text_is_a_list_of_one(tmp_path):
    config = read(tmp_path, REVIEWS + "          start_urls: http://127.0.0.1:8766/page1.html\n")
    options = parse_options("reviews", config.watches[0].sources[0].options)
    assert options.start_urls == ["http://127.0.0.1:8766/page1.html"]
    sitemap = parse_options("sitemap", {"sitemap_urls": "https://x.example/sitemap.xml", "follow": "/p/"})
    assert (sitemap.sitemap_urls, sitemap.follow) == (["https://x.example/sitemap.xml"], ["/p/"])


def test_start_urls_as_one_text_without_http_gets_the_url_hint(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, REVIEWS + "          start_urls: 127.0.0.1:8766/page1.html\n")
    assert str(caught.value).endswith(
        "w.yaml:9: watches[0].sources[0].options.start_urls: not an http(s) URL: "
        "'127.0.0.1:8766/page1.html' (write it whole, starting with http:// or https://)")
    assert "write it as a list" not in str(caught.value)


def test_a_bad_item_of_a_list_still_names_its_place(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, REVIEWS + "          start_urls:\n            - https://x.example/r\n"
                                 "            - x.example/r2\n")
    assert "w.yaml:11: watches[0].sources[0].options.start_urls[1]: not an http(s) URL" in str(caught.value)
