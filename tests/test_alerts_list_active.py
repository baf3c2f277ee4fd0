"""`alerts list` shows what still needs attention: open and acknowledged alerts by default, with one
line counting the resolved ones left out; --status picks one status, --all shows every status."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.test_alerts_detection import LONG_WATCH, START, iso, two_watch_setup

HINT = "not shown: --status resolved or --all."


@pytest.fixture
def inbox(cli, tmp_path, model_id):
    """Five alerts detected from real streams: acme #1 and #2 resolved, #3 acknowledged, #4 open;
    the long-named watch's #5 resolved."""
    acme = {day * 24 + 5: [("reddit", 40)] for day in (4, 5, 6, 7)}
    db = two_watch_setup(cli, tmp_path, model_id, acme, {6 * 24 + 15: [("reddit", 40)]})
    assert cli("detect", "--no-notify", "--at", iso(START + dt.timedelta(days=8))).exit_code == 0
    ids = [i for (i,) in db.execute("SELECT id FROM alerts ORDER BY id")]
    assert ids == [1, 2, 3, 4, 5]
    assert db.execute("SELECT watch FROM alerts WHERE id = 5").fetchone()[0] == LONG_WATCH
    for alert_id in (1, 2, 5):
        assert cli("alerts", "resolve", alert_id, "--actor", "sam").exit_code == 0
    assert cli("alerts", "ack", 3, "--actor", "kim").exit_code == 0
    yield db
    db.close()


def _listed(result) -> list[tuple[int, str]]:
    """(id, status) of each table row of an `alerts list` output."""
    lines = [line for line in result.stdout.splitlines()[2:] if not line.endswith(HINT)]  # the table's rows
    return [(int(line.split()[0]), line.split()[1]) for line in lines]


def test_by_default_only_open_and_acknowledged_alerts_with_the_resolved_counted(cli, inbox):
    result = cli("alerts", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2 alert(s), most recently opened first:"
    assert lines[1].split()[:2] == ["id", "status"]
    assert _listed(result) == [(4, "open"), (3, "acknowledged")]
    assert lines[-1] == f"3 resolved alerts {HINT}"
    assert len(lines) == 5  # heading, column names, two rows, the count line


def test_the_count_of_resolved_alerts_follows_the_watch_option(cli, inbox):
    acme = cli("alerts", "list", "--watch", "acme")
    assert _listed(acme) == [(4, "open"), (3, "acknowledged")]
    assert acme.stdout.splitlines()[-1] == f"2 resolved alerts {HINT}"
    other = cli("alerts", "list", "--watch", LONG_WATCH)
    assert other.exit_code == 0, other.output
    assert other.stdout.splitlines() == ["No open or acknowledged alerts.", f"1 resolved alert {HINT}"]


def test_the_count_line_also_follows_a_limited_list(cli, inbox):
    result = cli("alerts", "list", "--limit", 1)
    assert _listed(result) == [(4, "open")]
    assert result.stdout.splitlines()[-1] == f"3 resolved alerts {HINT}"
    assert result.stdout.splitlines()[0] == \
        "The 1 most recent of 2 alerts (--limit to see more), most recently opened first:"
    every = cli("alerts", "list", "--all", "--limit", 3)
    assert every.stdout.splitlines()[0] == \
        "The 3 most recent of 5 alerts (--limit to see more), most recently opened first:"
    assert cli("alerts", "list", "--limit", 2).stdout.splitlines()[0] == "2 alert(s), most recently opened first:"


def test_all_shows_every_status(cli, inbox):
    result = cli("alerts", "list", "--all")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "5 alert(s), most recently opened first:"
    assert _listed(result) == [(4, "open"), (5, "resolved"), (3, "acknowledged"), (2, "resolved"),
                               (1, "resolved")]
    assert "not shown" not in result.stdout
    assert cli("alerts", "list", "--status", "all").stdout == result.stdout  # the older spelling still works
    assert cli("alerts", "list", "--all", "--status", "all").stdout == result.stdout


def test_status_picks_one_status_and_counts_nothing_left_out(cli, inbox):
    resolved = cli("alerts", "list", "--status", "resolved")
    assert resolved.exit_code == 0, resolved.output
    assert _listed(resolved) == [(5, "resolved"), (2, "resolved"), (1, "resolved")]
    assert _listed(cli("alerts", "list", "--status", "resolved", "--watch", "acme")) == [
        (2, "resolved"), (1, "resolved")]
    assert _listed(cli("alerts", "list", "--status", "open")) == [(4, "open")]
    assert _listed(cli("alerts", "list", "--status", "acknowledged")) == [(3, "acknowledged")]
    for status in ("resolved", "open", "acknowledged"):
        assert "not shown" not in cli("alerts", "list", "--status", status).stdout


def test_all_with_one_status_is_refused_in_one_line(cli, inbox):
    for status in ("resolved", "open", "acknowledged"):
        result = cli("alerts", "list", "--all", "--status", status)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            f"Error: --all lists every status and --status {status} one: give one of them"]


def test_an_inbox_with_only_resolved_alerts_says_so_and_how_to_see_them(cli, inbox):
    assert cli("alerts", "resolve", 3, "--actor", "sam").exit_code == 0
    assert cli("alerts", "resolve", 4, "--actor", "sam").exit_code == 0
    result = cli("alerts", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["No open or acknowledged alerts.", f"5 resolved alerts {HINT}"]
    assert cli("alerts", "list", "--status", "open").stdout.splitlines() == ["No open alerts."]
    assert len(_listed(cli("alerts", "list", "--all"))) == 5


def test_an_empty_database_says_there_is_nothing_to_look_at(cli, tmp_path):
    from storage import open_db

    open_db(tmp_path / "mentionwatch.db").close()
    assert cli("alerts", "list").stdout.splitlines() == ["No open or acknowledged alerts."]
    assert cli("alerts", "list", "--status", "resolved").stdout.splitlines() == ["No resolved alerts."]
    assert cli("alerts", "list", "--all").stdout.splitlines() == ["No alerts."]
