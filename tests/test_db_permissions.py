"""A database mentionwatch creates is private to its owner (0600), whatever the umask; its -wal and
-shm files and its backups follow. A database that already exists keeps the permissions it has."""
from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from storage import Mention, open_db, save_mentions
from storage import backup as backup_module
from storage.db import create_private_file

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def permissive_umask():
    """The usual umask 022, under which SQLite alone would create the file 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _store_one(db, external_id: str = "p1") -> None:
    save_mentions(db, [Mention("reddit", external_id, "acme is down again", "2025-03-01T10:00:00Z")])


def test_a_new_database_and_its_wal_and_shm_files_are_private(tmp_path, permissive_umask):
    path = tmp_path / "mw.db"
    db = open_db(path)
    try:
        assert db.journal_mode == "wal"
        _store_one(db)
        wal, shm = tmp_path / "mw.db-wal", tmp_path / "mw.db-shm"
        assert wal.exists() and wal.stat().st_size > 0  # written to, still open: the log holds it
        assert _mode(path) == 0o600
        assert _mode(wal) == 0o600
        assert _mode(shm) == 0o600
    finally:
        db.close()
    assert _mode(path) == 0o600
    assert sqlite3.connect(path).execute("SELECT count(*) FROM mentions").fetchone()[0] == 1


def test_an_existing_database_keeps_its_permissions(tmp_path, permissive_umask):
    path = tmp_path / "team.db"
    open_db(path).close()
    os.chmod(path, 0o640)  # a team that gave its group read access on purpose
    db = open_db(path)
    try:
        _store_one(db)
        assert _mode(path) == 0o640
        assert _mode(tmp_path / "team.db-wal") == 0o640  # the log follows the file, as before
    finally:
        db.close()
    assert _mode(path) == 0o640


def test_an_existing_empty_file_is_used_and_left_as_it_is(tmp_path, permissive_umask):
    path = tmp_path / "empty.db"
    path.touch(mode=0o644)
    open_db(path).close()
    assert _mode(path) == 0o644
    assert sqlite3.connect(path).execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'mentions'").fetchone()[0] == 1


def test_a_new_database_in_new_folders_is_private_and_the_folders_are_made_as_before(tmp_path, permissive_umask):
    path = tmp_path / "data" / "deeper" / "mw.db"
    open_db(path).close()
    assert _mode(path) == 0o600
    assert _mode(tmp_path / "data") == 0o755  # folders: made as before, under the umask
    assert _mode(tmp_path / "data" / "deeper") == 0o755


@pytest.mark.timeout(60)  # it used to wait for WAL forever
def test_an_in_memory_database_still_works_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = open_db(":memory:")
    try:
        _store_one(db)
        assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 1
    finally:
        db.close()
    assert list(tmp_path.iterdir()) == []


def test_init_creates_a_private_database(cli, tmp_path, permissive_umask):
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert _mode(tmp_path / "mentionwatch.db") == 0o600


def test_a_backup_of_a_new_database_is_private_even_while_it_is_written(cli, tmp_path, permissive_umask,
                                                                        monkeypatch):
    live = tmp_path / "live.db"
    db = open_db(live)
    _store_one(db)
    db.close()
    assert _mode(live) == 0o600
    seen = []
    real_vacuum_into = backup_module._vacuum_into

    def watching_vacuum_into(source, partial):
        seen.append(_mode(partial))  # the half-made copy, before any post is in it
        real_vacuum_into(source, partial)
        seen.append(_mode(partial))

    monkeypatch.setattr(backup_module, "_vacuum_into", watching_vacuum_into)
    result = cli("--db", live, "backup", tmp_path / "copy.db")
    assert result.exit_code == 0, result.output
    assert seen == [0o600, 0o600]
    assert _mode(tmp_path / "copy.db") == 0o600
    assert sqlite3.connect(tmp_path / "copy.db").execute("SELECT count(*) FROM mentions").fetchone()[0] == 1


def test_a_backup_of_a_group_readable_database_stays_as_private_as_the_database(cli, tmp_path,
                                                                                 permissive_umask):
    live = tmp_path / "live.db"
    open_db(live).close()
    os.chmod(live, 0o640)
    result = cli("--db", live, "backup", tmp_path / "copy.db")
    assert result.exit_code == 0, result.output
    assert _mode(tmp_path / "copy.db") == 0o640


def test_create_private_file_leaves_an_existing_file_and_does_nothing_on_windows(tmp_path, monkeypatch):
    existing = tmp_path / "there.db"
    existing.write_bytes(b"x")
    existing.chmod(0o664)
    assert create_private_file(existing) is False
    assert _mode(existing) == 0o664 and existing.read_bytes() == b"x"
    fresh = str(tmp_path / "fresh.db")
    with monkeypatch.context() as patch:
        patch.setattr(os, "name", "nt")
        made = create_private_file(fresh)
    assert made is False and not os.path.exists(fresh)
    assert create_private_file(fresh) is True and _mode(fresh) == 0o600
