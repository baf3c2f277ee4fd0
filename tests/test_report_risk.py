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
               "updated_at) VALUES ('acme', 'spike', 'high', 'a', 'b', '2024-06-09T00:00:00Z', 'd')")
    assert watch_risk(db, "acme", "m", to_iso(END)).open_alerts == 1
    nothing = watch_risk(db, "acme", "another-model", to_iso(END))  # scored by "m" only
    assert nothing.score is None and nothing.level == "not scored yet"
    assert nothing.negatives_recent == 0 and nothing.unscored_recent == 30


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


def _unscored(db, watch, times):
    save_mentions(db, [Mention("app", f"{watch}-u-{i}", "外卖送得太慢", to_iso(t), watches=(watch,))
                       for i, t in enumerate(times)])


def test_unscored_mentions_give_no_risk_level_and_say_so(db):
    _unscored(db, "waimai", [END - dt.timedelta(hours=h) for h in range(1, 24 * 8)])
    risk = watch_risk(db, "waimai", "m", to_iso(END))
    assert risk.score is None and risk.level == "not scored yet" and not risk.has_score
    assert risk.unscored_recent == 24 and risk.all_recent == 24  # hours 1 to 24 before END
    text = risk.explanation()
    assert text.startswith("no risk score: 191 of 191 mentions of the last 24 h and the 7 days "
                           "before not scored yet: run mentionwatch score")
    assert "0 mentions in the last 24 h" not in text and "low" not in text


def test_an_unscored_comparison_week_is_no_quiet_week(db):
    _unscored(db, "acme", [END - dt.timedelta(days=d) for d in range(2, 8)])  # the week: unscored
    _last_day(db, "acme", 3)  # the last day: scored, and negative
    risk = watch_risk(db, "acme", "m", to_iso(END))
    assert risk.level == "not scored yet" and risk.score is None
    assert risk.unscored_baseline == 6 and risk.unscored_recent == 0
    assert "6 of 9 mentions" in risk.explanation()
    assert "so far 3 negative of 3 mentions in the last 24 h" in risk.explanation()


def test_a_fully_scored_watch_has_a_level_and_no_unscored_note(db):
    _steady(db, "calm", 4)
    _last_day(db, "calm", 4)
    risk = watch_risk(db, "calm", "m", to_iso(END))
    assert risk.has_score and risk.scored_enough and risk.unscored_text() == ""
    assert "4 negative of 4 mentions in the last 24 h" in risk.explanation()


def test_a_small_scoring_backlog_keeps_the_score_and_is_named(db):
    """A running service scores new mentions a minute or so after they arrive: a report made in
    between must not lose the watch's risk level over the few waiting."""
    _steady(db, "busy", 10)
    _last_day(db, "busy", 40)
    _unscored(db, "busy", [END - dt.timedelta(minutes=m) for m in (1, 2)])  # 2 of 112 waiting
    risk = watch_risk(db, "busy", "m", to_iso(END))
    assert risk.scored_enough and risk.level == "high" and risk.score is not None
    assert "40 negative of 40 scored mentions in the last 24 h (2 of 112 mentions" in risk.explanation()
    _unscored(db, "busy", [END - dt.timedelta(minutes=m) for m in range(3, 10)])  # over 5% of today waiting
    assert watch_risk(db, "busy", "m", to_iso(END)).level == "not scored yet"
