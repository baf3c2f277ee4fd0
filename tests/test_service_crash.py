"""kill -9 the real service in the middle of collection, then of scoring, and restart it.

Nothing may be lost or duplicated, a feed's cursor (its ETag) may never point past mentions that
were not committed, and scoring must resume where it stopped without redoing committed scores.
The feeds are the recorded BBC and NYT front pages, served slowly by a local server.

The service scores while it collects, so the collected mentions alone may all be scored before the
test can look. The scoring kill therefore happens on a backlog imported while the service is down
(as `mentionwatch import` would): thousands of mentions, committed 256 at a time, so the test sees
scoring part done however fast the machine is.

The other tests here are about the process too: the database deleted under it, a stop that does not
wait for a slow crawl, SIGHUPs while it starts up.
"""
from __future__ import annotations

import html
import os
import signal
import sys

import feedparser
import pytest

from conftest import IN_CI
from storage import Mention, open_db, save_mentions
from tests.service_fakes import (
    FeedServer, log_entries, rss_feed, start_service, wait_started, wait_until,
)

FEED_FILES = ("api/rss/bbc_news_frontpage_2024-08-08.xml", "api/rss/nytimes_world_2024-08-08.xml")
FEEDS = 6
BACKLOG_COPIES = 20  # the real items imported 20 times over: 2,280 mentions to score
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _real_items(shared_file) -> list[tuple[str, str]]:
    items = []
    for relative in FEED_FILES:
        for entry in feedparser.parse(shared_file(relative).read_bytes()).entries:
            items.append((html.escape(entry.get("title", "")), html.escape(entry.get("summary", ""))))
    return items


def _config(tmp_path, feed_url: str) -> str:
    urls = ", ".join(f"feed{n}.xml" for n in range(FEEDS))
    return f"""
database: {tmp_path / 'crash.db'}
service: {{score_interval: 1s, detect_interval: 1h, notify_retry_interval: 1h, jitter: 0.1s}}
alerts: {{enabled: false}}
watches:
  - name: acme
    query: {{phrases: ["ACME Corp"]}}
    sources:
      - type: rss
        interval: 1h
        base_url: {feed_url}
        options: {{urls: [{urls}], min_interval: 0}}
"""


def _counts(db) -> tuple[int, int]:
    mentions, distinct = db.execute("SELECT count(*), count(DISTINCT source || external_id) "
                                    "FROM mentions").fetchone()
    return mentions, distinct


def _kill(process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_kill_during_collection_and_scoring_loses_and_duplicates_nothing(tmp_path, shared_file):
    real = _real_items(shared_file)
    feeds = {}
    for n in range(FEEDS):
        items = [(f"feed{n}-item{i}", title, f"{text} (ACME Corp)") for i, (title, text) in enumerate(real)]
        feeds[f"/feed{n}.xml"] = rss_feed(f"feed {n}", items)
    feed_of_etag = {FeedServer.etag_of(body): path.lstrip("/") for path, body in feeds.items()}
    per_feed = len(real)
    total = per_feed * FEEDS
    config_path = tmp_path / "watch.yaml"
    log_path = tmp_path / "service.log"

    with FeedServer(feeds, delay=1.0) as server:
        config_path.write_text(_config(tmp_path, server.url), encoding="utf-8")
        process = start_service(config_path, log_path)
        try:
            db_path = tmp_path / "crash.db"
            wait_started(log_path, process)
            db = open_db(db_path)
            # mid-collection: a crawl run still running with some feeds stored, not all
            wait_until(lambda: db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'")
                       .fetchone()[0] and 0 < _counts(db)[0] < total - per_feed, 60,
                       interval=0.05, what="collection in progress")
        finally:
            _kill(process)

        stored, distinct = _counts(db)
        assert stored == distinct and stored % per_feed == 0  # whole feeds only: one commit each
        cursor_feeds = _feeds_with_cursor(db, feed_of_etag)
        for feed in cursor_feeds:  # a cursor never points past mentions that were not committed
            assert _stored_of(db, feed) == per_feed
        assert db.execute("SELECT status FROM crawl_runs ORDER BY id DESC").fetchone()[0] == "running"

        requests_before = len(server.requests)
        killed_run = db.execute("SELECT max(id) FROM crawl_runs").fetchone()[0]
        process = start_service(config_path, log_path)
        try:
            wait_until(lambda: _counts(db)[0] == total and _finished_collections(db, after=killed_run), 60,
                       what="all feeds stored after the restart")
        finally:
            _kill(process)

        assert _counts(db) == (total, total)
        assert db.execute("SELECT status, errors FROM crawl_runs WHERE id = ?", [killed_run]).fetchone() == (
            "failed", '["interrupted: the service stopped during this crawl"]')  # closed by the restart
        assert len(_feeds_with_cursor(db, feed_of_etag)) == FEEDS
        assert {f"/{feed}" for feed in cursor_feeds} <= set(server.not_modified)  # ETag reused: 304
        assert len(server.requests) - requests_before == FEEDS

        backlog = _import_backlog(db, real)
        everything = total + backlog
        scored_at_start = _scored(db)
        process = start_service(config_path, log_path)
        try:
            # mid-scoring: some of the backlog's scores committed, not all
            wait_until(lambda: scored_at_start < _scored(db) < everything - 300, 120, interval=0.05,
                       what="scoring in progress")
        finally:
            _kill(process)

        scored_before = dict(db.execute("SELECT mention_id, scored_at FROM scores").fetchall())
        assert len(scored_before) < everything

        process = start_service(config_path, log_path)
        try:
            wait_until(lambda: _scored(db) == everything, 120, what="scoring to resume and finish")
            os.kill(process.pid, signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                _kill(process)

    assert _counts(db) == (everything, everything)
    rescored = db.execute("SELECT mention_id, scored_at FROM scores").fetchall()
    assert len(rescored) == everything
    assert all(scored_before[mid] == at for mid, at in rescored if mid in scored_before)
    interrupted = db.execute("SELECT count(*) FROM job_runs WHERE status = 'interrupted'").fetchone()[0]
    assert interrupted >= 2  # the killed collection and the killed scoring were recorded as such
    assert db.execute("SELECT count(*) FROM job_runs WHERE status = 'running'").fetchone()[0] == 0
    entries = log_entries(log_path)  # every line of all three runs is JSON: no stray tracebacks
    assert any(e.get("job") == "score" and e.get("status") == "ok" and e.get("scored", 0) > 0
               for e in entries)


def _import_backlog(db, real: list[tuple[str, str]]) -> int:
    """Mentions added while the service is down; returns how many."""
    backlog = [Mention("import", f"backlog{copy}-{i}", f"{html.unescape(text)} (ACME Corp)",
                       "2024-08-08T12:00:00Z", title=html.unescape(title), watches=("acme",))
               for copy in range(BACKLOG_COPIES) for i, (title, text) in enumerate(real)]
    assert save_mentions(db, backlog).rejected == 0
    return len(backlog)


def _finished_collections(db, after: int) -> int:
    return db.execute("SELECT count(*) FROM crawl_runs WHERE id > ? AND status != 'running'",
                      [after]).fetchone()[0]


def _scored(db) -> int:
    return db.execute("SELECT count(*) FROM scores").fetchone()[0]


def _feeds_with_cursor(db, feed_of_etag: dict[str, str]) -> set[str]:
    """Feeds whose ETag is stored (cursor names hash the feed URL, so match them by ETag value)."""
    tags = {value for (value,) in db.execute("SELECT value FROM cursors WHERE name LIKE '%.etag'")}
    return {feed for etag, feed in feed_of_etag.items() if etag in tags}


def _stored_of(db, feed: str) -> int:
    item = feed.removesuffix(".xml") + "-item"  # bare guids go under their feed's site: feed-guid:HOST:PORT/
    return db.execute("SELECT count(*) FROM mentions WHERE external_id LIKE ?",
                      [f"feed-guid:127.0.0.1:%/{item}%"]).fetchone()[0]



def test_a_deleted_database_stops_the_service_with_exit_code_1(tmp_path):
    """Deleting the database under a running service must not go unnoticed: it would write on into
    the deleted file while a second service could start on a new one."""
    config_path = tmp_path / "watch.yaml"
    log_path = tmp_path / "service.log"
    with FeedServer({"/feed0.xml": rss_feed("feed 0", [("a1", "ACME Corp news", "ACME Corp")])}) as server:
        config_path.write_text(_config(tmp_path, server.url), encoding="utf-8")
        process = start_service(config_path, log_path)
        try:
            wait_started(log_path, process)
            db_path = tmp_path / "crash.db"
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(f"{db_path}{suffix}"):
                    os.remove(f"{db_path}{suffix}")
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                _kill(process)
    assert code == 1
    errors = [e for e in log_entries(log_path) if e["level"] == "ERROR"]
    assert len(errors) == 1 and "deleted or replaced" in errors[0]["message"]
    assert not db_path.exists()


def _backup_with_marker(path) -> None:
    """A valid mentionwatch database (WAL mode, no -wal left) that only the backup has a marker in."""
    backup = open_db(path)
    backup.execute("CREATE TABLE restored_marker (note TEXT)")
    backup.execute("INSERT INTO restored_marker VALUES ('from the backup')")
    backup.conn.commit()
    backup.close()


def test_a_backup_moved_over_the_running_database_is_used_intact(tmp_path):
    """`mv backup.db crash.db` under the running service: SQLite leaves the replaced file's -wal at
    the path (it neither checkpoints nor deletes it when the file has moved), and applying that old
    log to the backup damaged it. The service must set it aside, exit 1, and start on the backup."""
    config_path = tmp_path / "watch.yaml"
    db_path = tmp_path / "crash.db"
    with FeedServer({"/feed0.xml": rss_feed("feed 0", [("a1", "ACME Corp news", "ACME Corp")])}) as server:
        config_path.write_text(_config(tmp_path, server.url), encoding="utf-8")
        process = start_service(config_path, tmp_path / "first.log")
        try:
            wait_started(tmp_path / "first.log", process)
            live = open_db(db_path)  # committed into the WAL; the service's connections block a checkpoint
            live.execute("CREATE TABLE only_in_the_old_file (x INTEGER)")
            live.conn.executemany("INSERT INTO only_in_the_old_file VALUES (?)", [(n,) for n in range(2000)])
            live.conn.commit()
            live.close()
            assert os.path.getsize(f"{db_path}-wal") > 0
            _backup_with_marker(tmp_path / "backup.db")
            os.rename(tmp_path / "backup.db", db_path)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                _kill(process)
        assert code == 1
        restored = open_db(db_path, migrate=False)
        assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert restored.execute("SELECT note FROM restored_marker").fetchall() == [("from the backup",)]
        assert "only_in_the_old_file" not in restored.table_names()
        restored.close()
        again = start_service(config_path, tmp_path / "second.log")
        try:
            wait_started(tmp_path / "second.log", again)
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=60) == 0
        finally:
            if again.poll() is None:
                _kill(again)


def test_a_stop_that_outwaits_a_crawl_leaves_nothing_running(tmp_path, cli):
    """SIGTERM with a crawl still running past --stop-timeout: the process exits without it, and
    its job run and crawl run are recorded as interrupted, not left 'running' for status to show."""
    feeds = {f"/feed{n}.xml": rss_feed(f"feed {n}", [(f"f{n}", "ACME Corp", "ACME Corp")]) for n in range(FEEDS)}
    config_path = tmp_path / "watch.yaml"
    log_path = tmp_path / "service.log"
    with FeedServer(feeds, delay=3.0) as server:
        config_path.write_text(_config(tmp_path, server.url), encoding="utf-8")
        process = start_service(config_path, log_path, None, "--stop-timeout", "1s")
        try:
            wait_started(log_path, process)
            db = open_db(tmp_path / "crash.db")
            wait_until(lambda: db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'")
                       .fetchone()[0], 30, interval=0.05, what="a crawl under way")
            os.kill(process.pid, signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                _kill(process)
    assert db.execute("SELECT count(*) FROM job_runs WHERE status = 'running'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'").fetchone()[0] == 0
    result = cli("--config", config_path, "status")
    assert result.stdout.startswith("Service: stopped")
    collect_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("collect:"))
    assert " interrupted " in collect_line


@pytest.mark.skipif(not sys.platform.startswith("linux") and not IN_CI,
                    reason="reads /proc/<pid>/status (CI runs it everywhere)")
def test_a_sighup_while_the_service_starts_does_not_kill_it(tmp_path):
    """SIGHUP means 'reload': one that comes during the imports and set-up, before the service's
    handler is in place, must not end the process (SIGHUP's default action)."""
    import subprocess
    import time

    config_path = tmp_path / "watch.yaml"
    log_path = tmp_path / "service.log"
    config_path.write_text(_config(tmp_path, "http://127.0.0.1:9"), encoding="utf-8")
    command = [sys.executable, "-m", "mentionwatch", "--config", str(config_path), "run", "--log-format", "json"]
    # exec'd from a process that restores SIGHUP's default: the test runner's shell may ignore it
    launcher = ("import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
                "os.execv(sys.argv[1], sys.argv[1:])")
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-c", launcher, *command], stdout=log_file,
                                   stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        first_seen = _first_hangup_disposition(process)
        hangups = 0
        while '"event": "started"' not in log_path.read_text(encoding="utf-8") and process.poll() is None:
            os.kill(process.pid, signal.SIGHUP)  # from the imports on, until the service runs
            hangups += 1
            time.sleep(0.02)
        assert process.poll() is None, f"killed by SIGHUP number {hangups}: exit {process.returncode}"
        assert first_seen == "ignored"  # protected from its first lines on, not only from the handler
        os.kill(process.pid, signal.SIGHUP)  # once started, SIGHUP reloads
        wait_until(lambda: any(e.get("event") == "reloaded" for e in log_entries(log_path)), 30,
                   what="the SIGHUP reload")
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            _kill(process)


def _first_hangup_disposition(process) -> str:
    """'ignored' or 'caught': what the service process (after the launcher's exec) first does with
    SIGHUP, read from /proc."""
    import time

    hup = 1 << (signal.SIGHUP - 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            argv = open(f"/proc/{process.pid}/cmdline", "rb").read().split(b"\0")
            status = open(f"/proc/{process.pid}/status", encoding="ascii").read()
        except OSError:
            argv, status = [], ""
        if argv[1:3] == [b"-m", b"mentionwatch"]:  # exec'd: the service itself
            masks = dict(line.split(":", 1) for line in status.splitlines() if line.startswith("Sig"))
            if int(masks["SigIgn"], 16) & hup:
                return "ignored"
            if int(masks["SigCgt"], 16) & hup:
                return "caught"
        time.sleep(0.002)
    raise AssertionError("the service never set up SIGHUP")
