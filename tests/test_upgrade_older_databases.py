"""A database written by an older version, opened by this one: its alerts keep meaning one
incident each. Before 2026-12-05 an alert's opened_at was the time its run ran (days after the
window for imported history detected afterwards); migration m017 moves such an opening to its
window's end, so the first run after the upgrade updates the stored alert instead of opening a
second one for the same incident, a resolved one included. Real SQLite file, real detection."""
from __future__ import annotations

import datetime as dt

from alerts.detect import run_detection
from alerts.lifecycle import resolve
from mentionwatch.config import parse_config
from storage import open_db
from test_alerts_detection import START, add_stream, config_text

BURST_HOUR = 6 * 24 + 8


def _as_an_older_version_left_it(path) -> None:
    """The alerts' openings put days after their windows, and m017 not yet run."""
    db = open_db(path)
    with db.atomic():
        db.conn.execute("UPDATE alerts SET opened_at = strftime('%Y-%m-%dT%H:%M:%SZ', window_end, '+3 days')")
        db.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm017_alert_opening_within_its_window'")
    db.close()


def test_an_older_databases_resolved_alert_is_not_opened_again(tmp_path, model_id):
    config = parse_config(config_text())
    path = tmp_path / "old.db"
    db = open_db(path)
    add_stream(db, model_id, burst={BURST_HOUR: [("reddit", 40)], BURST_HOUR + 1: [("reddit", 40)]})
    now = START + dt.timedelta(hours=BURST_HOUR + 5)
    assert len(run_detection(db, config, now=now, notify=False).opened) == 1
    resolve(db, 1, "dana", "handled")
    db.close()
    _as_an_older_version_left_it(path)

    db = open_db(path)  # the upgrade: m017 runs
    (opened_at, window_end), = db.execute("SELECT opened_at, window_end FROM alerts").fetchall()
    assert opened_at == window_end
    again = run_detection(db, config, now=now, notify=False)
    assert again.opened == []
    assert db.execute("SELECT id, status FROM alerts").fetchall() == [(1, "resolved")]
    db.close()


def test_reimporting_a_file_an_older_version_stored_with_its_entities_is_no_clash(cli, tmp_path):
    """Versions before 2026-12-05 stored an import's `&amp;` as written; this one reads it. The same
    file imported again was 'another text' for every such row, with advice to use a new --source
    that would have stored the whole file twice."""
    from storage import Mention, save_mentions

    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention("import", "1", "@united lost my bag &amp; no answer &gt;:(", "2024-01-01T00:00:00Z")])
    db.close()
    file = tmp_path / "tweets.csv"
    file.write_text("id,text,created_at\n1,@united lost my bag &amp; no answer &gt;:(,2024-01-01T00:00:00Z\n",
                    encoding="utf-8")
    again = cli("import", file, "--watch", "united")
    assert again.exit_code == 0, again.output
    assert "0 inserted, 1 already present" in again.stdout and "warning" not in again.stderr
