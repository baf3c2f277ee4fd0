"""Findings of the eleventh walkthrough, on a real SQLite database with the real detection code."""
from __future__ import annotations

import datetime as dt
import json
import re

from alerts.detect import run_detection
from mentionwatch.config import parse_config
from tests.test_alerts_detection import START, add_stream, config_text

SLOW_RISE = 7 * 24 + 2  # first hour of ten with a few more negative posts than usual
SPIKE = SLOW_RISE + 10  # then one hour with many


def _share(db, start: str, end: str) -> int:
    """Negative share (percent, rounded) of acme's scored mentions in [start, end)."""
    total, negative = db.execute(
        "SELECT count(*), sum(s.label = 'negative') FROM mentions m JOIN scores s ON s.mention_id = m.id "
        "WHERE m.created_at >= ? AND m.created_at < ?", [start, end]).fetchone()
    return round(100 * negative / total)


def test_an_alert_that_took_in_a_spike_states_the_negative_share_of_its_own_window(db, model_id):
    rise = {hour: [("reddit", 8)] for hour in range(SLOW_RISE, SPIKE)}
    add_stream(db, model_id, days=9, burst={**rise, SPIKE: [("reddit", 90)]})
    config = parse_config(config_text("  thresholds:\n    - {count: 60, window: 12h, severity: low}"))
    for hour in range(SLOW_RISE, SPIKE + 2):
        run_detection(db, config, now=START + dt.timedelta(hours=hour + 1), notify=False)

    (start, end, explanation), = db.execute("SELECT window_start, window_end, explanation FROM alerts").fetchall()
    summary = json.loads(explanation)["summary"]
    assert sorted(json.loads(explanation)["rules"]) == ["spike", "threshold:60 in 12h"]  # merged
    during, usual = map(int, re.search(r"(\d+)% of its mentions negative \(usually (\d+)%\)", summary).groups())
    week_before = (dt.datetime.fromisoformat(start.replace("Z", "+00:00")) - dt.timedelta(days=7))
    assert during == _share(db, start, end)
    assert usual == _share(db, week_before.strftime("%Y-%m-%dT%H:%M:%SZ"), start)
