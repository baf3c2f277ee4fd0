"""The options and addresses of API sources are checked when the watchlist is read: a misspelt
option, a bad value or a URL without http(s):// is one line with file:line and exit code 2, before
any request is made."""
from __future__ import annotations

import re

import pytest

from crawler.pollers import COMMON_OPTIONS, SOURCES
from crawler.source_types import API_OPTIONS, COMMON_API_OPTIONS, POLLER_TYPES
from mentionwatch.config import ConfigError, load_config
from mentionwatch.local_servers import LocalServer

HEAD = "watches:\n  - name: a\n    query: {any: [x]}\n    sources:\n"


def read(tmp_path, sources: str):
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + sources)
    return load_config(path)


@pytest.mark.parametrize("sources, expected", [
    ("      - type: reddit\n        options: {subredit: sysadmin}\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.options\.subredit: "
     r"unknown option 'subredit' for reddit \(did you mean 'subreddit'\?\)$"),
    ("      - type: hackernews\n        options:\n          query: acme\n          max_page: 1\n",
     r"w\.yaml:8: watches\[0\]\.sources\[0\]\.options\.max_page: "
     r"unknown option 'max_page' for hackernews \(did you mean 'max_pages'\?\)$"),
    ("      - type: reddit\n        options: {mode: newest}\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.options\.mode: "
     r"expected one of search, new, comments, got 'newest'$"),
    ("      - type: hackernews\n        options: {max_pages: 0}\n",
     r"w\.yaml:6: .*options\.max_pages: expected a whole number of 1 or more, got 0$"),
    ("      - type: github\n        options: {max_pages: lots}\n",
     r"w\.yaml:6: .*options\.max_pages: expected a whole number of 1 or more, got 'lots'$"),
    ("      - type: appstore\n        options: {app_id: 1321994487, max_pages: 11}\n",
     r"w\.yaml:6: .*options\.max_pages: expected a whole number from 1 to 10, got 11$"),
    ("      - type: reddit\n        options: {limit: 500}\n",
     r"w\.yaml:6: .*options\.limit: expected a whole number from 1 to 100, got 500$"),
    ("      - type: appstore\n        interval: 6h\n",
     r"w\.yaml:5: watches\[0\]\.sources\[0\]: appstore needs options\.app_id \(the number in the app's"),
    ("      - type: appstore\n        options: {app_id: com.acme.app}\n",
     r"w\.yaml:6: .*options\.app_id: expected digits only, got 'com\.acme\.app'"),
    ("      - type: googleplay\n        options: {lang: en}\n",
     r"w\.yaml:5: watches\[0\]\.sources\[0\]: googleplay needs options\.app_id or options\.html_url$"),
    ("      - type: rss\n        options: {google_news: false}\n",
     r"w\.yaml:5: watches\[0\]\.sources\[0\]: rss needs options\.urls or options\.google_news$"),
    ("      - type: rss\n        options: {urls: [https://x.example/f.xml], google_news_locale: en-GB}\n",
     r"w\.yaml:6: .*options\.google_news_locale: expected a list of 3 texts, got 'en-GB'"),
    ("      - type: googleplay\n        options: {app_id: com.acme.app, country: no}\n",
     r"w\.yaml:6: .*options\.country: expected text, got false \(put it in quotes\)$"),
    ("      - type: mastodon\n        options: {min_interval: fast}\n",
     r"w\.yaml:6: .*options\.min_interval: expected seconds \(0 or more\), got 'fast'$"),
    ("      - type: bluesky\n        options: {match_query: 'no'}\n",
     r"w\.yaml:6: .*options\.match_query: expected true or false, got 'no'$"),
])
def test_bad_api_source_options_are_one_line_at_read_time(tmp_path, sources, expected):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, sources)
    assert re.search(expected, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)


def test_match_query_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"options\.match_query: expected true or false, got 'yes please'"):
        read(tmp_path, "      - type: bluesky\n        options: {match_query: yes please}\n")


@pytest.mark.parametrize("base_url", ["127.0.0.1:8765/hn", "/hn", "hn", "ftp://example.org/hn"])
def test_base_url_without_http_scheme_is_refused(tmp_path, base_url):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, f'      - type: hackernews\n        base_url: "{base_url}"\n')
    assert str(caught.value) == (f"{tmp_path / 'w.yaml'}:6: watches[0].sources[0].base_url: not an "
                                 f"http(s) URL: {base_url!r} (write it whole, starting with http:// or https://)")


@pytest.mark.parametrize("base_url", ["example.org", "https://example.org"])
def test_spider_sources_take_no_base_url(tmp_path, base_url):
    sources = (f"      - type: sitemap\n        base_url: {base_url}\n"
               "        options: {sitemap_urls: ['https://example.org/sitemap.xml']}\n")
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, sources)
    assert str(caught.value).endswith("w.yaml:6: watches[0].sources[0].base_url: a sitemap source has no "
                                      "base_url: write each address whole in options.sitemap_urls")


def test_rss_feed_url_without_scheme_is_refused(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, '      - type: rss\n        options: {urls: ["www.theregister.com/headlines.atom"]}\n')
    assert str(caught.value).endswith(
        "w.yaml:6: watches[0].sources[0].options.urls[0]: not an http(s) URL: "
        "'www.theregister.com/headlines.atom' (write it whole, starting with http:// or https://)")


@pytest.mark.parametrize("source_type, option, extra", [
    ("rss", "urls", ""),
    ("reviews", "start_urls", "          item: div.review\n          text: p ::text\n"),
    ("sitemap", "sitemap_urls", ""),
], ids=["rss", "reviews", "sitemap"])
def test_a_bad_url_in_a_list_is_reported_at_its_own_line(tmp_path, source_type, option, extra):
    sources = (f"      - type: {source_type}\n        options:\n{extra}          {option}:\n"
               "            - https://example.org/first\n"
               "            - https://example.org/second\n"
               "            - example.org/third\n")
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, sources)
    bad_line = (HEAD + sources).splitlines().index("            - example.org/third") + 1
    assert str(caught.value) == (
        f"{tmp_path / 'w.yaml'}:{bad_line}: watches[0].sources[0].options.{option}[2]: not an "
        "http(s) URL: 'example.org/third' (write it whole, starting with http:// or https://)")


def test_a_spider_option_is_reported_at_its_own_line(tmp_path):
    sources = ("      - type: sitemap\n        options:\n"
               "          sitemap_urls: ['https://example.org/sitemap.xml']\n"
               "          follow:\n            - /news/\n            - '/t/('\n")
    with pytest.raises(ConfigError, match=r"w\.yaml:10: watches\[0\]\.sources\[0\]\.options\.follow\[1\]: "
                                          r"invalid regular expression '/t/\('"):
        read(tmp_path, sources)


def test_rss_feed_path_needs_a_base_url(tmp_path):
    with pytest.raises(ConfigError, match=r"options\.urls\[0\]: not an http\(s\) URL: '/bbc\.xml'"):
        read(tmp_path, "      - type: rss\n        options: {urls: [/bbc.xml]}\n")
    config = read(tmp_path, "      - type: rss\n        base_url: http://127.0.0.1:8765\n"
                            "        options: {urls: [/bbc.xml, nyt.xml, 'https://x.example/feed']}\n")
    assert config.watches[0].sources[0].options["urls"] == ["/bbc.xml", "nyt.xml", "https://x.example/feed"]


def test_every_documented_option_is_accepted(tmp_path):
    """The README's example sources, and one of each documented option, read without a problem."""
    sources = """\
      - type: hackernews
        base_url: http://127.0.0.1:8765/hn
        options: {query: acme, tags: story, max_pages: "2", min_interval: 0.5, match_query: false}
      - type: reddit
        options: {subreddit: sysadmin, mode: comments, query: acme, limit: 100, max_pages: 1}
      - type: mastodon
        base_url: https://fosstodon.org
        options: {tag: acme, token_env: MY_TOKEN, max_pages: 3}
      - type: bluesky
        options: {lang: en, query: acme}
      - type: rss
        options:
          urls: "https://www.theregister.com/headlines.atom"
          google_news: true
          google_news_locale: [en-GB, GB, "GB:en"]
      - type: appstore
        options: {app_id: 1321994487, country: us, format: xml, max_pages: 10, match_query: false}
      - type: googleplay
        options: {app_id: com.acme.app, lang: en, country: us}
      - type: googleplay
        base_url: http://127.0.0.1:8765
        options: {html_url: /store/apps/details}
      - type: stackexchange
        options: {site: stackoverflow, subreddit: null}
      - type: github
        enabled: false
        options: {qualifiers: "is:issue"}
"""
    with pytest.raises(ConfigError, match=r"unknown option 'subreddit' for stackexchange"):
        read(tmp_path, sources)  # an option of another type is still unknown here, even when empty
    config = read(tmp_path, sources.replace(", subreddit: null", ""))
    assert [s.type for s in config.watches[0].sources][:2] == ["hackernews", "reddit"]


def test_option_specs_match_what_each_poller_documents():
    """`mentionwatch sources` prints each poller's options_doc: the watchlist accepts exactly those."""
    for type_name in POLLER_TYPES:
        assert set(API_OPTIONS[type_name]) == set(SOURCES[type_name].options), type_name
        for name, spec in API_OPTIONS[type_name].items():
            doc = SOURCES[type_name].options[name]
            for choice in spec.choices:
                assert f"'{choice}'" in doc, (type_name, name, choice)
            if spec.high is not None:
                assert str(spec.high) in doc, (type_name, name)
            if spec.required:
                assert "[required]" in doc, (type_name, name)
    common = {name.removeprefix("options.") for name in COMMON_OPTIONS if name.startswith("options.")}
    assert set(COMMON_API_OPTIONS) == common


class CountingServer(LocalServer):
    def handle_get(self, request):
        self.requests.append(request.path)
        self.reply(request, 200, b'{"hits": [], "nbPages": 0}', "application/json")


def test_crawl_with_a_misspelt_option_exits_2_before_any_request(cli, tmp_path):
    with CountingServer() as server:
        path = tmp_path / "w.yaml"
        path.write_text(HEAD + f"      - type: hackernews\n        base_url: {server.url}\n"
                               "        options: {max_page: 1}\n")
        result = cli("--config", path, "crawl")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.strip().endswith(
        "w.yaml:7: watches[0].sources[0].options.max_page: "
        "unknown option 'max_page' for hackernews (did you mean 'max_pages'?)")
    assert len(result.output.strip().splitlines()) == 1
    assert server.requests == []


# --- the Scrapy sources' options and the generic settings, worded as the API sources' options are ---

@pytest.mark.parametrize("sources, expected", [
    ("      - type: reviews\n        options:\n          start_urls: ['https://x.example/r']\n"
     "          item: div.review\n          text: p::text\n          nextpage: a.next::attr(href)\n",
     r"w\.yaml:10: watches\[0\]\.sources\[0\]\.options\.nextpage: "
     r"unknown option 'nextpage' for reviews \(did you mean 'next_page'\?\)$"),
    ("      - type: hackernews\n        options:\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.options: "
     r"is empty: write its options indented below it, or leave it out$"),
    ("      - type: hackernews\n        options: [max_pages, 2]\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.options: "
     r"should be options \(name: value lines\), not list$"),
    ("      - type: reddit\n        enabled: maybe\n",
     r"w\.yaml:6: watches\[0\]\.sources\[0\]\.enabled: expected true or false, got 'maybe'$"),
    ("      - type: sitemap\n        options: {sitemap_urls: ['https://x.example/s.xml'], skip_known: 'yes'}\n",
     r"w\.yaml:6: .*options\.skip_known: expected true or false, got 'yes'$"),
    ("      - type: reviews\n        options:\n          start_urls: ['https://x.example/r']\n"
     "          item: div.review\n          text: p::text\n          max_pages: 0\n",
     r"w\.yaml:10: .*options\.max_pages: expected a whole number from 1 to 10000, got 0$"),
    ("      - type: reviews\n        options:\n          start_urls: ['https://x.example/r']\n"
     "          item: div.review\n          text: p::text\n          min_interval: fast\n",
     r"w\.yaml:10: .*options\.min_interval: expected seconds from 0 to 600, got 'fast'$"),
    ("      - type: reviews\n        options:\n          start_urls: x.example/r\n"
     "          item: div.review\n          text: p::text\n",  # one value is a list of one: checked as a URL
     r"w\.yaml:7: .*options\.start_urls: not an http\(s\) URL: 'x\.example/r' "
     r"\(write it whole, starting with http:// or https://\)$"),
    ("      - type: reviews\n        options:\n          start_urls: ['https://x.example/r']\n",
     r"w\.yaml:7: .*options\.item: reviews needs options\.item and options\.text$"),
    ("      - type: reviews\n        options:\n          start_urls: ['https://x.example/r']\n"
     "          text: p::text\n",
     r"w\.yaml:7: .*options\.item: reviews needs options\.item \(one review / post on a page\)$"),
], ids=["unknown spider option", "empty options", "options as a list", "enabled as text",
        "spider flag as text", "spider max_pages", "spider min_interval", "start_urls as text",
        "two required options missing", "one required option missing"])
def test_config_errors_read_like_the_api_sources_ones(tmp_path, sources, expected):
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, sources)
    assert re.search(expected, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)
    for pydantic_wording in ("Extra inputs", "Input should", "Field required"):
        assert pydantic_wording not in str(caught.value)


# --- the same source twice in one watch --------------------------------------------------------

def test_the_same_source_twice_in_a_watch_is_refused_naming_both(tmp_path):
    sources = ("      - type: rss\n        options: {urls: ['https://x.example/a.xml']}\n"
               "      - type: hackernews\n        base_url: http://127.0.0.1:8765\n"
               "        options: {min_interval: 0}\n"
               "      - type: hackernews            # pasted twice\n"
               "        base_url: http://127.0.0.1:8765\n        options: {min_interval: 0}\n")
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, sources)
    assert str(caught.value) == (
        f"{tmp_path / 'w.yaml'}:10: watches[0].sources[2]: the same source as sources[1] (hackernews "
        "with the same base_url and options): remove one of them")


def test_sources_of_one_type_that_differ_are_accepted(tmp_path):
    sources = ("      - type: hackernews\n        options: {min_interval: 0}\n"
               "      - type: hackernews\n        options: {min_interval: 0, max_pages: 1}\n"
               "      - type: hackernews\n        base_url: http://127.0.0.1:8765\n"
               "        options: {min_interval: 0}\n")
    assert len(read(tmp_path, sources).watches[0].sources) == 3
    # the same source in two watches is two watches' business, not a mistake
    path = tmp_path / "two.yaml"
    path.write_text("watches:\n" + "".join(
        f"  - name: {name}\n    query: {{any: [x]}}\n    sources:\n      - type: hackernews\n"
        for name in ("a", "b")))
    assert len(load_config(path).watches) == 2
