"""Speed of browse's "Latest negative mentions" and of `mentionwatch report` on a large database.

The timings were measured on a million mentions (see the report of this change); these tests
check what makes them fast, the query plans, and that every answer is the one the slower queries
gave, on a small database where each way of reading can be forced.
"""
from __future__ import annotations

import datetime as dt

import pytest

from mentionwatch.triage import browse, charts, report, risk
from storage import Mention, open_db, save_mentions
from storage.timeutil import to_iso

START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
END = "2024-03-21T00:00:00Z"
MODEL = "m"
LABELS = ("negative", "neutral", "positive")


def _stock(path):
    """'big': 300 mentions over 20 days; 'small': 12 of them and 6 of its own; 'quiet': 10 in
    the first two days; 'later': 5 newer than all the others. Every 7th mention is not scored;
    mention i is scored LABELS[i % 3]; reaches vary. Times are distinct (ties are no question
    here: the old query left their order to SQLite)."""
    db = open_db(path)
    mentions = []
    for i in range(300):
        watches = ("big", "small") if i % 25 == 0 else ("big",)
        mentions.append(Mention("rss" if i % 2 else "forum", f"b{i}", f"big post {i}",
                                to_iso(START + dt.timedelta(minutes=96 * i)),
                                author_reach=None if i % 4 == 0 else i * 37, watches=watches))
    mentions += [Mention("forum", f"s{i}", f"small post {i}",
                         to_iso(START + dt.timedelta(days=3 * i, seconds=11)), author_reach=5,
                         watches=("small",)) for i in range(6)]
    mentions += [Mention("rss", f"q{i}", f"quiet post {i}", to_iso(START + dt.timedelta(hours=4 * i,
                         seconds=7)), watches=("quiet",)) for i in range(10)]
    mentions += [Mention("rss", f"l{i}", f"later post {i}",
                         to_iso(START + dt.timedelta(days=21, hours=i)), watches=("later",))
                 for i in range(5)]
    save_mentions(db, mentions)
    for mention_id, in db.execute("SELECT id FROM mentions").fetchall():
        if mention_id % 7:
            db.execute("INSERT INTO scores VALUES (?, ?, ?, ?, 0.1, 0.1, '2024-04-01T00:00:00Z')",
                       [mention_id, MODEL, LABELS[mention_id % 3], (mention_id % 10) / 10])
    db.execute("INSERT INTO triage SELECT id, 'flagged', 'dana', '2024-04-01T00:00:00Z', NULL "
               "FROM mentions WHERE id % 5 = 0")
    db.conn.commit()
    return db


@pytest.fixture
def stocked(tmp_path):
    db = _stock(tmp_path / "speed.db")
    yield db
    db.close()


def _plan(db, sql, params=()) -> list[str]:
    return [row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


# ------------------------------------------------- 1. browse: latest negative mentions of a watch

# the query before this change: every negative score of the model, whole rows sorted (1.8-3.8 s
# on a million mentions, whatever the watch)
_OLD_NEGATIVES = ("SELECT {columns} FROM mentions m {scores} {triage} "
                  "WHERE s.label = 'negative' AND (:watch = '' OR m.id IN "
                  "(SELECT mention_id FROM mention_watches WHERE watch = :watch)) "
                  "ORDER BY m.created_at DESC LIMIT 500")


def _old_negatives_sql(model_id):
    return _OLD_NEGATIVES.format(
        columns=browse._MENTION_COLUMNS,
        scores=f"LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = {browse._sql_text(model_id)}",
        triage="LEFT JOIN triage t ON t.mention_id = m.id")


WATCHES = ("", "big", "small", "quiet", "later", "nobody")


@pytest.mark.parametrize("walked", [browse.NEWEST_WALKED, 40, 1])
@pytest.mark.parametrize("model_id", [MODEL, "unknown-model", None])
def test_latest_negative_mentions_are_those_of_the_old_query(stocked, monkeypatch, walked, model_id):
    """Walked through the newest mentions (all of them here, or a few so that the scores or the
    watch's links are read instead), the rows are the old query's, in its order."""
    monkeypatch.setattr(browse, "NEWEST_WALKED", walked)
    monkeypatch.setattr(browse, "LATEST_NEGATIVES", 500)
    sql = browse.canned_queries(model_id)["negative_mentions"]["sql"]
    for watch in WATCHES:
        rows = stocked.execute(sql, {"watch": watch}).fetchall()
        assert rows == stocked.execute(_old_negatives_sql(model_id), {"watch": watch}).fetchall(), watch
    assert stocked.execute(sql, {"watch": "big"}).fetchall() or model_id != MODEL


@pytest.mark.parametrize("walked", [browse.NEWEST_WALKED, 60, 1])
def test_latest_negative_mentions_cut_at_the_limit_are_the_newest(stocked, monkeypatch, walked):
    """With fewer allowed than there are (500 on a real database; 7 here), the newest are kept
    whichever way they are found."""
    monkeypatch.setattr(browse, "NEWEST_WALKED", walked)
    monkeypatch.setattr(browse, "LATEST_NEGATIVES", 7)
    sql = browse.canned_queries(MODEL)["negative_mentions"]["sql"]
    old = _old_negatives_sql(MODEL).replace("LIMIT 500", "LIMIT 7")
    for watch in WATCHES:
        assert (stocked.execute(sql, {"watch": watch}).fetchall()
                == stocked.execute(old, {"watch": watch}).fetchall()), watch


def test_latest_negative_mentions_walk_the_time_index_and_stop(stocked):
    """The plan: the newest mentions through the created_at index (a range from the NEWEST_WALKED-th
    newest, no sort of whole rows), each checked by primary keys; the model's scores and the
    watch's links are only counted from their indexes, and read only when the walk found too few."""
    sql = browse.canned_queries(MODEL)["negative_mentions"]["sql"]
    plan = _plan(stocked, sql, {"watch": "big"})
    walked = plan[plan.index("MATERIALIZE walked") + 1]
    assert walked == "SEARCH m USING COVERING INDEX idx_mentions_created_at (created_at>?)", plan
    assert "SEARCH w USING PRIMARY KEY (watch=? AND mention_id=?)" in plan
    assert "SEARCH s USING COVERING INDEX idx_scores_model_label (model_id=? AND label=?)" in plan
    assert "SEARCH mention_watches USING PRIMARY KEY (watch=?)" in plan
    # no part reads all mentions (the OFFSET that finds where the walk starts reads the walk's)
    assert not [step for step in plan if step.split()[:2] in (["SCAN", "m"], ["SCAN", "s"])], plan
    # the only sorts are of ids and times: the rows are joined after the 500 are chosen
    assert plan[-1] == "USE TEMP B-TREE FOR ORDER BY" and plan[-2].startswith("SEARCH t USING")
    assert sql.count(f"LIMIT {browse.LATEST_NEGATIVES}") == 1  # the walk's; the others' depend on the way


# ------------------------------------------------- 2. report: the window queries

def _route(sql: str) -> str:
    return "window" if sql == risk._BY_WINDOW else "watch"


def test_window_queries_start_from_the_smaller_side(stocked):
    """A short window of a big watch is read from the window's mentions (created_at index); a
    small watch from its own links, whatever the window."""
    day = ("2024-03-10T00:00:00Z", "2024-03-11T00:00:00Z")  # 15 mentions
    week = ("2024-03-10T00:00:00Z", "2024-03-17T00:00:00Z")  # 105 mentions
    everything = ("2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z")
    assert _route(risk.watch_mentions_sql(stocked, "big", *day)) == "window"  # 300 links
    assert _route(risk.watch_mentions_sql(stocked, "big", *week)) == "window"
    assert _route(risk.watch_mentions_sql(stocked, "big", *everything)) == "watch"
    assert _route(risk.watch_mentions_sql(stocked, "small", *day)) == "window"  # 18 links
    assert _route(risk.watch_mentions_sql(stocked, "small", *week)) == "watch"
    assert _route(risk.watch_mentions_sql(stocked, "small", *week, links=1000)) == "window"
    assert _route(risk.watch_mentions_sql(stocked, "nobody", *day)) == "watch"
    assert _route(risk.watch_mentions_sql(stocked, "nobody", "2030-01-01T00:00:00Z",
                                          "2030-01-02T00:00:00Z")) == "window"  # an empty window
    for source, first_step in ((risk._BY_WINDOW, "SEARCH m USING COVERING INDEX idx_mentions_created_at "
                                                 "(created_at>? AND created_at<?)"),
                               (risk._BY_WATCH, "SEARCH w USING PRIMARY KEY (watch=?)")):
        sql = (f"SELECT count(*) FROM {source} LEFT JOIN scores s ON s.mention_id = m.id "
               "AND s.model_id = :model WHERE m.created_at >= :start AND m.created_at < :end")
        plan = _plan(stocked, sql, {"watch": "big", "model": MODEL, "start": day[0], "end": day[1]})
        assert plan[0] == first_step, plan


def _forced(monkeypatch, by_window: bool):
    monkeypatch.setattr(risk, "window_first", lambda *args, **kwargs: by_window)


PERIODS = [("2024-03-14T00:00:00Z", END), ("2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z"),
           ("2024-03-02T05:00:00Z", "2024-03-02T09:00:00Z")]


def _old_series_rows(db, watch, since, until, bucket_hours):
    return db.execute(
        "SELECT (CAST(strftime('%s', m.created_at) AS INTEGER) / :size) * :size AS bucket, "
        "count(*), sum(coalesce(s.label = 'negative', 0)), count(s.label) FROM mentions m "
        "JOIN mention_watches w ON w.mention_id = m.id AND w.watch = :watch "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = :model "
        "WHERE m.created_at >= :since AND m.created_at < :until GROUP BY bucket ORDER BY bucket",
        {"size": bucket_hours * 3600, "watch": watch, "model": MODEL, "since": since,
         "until": until}).fetchall()


def _old_breakdown(db, watch, since, until):
    rows = db.execute(
        "SELECT m.source, coalesce(s.label, 'unscored'), count(*) FROM mentions m "
        "JOIN mention_watches w ON w.mention_id = m.id AND w.watch = ? "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = ? "
        "WHERE m.created_at >= ? AND m.created_at < ? GROUP BY 1, 2",
        [watch, MODEL, since, until]).fetchall()
    breakdown: dict = {}
    for source, label, count in rows:
        breakdown.setdefault(source, {})[label] = count
    return breakdown


@pytest.mark.parametrize("by_window", [True, False])
def test_chart_counts_are_the_same_either_way(stocked, monkeypatch, by_window):
    _forced(monkeypatch, by_window)
    for watch in ("big", "small", "quiet", "nobody"):
        for since, until in PERIODS:
            hours = charts.choose_bucket_hours(since, until)
            series = charts.watch_series(stocked, watch, MODEL, since, until, hours)
            old = {bucket: counts for bucket, *counts in _old_series_rows(stocked, watch, since, until, hours)}
            buckets = [int(start.timestamp()) for start in series.starts]
            assert {b: [t, n, s] for b, t, n, s in zip(buckets, series.totals, series.negatives,
                                                       series.scored) if t} == old
            breakdown = charts.source_breakdown(stocked, watch, MODEL, since, until)
            assert breakdown == _old_breakdown(stocked, watch, since, until)
            assert list(breakdown) == list(_old_breakdown(stocked, watch, since, until))


def test_risk_is_the_same_either_way(stocked, monkeypatch):
    """Every figure, and the evidence posts in their order, whether the windows are read from the
    time index or from the watch."""
    for watch in ("big", "small", "quiet", "later", "nobody"):
        for end in (END, "2024-03-02T10:00:00Z", "2024-03-08T00:00:00Z", "2025-01-01T00:00:00Z"):
            answers = []
            for by_window in (True, False):
                _forced(monkeypatch, by_window)
                answers.append(risk.watch_risk(stocked, watch, MODEL, end))
            assert answers[0] == answers[1], (watch, end)
    monkeypatch.undo()
    big = risk.watch_risk(stocked, "big", MODEL, END)
    assert big.top_posts and list(big.top_posts[0]) == [
        "mention_id", "created_at", "source", "author", "author_reach", "url", "title", "text",
        "p_negative", "weight"]
    assert big.top_posts[0]["text"].startswith("big post ")


def _old_risk_top_posts(db, watch, end):
    """The evidence posts as the risk score read them before (every column of every negative)."""
    end_time = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    recent_start = to_iso(end_time - dt.timedelta(hours=risk.RECENT_HOURS))
    cursor = db.conn.execute(
        "SELECT m.id AS mention_id, m.created_at, m.source, m.author, m.author_reach, m.url, "
        "m.title, m.text, s.p_negative FROM mentions m "
        "CROSS JOIN mention_watches w ON w.mention_id = m.id AND w.watch = :watch "
        "CROSS JOIN scores s ON s.mention_id = m.id AND s.model_id = :model AND s.label = 'negative' "
        "WHERE m.created_at >= :start AND m.created_at < :end",
        {"watch": watch, "model": MODEL, "start": recent_start, "end": end})
    names = [d[0] for d in cursor.description]
    posts = [{**dict(zip(names, row)), "weight": round(risk.reach_weight(row[4]), 2)} for row in cursor]
    posts.sort(key=lambda p: (p["weight"] * p["p_negative"], p["created_at"]), reverse=True)
    return posts[:risk.EVIDENCE_POSTS]


def test_risk_evidence_posts_are_those_read_before(stocked):
    for watch in ("big", "small"):
        for end in (END, "2024-03-08T00:00:00Z"):
            assert risk.watch_risk(stocked, watch, MODEL, end).top_posts == \
                _old_risk_top_posts(stocked, watch, end)


# ------------------------------------------------- 3. first and newest mentions, known watches

def _old_edge(db, watches, newest, below=None, at_most=None):
    conditions = [] if watches is None else [f"w.watch IN ({', '.join('?' * len(watches))})"]
    params = list(watches or [])
    if below is not None:
        conditions.append("m.created_at < ?")
        params.append(below)
    if at_most is not None:
        conditions.append("m.created_at <= ?")
        params.append(at_most)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return db.execute(f"SELECT {'max' if newest else 'min'}(m.created_at) FROM mentions m "
                      f"JOIN mention_watches w ON w.mention_id = m.id {where}", params).fetchone()[0]


@pytest.mark.parametrize("scan", [risk.EDGE_SCAN, 30, 1])
def test_first_and_newest_mentions_are_min_and_max(stocked, monkeypatch, scan):
    """Found through the time index (the whole of it here, or a few rows before the watch's own
    mentions are read), or from the watch's links: always the min() and max() of before."""
    monkeypatch.setattr(risk, "EDGE_SCAN", scan)
    choices = [None, ["big"], ["small"], ["quiet"], ["later"], ["nobody"], ["quiet", "later"]]
    bounds = [{}, {"below": "2024-03-02T00:00:00Z"}, {"below": "2024-01-01T00:00:00Z"},
              {"at_most": "2024-03-10T00:00:00Z"}, {"at_most": "2024-03-22T01:00:00Z"},
              {"below": "2024-03-20T00:00:00Z", "at_most": "2024-03-03T00:00:00Z"}]
    for watches in choices:
        for newest in (True, False):
            for bound in bounds:
                assert (risk.edge_created_at(stocked, watches, newest=newest, **bound)
                        == _old_edge(stocked, watches, newest, **bound)), (watches, newest, bound)


def test_newest_mention_and_a_quiet_watch_are_as_before(stocked, monkeypatch):
    for scan in (risk.EDGE_SCAN, 1):
        monkeypatch.setattr(risk, "EDGE_SCAN", scan)
        assert report._newest(stocked, ["big"]) == _old_edge(stocked, ["big"], True)
        assert report._newest(stocked, None) == "2024-03-22T04:00:00Z"
        assert report._newest(stocked, ["nobody"]) is None
        assert report._newest_long_before(stocked, "quiet", END) == "2024-03-02T12:00:07Z"
        assert report._newest_long_before(stocked, "big", END) is None
        assert report._newest_long_before(stocked, "later", END) is None  # none before the end


def test_newest_mention_dated_only_in_the_future_is_still_refused(tmp_path):
    db = open_db(tmp_path / "future.db")  # storing refuses it now; a bad import may have made it
    db.execute("INSERT INTO mentions (id, source, external_id, text, created_at, fetched_at) "
               "VALUES (1, 'rss', 'f1', 'from the future', '2999-01-01T00:00:00Z', "
               "'2024-01-01T00:00:00Z')")
    db.execute("INSERT INTO mention_watches (watch, mention_id, matched_at) "
               "VALUES ('acme', 1, '2024-01-01T00:00:00Z')")
    db.conn.commit()
    with pytest.raises(report.ReportError, match="every mention of these watches is dated after"):
        report._newest(db, ["acme"])
    db.close()


def test_the_first_and_newest_mention_of_a_big_watch_come_from_the_time_index(stocked):
    """The query of a watch with EDGE_SCAN links or more: the mentions through the created_at
    index, newest (or oldest) first, each checked by mention_watches' primary key."""
    statements = []
    stocked.conn.set_trace_callback(statements.append)
    try:
        import unittest.mock
        with unittest.mock.patch.object(risk, "EDGE_SCAN", 50):
            risk.edge_created_at(stocked, ["big"], newest=True, below=END)
    finally:
        stocked.conn.set_trace_callback(None)
    walk = next(sql for sql in statements if "EXISTS" in sql)
    plan = _plan(stocked, walk)
    assert "SCAN mentions USING COVERING INDEX idx_mentions_created_at" in plan[1] or \
        "SEARCH mentions USING COVERING INDEX idx_mentions_created_at" in plan[1], plan
    assert plan[-1] == "SEARCH w USING PRIMARY KEY (watch=? AND mention_id=?)", plan
    assert not [step for step in plan if "TEMP B-TREE" in step], plan


def test_known_watches_are_read_a_step_each(stocked):
    """Each stored watch is one step in mention_watches' primary key: nothing scans the links."""
    stocked.execute("INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, "
                    "updated_at) VALUES ('alerted', 'spike', 'high', '2024-03-01T00:00:00Z', "
                    "'2024-03-02T00:00:00Z', '2024-03-02T00:00:00Z', '2024-03-02T00:00:00Z')")
    old = [row[0] for row in stocked.execute(
        "SELECT watch FROM mention_watches UNION SELECT watch FROM alerts ORDER BY 1")]
    assert report._known_watches(stocked, ["zz", "small"]) == ["zz", "small", *[w for w in old if w != "small"]]
    statements = []
    stocked.conn.set_trace_callback(statements.append)
    report._known_watches(stocked, [])
    stocked.conn.set_trace_callback(None)
    plan = _plan(stocked, statements[-1])
    assert not [step for step in plan if step.startswith("SCAN mention_watches")], plan
    assert [step for step in plan if "mention_watches" in step and "(watch>?)" in step], plan


def test_an_empty_database_knows_no_watch(db):
    assert report._known_watches(db, []) == []


# ------------------------------------------------- 4. the whole report is unchanged

def test_a_report_reads_each_window_from_the_smaller_side(stocked, tmp_path):
    """Report of a big and a small watch: the big one's week read through the created_at index,
    the small one's from its links (but for its last day, of fewer mentions than its links)."""
    statements = []
    stocked.conn.set_trace_callback(statements.append)
    result = report.build_report(stocked, tmp_path / "r", watches=["big", "small"],
                                 since="2024-03-14T00:00:00Z", until=END)
    stocked.conn.set_trace_callback(None)
    assert {s.watch for s in result.sections} == {"big", "small"}
    windows = [sql for sql in statements if "m.created_at >=" in sql and "mention_watches w" in sql]
    assert len(windows) == 2 * 7  # 2 chart queries and 5 risk queries per watch
    for sql in windows:
        first = _plan(stocked, sql)[0]
        if "'big'" in sql or ">= '2024-03-20T00:00:00Z'" in sql:
            assert first.startswith("SEARCH m USING") and "idx_mentions_created_at" in first, sql
        else:
            assert first == "SEARCH w USING PRIMARY KEY (watch=?)", sql
