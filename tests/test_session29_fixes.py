"""Defects found by the reviews of 2026-12-07 (session 29), each with the behaviour that mends it."""
from __future__ import annotations

import logging
import re

import httpx
import pytest

from crawler.collect import collect_source
from crawler.pollers import base
from mentionwatch.config import Config


def _one_source(source: dict) -> Config:
    return Config.model_validate({"watches": [{"name": "w", "query": {"any": ["acme"]}, "sources": [source]}]})


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8765/rd", "https://reddit-proxy.example",
                                      "http://www.reddit.com", "https://www.reddit.com:8443"])
def test_reddit_refusal_from_another_host_says_the_oauth_pair_would_not_be_sent_there(db, monkeypatch, base_url):
    monkeypatch.setattr(base, "_WARNED", set())
    monkeypatch.delenv("MENTIONWATCH_REDDIT_CLIENT_ID", raising=False)
    monkeypatch.delenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", raising=False)
    transport = httpx.MockTransport(lambda request: httpx.Response(401))
    config = _one_source({"type": "reddit", "base_url": base_url})
    watch = config.watches[0]
    result = collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)
    host = httpx.URL(base_url).netloc.decode()
    # Reddit's own host written with http or a port: send_oauth would send the secret there as written
    advice = ("set them and write base_url as https://www.reddit.com, or leave it out" if "reddit.com" in base_url
              else f"for {host}, set them and add send_oauth: true to this source's options")
    assert result.errors[0].endswith(
        "HTTP 401 Unauthorized (no OAuth sent: MENTIONWATCH_REDDIT_CLIENT_ID and MENTIONWATCH_REDDIT_CLIENT_SECRET "
        f"go only to reddit.com over https; {advice})")


def test_reddit_refusal_from_reddit_itself_still_asks_for_the_unset_variables(db, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_REDDIT_CLIENT_ID", raising=False)
    monkeypatch.delenv("MENTIONWATCH_REDDIT_CLIENT_SECRET", raising=False)
    transport = httpx.MockTransport(lambda request: httpx.Response(403))
    for source in ({"type": "reddit"}, {"type": "reddit", "base_url": "http://127.0.0.1:8765",
                                         "options": {"send_oauth": True}}):
        config = _one_source(source)
        watch = config.watches[0]
        result = collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)
        assert "are not set: put a Reddit app's client id" in result.errors[0], result.errors


# Mastodon's hashtag is checked when the watchlist is read ---------------------------------------------

@pytest.mark.parametrize("tag", ["''", "'a b'", "'#'", "'acme!'", "2024", "'_'", "'½'"])
def test_mastodon_tag_that_is_no_hashtag_is_refused_in_one_line(tmp_path, tag):
    from mentionwatch.config import ConfigError
    from test_config_sources import read

    with pytest.raises(ConfigError) as caught:
        read(tmp_path, f"      - type: mastodon\n        options: {{tag: {tag}}}\n")
    assert len(str(caught.value).splitlines()) == 1
    assert re.search(r"w\.yaml:6: .*options\.tag: expected a hashtag: letters \(at least one\), digits and _, "
                     r"no spaces \(e\.g\. acme or #acme\), got ", str(caught.value)), str(caught.value)


def test_mastodon_hashtags_in_any_script_are_accepted(tmp_path):
    from test_config_sources import read

    config = read(tmp_path, "".join(f"      - type: mastodon\n        options: {{tag: '{tag}'}}\n"
                                    for tag in ("acme", "#acme", "日本語", "acme_2024", "भारत", "தமிழ்",
                                                "สวัสดี", "مَرحبا", "ポケモン・サン", "cafe\u0301", "l·l")))
    assert len(config.watches[0].sources) == 11


# Bluesky: langs written as one text --------------------------------------------------------------------

def _bluesky_post(number: int, langs) -> dict:
    record = {"text": f"acme post {number}", "createdAt": "2026-12-01T10:00:00Z"}
    if langs is not None:
        record["langs"] = langs
    return {"uri": f"at://did:plc:abc/app.bsky.feed.post/{number}", "cid": "c", "indexedAt": "2026-12-01T10:00:01Z",
            "author": {"did": "did:plc:abc", "handle": "acme.bsky.social"}, "record": record}


def test_bluesky_langs_as_one_text_is_that_language_and_a_bad_one_is_warned(caplog):
    from crawler.pollers.bluesky import BlueskyPoller

    payload = {"posts": [_bluesky_post(1, "en"), _bluesky_post(2, ["ja", "en"]), _bluesky_post(3, {"x": 1}),
                         _bluesky_post(4, None)]}
    with caplog.at_level(logging.WARNING):
        mentions = BlueskyPoller.parse(payload)
    assert [m.lang for m in mentions] == ["en", "ja", None, None]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["bluesky: item 3: langs: expected a list of language codes, got dict; "
                        "kept the item without it"]


# a crawl run records its process; a later crawl closes the runs of a killed one ----------------------

def test_crawl_runs_record_their_process_and_a_later_crawl_closes_a_killed_ones(db, monkeypatch):
    import signal
    import subprocess
    import sys

    from crawler.collect import collect_all
    from storage.crawl_processes import this_process

    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone.send_signal(signal.SIGKILL)
    gone.wait()
    with db.conn:
        db.execute("INSERT INTO crawl_runs (watch, source, started_at, process) VALUES ('w', 'reddit', "
                   "'2026-12-07T10:00:00Z', ?)", [f"{this_process().rpartition(':')[0]}:{gone.pid}"])
        db.execute("INSERT INTO crawl_runs (watch, source, started_at, process) VALUES ('w', 'reddit', "
                   "'2026-12-07T10:00:00Z', 'another-machine.example:1')")  # cannot be checked from here
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": {"children": []}}))
    [result] = collect_all(db, _one_source({"type": "reddit"}), transport=transport, sleep=lambda s: None)
    rows = db.execute("SELECT process, status FROM crawl_runs ORDER BY id").fetchall()
    assert rows[0][1] == "failed" and rows[1] == ("another-machine.example:1", "running")
    assert rows[2] == (this_process(), result.status)


# an answer with no list of items: what it holds, never a key that may be a secret -------------------

@pytest.mark.parametrize("payload, described", [
    ([], "a list, where this API answers with an object"),
    ({"github_pat_11ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij": 1, "error": "no"},
     "an object: a key of another form: a number, error: text"),
    ({"line\nbreak": None}, "an object: a key of another form: null"),
    ({}, "an empty object"),
])
def test_an_answer_with_no_list_of_items_says_what_it_holds(db, payload, described):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=payload))
    config = _one_source({"type": "github", "base_url": "http://127.0.0.1:8765"})
    watch = config.watches[0]
    result = collect_source(db, config, watch, watch.sources[0], transport=transport, sleep=lambda s: None)
    assert result.status == "failed"
    assert result.errors[0].endswith(f"unexpected response: no list of items (got {described})"), result.errors
    assert "github_pat" not in result.errors[0]


# sitemaps: a listed page whose redirects loop, a news sitemap's dates, a sitemap cut off ------------

def _crawl_sitemap(tmp_path, pages: dict) -> tuple[dict, list]:
    from test_spiders_walk_fixes import Site, crawl

    with Site(pages) as site:
        for path, (status, content_type, body, *headers) in list(pages.items()):
            pages[path] = (status, content_type, body.replace("SITE", site.url), *headers)
        run = crawl(site, tmp_path / "m.db", "sitemap", {"sitemap_urls": [f"{site.url}/sitemap.xml"]})
        asked = list(site.requests)
    db = open_db_at(tmp_path / "m.db")
    try:
        rows = db.execute("SELECT url, created_at FROM mentions ORDER BY url").fetchall()
    finally:
        db.close()
    return {**run, "asked": asked}, [(url.rsplit("/", 1)[-1], created_at) for url, created_at in rows]


def open_db_at(path):
    from storage import open_db

    return open_db(path)


URLSET = '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" ' \
         'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{}</urlset>'
ARTICLE = (200, "text/html; charset=utf-8", '<html lang="en"><body><article><p>Acme news today</p></article></body></html>')


def test_a_listed_page_whose_redirects_loop_is_an_error_line(tmp_path):
    pages = {"/sitemap.xml": (200, "application/xml", URLSET.format(
                 "<url><loc>SITE/loop</loc><lastmod>2024-05-05</lastmod></url>"
                 "<url><loc>SITE/a1</loc><lastmod>2024-05-04</lastmod></url>")),
             "/loop": (302, "text/html", "", {"Location": "/loopA"}),
             "/loopA": (302, "text/html", "", {"Location": "/loopB"}),
             "/loopB": (302, "text/html", "", {"Location": "/loopA"}),
             "/a1": ARTICLE}
    run, stored_pages = _crawl_sitemap(tmp_path, pages)
    assert [page for page, _ in stored_pages] == ["a1"]
    assert any(error.endswith("/loop: not read: too many redirects (a redirect loop, or a login or cookie "
                              "wall?)") for error in run["errors"]), run["errors"]


def test_a_news_sitemaps_publication_date_dates_its_pages(tmp_path):
    news = ("<url><loc>SITE/n1</loc><news:news><news:publication><news:name>Acme Daily</news:name>"
            "<news:language>en</news:language></news:publication>"
            "<news:publication_date>2024-05-05T10:00:00+02:00</news:publication_date>"
            "<news:title>Acme</news:title></news:news></url>")
    run, stored_pages = _crawl_sitemap(tmp_path, {"/sitemap.xml": (200, "application/xml", URLSET.format(news)),
                                                  "/n1": ARTICLE})
    assert stored_pages == [("n1", "2024-05-05T08:00:00Z")], run["errors"]


def test_a_sitemap_cut_off_reads_its_complete_entries_and_says_so(tmp_path):
    cut = URLSET.format("<url><loc>SITE/a1</loc><lastmod>2024-05-05</lastmod></url>"
                        "<url><loc>SITE/a2</loc></url><url><loc>SITE/a3-cut-sho")
    cut = cut[:cut.index("a3-cut-sho") + len("a3-cut-sho")]
    run, stored_pages = _crawl_sitemap(tmp_path, {"/sitemap.xml": (200, "application/xml", cut), "/a1": ARTICLE,
                                                  "/a2": ARTICLE})
    assert sorted(page for page, _ in stored_pages) == ["a1", "a2"]
    assert not any("a3" in path for path in run["asked"])
    assert any(error.endswith("/sitemap.xml: the sitemap is cut off (it has no </urlset>): its 2 "
                              "complete entries are read") for error in run["errors"]), run["errors"]


def test_what_is_a_cut_off_sitemap_and_what_of_it_is_read():
    from scrapy.utils.sitemap import Sitemap

    from crawler.spiders.sitemap import _complete_part, _news_dates

    whole = URLSET.format("<url><loc>https://x.example/a</loc></url>").encode()
    assert _complete_part(whole, "urlset") is None
    assert _complete_part(whole + b'\n<script src="//ads.example/a.js"></script>', "urlset") is None  # a host's
    assert _complete_part(whole + b"<!--" + b"x" * 5000 + b"-->", "urlset") is None  # additions after it
    assert _complete_part(whole.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
                          .encode("utf-16"), "urlset") is None  # no ASCII tags to look for
    cut = URLSET.format("<url><loc>https://x.example/k1</loc></url><url><lastmod>2024-01-01</lastmod></url>"
                        "<url><loc>https://x.example/k2-cu").encode()
    cut = cut[:cut.index(b"k2-cu") + 5]
    assert [entry["loc"] for entry in Sitemap(_complete_part(cut, "urlset"))] == ["https://x.example/k1"]
    assert _complete_part(b'<?xml version="1.0"?><urlset><url><loc>https://x.exa', "urlset") == b""
    for empty in (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
                  b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" />'):
        assert _complete_part(empty, "urlset" if b"urlset" in empty else "sitemapindex") is None  # lists nothing
    # a news: prefix the sitemap never declared is read all the same
    undeclared = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://x.example/m1'
                  b'</loc><news:news><news:publication_date>2024-03-05T10:00:00Z</news:publication_date>'
                  b'</news:news></url></urlset>')
    assert _news_dates(undeclared) == {"https://x.example/m1": "2024-03-05T10:00:00Z"}


def test_a_review_dated_by_its_year_alone_is_its_first_day_not_unix_seconds():
    from crawler.dates import stored_date

    assert stored_date("2024", None) == "2024-01-01T00:00:00Z"  # was 1970-01-01T00:33:44Z, rejected
    assert stored_date("2024-05", None) == "2024-05-01T00:00:00Z"
    assert stored_date("2024", "%d %B %Y") == "2024-01-01T00:00:00Z"  # the format fails, then the year
    assert stored_date("1714000000", None) == "2024-04-24T23:06:40Z"  # Unix seconds stay Unix seconds


# the service: after an option edit, the new job of a source waits for the old one's crawl ---------------

def test_an_edited_sources_new_job_waits_for_the_old_jobs_crawl(tmp_path, monkeypatch):
    """Review: an option edit makes a new job (its id hashes the options); while the old job's crawl
    went on, the new one polled the same site at the same time."""
    import threading
    import time

    import crawler.collect
    import scheduler
    from mentionwatch.config import load_config

    def watchlist(min_interval: float) -> str:
        return ("database: m.db\nwatches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
                "      - type: rss\n        interval: 10m\n"
                f"        options: {{urls: ['http://127.0.0.1:9/feed.xml'], min_interval: {min_interval}}}\n")

    config_path = tmp_path / "w.yaml"
    config_path.write_text(watchlist(1), encoding="utf-8")
    spans, started_first = [], threading.Event()

    def slow_collect(db, config, watch, source_cfg, **kwargs):
        started = time.monotonic()
        started_first.set()
        time.sleep(1.0)
        spans.append((started, time.monotonic()))
        return crawler.collect.CrawlRunResult(run_id=0, watch=watch.name, source="rss")

    monkeypatch.setattr(crawler.collect, "collect_source", slow_collect)
    service = scheduler.Service(config_path, tmp_path / "m.db", blocking=False)

    def crawling(job: str) -> threading.Thread:
        """`job` run in a thread of its own, once its (slow) crawl has begun."""
        started_first.clear()
        thread = threading.Thread(target=service._job_collect, args=(None, job))
        thread.start()
        assert started_first.wait(10)
        return thread

    def edited(min_interval: float) -> str:
        """The watchlist edited and read again, as a reload does; the source's job id now."""
        config_path.write_text(watchlist(min_interval), encoding="utf-8")
        service.config = load_config(config_path)
        [job] = scheduler.collect_targets(service.config)
        return job

    [old_job] = scheduler.collect_targets(service.config)
    first = crawling(old_job)
    new_job = edited(2)
    assert new_job != old_job  # the edit made a new job
    service._job_collect(None, new_job)
    first.join(10)
    (first_start, first_end), (second_start, _) = sorted(spans)
    assert second_start >= first_end  # one after the other, never side by side

    # edited twice while the first job crawls: the job of the settings in between, once it gets its
    # turn, finds them gone and polls nothing (review: it crawled with the removed settings)
    first = crawling(new_job)
    between_job = edited(3)
    outcome: list = []
    between = threading.Thread(target=lambda: outcome.append(service._job_collect(None, between_job)))
    between.start()
    time.sleep(0.2)
    current_job = edited(4)
    first.join(10)
    between.join(10)
    assert outcome == [("skipped", {"reason": "the source's settings changed while this job waited"})]
    assert len(spans) == 3

    # a stop while the new job waits: it gives up waiting, and never starts a crawl
    first = crawling(current_job)
    service._stopping.set()
    waited = time.monotonic()
    status, detail = service._job_collect(None, current_job)
    first.join(10)
    assert status == "skipped" and detail["reason"].startswith("the service stopped")
    assert len(spans) == 4 and time.monotonic() - waited < 1.0 + 1.5  # not one more crawl of a second


@pytest.mark.parametrize("option, url", [("sitemap_urls", "http://fred:Yx7Qw77@127.0.0.1:8791/sitemap.xml"),
                                         ("start_urls", "http://dave:Yx7Qw55@[::1]:1/list"),
                                         ("sitemap_urls", "https://fred:Pa#Yx7Qw9@example.com/sitemap.xml"),
                                         ("sitemap_urls", "https://fred:Yx7/Qw3t@example.com/s.xml"),
                                         ("start_urls", "https:/fred:Yx7Qw3t@example.com/s.xml")])
def test_a_spider_address_with_a_password_is_refused_without_showing_it(tmp_path, option, url):
    """Review: Scrapy cannot fetch such an address, and its error put the password in the log and
    the database (no scheme before it, so redaction missed it)."""
    from mentionwatch.config import ConfigError
    from test_config_sources import read

    source_type = "sitemap" if option == "sitemap_urls" else "reviews"
    extra = "" if source_type == "sitemap" else ", item: div.r, text: p::text"
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, f"      - type: {source_type}\n        options: {{{option}: ['{url}']{extra}}}\n")
    message = str(caught.value)
    assert "Yx7Qw" not in message and len(message.splitlines()) == 1
    assert "an address with a user name or password before its host (user:password@)" in message or \
        message.endswith("not an http(s) URL: 'https:/[redacted]@example.com/s.xml' (write it whole, starting with "
                         "http:// or https://)")


@pytest.mark.parametrize("url", ["https://medium.com/@acme", "https://example.com:8080/@user/posts",
                                 "https://example.com/x?a=1:2@3", "https://example.com/p#top@x"])
def test_an_at_sign_in_a_path_query_or_fragment_is_no_password(tmp_path, url):
    from test_config_sources import read

    config = read(tmp_path, f"      - type: sitemap\n        options: {{sitemap_urls: ['{url}']}}\n")
    assert config.watches[0].sources[0].options["sitemap_urls"] == [url]


# scoring: HTML elements the model should never read ---------------------------------------------------

@pytest.mark.parametrize("html", ['<time datetime="2024-06-01T10:00">6月1日</time> 太差了',
                                  "<details><summary>评论</summary>太差了</details>",
                                  '<picture><source srcset="a.webp"><img src="a.jpg"></picture>太差了',
                                  '<video controls src="x.mp4"></video>太差了',
                                  "<script>var x = 1;</script>太差了", "<style>.a{color:red}</style>太差了",
                                  "<noscript>Enable JavaScript to see this page</noscript>太差了"])
def test_html_elements_and_hidden_content_are_not_read_as_words(html):
    from sentiment.textprep import clean, is_chinese

    cleaned = clean(html)
    assert "<" not in cleaned and "var x" not in cleaned and "color" not in cleaned and "JavaScript" not in cleaned
    assert is_chinese(cleaned)  # the short Chinese post goes to the Chinese model, as its bare text does


def test_text_that_only_looks_like_tags_stays():
    from sentiment.textprep import clean

    assert clean("I <3 this <sarcasm> <I hate this airline>") == "I <3 this <sarcasm> <I hate this airline>"
    assert clean("the <title> of the film is great") == "the <title> of the film is great"


def test_label_map_keys_written_as_bare_numbers_name_the_labels_by_index(tmp_path):
    from mentionwatch.config import load_config

    path = tmp_path / "w.yaml"
    path.write_text("sentiment:\n  label_map: {0: negative, 1: neutral, 2: positive}\n"
                    "watches:\n  - name: acme\n    query: {any: [acme]}\n", encoding="utf-8")
    assert load_config(path).sentiment.label_map == {"0": "negative", "1": "neutral", "2": "positive"}


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_a_seed_out_of_range_is_one_line(cli, seed, tmp_path):
    """Review: `model build --seed -1` ended in numpy's traceback."""
    result = cli("model", "build", "--seed", seed, "--limit", "100", "--output", tmp_path / "x.safetensors")
    assert result.exit_code == 2
    assert "Invalid value for '--seed'" in result.output and "Traceback" not in result.output


def test_status_says_why_a_run_was_skipped():
    import datetime as dt
    import json

    from mentionwatch.commands.service import _job_note

    job = {"failures": 0, "backoff_until": None,
           "last_detail": json.dumps({"reason": "the service stopped while this source's previous crawl still ran"})}
    assert _job_note(job, dt.datetime.now(dt.timezone.utc)) == ("the service stopped while this source's previous "
                                                               "crawl still ran")
