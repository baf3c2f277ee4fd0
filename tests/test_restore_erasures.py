"""`mentionwatch restore` and erasures made after the backup: their posts are erased again in the
restored copy and stay kept out, unless --bring-back-erased (a restore must not undo a person's
request to have their posts erased)."""
from __future__ import annotations

import sqlite3

from storage import Mention, open_db, save_mentions

POSTS = [Mention("reddit", "p1", "acme anvils broke again", "2025-01-01T00:00:00Z", author="wile"),
         Mention("reddit", "p2", "acme rockets misfire", "2025-01-01T01:00:00Z", author="wile"),
         Mention("reddit", "p3", "acme is fine", "2025-01-01T02:00:00Z", author="roadrunner"),
         Mention("hackernews", "h1", "acme on the front page", "2025-01-01T03:00:00Z", author="pg")]


def _stocked(path) -> None:
    db = open_db(path)
    save_mentions(db, POSTS)
    db.close()


def _rows(path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _authors(path) -> list[str]:
    return sorted(author for (author,) in _rows(path, "SELECT author FROM mentions"))


def _backup_then_forget_wile(cli, db_path, backup):
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    assert cli("--db", db_path, "forget", "--author", "wile", "--source", "reddit", "--yes").exit_code == 0
    assert _authors(db_path) == ["pg", "roadrunner"]


def test_posts_erased_after_the_backup_are_erased_again_and_kept_out(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    _backup_then_forget_wile(cli, db_path, backup)

    preview = cli("--db", db_path, "restore", backup)
    assert preview.exit_code == 0
    assert "records 1 erasure made after this backup: their 2 posts would be erased again" in preview.output
    assert _authors(backup) == ["pg", "roadrunner", "wile", "wile"]  # the backup itself is never changed

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "2 posts erased after this backup (1 erasure) were erased again" in done.output
    assert _authors(db_path) == ["pg", "roadrunner"]
    assert _rows(db_path, "SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH 'anvils'") == []
    log = _rows(db_path, "SELECT what, mentions FROM erasures ORDER BY id")
    assert log[0] == ("mentionwatch forget: one author on reddit", 2)  # as the replaced database logged it
    assert log[1] == ("mentionwatch restore: erased again (1 erasure made after the backup)", 2)
    assert _authors(backup) == ["pg", "roadrunner", "wile", "wile"]

    db = open_db(db_path)  # the author stays kept out: the next crawl does not store them again
    result = save_mentions(db, [Mention("reddit", "p9", "acme again", "2025-01-02T00:00:00Z", author="wile")])
    db.close()
    assert result.forgotten == 1 and result.inserted == 0


def test_bring_back_erased_restores_the_backup_as_it_is(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    _backup_then_forget_wile(cli, db_path, backup)

    assert "their 2 posts would be back" in cli("--db", db_path, "restore", backup, "--bring-back-erased").output
    done = cli("--db", db_path, "restore", backup, "--yes", "--bring-back-erased")
    assert done.exit_code == 0, done.output
    assert "2 posts erased after this backup (1 erasure) are back" in done.stderr
    assert _authors(db_path) == ["pg", "roadrunner", "wile", "wile"]
    assert _rows(db_path, "SELECT count(*) FROM erasures") == [(0,)]


def test_an_erasure_of_posts_stored_after_the_backup_keeps_them_out(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", "late", "acme late post", "2025-01-03T00:00:00Z", author="coyote")])
    db.close()
    assert cli("--db", db_path, "forget", "--author", "coyote", "--yes").exit_code == 0

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "The 1 erasure made after this backup removed none of its posts; what it keeps out stays out" in done.output
    assert len(_authors(db_path)) == 4
    db = open_db(db_path)
    result = save_mentions(db, [Mention("reddit", "late", "acme late post", "2025-01-03T00:00:00Z", author="coyote")])
    db.close()
    assert result.forgotten == 1


def test_a_database_that_does_not_descend_from_the_backup_is_not_used_to_erase(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    other = tmp_path / "other.db"
    _stocked(other)
    assert cli("--db", other, "backup", backup).exit_code == 0
    db = open_db(db_path)  # another install: its own posts on the same source, the same ids, its own erasure
    save_mentions(db, [Mention("reddit", f"r{i}", f"acme post {i}", "2025-01-01T00:00:00Z") for i in range(5)])
    db.close()
    assert cli("--db", db_path, "forget", "1", "--yes").exit_code == 0

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "does not descend from it" in done.stderr and "nothing was erased again" in done.stderr
    assert len(_authors(db_path)) == 4


def test_a_damaged_replaced_database_is_restored_over_with_a_warning(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    db_path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 8192)  # damaged beyond reading

    assert "cannot be read" in cli("--db", db_path, "restore", backup).output
    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "the replaced database could not be read" in done.stderr
    assert len(_authors(db_path)) == 4
