"""A database the user cannot write to (a backup on read-only storage, a file without write permission
or with `chattr +i`, a read-only folder): the commands that only read it work, leaving it untouched;
the commands that write say in one line that it is read-only. A writable backup read by such a
command stays in rollback-journal mode (one file, no -wal beside it).

As root, chmod stops nothing: there `chattr +i` and a read-only tmpfs make the file unwritable.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import skip_unless_ci
from sqlite_utils import Database

from storage import open_db
from storage.migrations import migrations
from test_export import _stock  # a small stocked database: mentions p1..p6, scores, alert 7

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions and mounts")

ROOT = os.name != "nt" and os.geteuid() == 0


def _as_backup(path: Path) -> Path:
    """A stocked database in rollback-journal mode, as `mentionwatch backup` writes it."""
    _stock(path)
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(command: list[str]) -> bool:
    return shutil.which(command[0]) is not None and subprocess.run(command, capture_output=True).returncode == 0


@contextlib.contextmanager
def _immutable(target: Path):
    """`target` (a file or a folder) cannot be written, even by root; made writable again after."""
    if not ROOT:
        mode = target.stat().st_mode
        target.chmod(0o555 if target.is_dir() else 0o444)
        try:
            yield
        finally:
            target.chmod(mode)
        return
    if not _run(["chattr", "+i", str(target)]):
        skip_unless_ci("cannot make a file read-only for root here (chattr +i needs CAP_LINUX_IMMUTABLE)")
    try:
        yield
    finally:
        gc.collect()  # connections the commands left open
        subprocess.run(["chattr", "-i", str(target)], capture_output=True)


@contextlib.contextmanager
def _read_only_storage(folder: Path, *files: Path):
    """`files` copied onto a tmpfs mounted read-only at `folder`; unmounted after."""
    if not ROOT:
        skip_unless_ci("mounting a read-only file system needs root")
    folder.mkdir()
    if not _run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder)]):
        skip_unless_ci("cannot mount a tmpfs here (needs CAP_SYS_ADMIN)")
    try:
        for file in files:
            shutil.copy2(file, folder / file.name)
        assert _run(["mount", "-o", "remount,ro", str(folder)])
        yield
    finally:
        gc.collect()
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextlib.contextmanager
def unwritable(kind: str, database: Path):
    """The database at `database` made unwritable in one of three ways; yields its path then."""
    if kind == "file":
        with _immutable(database):
            yield database
    elif kind == "folder":
        with _immutable(database.parent):
            yield database
    else:
        mount = database.parent / "mnt"
        with _read_only_storage(mount, database):
            yield mount / database.name


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


READ_COMMANDS = [
    ["stats"],
    ["status"],
    ["search", "refund"],
    ["alerts", "list", "--all"],
    ["alerts", "show", "7"],
    ["backtest", "--since", "2024-03-01", "--until", "2024-03-08"],
]


@pytest.mark.parametrize("kind", ["file", "folder", "storage"])
def test_read_commands_work_on_a_backup_that_cannot_be_written(cli, tmp_path, kind):
    (tmp_path / "archive").mkdir()
    backup = _as_backup(tmp_path / "archive" / "backup.db")
    before = _digest(backup)
    out = tmp_path / "out"
    out.mkdir()
    with unwritable(kind, backup) as database:
        for command in READ_COMMANDS:
            result = cli("--db", database, *command)
            assert result.exit_code == 0, (command, result.output)
        assert "refund please" in cli("--db", database, "search", "refund").stdout
        exported = cli("--db", database, "export", "--out", out / "mentions.csv")
        assert exported.exit_code == 0, exported.output
        copied = cli("--db", database, "backup", out / "copy.db")
        assert copied.exit_code == 0, copied.output
        reported = cli("--db", database, "report", "--out", out / "report")
        assert reported.exit_code == 0, reported.output
        assert sorted(p.name for p in database.parent.iterdir()) == ["backup.db"]  # no -wal, -shm
        assert _digest(database) == before
    assert "refund please" in (out / "mentions.csv").read_text(encoding="utf-8-sig")
    assert sqlite3.connect(out / "copy.db").execute("SELECT count(*) FROM mentions").fetchone()[0] == 6


def test_a_wal_mode_database_on_read_only_storage_is_read_without_its_shm_file(cli, tmp_path):
    """A live (WAL-mode) database copied with nothing in its -wal: SQLite cannot make the -shm file
    there, so the file is read alone (immutable)."""
    live = tmp_path / "live.db"
    _stock(live)
    with _read_only_storage(tmp_path / "mnt", live):
        database = tmp_path / "mnt" / "live.db"
        for command in READ_COMMANDS:
            result = cli("--db", database, *command)
            assert result.exit_code == 0, (command, result.output)
        copied = cli("--db", database, "backup", tmp_path / "copy.db")  # blamed the copy: 'cannot be written'
        assert copied.exit_code == 0, copied.output


def test_changes_waiting_in_the_wal_on_read_only_storage_are_refused_not_missed(cli, tmp_path):
    live = tmp_path / "live.db"
    _stock(live)
    writer = open_db(live)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE mentions SET text = 'changed since the last checkpoint'")
    writer.conn.commit()
    try:
        with _read_only_storage(tmp_path / "mnt", live, Path(f"{live}-wal")):
            result = cli("--db", tmp_path / "mnt" / "live.db", "stats")
    finally:
        writer.close()
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "live.db-wal" in line and "cannot be read without write access" in line
    assert "copy live.db and live.db-wal together somewhere writable" in line


class _ServedView:
    """Stands in for browse's server: opens the view as it would and reads through it."""

    def __init__(self):
        self.calls = []

    def __call__(self, db_path, model_id, sock, *, immutable=False):
        import asyncio

        from mentionwatch.triage.browse import make_datasette

        datasette = make_datasette(db_path, model_id, immutable=immutable)
        response = asyncio.run(datasette.client.get(f"/{db_path.stem}/mentions.json?_shape=array"))
        self.calls.append((immutable, response.status_code, len(response.json())))
        sock.close()


@pytest.mark.parametrize("kind, wal, option, immutable", [
    ("file", False, "--immutable", True),
    ("storage", False, "--immutable", True),
    ("storage", True, None, True),  # only an immutable reader can read it there
    ("file", False, None, False),
])
def test_browse_serves_a_database_that_cannot_be_written(cli, tmp_path, monkeypatch, kind, wal, option, immutable):
    from mentionwatch.triage import browse

    served = _ServedView()
    monkeypatch.setattr(browse, "serve", served)
    monkeypatch.setattr(browse, "listen", lambda host, port: socket.socket())
    (tmp_path / "archive").mkdir()
    path = tmp_path / "archive" / "copy.db"
    _stock(path) if wal else _as_backup(path)
    with unwritable(kind, path) as database:
        result = cli("--db", database, "browse", *([option] if option else []))
    assert result.exit_code == 0, result.output
    assert served.calls == [(immutable, 200, 6)]


def test_browse_immutable_on_a_database_that_can_change_warns(cli, tmp_path, monkeypatch):
    """Walkthrough 14c: `browse --immutable` on the live database went on serving a post after
    `forget` erased it, without a word."""
    from mentionwatch.triage import browse

    served = _ServedView()
    monkeypatch.setattr(browse, "serve", served)
    monkeypatch.setattr(browse, "listen", lambda host, port: socket.socket())
    _stock(tmp_path / "live.db")
    (tmp_path / "mentionwatch.yaml").write_text(f"database: {tmp_path / 'live.db'}\nwatches: []\n")
    for how in ([], ["--db", tmp_path / "live.db"]):  # the watchlist's database, however named
        result = cli("--config", tmp_path / "mentionwatch.yaml", *how, "browse", "--immutable")
        assert result.exit_code == 0, result.output
        assert ("Warning: --immutable: this view will not show what changes in "
                f"{tmp_path / 'live.db'} while it runs") in result.output
    assert served.calls == [(True, 200, 6)] * 2
    assert "Warning" not in cli("--config", tmp_path / "mentionwatch.yaml", "browse").output
    # review: a backup, what --immutable is for, got the warning too
    shutil.copy(tmp_path / "live.db", tmp_path / "copy.db")
    copy = cli("--config", tmp_path / "mentionwatch.yaml", "--db", tmp_path / "copy.db", "browse", "--immutable")
    assert copy.exit_code == 0 and "Warning" not in copy.output


WRITE_COMMANDS = [
    ["mark", "1", "--state", "flagged"],
    ["alerts", "ack", "7"],
    ["alerts", "resolve", "7"],
    ["forget", "--author", "alice", "--yes"],
]


@pytest.mark.parametrize("kind, reason", [("file", "check file permissions"),
                                          ("folder", "its folder cannot be written"),
                                          ("storage", "it is on read-only storage")])
def test_write_commands_say_in_one_line_that_the_database_is_read_only(cli, tmp_path, kind, reason):
    (tmp_path / "archive").mkdir()
    backup = _as_backup(tmp_path / "archive" / "backup.db")
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text,created_at\nx1,acme again,2024-03-09T00:00:00Z\n", encoding="utf-8")
    with unwritable(kind, backup) as database:
        for command in [["import", rows, "--source", "csv"], *WRITE_COMMANDS]:
            result = cli("--db", database, *command)
            assert result.exit_code == 1, (command, result.output)
            line = _one_error_line(result)
            assert line.startswith(f"Error: database is read-only ({reason}") and str(database) in line, line
            assert f"'{' '.join(map(str, command[:2 if command[0] == 'alerts' else 1]))}' writes to it" in line


def test_the_service_on_read_only_storage_cannot_start_and_says_the_database_is_read_only(tmp_path):
    backup = _as_backup(tmp_path / "backup.db")
    with _read_only_storage(tmp_path / "mnt", backup):
        database = tmp_path / "mnt" / "backup.db"
        (tmp_path / "mentionwatch.yaml").write_text(
            f"database: {database}\nwatches:\n  - {{name: acme, query: {{any: [acme]}}, sources: "
            "[{type: rss, base_url: 'http://127.0.0.1:9', options: {urls: [f.xml]}}]}\n", encoding="utf-8")
        env = {key: value for key, value in os.environ.items() if not key.startswith("MENTIONWATCH_")}
        result = subprocess.run([sys.executable, "-m", "mentionwatch", "run"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot start: database is read-only (it is on read-only storage) ({database})" in lines[0]


def test_a_read_command_switches_a_writable_rollback_mode_database_to_wal(cli, tmp_path):
    """A backup moved into place by hand is in rollback-journal mode: a reader (an export piped into
    a pager) then held up every write, the service's too (review 12). Where it can be written, a
    read command makes it WAL, as every other command does."""
    backup = _as_backup(tmp_path / "backup.db")
    assert cli("--db", backup, "stats").exit_code == 0
    with contextlib.closing(sqlite3.connect(backup)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _older_schema(path: Path) -> Path:
    """A database written by the mentionwatch before the latest migration, in rollback-journal mode."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        migrations.apply(Database(connection), stop_before=migrations._migrations[-1].name)
    return path


def test_an_older_schema_that_cannot_be_written_says_to_open_it_once_with_write_access(cli, tmp_path):
    (tmp_path / "archive").mkdir()
    old = _older_schema(tmp_path / "archive" / "old.db")
    with unwritable("file", old):
        result = cli("--db", old, "stats")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "written by an older mentionwatch" in line and "open it once with write access" in line
    assert str(old) in line
    # writable, the same command brings it up to date, as before
    assert cli("--db", old, "stats").exit_code == 0
    with contextlib.closing(sqlite3.connect(old)) as connection:
        assert not migrations.pending(Database(connection))
