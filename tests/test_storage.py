"""Storage: schema, dedupe on (source, external_id), several watches per mention, FTS, atomic batches."""
from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from storage import Mention, open_db, save_mentions
from storage.mentions import existing_external_ids


def _mention(i, watches=("acme",), **extra):
    return Mention(source="test", external_id=str(i), text=f"post number {i} about acme",
                   created_at=f"2024-03-0{1 + i % 9}T10:00:00+02:00", watches=watches, **extra)


def test_schema_wal_and_migrations_recorded(tmp_path):
    db = open_db(tmp_path / "a.db")
    assert db.journal_mode == "wal"
    for table in ("mentions", "mention_watches", "scores", "alerts", "alert_events", "alert_mentions",
                  "notifications", "crawl_runs", "cursors", "triage", "job_runs", "mentions_fts"):
        assert db[table].exists(), table
    applied = [r["name"] for r in db.query("select name from _sqlite_migrations")]
    assert applied[0] == "m001_mentions"
    db.close()
    again = open_db(tmp_path / "a.db")  # reopening applies nothing twice
    assert [r["name"] for r in again.query("select name from _sqlite_migrations")] == applied


def test_dedupe_and_counts(db):
    first = save_mentions(db, [_mention(i) for i in range(10)])
    assert (first.inserted, first.present, first.rejected) == (10, 0, 0)
    second = save_mentions(db, [_mention(i) for i in range(5, 15)])
    assert (second.inserted, second.present) == (5, 5)
    assert db["mentions"].count == 15
    row = db.execute("select created_at from mentions where external_id='1'").fetchone()
    assert row[0] == "2024-03-02T08:00:00Z"  # stored as UTC


def test_mention_matching_several_watches(db):
    save_mentions(db, [_mention(1, watches=("acme",))])
    save_mentions(db, [_mention(1, watches=("globex", "acme"))])
    assert db["mentions"].count == 1
    watches = sorted(r[0] for r in db.execute("select watch from mention_watches"))
    assert watches == ["acme", "globex"]


def test_malformed_items_skipped_rest_kept(db):
    items = [_mention(1), Mention("test", "", "no id", "2024-01-01"), _mention(2),
             Mention("test", "3", "bad time", "yesterday-ish"), Mention("test", "4", "   ", "2024-01-01"),
             Mention("test", "5", "reach", "2024-01-01", author_reach="many"), _mention(6)]
    result = save_mentions(db, items)
    assert result.inserted == 3 and result.rejected == 4
    reasons = dict(result.rejects)
    assert reasons["item 2"] == "external_id: missing"
    assert reasons["id 3"].startswith("created_at: unrecognised timestamp")
    assert reasons["id 4"] == "text: empty"
    assert reasons["id 5"].startswith("author_reach: not a number")


def test_full_text_search_index_follows_inserts(db):
    save_mentions(db, [_mention(1), Mention("test", "x", "terrible refund experience", "2024-01-01")])
    hits = db.execute("select rowid from mentions_fts where mentions_fts match 'refund'").fetchall()
    assert len(hits) == 1
    db.execute("update mentions set text = 'all good now' where external_id = 'x'")
    assert db.execute("select count(*) from mentions_fts where mentions_fts match 'refund'").fetchone()[0] == 0


def test_full_text_index_merges_less_eagerly_and_stays_whole(db):
    setting = db.execute("select v from mentions_fts_config where k = 'automerge'").fetchone()
    assert setting == (16,)
    # one transaction per mention: 70 index segments, enough for FTS5 to merge them
    save_mentions(db, [_mention(i) for i in range(70)], batch_size=1)
    db.execute("insert into mentions_fts (mentions_fts) values ('integrity-check')")  # raises if broken
    assert db.execute("select count(*) from mentions_fts where mentions_fts match 'acme'").fetchone()[0] == 70


def test_failure_mid_batch_keeps_committed_batches(db, monkeypatch):
    import storage.mentions as mentions_module

    calls = {"n": 0}
    original = mentions_module._save_batch

    def failing(database, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return original(database, batch)

    monkeypatch.setattr(mentions_module, "_save_batch", failing)
    with pytest.raises(RuntimeError):
        save_mentions(db, [_mention(i) for i in range(50)], batch_size=10)
    assert db["mentions"].count == 20
    assert db.execute("select count(*) from mention_watches").fetchone()[0] == 20
    monkeypatch.setattr(mentions_module, "_save_batch", original)
    result = save_mentions(db, [_mention(i) for i in range(50)], batch_size=10)
    assert (result.inserted, result.present) == (30, 20)


def test_existing_external_ids(db):
    save_mentions(db, [_mention(i) for i in range(3)])
    assert existing_external_ids(db, "test", ["0", "2", "9"]) == {"0", "2"}
    assert existing_external_ids(db, "other", ["0"]) == set()


def _open_at_once(paths, barrier, results):
    """Child process: for each path, wait for every sibling, then open (and migrate) it together."""
    for path in paths:
        try:
            barrier.wait(timeout=120)
            db = open_db(path)
            db["cursors"].insert({"watch": "w", "source": "s", "name": str(multiprocessing.current_process().pid),
                                  "value": "1", "updated_at": "2025-01-01T00:00:00Z"})
            db.close()
            results.put((path, "ok"))
        except Exception as exc:  # reported to the parent, which fails the test
            results.put((path, f"{type(exc).__name__}: {exc}"))


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    from storage.migrations import migrations

    processes, rounds = 4, 20
    paths = [str(tmp_path / f"new{i}.db") for i in range(rounds)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [context.Process(target=_open_at_once, args=(paths, barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in range(processes * rounds)]
    for child in children:
        child.join(timeout=60)
    assert [outcome for outcome in outcomes if outcome[1] != "ok"] == []
    for path in paths:
        db = open_db(path, migrate=False)
        assert migrations.pending(db) == []
        applied = [row[0] for row in db.execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall()]
        assert applied[0] == "m001_mentions" and len(applied) == len(set(applied))
        assert db.journal_mode == "wal"
        assert db["cursors"].count == processes  # every process could write once it had opened the file
        db.close()
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_concurrent_writers_on_one_file_wait_for_each_other(tmp_path):
    """Two collectors storing at the same moment (the service runs jobs in threads, each with its
    own connection) must wait for the write lock, never fail with 'database is locked'."""
    import threading

    path = tmp_path / "shared.db"
    open_db(path).close()
    errors, start = [], threading.Barrier(2)

    def writer(name: str) -> None:
        db = open_db(path)
        start.wait()
        try:
            for batch in range(40):
                save_mentions(db, [Mention(source=name, external_id=f"{batch}-{i}", text=f"post {i}",
                                           created_at="2026-01-01T00:00:00Z") for i in range(20)],
                              batch_size=10)
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db = open_db(path)
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 2 * 40 * 20


def test_a_file_that_is_not_a_database_is_one_error_line(cli, tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("meeting notes, not a database " * 40)
    result = cli("--db", not_a_db, "stats")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: database error: file is not a database ({not_a_db})"
    assert not_a_db.read_text().startswith("meeting notes")  # left as it was


@pytest.mark.parametrize("command", [("stats",), ("search", "refund"), ("alerts", "list"), ("status",)])
def test_a_mistyped_database_path_is_one_line_and_creates_nothing(cli, tmp_path, command):
    typo = tmp_path / "mentionwach.db"
    result = cli("--db", typo, *command)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {typo}: no such database "
                                     "(run 'mentionwatch init' first, or check --db)")
    assert not typo.exists()


def test_commands_that_store_mentions_create_the_database(cli, tmp_path):
    feed = tmp_path / "posts.csv"
    feed.write_text("id,text,created_at\n1,hello acme,2024-01-01T00:00:00Z\n", encoding="utf-8")
    fresh = tmp_path / "fresh.db"
    assert cli("--db", fresh, "import", feed, "--source", "csv").exit_code == 0
    assert fresh.exists() and cli("--db", fresh, "stats").exit_code == 0
