"""Cursor keys: options that say how a source is read (max_pages, min_interval, limit, token_env,
send_oauth) do not start it over, so following the gap line's advice to raise max_pages loses
nothing; cursors stored by older versions under a key of all the options are carried over."""
from __future__ import annotations

from crawler.collect import collect_source
from crawler.cursors import OVERLAP_SECONDS, _key_before_pacing_options, cursor_key, load_cursors, save_cursors
from mentionwatch.config import Config
from mentionwatch.local_servers import HackerNewsServer, synthetic_hits

NEWEST = 1_750_000_000


def _config(url: str, options: dict) -> Config:
    return Config.model_validate({"watches": [{
        "name": "node", "query": {"any": ["node", "javascript"]},
        "sources": [{"type": "hackernews", "base_url": url, "options": {"query": "node", **options}}]}]})


def _poll(db, config):
    watch = config.watches[0]
    return collect_source(db, config, watch, watch.sources[0], sleep=lambda s: None)


def _stored(db) -> int:
    return db.execute("SELECT count(*) FROM mentions").fetchone()[0]


def test_pacing_options_keep_the_key_and_what_is_read_changes_it():
    base = _config("http://127.0.0.1:9", {}).watches[0].sources[0]
    paced = _config("http://127.0.0.1:9", {"max_pages": 5, "min_interval": 60}).watches[0].sources[0]
    other_search = _config("http://127.0.0.1:9", {"query": "deno"}).watches[0].sources[0]
    assert cursor_key(paced) == cursor_key(base)
    assert cursor_key(other_search) != cursor_key(base)


def test_sending_reddits_oauth_pair_to_a_proxy_keeps_the_key():
    def reddit(options):
        return Config.model_validate({"watches": [{"name": "node", "query": {"any": ["node"]}, "sources": [
            {"type": "reddit", "base_url": "https://proxy.example", "options": options}]}]}).watches[0].sources[0]

    assert cursor_key(reddit({"send_oauth": True})) == cursor_key(reddit({}))


def test_raising_max_pages_after_a_burst_reads_the_gap_instead_of_starting_over(db):
    with HackerNewsServer(synthetic_hits(3, 60_000_000, NEWEST, "node {n}")) as server:
        assert _poll(db, _config(server.url, {"max_pages": 1})).new == 3
        server.add_hits(synthetic_hits(250, 61_000_000, NEWEST + 1000, "javascript fatigue {n}"))
        burst = _poll(db, _config(server.url, {"max_pages": 1}))
        assert burst.status == "partial" and "larger options.max_pages" in burst.errors[0]
        caught_up = _poll(db, _config(server.url, {"max_pages": 5}))  # as the line advises
        assert caught_up.status == "ok", caught_up.errors
        assert _stored(db) == 253


def test_cursors_stored_under_the_old_key_are_carried_over(db):
    with HackerNewsServer(synthetic_hits(4, 62_000_000, NEWEST, "node {n}")) as server:
        config = _config(server.url, {"max_pages": 2})
        source = config.watches[0].sources[0]
        old_key = _key_before_pacing_options(source)
        assert old_key != cursor_key(source)
        save_cursors(db, "node", old_key, {"created_at_i": str(NEWEST)})  # as an older version left it
        result = _poll(db, config)
        asked = server.requests[-1]
    assert result.status == "ok"
    assert f"numericFilters=created_at_i%3E{NEWEST - OVERLAP_SECONDS}" in asked  # after the old cursor
    assert load_cursors(db, "node", cursor_key(source))["created_at_i"] == str(NEWEST)


def test_a_second_source_of_a_type_reads_past_posts_the_first_stored(db):
    hits = synthetic_hits(250, 63_000_000, NEWEST, "node {n}")
    with HackerNewsServer(hits) as server:
        first = _config(server.url, {"max_pages": 1})
        assert _poll(db, first).new == 100  # the newest page
        config = Config.model_validate({"watches": [{
            "name": "node", "query": {"any": ["node", "javascript"]},
            "sources": [{"type": "hackernews", "base_url": server.url, "options": {"query": "node", "max_pages": 1}},
                        {"type": "hackernews", "base_url": server.url,
                         "options": {"query": "node", "tags": "(story,comment)", "max_pages": 3}}]}]})
        watch = config.watches[0]
        second = collect_source(db, config, watch, watch.sources[1], sleep=lambda s: None)
    assert second.status == "ok", second.errors
    assert (second.new, second.duplicates) == (150, 100)  # not stopped at the first source's posts
    assert _stored(db) == 250
