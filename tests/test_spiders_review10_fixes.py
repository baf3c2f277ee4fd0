"""The reviews spider against sites laid out as real ones are (a review of 2026-12-06): a review shown
on every listing page, a forum whose newest posts do not match the watch, a site that moved host,
a sitemap index with an archive, two sitemaps listing the same pages.

The real Scrapy engine in its child process against a local server on 127.0.0.1 (Site)."""
from __future__ import annotations

import time

from storage import open_db
from test_spiders_walk_fixes import HTML, XML, Site, crawl, crawl_reviews, listing, stored, urlset


def publish_with_a_pinned_review(site: Site, newest_first: list[str], per_page: int = 3) -> None:
    """`newest_first` a few a page, under a 'most helpful' review shown at the top of every page."""
    pages = [newest_first[at:at + per_page] for at in range(0, len(newest_first), per_page)]
    for number, page_ids in enumerate(pages, start=1):
        next_href = f"/list?page={number + 1}" if number < len(pages) else None
        site.pages[f"/list?page={number}"] = listing(["pinned", *page_ids], next_href)


def test_a_review_shown_on_every_page_does_not_stop_the_crawl_above_the_new_ones(tmp_path):
    """A stored review above the new ones on page 1 stopped the crawl there: the new reviews it
    pushed onto page 2 were never read, by any later crawl either."""
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        publish_with_a_pinned_review(site, ["o6", "o5", "o4", "o3", "o2", "o1"])
        assert crawl_reviews(site, db_path)["new"] == 7
        publish_with_a_pinned_review(site, ["n5", "n4", "n3", "n2", "n1", "o6", "o5", "o4", "o3", "o2", "o1"])
        asked = len(site.requests)
        second = crawl_reviews(site, db_path)
        assert (second["new"], second["errors"]) == (5, [])
        # page 3 ends with o4 and o3, read before: the older pages are not fetched again
        assert [path for path in site.requests[asked:] if path != "/robots.txt"] == [
            "/list?page=1", "/list?page=2", "/list?page=3"]
    assert {external_id.rsplit(":", 1)[1] for external_id in stored(db_path)} >= {"n1", "n2", "n3", "n4", "n5"}


def test_a_sticky_post_closing_every_page_does_not_stop_the_crawl_either(tmp_path):
    """Review of the fix above: a page that merely ended with a known review stopped the crawl, so
    a forum's rules post closing every page stopped it at page 1 and lost what page 2 held."""
    def publish(newest_first: list[str]) -> None:
        pages = [newest_first[at:at + 3] for at in range(0, len(newest_first), 3)]
        for number, page_ids in enumerate(pages, start=1):
            posts = "".join(f'<div class="review" data-id="{i}"><p>Acme post {i}</p></div>' for i in page_ids)
            posts += '<div class="review" data-id="rules"><p>Forum rules: be nice</p></div>'
            link = f'<a class="next" href="/list?page={number + 1}">Next</a>' if number < len(pages) else ""
            site.pages[f"/list?page={number}"] = (200, HTML, f'<html lang="en"><body>{posts}{link}</body></html>')

    db_path = tmp_path / "m.db"
    with Site({}) as site:
        publish(["o6", "o5", "o4", "o3", "o2", "o1"])
        assert crawl_reviews(site, db_path)["new"] == 6
        publish(["n4", "n3", "n2", "n1", "o6", "o5", "o4", "o3", "o2", "o1"])
        assert crawl_reviews(site, db_path)["new"] == 4
        asked = len(site.requests)
        assert crawl_reviews(site, db_path)["new"] == 0  # nothing new: page 1 ends with n2 and the rules
        assert [path for path in site.requests[asked:] if path != "/robots.txt"] == ["/list?page=1"]


def off_topic_page(number: int, last: int) -> tuple[int, str, str]:
    posts = "".join(f'<div class="review" data-id="p{number}-{k}"><p>Blender talk {number}-{k}</p></div>'
                    for k in range(3))
    link = "" if number == last else f'<a class="next" href="/list?page={number + 1}">Next</a>'
    return 200, HTML, f'<html lang="en"><body>{posts}{link}</body></html>'


def test_a_listing_with_no_matching_review_is_not_read_further_on_every_crawl(tmp_path):
    """With nothing stored, no crawl after the first reached 'a stored review', so each left the
    listing unfinished and the next read `max_pages` further: 3, 3, 6, 9, 12 … pages."""
    db_path = tmp_path / "m.db"
    with Site({}) as site:
        for number in range(1, 41):
            site.pages[f"/list?page={number}"] = off_topic_page(number, 40)
        read = []
        for _ in range(4):
            asked = len(site.requests)
            result = crawl_reviews(site, db_path, max_pages=3)
            assert (result["new"], result["errors"]) == (0, [])
            read.append(len([path for path in site.requests[asked:] if path.startswith("/list")]))
    assert read == [3, 1, 1, 1]  # then page 1 ends with a post read before


class MovedSite(Site):
    """Once `moved`, every page asked for at 127.0.0.1 answers a 301 to the same path at localhost."""

    moved = False

    def handle_get(self, request):
        if self.moved and request.headers.get("Host", "").startswith("127.0.0.1") and request.path != "/robots.txt":
            self.requests.append(request.path)
            port = self.httpd.server_address[1]
            return self.reply(request, 301, b"", HTML, {"Location": f"http://localhost:{port}{request.path}"})
        return super().handle_get(request)


def test_a_site_that_moved_host_has_no_review_stored_twice(tmp_path):
    """After a 301 to another host name every review's id took the new host: all were stored a
    second time (a false spike), and the crawl never stopped at the known ones."""
    db_path = tmp_path / "m.db"
    with MovedSite({}) as site:
        site.pages["/list?page=1"] = listing(["a", "b", "c"], "/list?page=2")
        site.pages["/list?page=2"] = listing(["d", "e", "f"], None)
        assert crawl_reviews(site, db_path)["new"] == 6
        site.moved = True
        site.pages["/list?page=1"] = listing(["new", "a", "b"], "/list?page=2")
        site.pages["/list?page=2"] = listing(["c", "d", "e"], "/list?page=3")
        site.pages["/list?page=3"] = listing(["f"], None)
        second = crawl_reviews(site, db_path)
        assert (second["new"], second["errors"]) == (1, [])
        port = site.httpd.server_address[1]
    assert stored(db_path) == sorted([f"127.0.0.1:{port}:{review}" for review in "abcdef"] + [f"localhost:{port}:new"])


# sitemaps: max_pages newest first across every sitemap ---------------------------------------------

class NewestAnswersLast(Site):
    """The sitemap named in `slow` answers half a second late."""

    slow = ""
    delay = 0.5

    def handle_get(self, request):
        if request.path == self.slow:
            time.sleep(self.delay)
        super().handle_get(request)


def _news_page(path: str) -> tuple[int, str, str]:
    return 200, HTML, f"<html lang='en'><body><article><p>Acme news {path}</p></article></body></html>"


def test_max_pages_goes_to_the_newest_pages_of_every_sitemap_not_the_first_to_answer(tmp_path):
    """An index listing a 2019 archive and this year's sitemap: the archive, answering first, used
    up max_pages, and the new posts waited for later crawls."""
    with NewestAnswersLast({}) as site:
        site.slow = "/sitemap-2024.xml"
        old = [(f"{site.url}/2019/{i}", f"2019-01-{i + 1:02d}") for i in range(5)]
        new = [(f"{site.url}/2024/{i}", f"2024-06-{i + 1:02d}") for i in range(5)]
        site.pages["/sitemap.xml"] = (200, XML, (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.url}/sitemap-2019.xml</loc></sitemap>"
            f"<sitemap><loc>{site.url}/sitemap-2024.xml</loc></sitemap></sitemapindex>"))
        site.pages["/sitemap-2019.xml"], site.pages["/sitemap-2024.xml"] = urlset(old), urlset(new)
        for url, _ in old + new:
            site.pages[url.removeprefix(site.url)] = _news_page(url)
        result = crawl(site, tmp_path / "m.db", "sitemap", {"sitemap_urls": [site.url + "/sitemap.xml"], "max_pages": 5})
        assert (result["new"], result["errors"]) == (5, [])
    assert all(created.startswith("2024-06") for created in stored(tmp_path / "m.db", "created_at"))


def test_a_page_listed_in_two_sitemaps_is_fetched_once_and_counted_once(tmp_path):
    """A news sitemap and the full one list the same newest pages: the second sitemap's share of
    max_pages went on those pages again, and Scrapy's duplicate filter dropped them."""
    with NewestAnswersLast({}) as site:
        site.slow = "/sitemap.xml"
        pages = [(f"{site.url}/a/{i}", f"2024-06-{30 - i:02d}") for i in range(20)]
        site.pages["/news-sitemap.xml"], site.pages["/sitemap.xml"] = urlset(pages[:5]), urlset(pages)
        for url, _ in pages:
            site.pages[url.removeprefix(site.url)] = _news_page(url)
        result = crawl(site, tmp_path / "m.db", "sitemap",
                       {"sitemap_urls": [site.url + "/news-sitemap.xml", site.url + "/sitemap.xml"], "max_pages": 10})
        assert (result["new"], result["errors"]) == (10, [])
        assert sorted(path for path in site.requests if path.startswith("/a/")) == sorted(f"/a/{i}" for i in range(10))


class GzipSitemap(Site):
    gz = b""

    def handle_get(self, request):
        if request.path == "/sitemap.xml.gz":
            self.requests.append(request.path)
            return self.reply(request, 200, self.gz, "application/x-gzip")
        super().handle_get(request)


def padded_sitemap(site: Site, megabytes: int) -> bytes:
    """A sitemap listing one page, padded with white space to `megabytes` MB, gzipped (a few kB)."""
    import gzip

    padding = " " * (megabytes * 2**20)
    return gzip.compress((f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                          f"<url><loc>{site.url}/p/1</loc><lastmod>2024-05-01</lastmod></url>{padding}"
                          "</urlset>").encode())


def test_a_gzip_sitemap_up_to_the_protocols_50_mb_is_read_and_a_larger_one_said_so(tmp_path):
    """A valid .gz sitemap of 39 MB unpacked was 'neither a sitemap nor an RSS/Atom feed': Scrapy
    gives up unpacking past the size a page may have (32 MB)."""
    with GzipSitemap({"/p/1": _news_page("/p/1")}) as site:
        site.gz = padded_sitemap(site, 40)
        read = crawl(site, tmp_path / "m.db", "sitemap", {"sitemap_urls": [site.url + "/sitemap.xml.gz"]})
        assert (read["new"], read["errors"]) == (1, [])
        site.gz = padded_sitemap(site, 51)
        too_large = crawl(site, tmp_path / "other.db", "sitemap", {"sitemap_urls": [site.url + "/sitemap.xml.gz"]})
    assert too_large["errors"] == [f"{site.url}/sitemap.xml.gz: a gzip file larger than 50 MB once unpacked "
                                   "(a sitemap may hold 50 MB): not read"]


def test_a_review_erased_before_the_site_moved_stays_out(tmp_path, cli):
    """Review of the host-move fix: only ids still stored were moved back to the start URL's host,
    so a review erased with `forget` came back under the new host."""
    db_path = tmp_path / "m.db"
    with MovedSite({}) as site:
        site.pages["/list?page=1"] = listing(["a", "b", "c"], None)
        assert crawl_reviews(site, db_path)["new"] == 3
        db = open_db(db_path)
        [(erased,)] = db.execute("SELECT id FROM mentions WHERE external_id LIKE '%:b'").fetchall()
        db.close()
        assert cli("--db", db_path, "forget", erased, "--yes").exit_code == 0
        site.moved = True
        assert crawl_reviews(site, db_path)["new"] == 0
    assert [external_id.rsplit(":", 1)[1] for external_id in stored(db_path)] == ["a", "c"]


class SchemeMovedSite(Site):
    """Reviews with permalinks; once `moved`, every page answers a 301 to the same path at localhost,
    whose own pages' permalinks say https (as after a move to https://www.)."""

    moved = False

    def handle_get(self, request):
        port = self.httpd.server_address[1]
        if self.moved and request.headers.get("Host", "").startswith("127.0.0.1") and request.path != "/robots.txt":
            self.requests.append(request.path)
            return self.reply(request, 301, b"", HTML, {"Location": f"http://localhost:{port}{request.path}"})
        return super().handle_get(request)


def permalinked(ids: list[str], base: str) -> tuple[int, str, str]:
    reviews = "".join(f'<div class="review"><a class="link" href="{base}/r/{i}">#</a><p>Acme review {i}</p></div>'
                      for i in ids)
    return 200, HTML, f'<html lang="en"><body>{reviews}</body></html>'


def test_reviews_known_by_permalink_keep_their_ids_when_the_scheme_and_host_change(tmp_path):
    """The usual move, to https://www., changes a permalink's scheme as well as its host: only the
    host was put back, and every review was stored a second time."""
    db_path = tmp_path / "m.db"
    selectors = {"item": "div.review", "text": "p ::text", "url": "a.link::attr(href)"}
    with SchemeMovedSite({}) as site:
        port = site.httpd.server_address[1]
        site.pages["/list"] = permalinked(["a", "b"], f"http://127.0.0.1:{port}")
        first = crawl(site, db_path, "reviews", {"start_urls": [site.url + "/list"], **selectors})
        assert first["new"] == 2
        site.moved = True
        site.pages["/list"] = permalinked(["n", "a", "b"], f"https://localhost:{port}")
        second = crawl(site, db_path, "reviews", {"start_urls": [site.url + "/list"], **selectors})
        assert (second["new"], second["errors"]) == (1, [])
    assert stored(db_path) == [f"http://127.0.0.1:{port}/r/a", f"http://127.0.0.1:{port}/r/b",
                               f"https://localhost:{port}/r/n"]


def test_permalinks_on_https_under_an_http_start_url_are_not_stored_again_after_a_move(tmp_path):
    """Review of the scheme fix: permalinks always on https under a start URL written http:// were
    looked for with http://, found nowhere, and stored a second time."""
    db_path = tmp_path / "m.db"
    selectors = {"item": "div.review", "text": "p ::text", "url": "a.link::attr(href)"}
    with SchemeMovedSite({}) as site:
        port = site.httpd.server_address[1]
        site.pages["/list"] = permalinked(["a", "b"], f"https://127.0.0.1:{port}")
        assert crawl(site, db_path, "reviews", {"start_urls": [site.url + "/list"], **selectors})["new"] == 2
        site.moved = True
        site.pages["/list"] = permalinked(["n", "a", "b"], f"https://localhost:{port}")
        assert crawl(site, db_path, "reviews", {"start_urls": [site.url + "/list"], **selectors})["new"] == 1


def test_a_listing_of_posts_left_out_still_stops_where_it_did_after_the_site_moved(tmp_path):
    """Review of the host-move fix: posts left out by the query are remembered by their ids under
    the old host, so after the move no page ended with known posts and each crawl read 3 pages
    further, down to the end of the listing."""
    db_path = tmp_path / "m.db"
    with MovedSite({}) as site:
        for number in range(1, 11):
            site.pages[f"/list?page={number}"] = off_topic_page(number, 10)
        assert crawl_reviews(site, db_path, max_pages=3)["new"] == 0
        site.moved = True
        for _ in range(2):
            asked = len(site.requests)
            assert crawl_reviews(site, db_path, max_pages=3)["new"] == 0
            # page 1, asked at the old host (a 301) and at the new one
            assert [path for path in site.requests[asked:] if path.startswith("/list")] == ["/list?page=1"] * 2


class EachSlow(Site):
    """Each path in `delays` answers that many seconds late."""

    delays: dict = {}

    def handle_get(self, request):
        time.sleep(self.delays.get(request.path, 0))
        super().handle_get(request)


def _crawl_a_new_and_an_archive_sitemap(tmp_path, delays: dict, timeout: float) -> dict:
    """A sitemap of 5 pages of 2024 and an archive's of one page of 2019, each answering as late as
    `delays` says, crawled with a time limit of `timeout` seconds."""
    from crawler.runner import run_spider
    from test_spiders_walk_fixes import FAST, WATCH  # noqa: E402

    with EachSlow({}) as site:
        site.delays = delays
        new = [(f"{site.url}/2024/{i}", f"2024-06-{i + 1:02d}") for i in range(5)]
        site.pages["/sitemap-2024.xml"] = urlset(new)
        site.pages["/sitemap-archive.xml"] = urlset([(f"{site.url}/2019/1", "2019-01-01")])
        for url, _ in new:
            site.pages[url.removeprefix(site.url)] = _news_page(url)
        source = {"type": "sitemap", "options": {"min_interval": 0, "sitemap_urls": [
            site.url + "/sitemap-2024.xml", site.url + "/sitemap-archive.xml"]}}
        return run_spider(tmp_path / "m.db", WATCH, source, settings_overrides={**FAST, "DOWNLOAD_TIMEOUT": 60},
                          timeout=timeout)


def test_pages_of_the_sitemaps_read_are_fetched_before_a_time_limit_a_slow_sitemap_runs_into(tmp_path):
    """Review of the newest-first fix: pages were asked for only once every sitemap was read, so a
    slow archive sitemap that ran into the crawl's time limit left the crawl with no page at all."""
    result = _crawl_a_new_and_an_archive_sitemap(tmp_path, {"/sitemap-archive.xml": 6.0}, timeout=3)
    assert result["new"] == 5 and result["finish_reason"] == "closespider_timeout"


def test_the_early_choice_is_halfway_to_the_time_limit_counted_from_the_crawls_start(tmp_path):
    """Third review: the early choice was timed from the first sitemap read, so one read after half
    the time limit left the crawl with no page asked for."""
    result = _crawl_a_new_and_an_archive_sitemap(
        tmp_path, {"/sitemap-2024.xml": 2.5, "/sitemap-archive.xml": 8.0}, timeout=4)
    assert result["new"] == 5 and result["finish_reason"] == "closespider_timeout"


def test_a_sitemap_answering_in_seconds_is_waited_for_when_the_time_limit_is_far(tmp_path):
    """Review of the time-limit fix: the pages pooled so far were chosen 30 s (or a quarter of the
    time limit) after the first sitemap, so a site with many sitemaps spent max_pages on the old
    ones that answered first. They are chosen early only halfway to the time limit."""
    from crawler.runner import run_spider
    from test_spiders_walk_fixes import FAST, WATCH  # noqa: E402

    with NewestAnswersLast({}) as site:
        site.slow, site.delay = "/sitemap-2024.xml", 3.0
        old = [(f"{site.url}/2019/{i}", f"2019-01-{i + 1:02d}") for i in range(3)]
        new = [(f"{site.url}/2024/{i}", f"2024-06-{i + 1:02d}") for i in range(3)]
        site.pages["/sitemap-2019.xml"], site.pages["/sitemap-2024.xml"] = urlset(old), urlset(new)
        for url, _ in old + new:
            site.pages[url.removeprefix(site.url)] = _news_page(url)
        source = {"type": "sitemap", "options": {"min_interval": 0, "max_pages": 3, "sitemap_urls": [
            site.url + "/sitemap-2019.xml", site.url + "/sitemap-2024.xml"]}}
        result = run_spider(tmp_path / "m.db", WATCH, source, settings_overrides=FAST, timeout=10)
    assert (result["new"], result["errors"]) == (3, [])
    assert all(created.startswith("2024-06") for created in stored(tmp_path / "m.db", "created_at"))


def test_a_gzip_sitemap_served_as_xml_is_read(tmp_path):
    """Review: Scrapy leaves a .gz served as application/xml packed; it was 'neither a sitemap nor
    an RSS/Atom feed'."""
    import gzip

    class XmlGzip(Site):
        def handle_get(self, request):
            if request.path == "/s1.xml.gz":
                self.requests.append(request.path)
                return self.reply(request, 200, gzip.compress(urlset([(f"{self.url}/p/1", "2024-06-01")])[2].encode()),
                                  "application/xml")
            super().handle_get(request)

    with XmlGzip({"/p/1": _news_page("/p/1")}) as site:
        result = crawl(site, tmp_path / "m.db", "sitemap", {"sitemap_urls": [site.url + "/s1.xml.gz"]})
    assert (result["new"], result["errors"]) == (1, [])


def test_a_small_gzip_feed_is_read_and_a_gzip_page_is_not_called_too_large(tmp_path):
    """Review of the 50 MB fix: every .gz that was not a sitemap was said to be 'larger than 50 MB
    once unpacked', a gzipped feed of 161 bytes too (and it was never read)."""
    import gzip

    class Blobs(Site):
        blobs: dict = {}

        def handle_get(self, request):
            if request.path in self.blobs:
                self.requests.append(request.path)
                return self.reply(request, 200, self.blobs[request.path], "application/x-gzip")
            super().handle_get(request)

    with Blobs({"/p/1": _news_page("/p/1")}) as site:
        feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Acme</title>'
                f"<link>{site.url}/p/1</link><pubDate>Sat, 01 Jun 2024 10:00:00 GMT</pubDate></item></channel></rss>")
        site.blobs = {"/feed.xml.gz": gzip.compress(feed.encode()),
                      "/page.html.gz": gzip.compress(b"<html><body>hi</body></html>")}
        read = crawl(site, tmp_path / "feed.db", "sitemap", {"sitemap_urls": [site.url + "/feed.xml.gz"]})
        assert (read["new"], read["errors"]) == (1, [])
        page = crawl(site, tmp_path / "page.db", "sitemap", {"sitemap_urls": [site.url + "/page.html.gz"]})
    assert page["errors"] == [f"{site.url}/page.html.gz: neither a sitemap nor an RSS/Atom feed (once unpacked)"]
