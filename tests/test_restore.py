"""`mentionwatch restore`: a backup put back in the database's place without the old write-ahead log
(walkthrough 10: `mv backup.db mentionwatch.db` beside a crashed service's -wal damaged the backup
for good, and `mv` had taken the only copy)."""
from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys

import pytest

from storage import Mention, open_db, save_mentions, utc_now_iso

# a process that writes and dies without closing the database: its -wal stays beside the file
_CRASHING_WRITER = """
import os, sys
sys.path.insert(0, {repo!r})
from storage import Mention, open_db, save_mentions
db = open_db({path!r})
save_mentions(db, [Mention("reddit", f"late{{i}}", f"acme post {{i}} after the backup", "2025-01-02T00:00:00Z")
                   for i in range(300)])
os._exit(0)
"""


def _stocked(path, count: int) -> None:
    db = open_db(path)
    save_mentions(db, [Mention("reddit", f"p{i}", f"acme post {i}", "2025-01-01T00:00:00Z") for i in range(count)])
    db.close()


def _record_running_service(db_path, pid: int) -> None:
    """The database records a service in its running state, with process `pid` on this host."""
    db = open_db(db_path)
    with db.atomic():
        db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                        "VALUES (1, ?, ?, 'running', ?, ?)", [pid, socket.gethostname(), utc_now_iso(), utc_now_iso()])
    db.close()


def _mentions(path) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT count(*) FROM mentions").fetchone()[0]
    finally:
        connection.close()


def test_restore_after_a_crash_sets_the_old_log_aside_and_keeps_the_backup(cli, tmp_path):
    from pathlib import Path

    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 50)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    subprocess.run([sys.executable, "-c", _CRASHING_WRITER.format(repo=str(Path(__file__).parents[1]),
                                                                  path=str(db_path))], check=True)
    assert Path(f"{db_path}-wal").stat().st_size > 0  # what a crashed service leaves

    preview = cli("--db", db_path, "restore", tmp_path / "b.db")
    assert preview.exit_code == 0 and "Nothing is restored yet" in preview.output
    assert _mentions(db_path) == 350  # the preview changed nothing

    done = cli("--db", db_path, "restore", tmp_path / "b.db", "--yes")
    assert done.exit_code == 0, done.output
    assert "Restored" in done.output and "50 mentions" in done.output
    connection = sqlite3.connect(db_path)
    assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # as a live database
    connection.close()
    assert _mentions(db_path) == 50
    assert (tmp_path / "b.db").exists()  # the backup is still there
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith("mentionwatch.db.before-restore-")
              and not p.name.endswith(("-wal", "-shm"))]
    assert _mentions(kept) == 350  # the replaced database, with its log, loses nothing
    assert cli("--db", db_path, "alerts", "list").exit_code == 0


def test_restore_is_refused_while_the_service_runs_on_the_database(cli, tmp_path):
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 3)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    service = subprocess.Popen(["sleep", "60"])  # stands for the running service's process
    try:
        _record_running_service(db_path, service.pid)
        refused = cli("--db", db_path, "restore", tmp_path / "b.db", "--yes")
    finally:
        service.kill()
        service.wait()
    assert refused.exit_code == 2
    assert f"the service is running on {db_path} (pid {service.pid}" in refused.stderr
    assert not any(p.name.startswith("mentionwatch.db.before-restore") for p in tmp_path.iterdir())


def test_a_restored_database_does_not_say_its_service_crashed(cli, tmp_path):
    """The backup was taken while the service ran: `status` said 'killed or crashed'."""
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 3)
    finished = subprocess.Popen(["sleep", "0"])
    finished.wait()
    _record_running_service(db_path, finished.pid)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    assert cli("--db", db_path, "restore", tmp_path / "b.db", "--yes").exit_code == 0
    status = cli("--db", db_path, "status")
    assert status.stdout.startswith("Service: stopped"), status.stdout


def test_a_damaged_or_foreign_file_is_not_restored(cli, tmp_path):
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 3)
    (tmp_path / "notes.db").write_bytes(b"not a database at all" * 100)
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE things (x)")
    other.commit()
    other.close()
    for name, words in (("notes.db", "is not a database"), ("other.db", "is not a mentionwatch database"),
                        ("missing.db", "no such file")):
        result = cli("--db", db_path, "restore", tmp_path / name, "--yes")
        assert result.exit_code == 2 and words in result.stderr, (name, result.output)
    assert _mentions(db_path) == 3


def test_erasures_made_after_the_backup_are_named(cli, tmp_path):
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 3)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    reader = sqlite3.connect(db_path)
    ids = [row[0] for row in reader.execute("SELECT id FROM mentions LIMIT 1")]
    reader.close()
    assert cli("--db", db_path, "forget", ids[0], "--yes").exit_code == 0
    result = cli("--db", db_path, "restore", tmp_path / "b.db", "--yes")
    assert result.exit_code == 0
    assert "1 post erased since this backup was erased again" in result.output
    assert _mentions(db_path) == 2


def test_a_backup_that_does_not_fit_names_the_backup_not_the_database(tmp_path):
    """It said 'disk full ... (mentionwatch.db)': the user freed space on the wrong disk."""
    import resource
    import signal

    db_path = tmp_path / "mentionwatch.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", f"x{i}", "acme " + "word " * 200, "2025-01-01T00:00:00Z")
                       for i in range(3000)])
    db.close()

    def small_files_only():  # as a full disk does, the copy cannot grow past 2 MB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    result = subprocess.run([sys.executable, "-m", "mentionwatch", "--db", str(db_path), "backup",
                             str(tmp_path / "copy.db")], preexec_fn=small_files_only, capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"Error: {tmp_path / 'copy.db'}: could not be written"), result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mentionwatch.db"]  # no partial copy left


def test_a_copy_made_by_hand_with_its_wal_is_restored_whole(cli, tmp_path):
    """A plain copy of a live database with its -wal: the file alone was copied, losing the log's
    300 mentions while saying 'Restored ... 350 mentions'."""
    import shutil

    live = tmp_path / "live" / "mw.db"
    live.parent.mkdir()
    _stocked(live, 50)
    writer = open_db(live)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    save_mentions(writer, [Mention("reddit", f"w{i}", f"acme {i}", "2025-01-03T00:00:00Z") for i in range(300)])
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(live, copy / "mw.db")
    shutil.copy(f"{live}-wal", copy / "mw.db-wal")
    writer.close()
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 1)
    done = cli("--db", db_path, "restore", copy / "mw.db", "--yes")
    assert done.exit_code == 0, done.output
    assert "350 mentions" in done.output and _mentions(db_path) == 350


def test_the_restored_file_keeps_the_permissions_of_the_one_it_replaces(cli, tmp_path):
    import os
    import stat

    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 3)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    os.chmod(db_path, 0o660)  # the team's group writes it (the service runs as another user)
    assert cli("--db", db_path, "restore", tmp_path / "b.db", "--yes").exit_code == 0
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o660


def test_restore_is_refused_while_another_program_has_the_database_open(cli, tmp_path):
    """`browse` or a crawl went on with the replaced file, saying nothing."""
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 3)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    reader = open_db(db_path)
    reader.execute("SELECT count(*) FROM mentions").fetchone()
    try:
        refused = cli("--db", db_path, "restore", tmp_path / "b.db", "--yes")
    finally:
        reader.close()
    assert refused.exit_code == 2
    assert f"another program has {db_path} open" in refused.stderr
    assert cli("--db", db_path, "restore", tmp_path / "b.db", "--yes").exit_code == 0


def test_restore_through_a_link_restores_the_file_it_points_to(cli, tmp_path):
    real = tmp_path / "data" / "real.db"
    real.parent.mkdir()
    _stocked(real, 3)
    link = tmp_path / "mentionwatch.db"
    link.symlink_to(real)
    assert cli("--db", link, "backup", tmp_path / "b.db").exit_code == 0
    db = open_db(real)
    save_mentions(db, [Mention("reddit", "later", "acme later", "2025-01-04T00:00:00Z")])
    db.close()
    assert cli("--db", link, "restore", tmp_path / "b.db", "--yes").exit_code == 0
    assert link.is_symlink() and _mentions(real) == 3


def test_two_restores_in_one_second_keep_both_replaced_databases(tmp_path):
    from storage.backup import restore_database

    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 7)
    for count, name in ((2, "b1.db"), (1, "b2.db")):
        _stocked(tmp_path / name, count)
    first = restore_database(tmp_path / "b1.db", db_path, now="2026-12-06T090000Z")
    second = restore_database(tmp_path / "b2.db", db_path, now="2026-12-06T090000Z")
    assert first.set_aside[0] != second.set_aside[0]
    assert (_mentions(first.set_aside[0]), _mentions(second.set_aside[0])) == (7, 2)


def test_a_database_damaged_in_its_first_pages_is_replaced(cli, tmp_path):
    """Walkthrough 13: the check for a running service opened the damaged file, failed on its
    migrations table and left its connection open; the restore then found the database 'open in
    another program' and refused, though a damaged database is what one restores."""
    db_path = tmp_path / "mentionwatch.db"
    _stocked(db_path, 200)
    assert cli("--db", db_path, "backup", tmp_path / "b.db").exit_code == 0
    with open(db_path, "r+b") as damaged:
        damaged.seek(8192)
        damaged.write(b"x" * 3000)
    with pytest.raises(sqlite3.DatabaseError):
        open_db(db_path)  # damaged where opening reads
    done = cli("--db", db_path, "restore", tmp_path / "b.db", "--yes")
    assert done.exit_code == 0, done.output
    assert "Restored" in done.output and _mentions(db_path) == 200
