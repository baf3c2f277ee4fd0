"""`mentionwatch backup`: a consistent, self-contained copy of a database that is being written."""
from __future__ import annotations

import sqlite3

from storage import Mention, open_db, save_mentions


def _stock(path, count: int) -> None:
    db = open_db(path)
    save_mentions(db, [Mention("reddit", f"p{n}", f"acme post {n}", "2025-03-01T10:00:00Z") for n in range(count)])
    db.close()


def test_backup_while_another_connection_is_writing_holds_only_what_was_committed(cli, tmp_path):
    live = tmp_path / "live.db"
    _stock(live, 3)
    writer = open_db(live)  # the service, half-way through a batch
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE mentions SET text = 'half-written' WHERE external_id = 'p0'")
    try:
        result = cli("--db", live, "backup", tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 0, result.output
    assert "3 mentions, 0 alerts" in result.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file, no -wal beside it
    assert copy.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert sorted(text for (text,) in copy.execute("SELECT text FROM mentions")) == [
        "acme post 0", "acme post 1", "acme post 2"]
    # the copy is a working database: the search index came along
    assert copy.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'acme'").fetchone()[0] == 3
    assert not list(tmp_path.glob(".copy.db.partial-*"))


def test_backup_refuses_to_overwrite_unless_forced_and_never_names_the_database_itself(cli, tmp_path):
    live = tmp_path / "live.db"
    _stock(live, 1)
    target = tmp_path / "copy.db"
    target.write_bytes(b"an older backup")
    refused = cli("--db", live, "backup", target)
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        f"Error: {target}: already exists (give another name, or --force to replace it)"]
    assert target.read_bytes() == b"an older backup"
    assert cli("--db", live, "backup", target, "--force").exit_code == 0
    assert sqlite3.connect(target).execute("SELECT count(*) FROM mentions").fetchone()[0] == 1
    itself = cli("--db", live, "backup", live)
    assert itself.exit_code == 2 and "is the database itself" in itself.stderr
    missing = cli("--db", tmp_path / "none.db", "backup", tmp_path / "x.db")
    assert missing.exit_code == 2 and "no such database" in missing.stderr


def test_a_backup_does_not_say_the_service_runs_on_it(cli, tmp_path):
    """Walkthrough 14b: the copy kept the running service's row, so `status` on the backup said the
    service ran there, and a service (or a restore) on a copy of it was refused."""
    import os

    from mentionwatch.service_state import live_service
    from test_restore import _record_running_service

    from mentionwatch.service_state import start_job_run

    live = tmp_path / "live.db"
    _stock(live, 1)
    _record_running_service(live, os.getpid())  # this process stands in for the running service
    db = open_db(live)
    start_job_run(db, "collect:acme/rss")  # a run going on when the backup is taken
    with db.conn:
        db.execute("INSERT INTO crawl_runs (watch, source, started_at, status) "
                   "VALUES ('acme', 'rss', '2026-12-06T10:00:00Z', 'running')")
    db.close()
    assert cli("--db", live, "backup", tmp_path / "copy.db").exit_code == 0
    original, copy = open_db(live), open_db(tmp_path / "copy.db")
    try:
        assert live_service(original) is not None  # the database's service goes on
        assert live_service(copy) is None
        assert copy.execute("SELECT state FROM service_process").fetchone()[0] == "stopped"
        # third review: the runs going on stayed 'running' under a stopped service
        assert copy.execute("SELECT status, detail FROM job_runs").fetchall() == [
            ("interrupted", "the backup was taken during this run")]
        assert copy.execute("SELECT status, errors FROM crawl_runs").fetchall() == [
            ("failed", '["interrupted: the backup was taken during this run"]')]
        assert original.execute("SELECT status FROM job_runs").fetchall() == [("running",)]
    finally:
        original.close()
        copy.close()
    status = cli("--db", tmp_path / "copy.db", "status")
    assert "Service: running" not in status.output
