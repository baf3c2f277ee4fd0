"""End to end: the real service as a subprocess against local servers with recorded real payloads.

`python -m mentionwatch --config X run` polls a local Hacker News Algolia API (the recorded
response) and a local feed server (the recorded BBC and NYT front pages). Once those are stored and
scored, a scripted burst of negative posts appears at the HN server: the service must store and
score them, open one alert and deliver one notification to a local webhook (apprise json://). A
SIGHUP reloads the edited watchlist; SIGTERM stops it with exit 0 within 15 s, no job half done.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from crawler.matching import matches_query
from crawler.pollers.hackernews import HackerNewsPoller
from crawler.pollers.rss import RssPoller
from mentionwatch.config import load_config
from storage import open_db
from tests.service_fakes import (
    FeedServer, HackerNewsServer, WebhookServer, log_entries, start_service, wait_started, synthetic_hits, wait_until,
)

HN_FILE = "api/hackernews/search_by_date_query-nodejs.json"
FEED_FILES = {"/bbc.xml": "api/rss/bbc_news_frontpage_2024-08-08.xml",
              "/nyt.xml": "api/rss/nytimes_world_2024-08-08.xml"}
BURST_TEXTS = (
    "Node.js broke our production again {n}. Terrible release, awful experience, I hate it.",
    "The latest Node.js update is a disaster {n}: crashes every hour, we lost customer data. Worst upgrade ever.",
    "So angry at nodejs right now {n}, the memory leak took our site down all night. Unacceptable.",
)
BURST_SIZE = 12
THRESHOLD = 5
WEBHOOK_ENV = "MENTIONWATCH_TEST_WEBHOOK_URL"
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals")


def _config_text(db_path, hn_url: str, feed_url: str, hn_interval: str = "3s") -> str:
    return f"""
database: {db_path}
sentiment: {{model: builtin}}
alerts:
  bucket: 1m
  warmup: 7d            # the spike detector needs a week of history: only the rule below can fire
  cooldown: 1h
  thresholds:
    - {{count: {THRESHOLD}, window: 10m, severity: high}}
notifications:
  - name: team
    url_env: {WEBHOOK_ENV}
service: {{score_interval: 2s, detect_interval: 5s, notify_retry_interval: 2s, jitter: 0.2s}}
watches:
  - name: nodejs
    query: {{any: [node, nodejs, "node.js"]}}
    sources:
      - {{type: hackernews, interval: {hn_interval}, base_url: "{hn_url}", options: {{min_interval: 0}}}}
  - name: world
    query: {{any: [Olympics, Gaza, Ukraine, Paris]}}
    sources:
      - type: rss
        interval: 1h
        base_url: "{feed_url}"
        options: {{urls: [bbc.xml, nyt.xml], min_interval: 0}}
"""


def _expected_matches(config, hn_payload: dict, feeds: dict[str, bytes]) -> dict[str, set[str]]:
    """The external ids each watch should store, by the pollers' own parsing and the shared matcher."""
    def matching(watch_name, mentions):
        query = config.watch(watch_name).query
        return {m.external_id for m in mentions if matches_query(query, m.text, lang=m.lang, title=m.title)}
    feed_mentions = [m for body in feeds.values() for m in RssPoller.parse(body)]
    return {"nodejs": matching("nodejs", HackerNewsPoller.parse(hn_payload)),
            "world": matching("world", feed_mentions)}


def _stored_ids(db, watch: str) -> set[str]:
    return {row[0] for row in db.execute(
        "SELECT m.external_id FROM mentions m JOIN mention_watches w ON w.mention_id = m.id "
        "WHERE w.watch = ?", [watch])}


def _unscored(db) -> int:
    return db.execute("SELECT count(*) FROM mentions m WHERE NOT EXISTS "
                      "(SELECT 1 FROM scores s WHERE s.mention_id = m.id)").fetchone()[0]


def test_service_collects_scores_alerts_notifies_and_stops_cleanly(tmp_path, shared_file):
    hn_payload = json.loads(shared_file(HN_FILE).read_text(encoding="utf-8"))
    feeds = {path: shared_file(relative).read_bytes() for path, relative in FEED_FILES.items()}
    config_path = tmp_path / "watch.yaml"
    db_path = tmp_path / "service.db"
    log_path = tmp_path / "service.log"

    with HackerNewsServer(hn_payload["hits"]) as hn, FeedServer(feeds) as feed_server, \
            WebhookServer() as webhook:
        webhook_url = f"json://127.0.0.1:{webhook.httpd.server_address[1]}/hook"
        config_path.write_text(_config_text(db_path, hn.url, feed_server.url), encoding="utf-8")
        expected = _expected_matches(load_config(config_path), hn_payload, feeds)
        assert expected["nodejs"] and expected["world"]
        process = start_service(config_path, log_path, {WEBHOOK_ENV: webhook_url})
        try:
            wait_started(log_path, process)
            db = open_db(db_path)
            wait_until(lambda: _stored_ids(db, "nodejs") >= expected["nodejs"]
                       and _stored_ids(db, "world") >= expected["world"], 90,
                       what="the recorded payloads stored")
            wait_until(lambda: _unscored(db) == 0, 120, what="every mention scored")
            assert _stored_ids(db, "nodejs") == expected["nodejs"]
            assert _stored_ids(db, "world") == expected["world"]
            assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0  # old news: no alert

            burst = synthetic_hits(BURST_SIZE, 90_000_000, int(time.time()), "")
            for number, hit in enumerate(burst):
                hit["comment_text"] = BURST_TEXTS[number % len(BURST_TEXTS)].format(n=number)
            hn.add_hits(burst)
            burst_ids = {hit["objectID"] for hit in burst}

            alert = wait_until(lambda: db.execute(
                "SELECT id, watch, rule, severity, status FROM alerts").fetchone(), 120,
                what="an alert after the burst")
            wait_until(lambda: webhook.received, 60, what="the webhook notification")
            assert _stored_ids(db, "nodejs") == expected["nodejs"] | burst_ids
            burst_negative = db.execute(
                f"SELECT count(*) FROM scores s JOIN mentions m ON m.id = s.mention_id WHERE "
                f"s.label = 'negative' AND m.external_id IN ({','.join('?' * len(burst_ids))})",
                sorted(burst_ids)).fetchone()[0]
            assert burst_negative >= THRESHOLD, "the sentiment model must see the burst as negative"

            config_path.write_text(_config_text(db_path, hn.url, feed_server.url, hn_interval="4s"),
                                   encoding="utf-8")
            os.kill(process.pid, signal.SIGHUP)
            wait_until(lambda: any(e.get("event") == "reloaded" for e in log_entries(log_path)), 30,
                       what="the SIGHUP reload")

            stop_asked = time.monotonic()
            os.kill(process.pid, signal.SIGTERM)
            exit_code = process.wait(timeout=30)
            stop_seconds = time.monotonic() - stop_asked
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert exit_code == 0
    assert stop_seconds < 15
    alert_id, watch, rule, severity, status = alert
    assert (watch, status) == ("nodejs", "open") and rule.startswith("threshold")
    assert severity in ("high", "critical")  # the rule's high, one level up at 2 x its count (10 of the 12)
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    linked = {row[0] for row in db.execute(
        "SELECT m.external_id FROM alert_mentions a JOIN mentions m ON m.id = a.mention_id "
        "WHERE a.alert_id = ?", [alert_id])}
    assert len(linked) >= THRESHOLD and linked <= burst_ids
    sent = db.execute("SELECT target, status FROM notifications WHERE alert_id = ?", [alert_id]).fetchall()
    assert sent == [("team", "sent")]
    assert len(webhook.received) == 1 and "nodejs" in json.dumps(webhook.received[0])

    # stopped cleanly: no run left half done, and the log is all JSON lines without the secret
    assert db.execute("SELECT count(*) FROM job_runs WHERE status IN ('running', 'interrupted')").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'").fetchone()[0] == 0
    assert db.execute("SELECT state FROM service_process").fetchone()[0] == "stopped"
    entries = log_entries(log_path)
    assert not [e for e in entries if e["level"] in ("ERROR", "CRITICAL")]
    runs = [e for e in entries if e.get("job") and e.get("status")]
    assert {e["kind"] for e in runs} >= {"collect", "score", "detect"}
    assert any(e["kind"] == "detect" and e.get("opened") == 1 and e.get("sent") == 1 for e in runs)
    assert entries[-1].get("event") == "stopped"
    assert webhook_url not in log_path.read_text(encoding="utf-8")
