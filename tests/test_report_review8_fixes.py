"""Report fixes from the eighth review (triage): charts kept apart for watches named alike, an
alert carried through the whole period listed, the period's end said as it is, the evidence posts
of a busy day chosen without holding them all."""
from __future__ import annotations

import datetime as dt
import hashlib
import random

from mentionwatch.triage.risk import EVIDENCE_POSTS, reach_weight, watch_risk
from storage import Mention, open_db, save_mentions
from test_export import MODEL, _stock  # the small stocked database of the export tests
from test_report_walk_fixes import _insert_alert, report_with_acme_row


def _save_scored(db, posts: list[tuple[str, str, str, int | None]], p_negative=0.9) -> None:
    """posts: (id, watch, created_at, reach), all scored negative by MODEL."""
    save_mentions(db, [Mention("reddit", eid, f"{watch} is broken", created, author_reach=reach,
                               watches=(watch,)) for eid, watch, created, reach in posts])
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'negative', ?, 0.05, 0.05, '2024-03-06T00:00:00Z')",
                        [(ids[eid], MODEL, p_negative) for eid, *_ in posts])
    db.conn.commit()


def _report_of_acme_and(second: str, cli, tmp_path):
    """The report of watch acme (3 posts) and `second` (2 posts) into tmp_path / 'r'."""
    db = open_db(tmp_path / "s.db")
    _save_scored(db, [(f"a{i}", "acme", f"2024-03-0{1 + i}T10:00:00Z", None) for i in range(3)]
                 + [(f"b{i}", second, f"2024-03-0{1 + i}T11:00:00Z", None) for i in range(2)])
    db.close()
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--watch", second,
                 "--since", "2024-03-01", "--until", "2024-03-05", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output


def test_watches_acme_and_acme_dash_get_charts_and_anchors_of_their_own(cli, tmp_path):
    _report_of_acme_and("acme-", cli, tmp_path)
    pngs = sorted(path.name for path in (tmp_path / "r").glob("*.png"))
    assert pngs == ["acme--sources.png", "acme--volume.png", "acme-sources.png", "acme-volume.png"]
    digests = {hashlib.sha1(path.read_bytes()).hexdigest() for path in (tmp_path / "r").glob("*volume.png")}
    assert len(digests) == 2
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert page.count('id="watch-acme"') == 1 and page.count('id="watch-acme-"') == 1


def test_an_alert_open_through_the_whole_period_is_listed_as_well_as_counted(cli, tmp_path):
    _stock(tmp_path / "s.db")
    db = open_db(tmp_path / "s.db")
    db.execute("DELETE FROM alert_mentions")
    db.execute("DELETE FROM alerts")
    # its window ended before the period, it was resolved long after: open all through it
    _insert_alert(db, "acme", "2024-03-01T00:00:00Z", "resolved", "2026-01-01T00:00:00Z")
    db.conn.commit()
    db.close()
    page, row = report_with_acme_row(cli, tmp_path / "s.db", tmp_path / "r", "--since", "2024-03-01T12:00:00Z",
                                     "--until", "2024-03-03")
    assert row.endswith('<td class="num">1</td>')  # the risk table counts it open at the end
    assert "<h3>Alerts (1)</h3>" in page


def test_a_period_ending_at_an_alert_after_the_newest_mention_says_so(cli, tmp_path):
    _stock(tmp_path / "s.db")  # the newest mention: 2024-03-05T13:00:00Z
    db = open_db(tmp_path / "s.db")
    _insert_alert(db, "acme", "2024-03-05T15:00:00Z")
    db.conn.commit()
    db.close()
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert ("to 2024-03-05T15:00:00Z (the latest alert's opening; the newest mention is "
            "2024-03-05T13:00:00Z)") in result.output


def test_the_evidence_posts_are_the_strongest_of_many(db):
    rng = random.Random(8)
    start = dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)
    posts = [(f"n{i}", "acme", (start + dt.timedelta(minutes=rng.randrange(600))).strftime("%Y-%m-%dT%H:%M:%SZ"),
              rng.choice([None, 5, 300, 12_000, 12_000])) for i in range(300)]
    _save_scored(db, posts)
    risk = watch_risk(db, "acme", MODEL, "2024-03-06T00:00:00Z")
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    # the stable sort of every post, strongest first, that the report once kept in memory whole
    expected = sorted(posts, key=lambda p: (round(reach_weight(p[3]), 2), p[2]), reverse=True)[:EVIDENCE_POSTS]
    assert [post["mention_id"] for post in risk.top_posts] == [ids[eid] for eid, *_ in expected]


def test_a_report_reads_one_state_of_the_database_while_mentions_keep_coming(db, tmp_path, monkeypatch):
    """The service stores mentions while a report is built: its charts, counts and risk must come
    from one state of the database (they once disagreed: "-12 of 30 mentions not scored yet")."""
    from mentionwatch.triage import charts, report

    _save_scored(db, [(f"a{i}", "acme", f"2024-03-05T{10 + i % 10:02d}:00:00Z", None) for i in range(30)])
    db_path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    original = charts.watch_series

    def series_then_new_mentions(*args, **kwargs):
        series = original(*args, **kwargs)
        other = open_db(db_path)  # another program (the service) stores 12 posts, not scored yet
        save_mentions(other, [Mention("reddit", f"late{i}", "acme is broken", "2024-03-05T19:30:00Z",
                                      watches=("acme",)) for i in range(12)])
        other.close()
        return series

    monkeypatch.setattr(charts, "watch_series", series_then_new_mentions)
    result = report.build_report(db, tmp_path / "r", watches=["acme"], since="2024-03-05T00:00:00Z",
                                 until="2024-03-06T00:00:00Z")
    [section] = result.sections
    assert (section.mentions, section.risk.all_recent, section.risk.unscored_recent) == (30, 30, 0)
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 42  # stored, read after the report


def test_watches_differing_only_in_capitals_get_chart_files_a_mac_keeps_apart(cli, tmp_path):
    """A walkthrough renamed a watch 'world' to 'World' in the watchlist: the report wrote World-volume.png
    and world-volume.png, one file on a Mac or Windows disk."""
    _report_of_acme_and("Acme", cli, tmp_path)
    pngs = [path.name for path in (tmp_path / "r").glob("*.png")]
    assert len(pngs) == 4 and len({name.lower() for name in pngs}) == 4, pngs
