"""Risk score per watch (mentionwatch.triage.risk): size, speed and reach weighting."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from mentionwatch.triage.risk import reach_weight, risk_level, watch_risk
from storage import Mention, save_mentions
from storage.timeutil import to_iso

END = dt.datetime(2024, 6, 10, tzinfo=dt.timezone.utc)


def _negatives(db, watch, times, reach=None):
    tag = f"{watch}-{reach}-{len(times)}-{times[0].isoformat() if times else ''}"
    mentions = [Mention("forum", f"{tag}-{i}", f"{watch} is awful", to_iso(t), author_reach=reach,
                        watches=(watch,)) for i, t in enumerate(times)]
    save_mentions(db, mentions)
    db.conn.execute(
        "INSERT INTO scores SELECT id, 'm', 'negative', 0.9, 0.05, 0.05, '2024-07-01T00:00:00Z' "
        "FROM mentions WHERE external_id LIKE ? AND id NOT IN (SELECT mention_id FROM scores)",
        [f"{tag}-%"])


def _steady(db, watch, per_day, reach=None):
    """per_day negatives every day over the 7 baseline days."""
    start = END - dt.timedelta(days=8)
    _negatives(db, watch, [start + dt.timedelta(days=d, hours=24 * k / per_day)
                           for d in range(7) for k in range(per_day)], reach)


def _last_day(db, watch, count, hours=24, reach=None):
    """count negatives spread evenly over the last `hours` hours before END."""
    _negatives(db, watch, [END - dt.timedelta(hours=hours * (k + 0.5) / count)
                           for k in range(count)], reach)


def test_reach_weight():
    assert reach_weight(None) == 1.0
    assert reach_weight(999) == pytest.approx(4.0)
    assert reach_weight(-5) == 1.0


def test_quiet_watch_is_low_and_spike_is_high(db):
    _steady(db, "calm", 10)
    _last_day(db, "calm", 10)
    _steady(db, "storm", 10)
    _last_day(db, "storm", 60)
    calm, storm = (watch_risk(db, w, "m", to_iso(END)) for w in ("calm", "storm"))
    assert calm.level == "low" and calm.score < 10
    assert storm.score > calm.score + 40 and storm.level in ("high", "critical")
    assert storm.negatives_recent == 60 and storm.weighted_usual == pytest.approx(10)
    size = (60 + 1) / (10 + 1)
    assert storm.size == pytest.approx(size, abs=1e-3)
    assert storm.score == pytest.approx(min(100, 30 * math.log2(size) + 20 * math.log2(storm.speed)),
                                        abs=0.1)
    assert len(storm.top_posts) == 5


def test_acceleration_raises_the_score(db):
    for watch in ("even", "sudden"):
        _steady(db, watch, 10)
    _last_day(db, "even", 40)               # spread over the whole day
    _last_day(db, "sudden", 40, hours=4)    # all in the last 4 hours
    even, sudden = (watch_risk(db, w, "m", to_iso(END)) for w in ("even", "sudden"))
    assert even.size == pytest.approx(sudden.size)
    assert sudden.speed > 2 > even.speed
    assert sudden.score > even.score


def test_reach_weighs_in(db):
    _steady(db, "small", 5, reach=10)
    _last_day(db, "small", 15, reach=10)
    _steady(db, "famous", 5, reach=10)
    _last_day(db, "famous", 15, reach=1_000_000)
    small, famous = (watch_risk(db, w, "m", to_iso(END)) for w in ("small", "famous"))
    assert small.negatives_recent == famous.negatives_recent == 15
    assert famous.weighted_recent == pytest.approx(15 * reach_weight(1_000_000), abs=0.01)
    assert famous.score > small.score
    assert famous.top_posts[0]["author_reach"] == 1_000_000


def test_other_models_and_open_alerts(db):
    _steady(db, "acme", 3)
    _last_day(db, "acme", 30)
    db.execute("INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, "
               "updated_at) VALUES ('acme', 'spike', 'high', 'a', 'b', 'c', 'd')")
    assert watch_risk(db, "acme", "m", to_iso(END)).open_alerts == 1
    nothing = watch_risk(db, "acme", "another-model", to_iso(END))
    assert nothing.score == 0 and nothing.negatives_recent == 0


@pytest.mark.parametrize("score, level", [(0, "low"), (24.9, "low"), (25, "elevated"),
                                          (50, "high"), (80, "critical")])
def test_levels(score, level):
    assert risk_level(score) == level


def test_a_watch_without_a_day_of_history_has_no_score(db):
    _last_day(db, "newco", 42, hours=10)  # a burst, and nothing before it to compare with
    _negatives(db, "young", [END - dt.timedelta(hours=36)])  # 12 h of history: still too little
    _last_day(db, "young", 20)
    _negatives(db, "known", [END - dt.timedelta(hours=49)])  # a day of history (quiet) is enough
    _last_day(db, "known", 20)
    newco, young, known = (watch_risk(db, w, "m", to_iso(END)) for w in ("newco", "young", "known"))
    for risk in (newco, young):
        assert not risk.has_baseline
        assert risk.score is None and risk.size is None and risk.weighted_usual is None
        assert risk.level == "no baseline yet"
        assert "no baseline yet" in risk.explanation() and "size" not in risk.explanation()
    assert newco.negatives_recent == 42 and newco.weighted_recent == pytest.approx(42)
    assert known.has_baseline and known.level == "critical" and known.size > 10
