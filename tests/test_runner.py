"""crawler.runner and the pieces around the spiders: option checks, the child process protocol,
network failures, the time limit, the item pipeline's checks and the settings.

The crawls here run the real Scrapy engine in a child process against servers on 127.0.0.1.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scrapy.http import HtmlResponse

from crawler.collect import collect_all
from crawler.items import MentionItem
from crawler.pipelines import item_to_mention
from crawler.runner import PROJECT_ROOT, RESULT_MARKER, run_spider, run_spider_from_config
from crawler.spiders.extract import extract_mentions
from crawler.spiders.options import ReviewOptions, SitemapOptions, parse_options
from mentionwatch.config import Config
from mentionwatch.local_servers import LocalServer
from sites.review_site import good_reviews, serve_site
from storage import open_db
from tests.service_fakes import wait_until

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 0}
WATCH = {"name": "acme", "query": {"any": ["acme"]}}


def reviews_source(*start_urls: str, **options) -> dict:
    return {"type": "reviews", "options": {
        "start_urls": list(start_urls), "item": "div.review", "text": "p ::text",
        "date": "time::attr(datetime)", "next_page": "a.next::attr(href)", **options}}


# --- options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("options, field", [
    ({"start_urls": ["http://x.test/"], "text": "p"}, "options.item"),
    ({"start_urls": ["http://x.test/"], "item": "div[", "text": "p"}, "options.item"),
    ({"start_urls": ["http://x.test/"], "item": "div", "text": "xpath://p["}, "options.text"),
    ({"start_urls": ["ftp://x.test/"], "item": "div", "text": "p"}, "options.start_urls[0]"),
    ({"start_urls": [], "item": "div", "text": "p"}, "options.start_urls"),
    ({"start_urls": ["http://x.test/"], "item": "div", "text": "p", "colour": "red"},
     "options.colour"),
    ({"start_urls": ["http://x.test/"], "item": "div", "text": "p", "max_pages": 0},
     "options.max_pages"),
])
def test_bad_review_options_give_one_line_naming_the_field(tmp_path, options, field):
    result = run_spider(tmp_path / "x.db", WATCH, {"type": "reviews", "options": options})
    (error,) = result["errors"]
    assert error.startswith(f"reviews: {field}:")
    assert "\n" not in error
    assert result["new"] == 0
    assert not (tmp_path / "x.db").exists()  # rejected before any process or database


def test_bad_sitemap_options_name_the_field():
    with pytest.raises(ValueError, match=r"^options\.follow\[0\]: invalid regular expression"):
        parse_options("sitemap", {"sitemap_urls": ["https://x.test/sitemap.xml"], "follow": ["("]})
    assert isinstance(parse_options("sitemap", {"sitemap_urls": ["https://x.test/s.xml"]}),
                      SitemapOptions)


@pytest.mark.parametrize("source_type, model", [("reviews", ReviewOptions),
                                                 ("sitemap", SitemapOptions)])
def test_sources_describes_every_spider_option(cli, source_type, model):
    """What `mentionwatch sources` prints for a Scrapy source: every option of its model, each
    with a description, the required ones marked, defaults as the watchlist writes them."""
    described = _options_printed(cli("sources").stdout, source_type)
    assert set(described) == set(model.model_fields)
    assert all(text.strip() for text in described.values())
    required = {"reviews": {"start_urls", "item", "text"}, "sitemap": {"sitemap_urls"}}[source_type]
    assert {name for name, text in described.items() if text.endswith("[required]")} == required
    assert described["match_query"].endswith("(default true)")


def _options_printed(stdout: str, source_type: str) -> dict[str, str]:
    """{option: description} from the `options.NAME: TEXT` lines of one source's section."""
    section = stdout.split(f"\n{source_type}  (", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("options.")]
    return dict(line.removeprefix("options.").split(": ", 1) for line in lines)


def test_a_bad_watch_or_source_is_one_line(tmp_path):
    result = run_spider(tmp_path / "x.db", {"name": "acme", "query": {}}, reviews_source("http://x.test/"))
    assert result["errors"] == ["bad watch: query: give at least one of phrases, any, all"]
    result = run_spider(tmp_path / "x.db", WATCH, {"type": "reviews", "interval": "soon"})
    (error,) = result["errors"]
    assert error.startswith("bad sourceconfig: interval: ") and "\n" not in error


def test_unknown_watch_or_source_in_the_config_form(tmp_path):
    config = Config.model_validate({"watches": [{**WATCH, "sources": [reviews_source("http://x.test/")]}]})
    result = run_spider_from_config(tmp_path / "x.db", config, "acme", 3)
    assert result["errors"] == ["no source #3 in watch 'acme'"]
    result = run_spider_from_config(tmp_path / "x.db", config, "nobody", 0)
    assert result["errors"] == ["no source #0 in watch 'nobody'"]
    result = run_spider_from_config(tmp_path / "x.db", tmp_path / "missing.yaml", "acme", 0)
    assert result["errors"][0].startswith("cannot read the configuration:")
    result = run_spider_from_config(tmp_path / "x.db", '{"watches": [{"name": "acme"}]}', "acme", 0)
    assert result["errors"] == ["cannot read the configuration: bad config: watches[0].query: "
                                "Field required"]
    assert not (tmp_path / "x.db").exists()  # refused before any process or database


# --- the child process -------------------------------------------------------------------------

def test_the_child_answers_a_bad_job_with_a_result_line():
    child = subprocess.run([sys.executable, "-m", "crawler.runner"], input="not json",
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0
    (line,) = [l for l in child.stdout.splitlines() if l.startswith(RESULT_MARKER)]
    result = json.loads(line[len(RESULT_MARKER):])
    assert result["errors"][0].startswith("bad crawl job: JSONDecodeError")
    assert "Traceback" not in child.stderr


def test_an_unreachable_site_is_an_error_not_an_exception(tmp_path):
    with socket_on_closed_port() as base:
        result = run_spider(tmp_path / "x.db", WATCH, reviews_source(f"{base}/reviews"),
                            settings_overrides={**FAST, "ROBOTSTXT_OBEY": False}, timeout=120)
    assert result["new"] == 0 and result["pages"] == 0
    (error,) = result["errors"]
    assert error.startswith(f"{base}/reviews: ") and "Connection" in error


class socket_on_closed_port:
    """A base URL on a port nothing listens on (bound, then closed)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc):
        return False


@pytest.fixture
def endless_slow_site():
    """Every page links to the next one and takes a while to answer: a crawl that never ends.
    Yields the server, whose `requests` lists the paths asked for so far."""

    class EndlessSlowSite(LocalServer):
        def handle_get(self, request):
            with self.lock:
                self.requests.append(request.path)
            if request.path == "/robots.txt":
                body = b""
            else:
                number = int(request.path.strip("/") or 0)
                time.sleep(0.5)
                body = (f'<div class="review" data-id="{number}"><p>acme page {number}</p>'
                        f'<time datetime="2024-01-01T00:00:{number % 60:02d}Z">x</time></div>'
                        f'<a class="next" href="/{number + 1}">next</a>').encode()
            self.reply(request, 200, body, "text/html")

    with EndlessSlowSite() as server:
        yield server


def test_the_time_limit_stops_the_crawl_and_keeps_what_was_read(tmp_path, endless_slow_site):
    db_path = tmp_path / "x.db"
    result = run_spider(db_path, WATCH, reviews_source(f"{endless_slow_site.url}/0", max_pages=10_000),
                        settings_overrides=FAST, timeout=2)
    assert result["finish_reason"] == "closespider_timeout"
    assert "crawl ended early: closespider_timeout" in result["errors"]
    db = open_db(db_path)
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == result["new"]
    db.close()


def test_a_child_that_overstays_is_stopped(tmp_path, endless_slow_site, monkeypatch):
    """Past its time limit plus the grace period the child is terminated, then killed; the caller
    gets a result either way and the database stays usable."""
    import crawler.runner

    monkeypatch.setattr(crawler.runner, "GRACE_SECONDS", 0.5)
    db_path = tmp_path / "x.db"
    result = run_spider(db_path, WATCH, reviews_source(f"{endless_slow_site.url}/0", max_pages=10_000),
                        settings_overrides={**FAST, "CLOSESPIDER_TIMEOUT": 0}, timeout=0.5)
    assert "crawl stopped: still running 0.5 s after its 0.5 s time limit" in result["errors"]
    db = open_db(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_collect_runs_the_real_spider_and_records_the_run(db):
    """crawler.collect hands `reviews` sources to run_spider: the whole path, no stand-ins."""
    with serve_site() as site:
        config = Config.model_validate({"watches": [{**WATCH, "sources": [{
            "type": "reviews", "options": {
                "start_urls": [f"{site.base}/acme/reviews-1.html"], "item": "div.review",
                "text": "p.body ::text", "author": ".author::text", "date": "time::attr(datetime)",
                "id": "::attr(data-id)", "url": "a.permalink::attr(href)",
                "next_page": "a.next::attr(href)", "min_interval": 0}}]}]})
        (result,) = collect_all(db, config)
    assert result.new == len(good_reviews())
    assert result.status == "partial"  # the last page answers 500
    row = db.execute("SELECT source, new, status FROM crawl_runs WHERE id = ?",
                     [result.run_id]).fetchone()
    assert row == ("reviews", len(good_reviews()), "partial")


def test_a_page_that_is_no_sitemap_is_an_error(tmp_path):
    with serve_site() as site:
        not_a_sitemap = f"{site.base}/acme/reviews-1.html"
        result = run_spider(tmp_path / "x.db", WATCH,
                            {"type": "sitemap", "options": {"sitemap_urls": [not_a_sitemap]}},
                            settings_overrides=FAST, timeout=120)
    assert result["errors"] == [f"{not_a_sitemap}: neither a sitemap nor an RSS/Atom feed"]
    assert result["pages"] == 0


def test_a_child_that_dies_without_a_result_is_one_error_line(caplog):
    from crawler.runner import _parse_child_output, _relay_warnings

    stderr = ("2024-05-01 10:00:00 [scrapy.core.engine] INFO: Spider opened\n"
              "2024-05-01 10:00:01 [scrapy.core.scraper] WARNING: Dropped: malformed item\n"
              "2024-05-01 10:00:02 [scrapy.core.scraper] ERROR: Spider error processing <GET http://x/>\n"
              "Traceback (most recent call last):\n  ...\nMemoryError: out of memory\n")
    outcome = _parse_child_output("some stray print\n", stderr, -9)
    assert outcome["errors"] == ["the crawl process ended without a result (exit -9): "
                                 "MemoryError: out of memory"]
    assert outcome["new"] == 0
    with caplog.at_level("WARNING", logger="crawler.runner"):
        _relay_warnings(stderr)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "spider: Dropped: malformed item"),
        ("ERROR", "spider: Spider error processing <GET http://x/>")]


def test_a_secret_straddling_the_cut_of_a_dying_childs_last_words_is_hidden():
    """The child's last line is cut to 300 characters for the error; cut first, the tail of a
    token at the cut no longer matched the secret and showed in part."""
    from crawler.runner import _parse_child_output
    from mentionwatch.logging_setup import remember_secrets

    token = "tok-" + "s3cr3t" * 10
    remember_secrets([token])
    line = "x" * 250 + f"RuntimeError: bad answer for {token}"  # the cut falls inside the token
    outcome = _parse_child_output("", line + "\n", 1)
    assert "s3cr3t" not in outcome["errors"][0]


def test_a_page_that_is_not_html_is_one_plain_error_line(tmp_path, caplog):
    """A site answering garbage as JSON with status 200: one line saying so, no Scrapy
    'Spider error processing' traceback relayed into the log."""

    class JsonGarbageSite(LocalServer):
        def handle_get(self, request):
            if request.path == "/robots.txt":
                return self.reply(request, 404, b"", "text/plain")
            self.reply(request, 200, b"<html><body>\x00 garbage {{{ not json", "application/json")

    with JsonGarbageSite() as site, caplog.at_level("WARNING", logger="crawler.runner"):
        result = run_spider(tmp_path / "x.db", WATCH, reviews_source(f"{site.url}/reviews/acme"),
                            settings_overrides=FAST, timeout=120)
    assert result["errors"] == [f"{site.url}/reviews/acme: not an HTML page (Content-Type: application/json)"]
    relayed = [r.getMessage() for r in caplog.records]
    assert not [line for line in relayed if "Spider error" in line or "Traceback" in line], relayed


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", encoding="ascii").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry))
    return children


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody reaped yet (what is left of a killed orphan)."""
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii").read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_crawl_process_dies_with_its_parent(tmp_path, endless_slow_site):
    """kill -9 of the service must not leave its crawl running on, storing mentions beside a
    restarted service: the `python -m crawler.runner` child ends with its parent."""
    parent_code = (
        "import sys; from crawler.runner import run_spider; "
        f"run_spider({str(tmp_path / 'x.db')!r}, {WATCH!r}, "
        f"{reviews_source(f'{endless_slow_site.url}/0', max_pages=10_000)!r}, "
        f"settings_overrides={FAST!r}, timeout=600)")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=str(PROJECT_ROOT))
    crawlers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not crawlers and time.monotonic() < deadline:
            crawlers = [pid for pid in _children_of(parent.pid)
                        if b"crawler.runner" in open(f"/proc/{pid}/cmdline", "rb").read()]
            time.sleep(0.05)
        assert crawlers, "the crawl process never started"
        # crawling: page 0 was read and its next page asked for
        wait_until(lambda: "/1" in endless_slow_site.requests, 60, interval=0.05,
                   what="the crawl to ask for page 1")
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not _gone(crawlers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(crawlers[0]), "the crawl process outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in crawlers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("start, is_feed", [
    (b'<?xml version="1.0"?><rss version="2.0">', True),
    (b'\n<?xml version="1.0" encoding="utf-8"?>\n<!-- generator -->\n<feed xmlns="x">', True),
    (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x">', True),
    (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">', False),
    (b"<!doctype html><html><body>rss feed</body></html>", False),
])
def test_feeds_are_told_from_sitemaps(start, is_feed):
    from crawler.spiders.sitemap import _FEED_START

    assert bool(_FEED_START.match(start)) is is_feed


# --- extraction and the pipeline's checks ------------------------------------------------------

def page(html: str, url: str = "https://reviews.test/acme?page=1") -> HtmlResponse:
    return HtmlResponse(url=url, body=html.encode("utf-8"), encoding="utf-8")


def review_options(**extra) -> ReviewOptions:
    return ReviewOptions.model_validate({"start_urls": ["https://reviews.test/acme"],
                                         "item": "li.r", "text": "q ::text",
                                         "date": "time::text", **extra})


def test_ids_are_stable_when_a_review_moves_to_another_page():
    html = '<ul><li class="r"><q>Acme <b>rocks</b></q><time>2024-05-01</time></li></ul>'
    (on_page_1,) = extract_mentions(page(html), review_options(), "reviews")
    (on_page_2,) = extract_mentions(page(html, "https://reviews.test/acme?page=2"),
                                    review_options(), "reviews")
    assert on_page_1["external_id"] == on_page_2["external_id"]
    assert on_page_1["external_id"].startswith("reviews.test:sha1:")
    assert on_page_1["text"] == "Acme rocks"
    assert on_page_1["url"] == "https://reviews.test/acme?page=1#1"


def test_date_format_and_ratings_are_read():
    html = ('<li class="r"><q>Acme ok</q><time>3 May 2024</time><i>Rated 4,5 out of 5</i></li>')
    (item,) = extract_mentions(page(html), review_options(date_format="%d %B %Y", rating="i::text"),
                               "reviews")
    mention = item_to_mention(item, "acme")
    assert (mention.created_at, mention.rating, mention.watches) == \
        ("2024-05-03T00:00:00Z", 4.5, ("acme",))


@pytest.mark.parametrize("change, field", [
    ({"text": "   "}, "text"),
    ({"created_at": None}, "created_at"),
    ({"created_at": "31/31/2024"}, "created_at"),
    ({"created_at": "last week", "date_format": "%d %B %Y"}, "created_at"),
    ({"external_id": ""}, "external_id"),
])
def test_malformed_items_are_rejected_naming_the_field(change, field):
    item = MentionItem(source="reviews", external_id="x:1", text="Acme", created_at="2024-05-01",
                       page_url="https://reviews.test/")
    item.update(change)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        item_to_mention(item, "acme")


def test_an_unreadable_rating_is_left_empty_with_a_warning():
    """Only the id, text and date make an item unusable: a rating with no number is dropped."""
    item = MentionItem(source="reviews", external_id="x:1", text="Acme", created_at="2024-05-01",
                       rating="five stars", page_url="https://reviews.test/")
    warnings = []
    assert item_to_mention(item, "acme", warnings).rating is None
    assert warnings == ["rating: no number in 'five stars'; kept without it"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html=st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(['<li class="r">', "</li>", "<q>", "</q>", "<time>", "</time>",
                              "Acme", "2024-05-01", "&amp;", "<script>", "<!--", "\x00", "é"]),
             max_size=40).map("".join)))
def test_any_page_yields_items_or_clean_rejections(html):
    """Fuzz: whatever the page holds, extraction never raises and each item is either stored-ready
    or rejected with a ValueError (the pipeline's skip-and-log boundary)."""
    options = review_options(rating="i::text", date_format=None)
    for item in extract_mentions(page(html), options, "reviews"):
        try:
            item_to_mention(item, "acme")
        except ValueError:
            pass


# --- settings ----------------------------------------------------------------------------------

def test_settings_are_polite_and_the_cache_is_opt_in(monkeypatch):
    import crawler.settings as crawl_settings

    monkeypatch.delenv("MENTIONWATCH_HTTPCACHE", raising=False)
    crawl_settings = importlib.reload(crawl_settings)
    assert crawl_settings.ROBOTSTXT_OBEY is True
    assert crawl_settings.AUTOTHROTTLE_ENABLED is True
    assert crawl_settings.CONCURRENT_REQUESTS_PER_DOMAIN <= 2
    assert crawl_settings.USER_AGENT.startswith("mentionwatch/")
    assert crawl_settings.HTTPCACHE_ENABLED is False
    assert crawl_settings.REMOTE_CONTROL_ENABLED is False and crawl_settings.TELNETCONSOLE_ENABLED is False
    monkeypatch.setenv("MENTIONWATCH_HTTPCACHE", "1")
    assert importlib.reload(crawl_settings).HTTPCACHE_ENABLED is True
    monkeypatch.delenv("MENTIONWATCH_HTTPCACHE")
    importlib.reload(crawl_settings)
