"""`mentionwatch report` input errors: one line, non-zero exit, nothing half-written."""
from __future__ import annotations

from storage import open_db
from test_export import _stock  # the small stocked database of the export tests


def test_unknown_watch(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "initech", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: watch 'initech' has no stored mentions "
                                     "(known: acme, globex)")
    assert not (tmp_path / "r" / "report.html").exists()


def test_period_the_wrong_way_round(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2024-03-05", "--until",
                 "2024-03-01", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "is not before --until" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # 7 days back from today is after this old history: the line says where --until came from
    relative = cli("--db", tmp_path / "s.db", "report", "--since", "7d", "--out", tmp_path / "r")
    assert relative.exit_code == 2
    assert "(the newest stored mention; give --until, or --since as a date)" in relative.stderr


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
