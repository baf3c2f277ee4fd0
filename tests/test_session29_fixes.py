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
