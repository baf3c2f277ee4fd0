"""`mentionwatch report` input errors: one line, non-zero exit, nothing half-written."""
from __future__ import annotations

from storage import open_db
from test_export import _stock  # the small stocked database of the export tests


def test_unknown_watch(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "initech", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: no watch named 'initech' in the watchlist or the "
                                     "database (known: acme, globex)")
    assert not (tmp_path / "r" / "report.html").exists()


def test_period_the_wrong_way_round(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2024-03-05", "--until",
                 "2024-03-01", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "is not before --until" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # 7 days back from today is after this old history: the period ends now, an empty report
    relative = cli("--db", tmp_path / "s.db", "report", "--since", "7d", "--out", tmp_path / "r")
    assert relative.exit_code == 0, relative.output
    assert relative.stdout.splitlines()[0].endswith("(now)")


def test_bad_time(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--since", "yesterday-ish",
                 "--out", tmp_path / "r")
    assert result.exit_code == 2 and "'yesterday-ish' is not a time" in result.stderr
    assert "Traceback" not in result.output


def test_empty_database(cli, tmp_path):
    open_db(tmp_path / "empty.db").close()
    result = cli("--db", tmp_path / "empty.db", "report", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "no mentions linked to a watch" in result.stderr


def test_small_report_names_mentions_and_escapes_text(cli, tmp_path):
    ids = _stock(tmp_path / "s.db")
    for mention_ids, state in (((ids["p1"], ids["p3"]), "handled"), ((ids["p4"],), "flagged")):
        assert cli("--db", tmp_path / "s.db", "mark", *mention_ids, "--state", state).exit_code == 0
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--since", "2024-02-28",
                 "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "Alert #7 &middot; open" in page
    assert "Triage marks (all time): 0 flagged, 2 handled, 0 ignored." in page  # p4 is globex's
    assert f"mention {ids['p1']}" in page  # ids to use with `mentionwatch mark`
    assert "=HYPERLINK(&quot;http://evil.example&quot;" in page  # shown as text, escaped
    assert "globex" not in page.split('id="watch-acme"')[0]  # only the watch asked for
    assert sorted(p.name for p in (tmp_path / "r").glob("*.png")) == ["acme-sources.png",
                                                                     "acme-volume.png"]


def _add_new_watch(db_path, watch, times):
    """Negative mentions of a watch first seen at `times` (it has no history before them)."""
    from test_export import MODEL

    from storage import Mention, save_mentions

    db = open_db(db_path)
    save_mentions(db, [Mention("forum", f"{watch}-{i}", f"{watch} is awful", at, watches=(watch,))
                       for i, at in enumerate(times)])
    db.conn.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.05, 0.05, "
                    "'2024-03-06T00:00:00Z' FROM mentions WHERE external_id LIKE ?",
                    [MODEL, f"{watch}-%"])
    db.conn.commit()
    db.close()


def _score_the_rest(db_path, label="neutral"):
    """Scores for the stocked mentions left unscored (p6), so every watch can have a risk score."""
    from test_export import MODEL

    db = open_db(db_path)
    db.conn.execute("INSERT INTO scores SELECT id, ?, ?, 0.1, 0.8, 0.1, '2024-03-06T00:00:00Z' "
                    "FROM mentions WHERE id NOT IN (SELECT mention_id FROM scores)", [MODEL, label])
    db.conn.commit()
    db.close()


def test_a_watch_without_history_has_no_risk_level_and_comes_last(cli, tmp_path):
    _stock(tmp_path / "s.db")
    _score_the_rest(tmp_path / "s.db")
    _add_new_watch(tmp_path / "s.db", "crisis", [f"2024-03-05T{h:02d}:00:00Z" for h in range(8, 12)])
    result = cli("--db", tmp_path / "s.db", "report", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # the period ends with the newest mention (13:00:00), not one second after it
    assert lines[0].endswith("2024-02-27T13:00:01Z to 2024-03-05T13:00:00Z (the newest mention)")
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["acme", "globex", "crisis"]
    assert lines[-1] == "  crisis: no baseline yet, 0 alerts"
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "Period 2024-02-27T13:00:01Z to 2024-03-05T13:00:00Z (the newest mention)" in page
    row = page[page.index('<tr><td><a href="#watch-crisis">'):].split("</tr>")[0]
    assert "no baseline yet" in row and "critical" not in row and "x5.00" not in row
    assert "x1.00" not in row  # no speed either: a watch with no baseline gets no score
    assert row.count('<td class="num">&ndash;</td>') == 4  # no score, usual amount, size, speed
    section = page[page.index('<h2 id="watch-crisis">'):].split("<img")[0]
    assert "Risk <span class=\"level level-no-baseline-yet\">no baseline yet</span>" in section
    assert "size x" not in section and "speed x" not in section


def test_report_shows_who_handled_an_alert_and_the_resolution_note(cli, tmp_path):
    from alerts.lifecycle import acknowledge, add_note, resolve

    _stock(tmp_path / "s.db")
    db = open_db(tmp_path / "s.db")
    acknowledge(db, 7, "dana", note="on it", owner="sam")
    add_note(db, 7, "lee", "statement sent to the press <b>now</b>")
    resolve(db, 7, "dana", note="refunds issued")
    db.close()
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    alert = page[page.index("Alert #7"):].split('<div class="alert')[0]
    assert "<b>Handling:</b> owner sam; acknowledged " in alert
    assert " by dana.</p>" in alert
    assert "<b>Resolution note:</b> refunds issued" in alert
    assert "lee (note): statement sent to the press &lt;b&gt;now&lt;/b&gt;" in alert
    assert "dana (acknowledged): " in alert and "on it</li>" in alert


def _add_unscored_watch(db_path, watch, count, start="2024-02-20T00:00:00Z"):
    """`count` mentions of a new watch, one every 2 minutes from `start`, none of them scored."""
    from storage import Mention, save_mentions
    from storage.timeutil import from_iso, to_iso
    import datetime as dt

    first = from_iso(start)
    db = open_db(db_path)
    save_mentions(db, [Mention("app", f"{watch}-{i}", "送餐太慢了", to_iso(first + dt.timedelta(minutes=2 * i)),
                               watches=(watch,)) for i in range(count)])
    db.close()


def test_unscored_mentions_are_said_to_be_unscored_and_get_no_risk_level(cli, tmp_path):
    _stock(tmp_path / "s.db")
    _score_the_rest(tmp_path / "s.db")
    _add_unscored_watch(tmp_path / "s.db", "waimai", 10 * 720)  # 10 days, none scored
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2024-02-22", "--until",
                 "2024-02-29", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "waimai" in line)
    assert line == ("  waimai: not scored yet, 0 alerts; 5,040 of 5,040 mentions not scored yet: "
                    "run mentionwatch score")
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    row = page[page.index('<tr><td><a href="#watch-waimai">'):].split("</tr>")[0]
    assert "not scored yet" in row and "low" not in row
    assert row.count('<td class="num">&ndash;</td>') == 6  # every figure but the open alerts
    section = page[page.index('<h2 id="watch-waimai">'):].split("<img")[0]
    assert ("5,040 mentions in the period; 5,040 of 5,040 mentions not scored yet: run "
            "mentionwatch score.") in section
    assert "0 negative" not in section and "(0%)" not in section
    assert "0 mentions in the last 24 h" not in section
    assert "5,760 of 5,760 mentions of the last 24 h and the 7 days before not scored yet" in section


def test_a_partly_scored_period_gives_the_negative_share_of_the_scored_ones(cli, tmp_path):
    _stock(tmp_path / "s.db")  # acme: 3 scored mentions (2 negative), p6 not scored
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--since", "2024-02-28",
                 "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        "  acme: not scored yet, 1 alert; 1 of 4 mentions not scored yet: run mentionwatch score")
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert ("4 mentions in the period; 1 of 4 mentions not scored yet: run mentionwatch score. "
            "2 negative of the 3 scored (67%).") in page


def test_the_source_chart_shares_count_only_scored_mentions():
    from mentionwatch.triage.charts import _source_note

    assert _source_note({"unscored": 5040}) == "5,040 (not scored yet)"
    assert _source_note({"negative": 1, "positive": 3}) == "4 (25% negative)"
    assert _source_note({"negative": 1, "positive": 3, "unscored": 6}) == (
        "10 (25% negative of 4 scored, 6 not scored yet)")


def test_times_to_handle_a_replayed_alert_say_they_count_from_its_recording(cli, tmp_path):
    from alerts.lifecycle import acknowledge, resolve

    _stock(tmp_path / "s.db")
    db = open_db(tmp_path / "s.db")  # alert 7 opened 2024-03-02T12:00, found by a replay later
    db.execute("INSERT INTO alert_events (alert_id, at, actor, kind) "
               "VALUES (7, '2024-03-06T09:00:00Z', 'detect', 'opened')")
    db.conn.commit()
    acknowledge(db, 7, "dana")
    resolve(db, 7, "dana")
    db.close()
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    alert = page[page.index("Alert #7"):].split('<div class="alert')[0]
    assert ("Times to acknowledge and resolve counted from 2024-03-06T09:00:00Z, when it was "
            "recorded.") in alert
