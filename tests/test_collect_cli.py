"""`mentionwatch crawl` and `mentionwatch sources`, against a local HTTP server serving recorded data."""
from __future__ import annotations

import json

import pytest

from crawler.pollers import SOURCES
from mentionwatch.local_servers import LocalServer

HN = "api/hackernews/search_by_date_query-nodejs.json"
BBC = "api/rss/bbc_news_frontpage_2024-08-08.xml"


@pytest.fixture
def server(shared_file):
    routes = {
        "/hn/search_by_date": ("application/json", shared_file(HN).read_bytes()),
        "/feeds/bbc.xml": ("application/rss+xml", shared_file(BBC).read_bytes()),
    }

    class RecordedApis(LocalServer):
        def handle_get(self, request):
            content_type, body = routes.get(request.path.split("?")[0], ("text/plain", None))
            if body is None:
                self.reply(request, 404, b"not found", "text/plain")
            else:
                self.reply(request, 200, body, content_type)

    with RecordedApis() as local:
        yield local.url


def write_config(tmp_path, server: str, hn_path: str = "/hn", feed: str = "/feeds/bbc.xml"):
    config = {
        "database": "mw.db",
        "watches": [
            {"name": "node", "query": {"any": ["node", "nodejs", "javascript", "npm"]},
             "sources": [{"type": "hackernews", "base_url": server + hn_path,
                          "options": {"max_pages": 1, "query": "nodejs"}}]},
            {"name": "news", "query": {"any": ["labour", "olympics", "police"]},
             "sources": [{"type": "rss", "options": {"urls": [server + feed]}}]},
        ],
    }
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is valid YAML
    return path


def test_crawl_prints_a_summary_and_stores(cli, tmp_path, server):
    config = write_config(tmp_path, server)
    result = cli("--config", config, "crawl")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["watch", "source", "status", "fetched", "new", "duplicates", "filtered",
                                "rejected", "errors", "time"]
    rows = {tuple(line.split()[:3]): line.split() for line in lines[1:]}
    assert rows[("node", "hackernews", "ok")][3] == "20"
    assert rows[("news", "rss", "ok")][3] == "54"
    from storage import open_db

    db = open_db(tmp_path / "mw.db")
    new_total = int(rows[("node", "hackernews", "ok")][4]) + int(rows[("news", "rss", "ok")][4])
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == new_total > 0
    assert db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'ok'").fetchone()[0] == 2

    again = cli("--config", config, "crawl", "--watch", "news")
    assert again.exit_code == 0
    (row,) = [line.split() for line in again.stdout.splitlines()[1:]]
    assert row[:5] == ["news", "rss", "ok", "54", "0"]


def test_crawl_exit_code_only_when_every_source_failed(cli, tmp_path, server):
    half = write_config(tmp_path, server, hn_path="/missing")
    result = cli("--config", half, "crawl")
    assert result.exit_code == 0
    port = server.rsplit(":", 1)[1]
    assert f"node/hackernews: GET 127.0.0.1:{port}/missing/search_by_date: HTTP 404 Not Found" in result.stderr

    broken = write_config(tmp_path, server, hn_path="/missing", feed="/feeds/none.xml")
    result = cli("--config", broken, "crawl")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stdout.count("failed") == 2


def test_crawl_filters_and_rejects_unknown_names(cli, tmp_path, server):
    config = write_config(tmp_path, server)
    only_rss = cli("--config", config, "crawl", "--source", "rss")
    assert only_rss.exit_code == 0
    assert [line.split()[1] for line in only_rss.stdout.splitlines()[1:]] == ["rss"]
    unknown = cli("--config", config, "crawl", "--watch", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == f"Error: no watch named 'nope' in {config}"
    bad_type = cli("--config", config, "crawl", "--source", "myspace")
    assert bad_type.exit_code == 2 and "unknown source type 'myspace'" in bad_type.stderr
    both = cli("--config", config, "crawl", "--source", "rss", "--source", "hackernews")
    assert both.exit_code == 0, both.output
    assert sorted(line.split()[1] for line in both.stdout.splitlines()[1:-1]) == ["hackernews", "rss"]


def test_two_sources_of_one_type_are_told_apart_in_crawl_and_status(cli, tmp_path, server):
    from crawler.source_types import source_label
    from mentionwatch.config import Config

    feeds = ["/feeds/bbc.xml", "/feeds/gone.xml", "/feeds/bbc.xml?copy"]
    config = {"database": "mw.db", "watches": [{
        "name": "news", "query": {"any": ["labour", "olympics", "police"]},
        "sources": [{"type": "rss", "options": {"urls": [server + feed]}} for feed in feeds]}]}
    watch = Config.model_validate(config).watches[0]
    working, gone, copy = (source_label(watch, source) for source in watch.sources)
    assert working.startswith("rss#") and len({working, gone, copy}) == 3
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    result = cli("--config", path, "crawl")
    rows = {line.split()[1]: line.split()[2] for line in result.stdout.splitlines()[1:-1]}
    assert rows == {working: "ok", gone: "failed", copy: "ok"}
    assert f"news/{gone}: " in result.stderr and "gone.xml" in result.stderr

    config["watches"][0]["sources"].pop(0)  # the first feed is removed: the others keep their history
    path.write_text(json.dumps(config), encoding="utf-8")
    status = json.loads(cli("--config", path, "status", "--json").stdout)
    by_source = {entry["source"]: entry for entry in status["sources"]}
    assert by_source[gone]["in_watchlist"] and "HTTP 404" in by_source[gone]["last_error"]
    assert by_source[copy]["in_watchlist"] and by_source[copy]["last_error"] is None
    assert not by_source[working]["in_watchlist"]
    assert f"{working} (not in the watchlist)" in cli("--config", path, "status").stdout


def test_status_says_why_a_sources_runs_lost_their_name_when_a_second_of_its_type_is_added(
        cli, tmp_path, server):
    config = {"database": "mw.db", "watches": [{
        "name": "news", "query": {"any": ["labour", "olympics", "police"]},
        "sources": [{"type": "rss", "options": {"urls": [server + "/feeds/bbc.xml"]}}]}]}
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert cli("--config", path, "crawl").exit_code == 0
    config["watches"][0]["sources"].append({"type": "rss", "options": {"urls": [server + "/feeds/bbc.xml?b"]}})
    path.write_text(json.dumps(config), encoding="utf-8")
    status = json.loads(cli("--config", path, "status", "--json").stdout)
    old_runs = next(entry for entry in status["sources"] if entry["source"] == "rss")
    assert old_runs["renamed_since"] and not old_runs["in_watchlist"]
    text = cli("--config", path, "status").stdout
    assert "rss (runs from before a second rss source was added)" in text
    assert "(not in the watchlist)" not in text

def test_status_counts_a_partial_run_as_collecting_and_dates_runs_by_their_end(cli, tmp_path):
    from storage.db import open_db

    path = tmp_path / "mentionwatch.yaml"
    path.write_text(json.dumps({"database": "mw.db", "watches": [{
        "name": "news", "query": {"any": ["acme"]}, "sources": [{"type": "hackernews"}]}]}), encoding="utf-8")
    db = open_db(tmp_path / "mw.db")
    runs = [("2026-12-01T10:00:00Z", "2026-12-01T10:00:05Z", "ok", None),
            ("2026-12-01T11:00:00Z", "2026-12-01T11:02:00Z", "partial", '["GET a/b: HTTP 404 Not Found"]'),
            ("2026-12-01T12:00:00Z", "2026-12-01T12:03:30Z", "failed", '["GET a/c: timed out"]')]
    for started, finished, state, errors in runs:
        db.execute("INSERT INTO crawl_runs (watch, source, started_at, finished_at, status, errors) "
                   "VALUES ('news', 'hackernews', ?, ?, ?, ?)", [started, finished, state, errors])
    db.conn.commit()
    source = json.loads(cli("--config", path, "status", "--json").stdout)["sources"][0]
    assert source["last_success_at"] == "2026-12-01T11:02:00Z"  # the partial run collected
    assert source["last_error_at"] == "2026-12-01T12:03:30Z"  # when the failing run gave up
    assert source["last_error"] == "GET a/c: timed out"

    long_error = "GET a/d: host name not found (ConnectError) (after 4 attempts); " + "more words " * 12
    db.execute("INSERT INTO crawl_runs (watch, source, started_at, finished_at, status, errors) "
               "VALUES ('news', 'hackernews', '2026-12-01T13:00:00Z', '2026-12-01T13:00:09Z', 'failed', ?)",
               [json.dumps([long_error.strip()])])
    db.conn.commit()
    shown = cli("--config", path, "status").stdout
    assert "(after 4 attempts); more words" in shown and "words…" in shown  # cut at a word, marked
    assert json.loads(cli("--config", path, "status", "--json").stdout)["sources"][0]["last_error"] == long_error.strip()


def test_sources_lists_every_type_with_its_options(cli):
    result = cli("sources")
    assert result.exit_code == 0
    for type_name, info in SOURCES.items():
        assert f"{type_name}  (" in result.stdout
        for option in info.options:
            assert f"options.{option}:" in result.stdout
    assert "reviews  (Scrapy spider)" in result.stdout and "sitemap  (Scrapy spider)" in result.stdout
    assert "MENTIONWATCH_GITHUB_TOKEN" in result.stdout
    # what base_url replaces: the address up to the API's own paths, which differs by type
    assert "(default https://hn.algolia.com/api/v1)" in result.stdout
    assert "(default https://itunes.apple.com)" in result.stdout


def test_the_watchlist_knows_exactly_the_types_that_can_be_collected():
    from crawler.source_types import SOURCE_TYPES

    assert sorted(SOURCE_TYPES) == sorted(SOURCES)


def test_bench_parsers_prints_a_rate_per_recorded_file(cli, shared_data):
    result = cli("bench", "parsers", "--data", shared_data, "--seconds", "0.05")
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["r_all_new_2016-12-22.json"][2] == "100"
    assert rows["nytimes_world_2024-08-08.xml"][2] == "60"
    assert rows["google_play_review_jp.mixi.html"][2] == "40"
    assert rows["thread_view_post_with_embed_media.json"][2:4] == ["0", "-"]  # a quote with no text of its own
    assert all(float(row[3].replace(",", "")) > 0 for row in rows.values() if row[2] != "0")


def test_bench_parsers_without_the_data_is_an_error_not_a_table(cli, tmp_path):
    result = cli("bench", "parsers", "--data", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such folder" in result.stderr
    result = cli("bench", "parsers", "--data", tmp_path)  # a folder without the recorded files
    assert result.exit_code == 1 and "8 of 8 recorded files are missing" in result.stderr


def test_readme_example_watch_is_valid():
    import re
    from pathlib import Path

    from mentionwatch.config import parse_config

    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text(encoding="utf-8").split("### Configuring a source", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = parse_config(example)
    types = [source.type for source in config.watches[0].sources]
    assert set(types) <= set(SOURCES) and len(set(types)) == len(types) == 9


def test_bench_spiders_crawls_the_generated_site_then_stops_at_page_one(cli):
    result = cli("bench", "spiders", "--pages", "3", "--reviews", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("one-page crawl (process + Scrapy start):")
    assert lines[1].startswith("full crawl: 3 pages, 6 reviews stored in ")
    assert lines[2].startswith("second crawl: 0 new, 1 page(s) read in ")
    assert "errors:" not in result.output


def test_crawl_says_how_many_error_lines_it_left_out(cli, tmp_path):
    """Seven start pages answer 404: five lines are printed, then one saying two more were left out
    and where all of them are kept."""
    with LocalServer() as site:  # answers 404 to everything, robots.txt included (allow all)
        paths = [f"/reviews/{n}.html" for n in range(1, 8)]
        config = {"database": "mw.db", "watches": [{
            "name": "shop", "query": {"any": ["acme"]},
            "sources": [{"type": "reviews", "options": {
                "start_urls": [site.url + path for path in paths], "item": "div.review",
                "text": "p ::text", "min_interval": 0}}]}]}
        path = tmp_path / "mentionwatch.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")
        result = cli("--config", path, "crawl")
    assert result.exit_code == 1  # the only source failed
    lines = [line for line in result.stderr.splitlines() if line.startswith("shop/reviews: ")]
    assert len(lines) == 6 and all(line.endswith(": HTTP 404") for line in lines[:5])
    assert lines[5] == ("shop/reviews: … and 2 more errors (all 7 are kept in the database: table "
                        "crawl_runs, id 1; see mentionwatch browse)")
    from storage import open_db

    db = open_db(tmp_path / "mw.db")
    assert len(json.loads(db.execute("SELECT errors FROM crawl_runs WHERE id = 1").fetchone()[0])) == 7


def test_crawl_source_takes_the_label_of_one_of_several_sources_of_a_type(cli, tmp_path, server):
    from crawler.source_types import source_label
    from mentionwatch.config import Config

    config = {"database": "mw.db", "watches": [{
        "name": "node", "query": {"any": ["node", "nodejs"]},
        "sources": [{"type": "hackernews", "base_url": server + "/hn",
                     "options": {"max_pages": 1, "query": query}} for query in ("nodejs", "node")]}]}
    watch = Config.model_validate(config).watches[0]
    first, second = (source_label(watch, source) for source in watch.sources)
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    result = cli("--config", path, "crawl", "--source", second)
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == [second]
    # a label together with its whole type: each source once
    both = cli("--config", path, "crawl", "--source", first, "--source", "hackernews")
    assert sorted(line.split()[1] for line in both.stdout.splitlines()[1:-1]) == sorted([first, second])
    unknown = cli("--config", path, "crawl", "--source", "hackernews#00000000")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == (
        f"Error: no hackernews source labelled 'hackernews#00000000' in the watchlist (its hackernews "
        f"sources: {', '.join(sorted([first, second]))})")
    bad_type = cli("--config", path, "crawl", "--source", "hackernewz#00000000")
    assert bad_type.exit_code == 2 and "unknown source type 'hackernewz'" in bad_type.stderr


def test_status_tells_the_remaining_sources_runs_from_the_removed_ones_when_two_become_one(cli, tmp_path, server):
    """Review of the last session's fixes: the reverse of the test above."""
    from crawler.source_types import source_label
    from mentionwatch.config import Config

    config = {"database": "mw.db", "watches": [{
        "name": "news", "query": {"any": ["labour", "olympics", "police"]},
        "sources": [{"type": "rss", "options": {"urls": [server + "/feeds/bbc.xml"]}},
                    {"type": "rss", "options": {"urls": [server + "/feeds/bbc.xml?b"]}}]}]}
    watch = Config.model_validate(config).watches[0]
    kept, removed = (source_label(watch, source) for source in watch.sources)
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert cli("--config", path, "crawl").exit_code == 0
    config["watches"][0]["sources"].pop()
    path.write_text(json.dumps(config), encoding="utf-8")
    text = cli("--config", path, "status").stdout
    assert f"{kept} (runs of the rss source from when the watch had two rss sources)" in text
    assert f"{removed} (not in the watchlist)" in text
