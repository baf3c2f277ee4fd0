"""`mentionwatch rename OLD NEW`: a watch renamed in the watchlist gets its stored history back (a
walkthrough of 2026-12-06 followed the README's advice, rematch after a rename: the resolved wave
alerted the team again, and three quarters of an imported history stayed under the old name)."""
from __future__ import annotations

import datetime as dt

from alerts.detect import run_detection
from crawler.cursors import save_cursors
from mentionwatch.config import parse_config
from storage import Mention, open_db, save_mentions
from tests.test_alerts_detection import START, add_stream, config_text

BURST_HOUR = 6 * 24 + 10


def _renamed(text: str, new: str = "acme-corp") -> str:
    return text.replace("  - name: acme\n", f"  - name: {new}\n")


def _write(tmp_path, text: str) -> None:
    (tmp_path / "mentionwatch.yaml").write_text(text + "database: mentionwatch.db\n", encoding="utf-8")


def _resolved_wave(tmp_path, model_id) -> int:
    """A week of acme with a burst, its alert raised and resolved; an imported post and cursors too."""
    db = open_db(tmp_path / "mentionwatch.db")
    add_stream(db, model_id, burst={BURST_HOUR: [("reddit", 40)]})
    save_mentions(db, [Mention("import", "i1", "an imported post about nothing much",
                               "2025-03-02T10:00:00Z", watches=("acme",), linked_by="import")])
    save_cursors(db, "acme", "reddit:abc", {"newest": "2025-03-08T00:00:00Z"})
    [alert_id] = run_detection(db, parse_config(config_text()), now=START + dt.timedelta(hours=BURST_HOUR + 1),
                               notify=False).opened
    with db.conn:
        db.execute("UPDATE alerts SET status = 'resolved', resolved_at = ? WHERE id = ?",
                   ["2025-03-07T12:00:00Z", alert_id])
    db.close()
    return alert_id


def test_a_renamed_watch_takes_its_history_and_its_resolved_wave_does_not_alert_again(cli, tmp_path, model_id):
    alert_id = _resolved_wave(tmp_path, model_id)
    _write(tmp_path, _renamed(config_text()))
    db = open_db(tmp_path / "mentionwatch.db")
    linked = db.execute("SELECT count(*) FROM mention_watches WHERE watch = 'acme'").fetchone()[0]
    db.close()

    preview = cli("rename", "acme", "acme-corp")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.splitlines() == [
        f"Would move from acme to acme-corp: {linked:,} mentions, 1 alert, 0 crawl runs and 1 source cursor.",
        "Nothing is changed yet: run the same command with --yes to move them."]
    moved = cli("rename", "acme", "acme-corp", "--yes")
    assert moved.exit_code == 0, moved.output

    db = open_db(tmp_path / "mentionwatch.db")
    try:
        assert db.execute("SELECT count(*) FROM mention_watches WHERE watch = 'acme-corp'").fetchone()[0] == linked
        assert db.execute("SELECT linked_by FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
                          "WHERE m.external_id = 'i1'").fetchall() == [("import",)]  # imported history too
        assert db.execute("SELECT watch FROM alerts").fetchall() == [("acme-corp",)]
        assert db.execute("SELECT watch, source, value FROM cursors").fetchall() == [
            ("acme-corp", "reddit:abc", "2025-03-08T00:00:00Z")]
        later = run_detection(db, parse_config(_renamed(config_text())),
                              now=START + dt.timedelta(hours=BURST_HOUR + 2), notify=False)
        assert later.opened == []  # the wave resolved under the old name stays resolved
    finally:
        db.close()
    detect = cli("detect", "--at", "2025-03-07T13:00:00Z")
    assert "Not checked" not in detect.output  # nothing is left under the old name
    assert cli("alerts", "show", alert_id).exit_code == 0


def test_a_rename_that_cannot_be_meant_is_one_line(cli, tmp_path, model_id):
    _resolved_wave(tmp_path, model_id)
    _write(tmp_path, config_text())  # acme is still in the watchlist
    still = cli("rename", "acme", "acme-corp")
    assert (still.exit_code, still.stderr.strip()) == (
        2, "Error: 'acme' is still a watch in mentionwatch.yaml: rename it there first, then move its history")
    _write(tmp_path, _renamed(config_text()))
    assert "nothing is stored under 'acmee' (names stored that are not in the watchlist: acme)" in \
        cli("rename", "acmee", "acme-corp").stderr
    assert "no watch named 'acme-crop'" in cli("rename", "acme", "acme-crop").stderr
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("reddit", "x1", "acme", "2025-03-02T10:00:00Z", watches=("Acme-corp",))])
    db.close()
    clash = cli("rename", "acme", "acme-corp")
    assert clash.exit_code == 2 and "holds 'Acme-corp', which differs from 'acme-corp' only in capitals" in clash.stderr


def test_a_renamed_watch_with_its_own_live_alert_is_not_given_another(cli, tmp_path, model_id):
    _resolved_wave(tmp_path, model_id)
    db = open_db(tmp_path / "mentionwatch.db")
    with db.conn:
        db.execute("UPDATE alerts SET status = 'open', resolved_at = NULL")
        db.execute("INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, opened_at, "
                   "updated_at) SELECT 'acme-corp', rule, 'open', severity, window_start, window_end, opened_at, "
                   "updated_at FROM alerts")
    db.close()
    _write(tmp_path, _renamed(config_text()))
    both = cli("rename", "acme", "acme-corp", "--yes")
    assert both.exit_code == 2 and "both 'acme' and 'acme-corp' have open or acknowledged alerts" in both.stderr


def test_a_rename_waits_for_a_crawl_of_the_old_name_and_counts_only_the_cursors_that_move(cli, tmp_path, model_id):
    """Review: a crawl started before the rename stored under the old name again after the move;
    and cursors the new name already had were counted as moved, though the old ones were dropped."""
    _resolved_wave(tmp_path, model_id)
    db = open_db(tmp_path / "mentionwatch.db")
    save_cursors(db, "acme-corp", "reddit:abc", {"newest": "2025-03-09T00:00:00Z"})  # a poll since the rename
    save_cursors(db, "acme", "reddit:abc", {"gaps": "[]"})
    now = dt.datetime.now(dt.timezone.utc)
    with db.conn:
        for started in (now - dt.timedelta(minutes=5), now - dt.timedelta(hours=5)):  # one going on, one cut off
            db.execute("INSERT INTO crawl_runs (watch, source, started_at) VALUES ('acme', 'reddit', ?)",
                       [started.strftime("%Y-%m-%dT%H:%M:%SZ")])
    db.close()
    _write(tmp_path, _renamed(config_text()))
    running = cli("rename", "acme", "acme-corp")
    assert running.exit_code == 2 and "a crawl of 'acme' is running" in running.stderr
    db = open_db(tmp_path / "mentionwatch.db")
    with db.conn:
        db.execute("UPDATE crawl_runs SET status = 'ok' WHERE started_at > ?",
                   [(now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")])
    db.close()
    preview = cli("rename", "acme", "acme-corp")
    assert preview.exit_code == 0, preview.output
    assert "2 crawl runs and 1 source cursor (1 more dropped: acme-corp has its own, from a poll since the " \
           "rename)." in preview.stdout


def test_a_killed_crawls_runs_are_closed_and_no_longer_block_a_rename_a_live_ones_do(cli, tmp_path, model_id):
    """Review: a `crawl` killed with SIGKILL left its run 'running', and `rename` refused the watch
    for two hours though no crawl was going on."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    _resolved_wave(tmp_path, model_id)
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone.send_signal(signal.SIGKILL)
    gone.wait()  # reaped: its process id no longer exists
    host = socket.gethostname()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    db = open_db(tmp_path / "mentionwatch.db")
    with db.conn:
        for process in (f"{host}:{os.getpid()}", f"{host}:{gone.pid}"):  # this test's process is alive
            db.execute("INSERT INTO crawl_runs (watch, source, started_at, process) VALUES ('acme', 'reddit', ?, ?)",
                       [now, process])
    db.close()
    _write(tmp_path, _renamed(config_text()))
    running = cli("rename", "acme", "acme-corp")
    assert running.exit_code == 2
    assert f"a crawl of 'acme' is running (reddit, started {now} by process {os.getpid()} on {host}, before the " \
           "rename)" in running.stderr  # `status` shows no running crawl: the line says which process it is
    db = open_db(tmp_path / "mentionwatch.db")
    rows = db.execute("SELECT process, status, errors FROM crawl_runs WHERE process IS NOT NULL ORDER BY id").fetchall()
    assert [row[1] for row in rows] == ["running", "failed"]
    assert "the crawl process is gone" in rows[1][2]
    with db.conn:
        db.execute("DELETE FROM crawl_runs WHERE process = ?", [f"{host}:{os.getpid()}"])  # that crawl ended
    db.close()
    moved = cli("rename", "acme", "acme-corp", "--yes")
    assert moved.exit_code == 0, moved.output
