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


def _later_post(external_id: str) -> Mention:
    return Mention("reddit", external_id, "acme later post", "2025-01-03T00:00:00Z", author="coyote")


def _backup_then_store_a_later_post(cli, db_path, backup, external_id: str) -> None:
    """The four posts, a backup of them, then one more post (coyote's) that the backup lacks."""
    _stocked(db_path)
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    db = open_db(db_path)
    save_mentions(db, [_later_post(external_id)])
    db.close()


def _erase_with_a_backup_midway(db_path, backup, monkeypatch, count: int, **erase_options) -> None:
    """Store `count` old posts and erase them all in batches of 3, taking a backup once the first
    batch is committed (as a backup made while the service works can)."""
    import storage.erasure as erasure
    from storage.backup import backup_database

    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", f"old{i}", f"acme old {i}", "2020-01-01T00:00:00Z", author=f"a{i}")
                       for i in range(count)])
    monkeypatch.setattr(erasure, "ERASE_BATCH", 3)
    original, batches = erasure._Step.erase_batch, []

    def backing_up_after_the_first_batch(self, ids, remember):
        batches.append(ids)
        if len(batches) == 2:  # the first batch is committed: a backup now catches the erasure midway
            backup_database(db_path, backup)
        original(self, ids, remember)

    monkeypatch.setattr(erasure._Step, "erase_batch", backing_up_after_the_first_batch)
    erasure.erase(db, erasure.Selection(mention_ids=tuple(range(1, count + 1))), actor=None, **erase_options)
    db.close()


def test_posts_erased_after_the_backup_are_erased_again_and_kept_out(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    _backup_then_forget_wile(cli, db_path, backup)

    preview = cli("--db", db_path, "restore", backup)
    assert preview.exit_code == 0
    assert "2 posts erased since this backup would be erased again" in preview.output
    assert _authors(backup) == ["pg", "roadrunner", "wile", "wile"]  # the backup itself is never changed

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "into " + str(db_path) + ": 2 mentions (of the backup's 4)" in done.output
    assert "2 posts erased since this backup were erased again" in done.output
    assert _authors(db_path) == ["pg", "roadrunner"]
    assert _rows(db_path, "SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH 'anvils'") == []
    log = _rows(db_path, "SELECT what, mentions FROM erasures ORDER BY id")
    assert log[0] == ("mentionwatch forget: one author on reddit", 2)  # as the replaced database logged it
    assert log[1] == ("mentionwatch restore: posts kept out by erasures made after the backup, erased again", 2)
    assert _authors(backup) == ["pg", "roadrunner", "wile", "wile"]

    db = open_db(db_path)  # the author stays kept out: the next crawl does not store them again
    result = save_mentions(db, [Mention("reddit", "p9", "acme again", "2025-01-02T00:00:00Z", author="wile")])
    db.close()
    assert result.forgotten == 1 and result.inserted == 0


def test_bring_back_erased_restores_the_backup_as_it_is(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    _backup_then_forget_wile(cli, db_path, backup)

    assert "2 posts kept out by erasures made since this backup would be back" in cli(
        "--db", db_path, "restore", backup, "--bring-back-erased").output
    done = cli("--db", db_path, "restore", backup, "--yes", "--bring-back-erased")
    assert done.exit_code == 0, done.output
    assert "2 posts kept out by erasures made since this backup are back" in done.stderr
    assert _authors(db_path) == ["pg", "roadrunner", "wile", "wile"]
    assert _rows(db_path, "SELECT count(*) FROM erasures") == [(0,)]


def test_an_erasure_of_posts_stored_after_the_backup_keeps_them_out(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _backup_then_store_a_later_post(cli, db_path, backup, "late")
    assert cli("--db", db_path, "forget", "--author", "coyote", "--yes").exit_code == 0

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "The 1 erasure made since this backup removed none of its posts; what it keeps out stays out" in done.output
    assert len(_authors(db_path)) == 4
    db = open_db(db_path)
    result = save_mentions(db, [_later_post("late")])
    db.close()
    assert result.forgotten == 1


def test_another_installs_erasures_erase_only_what_they_keep_out(cli, tmp_path):
    """Posts are found by what is kept out, not by their absence from the replaced database: one
    that never held the backup's posts erases none of them."""
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
    assert len(_authors(db_path)) == 4


def test_undoing_a_restore_erases_nothing_that_was_not_erased(cli, tmp_path):
    """Review: putting the set-aside database back lost a post stored after the backup (it was
    missing from the restored one, so it was taken for erased)."""
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _backup_then_store_a_later_post(cli, db_path, backup, "p4")
    assert cli("--db", db_path, "forget", "2", "--yes").exit_code == 0
    assert cli("--db", db_path, "restore", backup, "--yes").exit_code == 0
    assert _authors(db_path) == ["pg", "roadrunner", "wile"]  # p4 was not in the backup; p2 erased again
    [set_aside] = [p for p in tmp_path.iterdir() if p.name.startswith("mentionwatch.db.before-restore-")
                   and not p.name.endswith(("-wal", "-shm"))]

    undone = cli("--db", db_path, "restore", set_aside, "--yes")
    assert undone.exit_code == 0, undone.output
    assert _authors(db_path) == ["coyote", "pg", "roadrunner", "wile"]
    assert "erased again" not in undone.output


def test_restoring_twice_counts_the_erasure_once(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    assert cli("--db", db_path, "forget", "1", "--yes").exit_code == 0
    for _ in range(3):
        done = cli("--db", db_path, "restore", backup, "--yes")
        assert done.exit_code == 0, done.output
        assert "1 post erased since this backup was erased again" in done.output
    assert len(_authors(db_path)) == 3
    whats = [what for (what,) in _rows(db_path, "SELECT what FROM erasures ORDER BY id")]
    assert whats[0].startswith("mentionwatch forget:") and all(w.startswith("mentionwatch restore:") for w in whats[1:])


def test_an_erasure_under_way_when_the_backup_was_taken_is_finished(cli, tmp_path, monkeypatch):
    """Review: a backup taken between two batches of a big erasure held its log entry, so the
    erasure was not 'after' the backup and the rest of its posts came back."""
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _erase_with_a_backup_midway(db_path, backup, monkeypatch, 8, what="test", remember_posts=True)
    assert len(_authors(backup)) == 5 and len(_authors(db_path)) == 0

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert len(_authors(db_path)) == 0
    assert _rows(db_path, "SELECT mentions FROM erasures WHERE what = 'test'") == [(8,)]


def test_an_erasure_that_keeps_nothing_out_is_named(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    assert cli("--db", db_path, "forget", "1", "--allow-again", "--yes").exit_code == 0
    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "1 erasure made since this backup (or under way when it was taken) kept nothing out (forget " \
           "--allow-again): its posts cannot be found" in done.stderr
    assert "stays out" not in done.output


def test_a_cutoff_lifted_after_the_backup_stays_lifted(cli, tmp_path):
    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    assert cli("--db", db_path, "forget", "--before", "2025-01-01T02:00:00Z", "--yes").exit_code == 0
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    assert cli("--db", db_path, "forget", "--lift-cutoff", "--yes").exit_code == 0
    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "stays let in" in done.output
    assert _rows(db_path, "SELECT max(created_before) FROM erasures") == [(None,)]


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


def test_only_what_the_later_erasures_keep_out_is_erased(cli, tmp_path):
    """Review: the copy was matched against its own keep-out list too, so a post the backup held
    beside an older, broader key (an every-source author erasure of an earlier version) was erased
    by an unrelated later erasure."""
    from storage.erasure import author_key

    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _stocked(db_path)
    db = open_db(db_path)  # an old erasure's key that matches a stored post (as an earlier version left them)
    with db.atomic():
        erasure_id = db.execute("INSERT INTO erasures (at, what, mentions, highest_mention_id) "
                                "VALUES ('2025-01-01T00:00:00Z', 'older', 0, 4)").lastrowid
        db.execute("INSERT INTO forgotten (key, kind, erasure_id) VALUES (?, 'author', ?)",
                   [author_key("*", "pg"), erasure_id])
    db.close()
    assert cli("--db", db_path, "backup", backup).exit_code == 0
    assert cli("--db", db_path, "forget", "--author", "roadrunner", "--yes").exit_code == 0

    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert _authors(db_path) == ["pg", "wile", "wile"]  # roadrunner erased again, pg left as the backup has it


def test_a_log_that_does_not_go_on_from_the_backups_is_warned_about(cli, tmp_path):
    db_path, b0, b1 = tmp_path / "mentionwatch.db", tmp_path / "b0.db", tmp_path / "b1.db"
    _stocked(db_path)
    assert cli("--db", db_path, "forget", "--author", "pg", "--yes").exit_code == 0
    assert cli("--db", db_path, "backup", b0).exit_code == 0
    assert cli("--db", db_path, "forget", "--author", "roadrunner", "--yes").exit_code == 0
    assert cli("--db", db_path, "backup", b1).exit_code == 0
    assert cli("--db", db_path, "restore", b0, "--yes", "--bring-back-erased").exit_code == 0
    assert cli("--db", db_path, "forget", "--author", "wile", "--yes").exit_code == 0  # logged under b1's id 2

    done = cli("--db", db_path, "restore", b1, "--yes")
    assert done.exit_code == 0, done.output
    assert "is not a later state of this backup" in done.stderr


def test_an_allow_again_erasure_caught_midway_by_the_backup_is_named(cli, tmp_path, monkeypatch):
    from storage.erasure import ALLOWED_AGAIN_WHAT

    db_path, backup = tmp_path / "mentionwatch.db", tmp_path / "b.db"
    _erase_with_a_backup_midway(db_path, backup, monkeypatch, 6, what=f"{ALLOWED_AGAIN_WHAT} 6 mention ids")
    done = cli("--db", db_path, "restore", backup, "--yes")
    assert done.exit_code == 0, done.output
    assert "kept nothing out (forget --allow-again)" in done.stderr
