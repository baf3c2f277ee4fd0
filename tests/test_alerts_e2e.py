"""End to end: real airline tweets with a burst of negative ones -> one alert -> one notification.

Background: every Virgin America tweet of the Kaggle/CrowdFlower set at its real time. Burst: 25
real negative 'Lost Luggage' tweets re-timed into one hour. Sentiment comes from the human labels,
stored as scores under the configured model's id (the model itself is tested by the sentiment area).
"""
from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from apprise.decorators import notify

from storage import Mention, parse_timestamp, save_mentions

BURST_START = dt.datetime(2015, 2, 23, 18, 0, tzinfo=dt.timezone.utc)
DELIVERED: list[dict] = []


@notify(on="mwe2e")
def _record_delivery(body, title, notify_type, *args, **kwargs):
    """A notification target of our own (apprise's @notify): it remembers what it got."""
    DELIVERED.append({"title": title, "body": body})
    return True


CONFIG = """
database: alerts.db
alerts:
  warmup: 3d
notifications:
  - name: team-hook
    url_env: MW_E2E_HOOK
watches:
  - name: virgin
    query: {any: [virginamerica]}
"""

PROBABILITIES = {"negative": (0.9, 0.05, 0.05), "neutral": (0.1, 0.8, 0.1), "positive": (0.05, 0.05, 0.9)}


def import_labelled(db, config, tweets_csv) -> set[str]:
    """Store the stream and its label-derived scores; returns the burst tweets' external ids."""
    from sentiment import model_id_for

    with open(tweets_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    background = [r for r in rows if r["airline"] == "Virgin America"]
    burst = [r for r in rows if r["airline"] == "United" and r["negativereason"] == "Lost Luggage"][:25]
    stream = [(r, parse_timestamp(r["tweet_created"])) for r in background]
    stream += [(r, (BURST_START + dt.timedelta(minutes=2 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
               for i, r in enumerate(burst)]
    mentions = [Mention("twitter", r["tweet_id"], r["text"], created_at, author=r["name"], watches=("virgin",))
                for r, created_at in stream]
    assert save_mentions(db, mentions).rejected == 0
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    model_id = model_id_for(config.sentiment)
    db.conn.executemany(
        "INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(ids[r["tweet_id"]], model_id, r["airline_sentiment"], *PROBABILITIES[r["airline_sentiment"]],
          "2026-01-01T00:00:00Z") for r, _ in stream if r["tweet_id"] in ids],
    )
    db.conn.commit()
    return {r["tweet_id"] for r in burst}


@pytest.fixture
def loaded(tmp_path, shared_file, monkeypatch):
    from mentionwatch.config import load_config
    from storage import open_db

    monkeypatch.setenv("MW_E2E_HOOK", "mwe2e://team")
    DELIVERED.clear()
    (tmp_path / "mentionwatch.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "mentionwatch.yaml")
    db = open_db(config.database)
    burst_ids = import_labelled(db, config, shared_file("airline/Tweets.csv"))
    yield db, config, burst_ids
    db.close()


def test_burst_gives_one_alert_naming_the_burst_posts_and_one_notification(loaded, cli):
    db, _config, burst_ids = loaded
    at = (BURST_START + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = cli("detect", "--at", at, "--notify")  # a replay notifies only when asked
    assert first.exit_code == 0, first.output
    assert "1 alert(s) opened" in first.stdout
    assert "1 sent" in first.stdout

    alerts = db.execute("SELECT id, watch, window_start, window_end, observed, expected, explanation "
                        "FROM alerts").fetchall()
    assert len(alerts) == 1
    alert_id, watch, start, end, observed, expected, explanation = alerts[0]
    assert watch == "virgin"
    assert start <= BURST_START.strftime("%Y-%m-%dT%H:%M:%SZ") < end
    assert observed >= 25 > 5 * expected

    details = json.loads(explanation)
    external = dict(db.execute("SELECT id, external_id FROM mentions").fetchall())
    top = [external[m["mention_id"]] for m in details["top_mentions"]]
    assert len(top) == 10
    # the burst's posts, plus the few ordinary complaints of that same hour
    assert sum(t in burst_ids for t in top) >= 5
    assert all(m["p_negative"] > 0.5 and start <= m["created_at"] < end for m in details["top_mentions"])
    linked = {external[m] for (m,) in db.execute("SELECT mention_id FROM alert_mentions WHERE alert_id = ?",
                                                 [alert_id])}
    assert burst_ids <= linked
    burst_words = {"bag", "bags", "luggage", "lost", "united", "unitedairlines"}
    assert burst_words & {t["term"] for t in details["terms"][:5]}
    assert details["sources"] == {"twitter": len(linked)}
    assert "of its mentions negative (usually" in details["summary"]
    model_ids = {m for (m,) in db.execute("SELECT DISTINCT model_id FROM scores")}
    assert db.execute("SELECT model_id FROM alerts").fetchone()[0] in model_ids  # counted from these scores

    assert len(DELIVERED) == 1
    assert "virgin" in DELIVERED[0]["title"]
    assert f"alerts show {alert_id}" in DELIVERED[0]["body"]

    again = cli("detect", "--at", at, "--notify")
    assert again.exit_code == 0, again.output
    assert "0 alert(s) opened" in again.stdout
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    assert len(DELIVERED) == 1  # never twice for the same state
    stored = db.execute("SELECT target, state, status FROM notifications").fetchall()
    severity = db.execute("SELECT severity FROM alerts").fetchone()[0]
    assert stored == [("team-hook", f"opened:{severity}", "sent")]
    assert "mwe2e://" not in json.dumps(db.execute("SELECT * FROM notifications").fetchall())


def test_backtest_lists_the_burst_without_storing_or_notifying(loaded, cli):
    db, _config, _burst = loaded
    result = cli("backtest", "--since", "2015-02-16", "--until", "2015-02-25")
    assert result.exit_code == 0, result.output
    assert "1 alert(s) would have been raised" in result.stdout
    assert "2015-02-23T18:00:00Z" in result.stdout
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    assert DELIVERED == []


def test_a_burst_that_is_already_over_is_stored_but_wakes_nobody(loaded, cli):
    db, _config, _burst = loaded
    result = cli("detect", "--at", "2015-02-24T12:00:00Z", "--notify")  # 17 h later: past the 6 h cooldown
    assert result.exit_code == 0, result.output
    assert "1 alert(s) opened" in result.stdout
    assert DELIVERED == []
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_resolving_an_alert_nobody_was_told_about_tells_nobody(loaded, cli, tmp_path):
    """A replay stores the burst's alert without a message: resolving it later must not announce it."""
    db, _config, _burst = loaded
    replay = cli("detect", "--at", (BURST_START + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert replay.exit_code == 0, replay.output
    (alert_id,) = db.execute("SELECT id FROM alerts").fetchone()
    config_file = tmp_path / "mentionwatch.yaml"
    config_file.write_text(CONFIG.replace("url_env: MW_E2E_HOOK", "url_env: MW_E2E_HOOK\n    events: [opened, resolved]"))
    resolved = cli("alerts", "resolve", alert_id, "--note", "old incident")
    assert resolved.exit_code == 0, resolved.output
    assert "No 'resolved' message: no notification target was told about this alert." in resolved.stdout
    later = cli("detect")  # a live run sends whatever is due
    assert later.exit_code == 0, later.output
    assert DELIVERED == []
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0
